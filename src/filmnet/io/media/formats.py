"""What every media module shares: the decoded-source types (`VideoInfo`, `DecodedFrame`, `DecodeReport`), opening a
file for reading, pixel-format traits, RGB array layouts, and frame times. No other media module is imported here, so
readers and writers depend on this one and never on each other. `av` is imported lazily.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    """What retiming needs to know about an input video.

    `color` holds the colour tags (colorspace, color_range, color_primaries, color_trc) and, when the source has
    them, its HDR10 static metadata under `hdr.HDR_KEY` (kept on outputs whose encoder can write it)."""

    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int | None
    pix_fmt: str
    depth: int
    alpha: bool
    has_audio: bool
    color: dict = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # the frames of a frame-folder source, in order; empty for a video file

    @property
    def is_folder(self) -> bool:
        return bool(self.files)


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame: `image` is (H, W, 3|4) uint8/uint16 RGB(A); `time` and `duration` are seconds."""

    index: int
    time: Fraction
    duration: Fraction | None
    image: np.ndarray


@dataclass
class DecodeReport:
    """Filled in while reading: input frames skipped (held) because they could not be decoded or were missing, and
    frames held for AVI dropped-frame entries (a legitimate "repeat the previous frame", not damage)."""

    skipped: int = 0
    repeated: int = 0


def open_input(path: Path, what: str = "video"):
    """`av.open` for reading; `InputError` when the file is not a readable media file."""
    import av

    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable {what} ({err.__class__.__name__}: {err})") from None


def format_traits(name: str) -> tuple[int, bool, bool, int]:
    """(bit depth, has alpha, is rgb, chroma subsampling shift sum) of a pixel format."""
    import av

    fmt = av.VideoFormat(name, 64, 64)
    comps = fmt.components
    depth = max(c.bits for c in comps)
    alpha = any(c.is_alpha for c in comps)
    sub = 0 if fmt.is_rgb or len(comps) < 3 else (64 // comps[1].width - 1) + (64 // comps[1].height - 1)
    return depth, alpha, bool(fmt.is_rgb), sub


def array_format(depth: int, alpha: bool) -> str:
    """The packed RGB(A) pixel format of frames as numpy arrays: uint8 for 8 bits, uint16 (full scale) above."""
    if depth > 8:
        return "rgba64le" if alpha else "rgb48le"
    return "rgba" if alpha else "rgb24"


# AVColorSpace -> swscale's coefficient sets; others (unspecified, ...) use swscale's default, BT.601.
SWS_COLORSPACES = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}


def to_array(frame, fmt: str) -> np.ndarray:
    """A decoded frame as an RGB(A) array in `fmt` (see `array_format`), converted with the source's matrix and range."""
    space = SWS_COLORSPACES.get(frame.colorspace, "default")
    rgb = frame.reformat(format=fmt, src_colorspace=space, src_color_range=frame.color_range or None)
    return rgb.to_ndarray()


def frame_time(frame, index: int, rate: Fraction) -> tuple[Fraction, Fraction | None]:
    """(time, duration) in seconds of a decoded frame; frame `index` / `rate` when it has no timestamp."""
    if frame.pts is None or frame.time_base is None:
        return Fraction(index) / rate, None
    tb = Fraction(frame.time_base)
    duration = _snap(frame.duration * tb, rate, tb) if frame.duration else None
    return _snap(frame.pts * tb, rate, tb), duration


def _snap(time: Fraction, rate: Fraction, tb: Fraction) -> Fraction:
    """Undo the container's rounding (e.g. Matroska's 1 ms): a time within half a tick of the nominal grid is on it."""
    grid = round(time * rate) / rate
    return grid if abs(time - grid) <= tb / 2 else time
