"""Decoding with PyAV: probe a video (or a frame folder, see `folders`) and decode it to HxWxC uint8/uint16 RGB(A)
frames with exact times.

8-bit sources give uint8, deeper sources uint16 (full 16-bit scale); 4 channels when the source has alpha. Times
are `Fraction` seconds taken from pts x time_base, so variable frame rate input keeps its timing. `av` is imported
lazily.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError


@dataclass(frozen=True)
class VideoInfo:
    """What retiming needs to know about an input video."""

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


def open_input(path: Path, what: str = "video"):
    """`av.open` for reading; `InputError` when the file is not a readable media file."""
    import av

    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise InputError(f"{path} is not a readable {what} ({err.__class__.__name__}: {err})") from None


def _format_traits(name: str) -> tuple[int, bool, bool, int]:
    """(bit depth, has alpha, is rgb, chroma subsampling shift sum) of a pixel format."""
    import av

    fmt = av.VideoFormat(name, 64, 64)
    comps = fmt.components
    depth = max(c.bits for c in comps)
    alpha = any(c.is_alpha for c in comps)
    sub = 0 if fmt.is_rgb or len(comps) < 3 else (64 // comps[1].width - 1) + (64 // comps[1].height - 1)
    return depth, alpha, bool(fmt.is_rgb), sub


def probe_video(path: str | Path) -> VideoInfo:
    """Read the first video stream's properties; raise `InputError` when there is none."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input video {path} does not exist or is not a file")
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise InputError(f"{path}: cannot tell the frame rate of its video stream")
        pix_fmt = ctx.pix_fmt or "yuv420p"
        depth, alpha, _, _ = _format_traits(pix_fmt)
        color = {"colorspace": ctx.colorspace, "color_range": ctx.color_range,
                 "color_primaries": ctx.color_primaries, "color_trc": ctx.color_trc}
        return VideoInfo(path, ctx.width, ctx.height, Fraction(rate), stream.frames or None, pix_fmt, depth,
                         alpha, bool(container.streams.audio), color)


def source_fingerprint(info: VideoInfo) -> list:
    """What identifies the source's content for resuming: path, sizes and mtimes (of every frame of a folder)."""
    files = info.files or (info.path,)
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return [str(info.path.resolve()), len(files), digest.hexdigest()]


def _array_format(depth: int, alpha: bool) -> str:
    if depth > 8:
        return "rgba64le" if alpha else "rgb48le"
    return "rgba" if alpha else "rgb24"


def read_frames(info: VideoInfo) -> Iterator[DecodedFrame]:
    """Decode every frame of `info.path` in presentation order; raise `InputError` on a decode failure."""
    import av

    if info.is_folder:
        from .folders import read_folder

        yield from read_folder(info)
        return
    fmt = _array_format(info.depth, info.alpha)
    index = 0
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                yield DecodedFrame(index, *_frame_time(frame, index, info.rate), _to_array(frame, fmt))
                index += 1
        except av.error.FFmpegError as err:
            raise InputError(f"{info.path}: decoding failed after {index} frames ({err}); the file may be truncated")

def _frame_time(frame, index: int, rate: Fraction) -> tuple[Fraction, Fraction | None]:
    if frame.pts is None or frame.time_base is None:
        return Fraction(index) / rate, None
    tb = Fraction(frame.time_base)
    duration = _snap(frame.duration * tb, rate, tb) if frame.duration else None
    return _snap(frame.pts * tb, rate, tb), duration


def _snap(time: Fraction, rate: Fraction, tb: Fraction) -> Fraction:
    """Undo the container's rounding (e.g. Matroska's 1 ms): a time within half a tick of the nominal grid is on it."""
    grid = round(time * rate) / rate
    return grid if abs(time - grid) <= tb / 2 else time


# AVColorSpace -> swscale's coefficient sets; others (unspecified, ...) use swscale's default, BT.601.
SWS_COLORSPACES = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}


def _to_array(frame, fmt: str) -> np.ndarray:
    space = SWS_COLORSPACES.get(frame.colorspace, "default")
    rgb = frame.reformat(format=fmt, src_colorspace=space, src_color_range=frame.color_range or None)
    return rgb.to_ndarray()


def first_rotation(info: VideoInfo) -> int:
    """Display rotation (degrees) of the first frame; 0 when unknown."""
    import av

    if info.is_folder:
        return 0
    with open_input(info.path) as container:
        try:
            for frame in container.decode(video=0):
                return int(frame.rotation or 0)
        except av.error.FFmpegError:
            return 0
    return 0


def iter_video_rgb(path: str | Path, max_short_side: int | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video as uint8 (H, W, 3) RGB, stored pixels (no rotation), downscaled (area) so that the
    short side is at most `max_short_side` (None: native size). Used by the training data."""
    with open_input(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            w, h = _fit_short_side(frame.width, frame.height, max_short_side)
            yield frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")


def _fit_short_side(w: int, h: int, max_short_side: int | None) -> tuple[int, int]:
    if not max_short_side or min(w, h) <= max_short_side:
        return w, h
    scale = max_short_side / min(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))
