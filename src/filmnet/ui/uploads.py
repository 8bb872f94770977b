"""Uploads to the web page: what one request may ask for (`Limits`), and the checks every upload passes before any
work, image headers included (nothing is decoded before its size is known to fit)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. Uploads over `max_upload_mb` are refused by the server before any work."""

    max_upload_mb: int = 200
    max_images: int = 32
    max_pixels: int = 3840 * 2160
    max_exp: int = 6
    max_multi: int = 16
    max_output_frames: int = 4000

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB


def check_upload(path: str | os.PathLike | None, limits: Limits, what: str = "file") -> Path:
    """An uploaded file that exists and is within the size limit."""
    if path in (None, ""):
        raise InputError(f"no {what} was uploaded")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path.name}")
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise InputError(f"{path.name} is {size / MB:.1f} MB, over the {limits.max_upload_mb} MB upload limit")
    return path


def check_image_upload(path: str | os.PathLike | None, limits: Limits) -> Path:
    """An uploaded image whose header (read alone, nothing decoded) is within this server's pixel limit."""
    path = check_upload(path, limits, "image")
    image_size(path, limits)
    return path


def image_size(path: Path, limits: Limits) -> tuple[int, int]:
    """(h, w) of an upload, refused over `limits.max_pixels` before anything can decode it."""
    import warnings

    from PIL import Image

    from ..io import read_image_size

    with warnings.catch_warnings():  # the size is refused below, in one line
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            try:  # the size alone first: read_image_size's EXIF lookup decodes a whole PNG
                with Image.open(path) as im:
                    w, h = im.size
            except Exception:  # not an image (or a bomb Pillow refuses): read_image_size says so in one line
                h, w = read_image_size(path)
            if h * w > limits.max_pixels:
                raise InputError(f"{path.name} is {w}x{h}, over this server's limit of {limits.max_pixels} pixels")
            return read_image_size(path)  # filmnet's own checks (animations, FILMNET_MAX_PIXELS, memory)
        except InputError as err:  # the upload's name, not the server's folders
            raise InputError(str(err).replace(str(path), path.name)) from None
