"""Every error edgeface raises on bad input derives from EdgefaceError.

Callers can catch one class; each subclass names what was wrong so that the message
never has to be a traceback from inside a backend.
"""


class EdgefaceError(Exception):
    """Base class of every error edgeface raises on purpose."""


class ImageError(EdgefaceError, ValueError):
    """The image could not be read or is not a usable 8-bit colour image."""


class ModelError(EdgefaceError):
    """A model file or its manifest is missing, corrupt, or the two disagree."""


class BackendNotInstalledError(EdgefaceError, ImportError):
    """The requested inference backend is not importable in this environment."""


class DetectorError(EdgefaceError):
    """The face detector could not be created or run."""


class OptionError(EdgefaceError, ValueError):
    """An argument or option is not one edgeface accepts (an unknown backend or precision, a
    negative max_faces, boxes of the wrong shape, a video timestamp that goes back)."""


def shown(value, limit: int = 80) -> str:
    """A value for an error message: its repr, cut short (a matrix would fill the screen); an
    integer too long for repr (over 4,300 digits) is named by its type."""
    try:
        text = repr(value)
    except ValueError:
        text = f"<{type(value).__name__} too long to print>"
    return text if len(text) <= limit else text[:limit] + "..."
