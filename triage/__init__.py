"""Multilingual (kk/ru/en) triage of citizens' messages: topic, authority, urgency, district, recipient."""

from triage.errors import (
    InvalidTextError,
    ModelIntegrityError,
    ModelLoadError,
    TriageError,
)

__version__ = "0.1.0"

__all__ = [
    "InvalidTextError",
    "ModelIntegrityError",
    "ModelLoadError",
    "Triage",
    "TriageError",
    "__version__",
]


def __getattr__(name: str):
    # Lazy so that `import triage` stays cheap for tools that only need errors or settings.
    if name == "Triage":
        from triage.engine import Triage

        return Triage
    raise AttributeError(name)
