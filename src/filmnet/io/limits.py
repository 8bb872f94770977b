"""Size limits checked from headers, before any pixel is decoded.

A frame is refused when it has more than `max_pixels()` pixels (FILMNET_MAX_PIXELS, default 2**27, i.e. 134 MP,
16384x8192) or when holding it for processing (about `BYTES_PER_PIXEL` bytes a pixel: the decoded frame, its
float copy and the output) would not fit in the memory that is free now. Pillow's own decompression-bomb limit
only warns below 179 MP and decodes first; this check runs on the header alone. Standard library only.
"""
from __future__ import annotations

import os

from ..errors import InputError

DEFAULT_MAX_PIXELS = 1 << 27
MAX_RATE = 10**6  # frames a second, in and out: no camera records faster (a rate over it is damaged timestamps)
BYTES_PER_PIXEL = 40  # uint8/16 decode + float32 RGB copy + float output + model input tensors


def max_pixels() -> int:
    text = os.environ.get("FILMNET_MAX_PIXELS", "")
    return int(text) if text.strip().isdigit() and int(text) > 0 else DEFAULT_MAX_PIXELS


def free_memory() -> int | None:
    """Bytes of memory available now (Linux /proc/meminfo MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_frame_size(width: int, height: int, what: str) -> None:
    """Raise `InputError` (naming `what`, the size and the limit) for a frame too large to decode safely."""
    if width <= 0 or height <= 0:
        raise InputError(f"{what} has an invalid size {width}x{height} in its header")
    pixels, limit = width * height, max_pixels()
    if pixels > limit:
        raise InputError(f"{what} is {width}x{height} ({pixels / 1e6:.0f} MP), over the limit of {limit / 1e6:.0f} MP "
                         "per frame (refused from its header; set FILMNET_MAX_PIXELS to raise the limit)")
    free = free_memory()
    need = pixels * BYTES_PER_PIXEL
    if free is not None and need > free:
        raise InputError(f"{what} is {width}x{height}: processing it needs about {need / 2**30:.1f} GiB but only "
                         f"{free / 2**30:.1f} GiB of memory is free (refused from its header)")
