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


class NotFoundError(TriageError):
    """A message (or key) id that the store does not hold."""

    code = "not_found"


class InvalidLabelError(TriageError, ValueError):
    """A correction names a label the taxonomy and the model don't know."""

    code = "invalid_label"


class StoreUnavailableError(TriageError):
    """The database cannot be reached; nothing was written."""

    code = "store_unavailable"


class InvalidRequestError(TriageError, ValueError):
    """A request parameter the API cannot act on (a bad cursor, an empty period...)."""

    code = "invalid_request"
