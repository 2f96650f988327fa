"""Typed errors of the triage core. The API maps them to HTTP status codes in one place."""


class TriageError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "triage_error"


class InvalidTextError(TriageError, ValueError):
    """The input is not classifiable text (not a string, empty, lone surrogates...)."""

    code = "invalid_text"


class ModelLoadError(TriageError):
    """A model directory is missing, incomplete or of an unsupported format."""

    code = "model_load_error"


class ModelIntegrityError(ModelLoadError):
    """An artifact's sha256 does not match the manifest: the bytes are never unpickled."""

    code = "model_integrity_error"


class DataError(TriageError, ValueError):
    """Training or evaluation data cannot be read (missing file, column, bad format)."""

    code = "data_error"
