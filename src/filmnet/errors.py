"""Exceptions raised by filmnet. Each message names the problem and, where possible, the fix."""


class FilmError(Exception):
    """Base class for all filmnet errors."""


class WeightsError(FilmError, ValueError):
    """A weights file is missing, unreadable, of an unknown format, or does not fit the model."""


class ChecksumError(WeightsError):
    """A tensor's stored checksum does not match its bytes."""


class InputError(FilmError, ValueError):
    """Bad user input: an unreadable image, mismatched sizes, an unsafe output path."""
