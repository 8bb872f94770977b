"""Still images <-> HxWx3 float32 RGB arrays in [0, 1] (the only place numpy HWC pixels live).

Reading uses Pillow (PNG, JPEG, WebP, TIFF, ...), applies the EXIF orientation and drops alpha, as the
official `eval/util.read_image` does. Writing quantises like the official tools (clip, x255, +0.5, uint8)
and is atomic. See film_spec.md §4.2.
"""
from __future__ import annotations

import contextlib
import os
import re
import struct
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin

from ...errors import InputError
from ..atomic import atomic_target

# Camera PNGs (e.g. the FILM demo photos) carry several MB of EXIF/XMP text; allow up to 64 MB per chunk.
_TEXT_CHUNK_LIMIT = 64 << 20
_TEXT_MEMORY_LIMIT = 256 << 20
_png_limits_lock = threading.Lock()
_EXIF_ORIENTATION = 0x0112
# Pillow's plugins raise all of these on corrupt headers (found by tests/reliability/test_fuzz_readers.py).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, TypeError, KeyError,
                  IndexError, struct.error, ZeroDivisionError)


def natural_key(text: str) -> list:
    """Sort key that orders 'f2' before 'f10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


@contextlib.contextmanager
def _large_png_text() -> Iterator[None]:
    """Temporarily raise Pillow's PNG text-chunk limits (module globals), restoring them afterwards."""
    with _png_limits_lock:
        old = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
        PngImagePlugin.MAX_TEXT_CHUNK = max(old[0], _TEXT_CHUNK_LIMIT)
        PngImagePlugin.MAX_TEXT_MEMORY = max(old[1], _TEXT_MEMORY_LIMIT)
        try:
            yield
        finally:
            PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY = old


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """`Image.open` with large PNG text allowed; a missing or undecodable file raises a one-line InputError."""
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    try:
        with _large_png_text(), Image.open(path) as im:
            _check_still(im, path)
            yield im
    except InputError:
        raise
    except _DECODE_ERRORS as err:
        raise InputError(f"cannot read image {path}: {_one_line(err)}") from None


def _check_still(im: Image.Image, path: Path) -> None:
    """From the header: refuse frames too large for memory (`limits`) and multi-frame files given as photos."""
    from ..limits import check_frame_size

    check_frame_size(*im.size, f"image {path}")
    if im.format == "MPO":  # camera JPEGs with extra pictures (depth, previews): the first is the photo
        return
    if getattr(im, "is_animated", False) or getattr(im, "n_frames", 1) > 1:
        kind = "multi-page TIFF" if im.format == "TIFF" else f"animated {im.format}"
        raise InputError(f"{path} is a {kind} with {getattr(im, 'n_frames', '?')} frames, not a still image: "
                         "extract the frame you want as a PNG first, or give an animation to `filmnet video`")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB.

    8-bit and 16-bit files keep their precision (16-bit colour PNG/TIFF is decoded with PyAV). Alpha is dropped
    (not composited; `folders.read_pixels` keeps it), grey is replicated to RGB, palettes are expanded, and the
    EXIF orientation is applied.

    Args:
      path: image file.
    Returns:
      (H, W, 3) float32 array in [0, 1].
    Raises:
      InputError: missing, corrupt, truncated or unsupported file (one-line message naming it).
    """
    path = Path(path)
    with _open_image(path) as im:
        deep = _is_16bit_colour(im)  # before load(), which clears im.tile
        im.load()
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        if deep:
            return orient(_read_16bit_colour(path), orientation)
        return _pil_to_float(ImageOps.exif_transpose(im))


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(h, w) of an image after EXIF orientation, reading only its header."""
    path = Path(path)
    with _open_image(path) as im:
        w, h = im.size
        transposed = im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    return (w, h) if transposed else (h, w)


def _is_16bit_colour(im: Image.Image) -> bool:
    rawmode = im.tile[0][3] if im.tile and len(im.tile[0]) > 3 else ""
    rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode  # older Pillow: (rawmode, ...)
    return im.mode in ("RGB", "RGBA") and isinstance(rawmode, str) and ";16" in rawmode


def _read_16bit_colour(path: Path, fmt: str = "rgb48le") -> np.ndarray:
    """Full-precision decode of 16-bit RGB(A) files, which Pillow truncates to 8 bits (PyAV, stored pixels)."""
    return _read_16bit_pixels(path, fmt).astype(np.float32) / 65535.0


def _read_16bit_pixels(path: Path, fmt: str) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format=fmt)


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as stored: (H, W, 3|4) uint8 or uint16 RGB(A).

    Alpha (an alpha channel or a transparent palette entry) and 16 bits are kept; otherwise as `read_image`: grey
    is replicated, palettes are expanded and the EXIF orientation is applied. `to_float_image` of the result equals
    `read_image`.
    """
    path = Path(path)
    with _open_image(path) as im:
        deep = _is_16bit_colour(im)
        im.load()
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
        alpha = "A" in im.mode or "transparency" in im.info
        if deep:
            return orient(_read_16bit_pixels(path, "rgba64le" if alpha else "rgb48le"), orientation)
        im = ImageOps.exif_transpose(im)
        if im.mode.startswith("I;16") or im.mode in ("I", "F"):
            return (_pil_to_float(im) * 65535.0 + 0.5).astype(np.uint16)
        return np.asarray(im.convert("RGBA" if alpha else "RGB"))


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an HxWxC array, as ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, -1)[::-1], 8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(image)) if op else image


def _pil_to_float(im: Image.Image) -> np.ndarray:
    if im.mode.startswith("I;16"):
        grey = np.asarray(im, dtype=np.uint16).astype(np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode in ("I", "F"):  # 32-bit int (16-bit data) or float TIFFs
        scale = 65535.0 if im.mode == "I" else 1.0
        grey = np.clip(np.asarray(im, dtype=np.float32) / scale, 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB").convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255.0


def as_rgb_array(frame: np.ndarray) -> np.ndarray:
    """Validate an (H, W), (H, W, 1/3/4) uint8/uint16/float array and return it as (H, W, 3), dtype kept.

    Alpha is dropped and grey replicated; no scaling happens here (see `to_float_image`).
    """
    a = np.asarray(frame)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an HxW, HxWx3 or HxWx4 image array, got shape {a.shape}")
    if a.dtype not in (np.uint8, np.uint16) and not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"unsupported image dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def to_float_image(frame: np.ndarray) -> np.ndarray:
    """Convert an (H, W), (H, W, 3) or (H, W, 4) uint8/uint16/float array to (H, W, 3) float32 in [0, 1].

    Floats are taken as already in [0, 1] and clipped; alpha is dropped; grey is replicated.
    """
    a = as_rgb_array(frame)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float32) / 65535.0
    if not np.isfinite(a).all():
        raise InputError("image array contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Quantise a float image in [0, 1] to uint8 as the official tools do: clip, x255, +0.5, truncate."""
    if image.dtype == np.uint8:
        return image
    return (np.clip(image * 255.0, 0.0, 255.0) + 0.5).astype(np.uint8)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 3) float image to `size` = (h, w) with bicubic filtering (Pillow, per channel)."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize((w, h), Image.BICUBIC))
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(np.float32)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an (H, W, 3) float [0, 1] (or uint8) image atomically as 8-bit; format from the suffix (PNG default).

    Returns:
      The written path.
    """
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    pil = Image.fromarray(to_uint8(to_float_image(image) if image.dtype != np.uint8 else image))
    with atomic_target(path) as tmp, tmp.open("wb") as f:
        pil.save(f, format=fmt)
    return path
