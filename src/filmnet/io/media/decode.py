"""Decoding with PyAV: probe a video (or a frame folder, see `folders`) and decode it to HxWxC uint8/uint16 RGB(A)
frames with exact times.

8-bit sources give uint8, deeper sources uint16 (full 16-bit scale); 4 channels when the source has alpha. Times
are `Fraction` seconds taken from pts x time_base, so variable frame rate input keeps its timing. `av` is imported
lazily.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError
from . import hdr
from .folders import read_folder
from .formats import DecodedFrame, DecodeReport, VideoInfo, array_format, format_traits, frame_time, open_input, to_array
from .kinds import is_image_demuxer
from ..limits import MAX_RATE, check_frame_size



def probe_video(path: str | Path) -> VideoInfo:
    """Read the first video stream's properties; raise `InputError` when there is none, when the file is a still
    image, when its frame rate is 0 or over `MAX_RATE`, or when its timestamps cannot give frames in order (see
    `check_timestamps`). Deep (> 8 bit) sources also have their HDR10 static metadata read (`hdr`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input video {path} does not exist or is not a file")
    with open_input(path) as container:
        if is_image_demuxer(container.format.name):
            raise InputError(f"{path} is a still image ({container.format.name.split(',')[0]}), not a video")
        if not container.streams.video:
            raise InputError(f"{path} has no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        rate = _stream_rate(stream, path, container.format.name)
        check_frame_size(ctx.width, ctx.height, f"video {path}")
        pix_fmt = ctx.pix_fmt or "yuv420p"
        depth, alpha, _, _ = format_traits(pix_fmt)
        color = {"colorspace": ctx.colorspace, "color_range": ctx.color_range,
                 "color_primaries": ctx.color_primaries, "color_trc": ctx.color_trc}
        check_timestamps(container, stream, path)
        if depth > 8:
            meta = _first_frame_hdr(path)
            if meta is not None:
                color[hdr.HDR_KEY] = meta
        return VideoInfo(path, ctx.width, ctx.height, rate, stream.frames or None, pix_fmt, depth,
                         alpha, bool(container.streams.audio), color)


def _stream_rate(stream, path: Path, container_format: str) -> Fraction:
    """The stream's frame rate from its header or timestamps; 0, none or over `MAX_RATE` is refused (a guess would
    retime at a rate the file never had: FFmpeg replaces an AVI or Y4M header rate of 0 with 25 fps)."""
    declared = [Fraction(r) for r in (stream.average_rate, stream.base_rate) if r is not None]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate or (declared and not any(declared)) or _header_rate_is_zero(path, container_format):
        raise InputError(f"{path}: its video stream gives a frame rate of 0 (or none); the header is damaged "
                         "(remux it with a frame rate, e.g. ffmpeg -r)")
    fastest = max([Fraction(rate), *declared])
    if fastest > MAX_RATE:
        raise InputError(f"{path}: its video stream claims {float(fastest):.6g} fps, over the limit of "
                         f"{MAX_RATE:g} fps; its timestamps are damaged")
    return Fraction(rate)


def _header_rate_is_zero(path: Path, container_format: str) -> bool:
    """Whether an AVI's first video stream header (strh: scale, rate) or a Y4M header (F) gives a rate of 0."""
    import struct

    name = container_format.split(",")[0]
    if name not in ("avi", "yuv4mpegpipe"):
        return False
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if name == "yuv4mpegpipe":
        line = head.split(b"\n", 1)[0].split()
        return any(p.startswith(b"F") and (p[1:].split(b":")[0] in (b"0", b"") or p.endswith(b":0")) for p in line)
    at = head.find(b"strh")
    while 0 <= at and at + 36 <= len(head):
        if head[at + 8:at + 12] == b"vids":
            scale, rate = struct.unpack_from("<II", head, at + 28)
            return not scale or not rate
        at = head.find(b"strh", at + 4)
    return False


def check_timestamps(container, stream, path: Path) -> None:
    """Refuse, before any decoding, timestamps that cannot give frames in order: decode timestamps that do not
    increase, or presentation timestamps that are all equal. Presentation order may go up and down (B-frames).
    Reads the packets only (no decoding)."""
    import av

    last_dts, first_pts, same_pts, count = None, None, True, 0
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue
            count += 1
            if packet.dts is not None:
                if last_dts is not None and packet.dts <= last_dts:
                    raise InputError(f"{path}: packet {count - 1} has decode timestamp {packet.dts} after "
                                     f"{last_dts}; decode timestamps must increase (the timestamps are damaged)")
                last_dts = packet.dts
            if packet.pts is not None:
                first_pts = packet.pts if first_pts is None else first_pts
                same_pts = same_pts and packet.pts == first_pts
    except av.error.FFmpegError:
        pass  # a damaged container: decoding reports where (or holds frames with --ignore-errors)
    if count > 1 and first_pts is not None and same_pts:
        raise InputError(f"{path}: all {count} frames have the same presentation timestamp; the timestamps are "
                         "damaged (frames cannot be placed in time)")


def _first_frame_hdr(path: Path) -> hdr.Hdr10 | None:
    import av

    with open_input(path) as container:
        try:
            for frame in container.decode(video=0):
                return hdr.from_frame(frame)
        except av.error.FFmpegError:
            return None
    return None


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


MAX_HELD_FRAMES = 100_000  # --ignore-errors: beyond this, damaged timestamps would make unbounded work


def read_frames(info: VideoInfo, *, ignore_errors: bool = False,
                report: DecodeReport | None = None) -> Iterator[DecodedFrame]:
    """Decode every frame of `info.path` in presentation order.

    A packet that fails to decode, a demuxing error, or a stream that ends before the end its header gives (its
    frame count or duration) raises `InputError` naming the frame and time. With `ignore_errors` the previous
    frame is held in place of each damaged one (and to the header's end), counted in `report.skipped`.
    """
    if info.is_folder:
        yield from read_folder(info, ignore_errors, report if report is not None else DecodeReport())
        return
    report = report if report is not None else DecodeReport()
    fmt = array_format(info.depth, info.alpha)
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        reader = _Decoder(info, stream, fmt, ignore_errors, report)
        reader.repeats = holds_gaps(container)
        reader.indexed = bool(stream.frames) and not reader.repeats
        yield from reader.frames(container)
        yield from reader.check_end(_expected_end(container, stream))


class _Decoder:
    """Packet-by-packet decoding that notices damage: failed packets, demuxing errors and early ends."""

    def __init__(self, info: VideoInfo, stream, fmt: str, ignore_errors: bool, report: DecodeReport):
        self.info, self.stream, self.fmt, self.ignore, self.report = info, stream, fmt, ignore_errors, report
        self.index, self.last, self.period = 0, None, 1 / info.rate
        self.cfr = True  # every step so far was exactly one period
        self.repeats = False  # a gap repeats the previous frame (AVI dropped-frame entries), see `holds_gaps`
        self.indexed = False  # the header counts every frame (MP4/MOV sample tables): a gap is timing, not loss
        self.discarded = 0  # packets an edit list hides (counted in the header, never shown)

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
            self.discarded += bool(packet.size and packet.is_discard)
            try:
                decoded = packet.decode()
            except av.error.FFmpegError as err:  # with ignore_errors, the gap it leaves is held (`_fill_gap`)
                self._damaged("a frame cannot be decoded", time, err)
                self.indexed = False  # frames were lost after all: the gap they leave is damage (held)
                continue
            for frame in decoded:
                time, duration = frame_time(frame, self.index, self.info.rate)
                yield from self._fill_gap(time)
                made = self._emit(time, duration, to_array(frame, self.fmt))
                if made is not None:
                    yield made

    def _fill_gap(self, time: Fraction) -> Iterator[DecodedFrame]:
        """In a stream without a per-frame index (Matroska, WebM, raw) that has been constant-rate so far, a jump of
        two or more periods means frames were lost (a damaged block the demuxer skipped): damage, or held frames with
        `ignore_errors`. In AVI it means dropped-frame entries (`holds_gaps`): the previous frame is repeated. Where
        the header counts every frame (MP4/MOV), a gap is variable-rate timing (the end check finds lost frames)."""
        last = self.last
        if last is None:
            return
        step = time - last.time
        if not self.cfr or step == self.period:
            return
        if self.indexed:  # every frame is in the sample table (a lost one fails to decode or ends the stream early):
            self.cfr = False  # a gap is variable-rate timing, retimed by its timestamps
            return
        if step < 2 * self.period:  # irregular steps: a variable frame rate stream, where gaps are normal
            self.cfr = False
            return
        missing = round(step / self.period) - 1
        if self.repeats:  # dropped-frame entries: the previous frame shows for them, as players show it
            for k in range(1, missing + 1):
                self.report.repeated += 1
                yield self._emit(last.time + k * self.period, self.period, last.image)
            return
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
        if frames is not None:
            frames -= self.discarded
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


def holds_gaps(container) -> bool:
    """Whether a gap in the timestamps of `container`'s video means "repeat the previous frame": AVI, whose
    timestamps are index positions and whose zero-size index entries (dropped frames, e.g. OpenCV's tree.avi) the
    demuxer skips. Elsewhere a gap in a constant-rate stream is damage, and irregular steps are variable rate."""
    return container.format.name.split(",")[0] == "avi"


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
