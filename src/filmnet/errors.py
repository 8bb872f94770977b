"""Exceptions raised by filmnet. Each message names the problem and, where possible, the fix."""


class FilmError(Exception):
    """Base class for all filmnet errors."""


class WeightsError(FilmError, ValueError):
    """A weights file is missing, unreadable, of an unknown format, or does not fit the model."""


class ChecksumError(WeightsError):
    """A tensor's stored checksum does not match its bytes."""


class InputError(FilmError, ValueError):
    """Bad user input: an unreadable image, mismatched sizes, an unsafe output path."""


class UnknownConfigError(FilmError, KeyError):
    """A config name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def one_line(text) -> str:
    """`text` (or an error's message) on one line: whitespace runs, newlines included, become one space."""
    return " ".join(str(text).split())


def error_line(err: BaseException) -> str:
    """The one line a user sees for `err`: an OS error as "reason: file", others their message (else the type)."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}{f': {err.filename}' if err.filename else ''}"
    return one_line(err) or type(err).__name__
