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
        from ..limits import check_frame_size

        check_frame_size(ctx.width, ctx.height, f"video {path}")
        pix_fmt = ctx.pix_fmt or "yuv420p"
        depth, alpha, _, _ = _format_traits(pix_fmt)
        color = {"colorspace": ctx.colorspace, "color_range": ctx.color_range,
                 "color_primaries": ctx.color_primaries, "color_trc": ctx.color_trc}
        return VideoInfo(path, ctx.width, ctx.height, Fraction(rate), stream.frames or None, pix_fmt, depth,
                         alpha, bool(container.streams.audio), color)


def count_video_frames(info: VideoInfo) -> int:
    """Frames of the video stream: the container's count, else a count of its packets (no decoding; Matroska and
    WebM often give no count)."""
    if info.frames:
        return int(info.frames)
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


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


MAX_HELD_FRAMES = 100_000  # --ignore-errors: beyond this, damaged timestamps would make unbounded work


@dataclass
class DecodeReport:
    """Filled in by `read_frames`: input frames skipped (held) because they could not be decoded or were missing."""

    skipped: int = 0


def read_frames(info: VideoInfo, *, ignore_errors: bool = False,
                report: DecodeReport | None = None) -> Iterator[DecodedFrame]:
    """Decode every frame of `info.path` in presentation order.

    A packet that fails to decode, a demuxing error, or a stream that ends before the end its header gives (its
    frame count or duration) raises `InputError` naming the frame and time. With `ignore_errors` the previous
    frame is held in place of each damaged one (and to the header's end), counted in `report.skipped`.
    """
    if info.is_folder:
        from .folders import read_folder

        yield from read_folder(info, ignore_errors, report if report is not None else DecodeReport())
        return
    report = report if report is not None else DecodeReport()
    fmt = _array_format(info.depth, info.alpha)
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        reader = _Decoder(info, stream, fmt, ignore_errors, report)
        yield from reader.frames(container)
        yield from reader.check_end(_expected_end(container, stream))


class _Decoder:
    """Packet-by-packet decoding that notices damage: failed packets, demuxing errors and early ends."""

    def __init__(self, info: VideoInfo, stream, fmt: str, ignore_errors: bool, report: DecodeReport):
        self.info, self.stream, self.fmt, self.ignore, self.report = info, stream, fmt, ignore_errors, report
        self.index, self.last, self.period = 0, None, 1 / info.rate
        self.cfr = True  # every step so far was exactly one period

    def _damaged(self, what: str, time: Fraction | None, err: Exception | None) -> None:
        where = f"frame {self.index}" + (f" (at {float(time):.3f} s)" if time is not None else "")
        detail = f": {' '.join(str(err).split())}" if err is not None else ""
        if not self.ignore:
            raise InputError(f"{self.info.path}: {what} at {where}{detail}; the file is damaged or truncated "
                             "(--ignore-errors holds the previous frame instead)")

    def _emit(self, time: Fraction, duration: Fraction | None, image: np.ndarray,
              held: bool = False) -> DecodedFrame | None:
        if held and time <= self.last.time:  # a damaged packet out of presentation order: nothing to hold
            return None
        self.last = DecodedFrame(self.index, time, duration, image)
        self.index += 1
        return self.last

    def _hold(self, time: Fraction | None) -> Iterator[DecodedFrame]:
        self.report.skipped += 1
        if self.report.skipped > MAX_HELD_FRAMES:
            raise InputError(f"{self.info.path}: more than {MAX_HELD_FRAMES} frames are damaged or missing (the "
                             "timestamps may be corrupt); too damaged to hold frames in their place")
        if self.last is not None:
            time = self.last.time + self.period if time is None else time
            frame = self._emit(time, self.period, self.last.image, held=True)
            if frame is not None:
                yield frame

    def frames(self, container) -> Iterator[DecodedFrame]:
        import av

        packets = container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as err:  # the container itself is damaged: nothing more to read
                self._damaged("the container cannot be read", self._next_time(), err)
                return
            time = _packet_time(packet)
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:  # with ignore_errors, the gap it leaves is held (`_fill_gap`)
                self._damaged("a frame cannot be decoded", time, err)
                continue
            for frame in decoded:
                time, duration = _frame_time(frame, self.index, self.info.rate)
                yield from self._fill_gap(time)
                made = self._emit(time, duration, _to_array(frame, self.fmt))
                if made is not None:
                    yield made

    def _fill_gap(self, time: Fraction) -> Iterator[DecodedFrame]:
        """In a stream that has been constant-rate so far, a jump of two or more periods means frames were lost
        (a damaged block the demuxer skipped): damage, or held frames with `ignore_errors`."""
        last = self.last
        if last is None:
            return
        step = time - last.time
        if not self.cfr or step == self.period:
            return
        if step < 2 * self.period:  # irregular steps: a variable frame rate stream, where gaps are normal
            self.cfr = False
            return
        missing = round(step / self.period) - 1
        self._damaged(f"{missing} frames are missing", last.time + self.period, None)
        for _ in range(missing):
            yield from self._hold(None)

    def _next_time(self) -> Fraction | None:
        return None if self.last is None else self.last.time + (self.last.duration or self.period)

    def check_end(self, expected: tuple[int | None, Fraction | None]) -> Iterator[DecodedFrame]:
        """An early end (fewer frames than the header counts, or ending well before its duration) is damage."""
        frames, end = expected
        if self.last is None:
            return
        got_end = self.last.time + (self.last.duration or self.period)
        missing = 0
        if frames is not None and self.index < frames:
            missing = frames - self.index
        elif end is not None and got_end < end - 2 * self.period:
            missing = round((end - got_end) / self.period)
        if missing <= 0:
            return
        if not self.ignore:
            raise InputError(f"{self.info.path}: the stream ends after frame {self.index - 1} (at "
                             f"{float(got_end):.3f} s) but its header promises {missing} more frames; the file is "
                             "truncated or damaged (--ignore-errors holds the last frame to the end instead)")
        for _ in range(missing):
            yield from self._hold(None)


def _packet_time(packet) -> Fraction | None:
    if packet.pts is None or packet.time_base is None:
        return None
    return Fraction(packet.pts) * Fraction(packet.time_base)


def _expected_end(container, stream) -> tuple[int | None, Fraction | None]:
    """What the header promises: the stream's frame count, else its (or, with no audio, the file's) duration."""
    frames = stream.frames or None
    end = None
    if stream.duration and stream.time_base:
        end = Fraction(stream.duration) * Fraction(stream.time_base)
        if stream.start_time is not None:
            end += Fraction(stream.start_time) * Fraction(stream.time_base)
    elif container.duration and not container.streams.audio:
        end = Fraction(container.duration, 1_000_000)
        if container.start_time:
            end += Fraction(container.start_time, 1_000_000)
    return frames, end


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
