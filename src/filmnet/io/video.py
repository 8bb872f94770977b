"""Video I/O with PyAV: probe, decode to HxWxC uint8/uint16 RGB(A) frames with exact times, encode and mux.

Used by `filmnet.inference.video.retime`. Frames are numpy arrays here only: 8-bit sources give uint8, deeper
sources uint16 (full 16-bit scale); 4 channels when the source has alpha. Times are `Fraction` seconds taken
from pts x time_base, so variable frame rate input keeps its timing. A folder of PNG/JPEG/TIFF frames is a source
too (`probe_frames`): natural name order, frame i at i / rate. `av` is imported lazily.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .atomic import write_bytes_atomic
from .images import natural_key

log = logging.getLogger(__name__)

CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264", "h265": "libx265", "hevc": "libx265",
    "x265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1", "prores": "prores_ks",
}
DEFAULT_CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264",
                  ".webm": "libvpx-vp9", ".gif": "gif"}
CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 30, "libsvtav1": 30}
# 8-bit RGB sources into these containers get 4:2:0 from these encoders (what browsers and QuickTime play).
PLAYABLE_420 = {"libx264": (".mp4", ".m4v", ".mov"), "libx265": (".mp4", ".m4v", ".mov")}
# Audio codecs each container takes as a stream copy; anything else is re-encoded.
AUDIO_ENCODER = {".webm": "libopus"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SKIPPED_PIX_FMTS = ("nv", "pal8", "rgb8", "bgr8", "rgb4", "bgr4", "monob", "rgb555", "p01", "p21", "y210")


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



def frame_files(folder: Path) -> list[Path]:
    """The PNG/JPEG/TIFF files of `folder` in natural name order (hidden files skipped)."""
    files = [p for p in folder.iterdir()
             if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def probe_frames(folder: str | Path, rate: Fraction) -> VideoInfo:
    """A folder of frames as a source at `rate` fps; size, depth and alpha come from the first frame."""
    folder = Path(folder)
    files = frame_files(folder)
    if not files:
        raise InputError(f"{folder} holds no PNG, JPEG or TIFF frames")
    with open_input(files[0], "image") as container:
        first = _decode_image(container, files[0])
    depth, alpha, _, _ = _format_traits(first.format.name)
    width, height = first.width, first.height
    if exif_orientation(files[0]) in (5, 6, 7, 8):
        width, height = height, width
    return VideoInfo(folder, width, height, Fraction(rate), len(files), first.format.name, depth, alpha,
                     False, {}, tuple(files))


def exif_orientation(path: Path) -> int:
    """EXIF orientation (1-8) of an image file from its header, as `filmnet.io.images.read_image` applies it; 1
    when absent or unreadable. A PNG eXIf chunk placed after the pixel data is not seen (that needs a full decode)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format == "PNG" and "exif" not in im.info:
                return 1
            value = im.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return 1
    return value if value in range(1, 9) else 1


def _decode_image(container, path: Path):
    import av

    try:
        return next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration, IndexError):
        raise InputError(f"{path} is not a readable image") from None


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
        yield from _read_folder(info)
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


def keyframe_table(info: VideoInfo) -> tuple[list[int], list[int]] | None:
    """Presentation timestamps of a video file's frames in order (from its packets, no decoding) and the positions
    of its keyframes in that order; None when frames cannot be located by timestamp (a frame folder, a packet
    without a pts, repeated pts)."""
    if info.is_folder:
        return None
    pts, keys = [], set()
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if not packet.size or packet.is_discard:
                continue
            if packet.pts is None:
                return None
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.add(packet.pts)
    order = sorted(pts)
    if not order or len(set(order)) != len(order):
        return None
    return order, [i for i, p in enumerate(order) if p in keys]


def read_frames_from(info: VideoInfo, first: int, table: tuple[list[int], list[int]]) -> Iterator[DecodedFrame]:
    """Frames `first`, `first` + 1, ... of a video file (indices and times as `read_frames` gives them), decoded
    from the last keyframe at or before frame `first`. Raises LookupError, before yielding anything, when the
    decoder does not land on frame `first` (read from the start instead); InputError on a later gap."""
    import av

    order, keys = table
    starts = [k for k in keys if k <= first]
    if not starts or first >= len(order):
        raise LookupError(f"no keyframe at or before frame {first}")
    index_of = {p: i for i, p in enumerate(order)}
    fmt, expected = _array_format(info.depth, info.alpha), first
    with open_input(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(order[starts[-1]], stream=stream, backward=True, any_frame=False)
        try:
            for frame in container.decode(stream):
                index = index_of.get(frame.pts)
                if index is not None and index < first:
                    continue
                if index != expected:
                    if expected == first:
                        raise LookupError(f"seeking landed on frame {index}, not {first}")
                    raise InputError(f"{info.path}: frame {expected} is missing after seeking")
                yield DecodedFrame(index, *_frame_time(frame, index, info.rate), _to_array(frame, fmt))
                expected += 1
        except av.error.FFmpegError as err:
            raise InputError(f"{info.path}: decoding failed at frame {expected} ({err}); the file may be truncated")


def prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """`items` produced by a background thread, up to `depth` ahead (decoding beside inference); exceptions are
    re-raised in the consumer, and closing this generator stops the thread and closes `items`."""
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop, done = threading.Event(), object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((done, None))
        except BaseException as err:  # handed to the consumer
            put((done, err))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="filmnet-decode", daemon=True)
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _read_folder(info: VideoInfo) -> Iterator[DecodedFrame]:
    """Frames of a frame-folder source, converted to the first frame's layout; all must share its size."""
    from .images import _orient

    fmt, period = _array_format(info.depth, info.alpha), 1 / info.rate
    for index, path in enumerate(info.files):
        with open_input(path, "image") as container:
            frame = _decode_image(container, path)
        image = _to_array(frame, fmt)
        orientation = exif_orientation(path)
        if orientation != 1:
            image = _orient(image, orientation)
        if image.shape[:2] != (info.height, info.width):
            raise InputError(f"{path.name} is {image.shape[1]}x{image.shape[0]} but {info.files[0].name} is "
                             f"{info.width}x{info.height} (WxH, after EXIF orientation); all frames must have one "
                             "size")
        yield DecodedFrame(index, index * period, period, image)


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


def resolve_codec(codec: str | None, suffix: str) -> str:
    """Encoder name for `--codec` (aliases allowed) or the container's default; `InputError` when unavailable."""
    import av

    name = CODEC_ALIASES.get((codec or "").lower(), codec) or DEFAULT_CODECS.get(suffix.lower())
    if name is None:
        raise InputError(f"no default codec for '{suffix}' outputs; use .mp4, .mkv, .mov, .webm, .gif or a folder")
    try:
        av.codec.Codec(name, "w")
    except Exception:
        raise InputError(f"encoder {name!r} is not available in this PyAV build") from None
    return name


def choose_pix_fmt(codec: str, depth: int, alpha: bool, is_rgb: bool, subsampling: int) -> str:
    """The encoder's pixel format closest to the source: keep alpha, then depth, then chroma layout."""
    import av

    def cost(name: str) -> tuple:
        d, a, rgb, sub = _format_traits(name)
        return (alpha and not a, d < min(depth, 10), a and not alpha, abs(d - depth) if d < 16 or depth > 8 else 8,
                sub > subsampling, rgb != is_rgb, abs(sub - subsampling))

    names = [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    names = [n for n in names if not n.startswith(SKIPPED_PIX_FMTS) and "gray" not in n and "j" not in n[:4]]
    if not names:
        raise InputError(f"encoder {codec!r} takes no pixel format filmnet can write")
    return min(names, key=cost)


def quality_options(codec: str, crf: int | None) -> dict[str, str]:
    """Encoder options for `crf` (or the codec's default from `DEFAULT_CRF`); empty when the codec has no crf."""
    crf = DEFAULT_CRF.get(codec) if crf is None else crf
    if crf is None or not has_option(codec, "crf"):
        return {}
    return {"crf": str(crf), **({"b": "0"} if codec == "libvpx-vp9" else {})}


def has_option(codec: str, name: str) -> bool:
    """Whether encoder `codec` has the private option `name` (e.g. libx264's `crf`)."""
    import av

    options = av.CodecContext.create(codec, "w").supported_options.private or ()
    return any(option.name == name for option in options)


@dataclass(frozen=True)
class EncoderSettings:
    """A checked encoder setup for one output file (see `plan_encoder`); `notes` are for the user."""

    codec: str
    container_format: str
    pix_fmt: str
    crf: int | None = None
    notes: tuple[str, ...] = ()


def plan_encoder(suffix: str, *, codec: str | None, crf: int | None, pix_fmt: str | None, width: int, height: int,
                 rate: Fraction, depth: int, alpha: bool, source_pix_fmt: str, color: dict | None = None,
                 rotation: int = 0) -> EncoderSettings:
    """Resolve codec, container and pixel format for a `suffix` output and open (then close) an in-memory encoder
    with them, so a mismatch is a one-line `InputError` before any work is done.

    The pixel format is `pix_fmt` when given, else `choose_pix_fmt`, except that 8-bit RGB sources without alpha
    get yuv420p from H.264/H.265 in .mp4/.m4v/.mov (4:4:4 and planar RGB do not play in browsers or QuickTime).
    """
    import io

    import av

    suffix = suffix.lower()
    name = resolve_codec(codec, suffix)
    notes = []
    if crf is not None and not has_option(name, "crf"):
        notes.append(f"--crf ignored: encoder {name} has no crf option")
    if pix_fmt is None:
        pix_fmt = _default_pix_fmt(name, suffix, depth, alpha, source_pix_fmt)
    elif pix_fmt not in [f.name for f in av.codec.Codec(name, "w").video_formats or []]:
        raise InputError(f"encoder {name} does not take pixel format {pix_fmt!r}")
    fmt = CONTAINER_FORMATS.get(suffix, "mp4")
    try:
        probe = VideoEncoder(io.BytesIO(), width=width, height=height, rate=rate, codec=name, depth=depth,
                             alpha=alpha, source_pix_fmt=source_pix_fmt, crf=crf, color=color, rotation=rotation,
                             container_format=fmt, pix_fmt=pix_fmt)
    except (ValueError, av.error.FFmpegError) as err:
        raise _encoder_error(name, pix_fmt, suffix, err) from None
    try:
        probe.container.start_encoding()  # opens the encoder with its options and writes the header
    except (ValueError, av.error.FFmpegError) as err:
        raise _encoder_error(name, pix_fmt, suffix, err) from None
    finally:
        with contextlib.suppress(ValueError, av.error.FFmpegError):  # e.g. GIF refuses a trailer with no frames
            probe.container.close()
    return EncoderSettings(name, fmt, pix_fmt, crf, tuple(notes))


def _encoder_error(codec: str, pix_fmt: str, suffix: str, err: Exception) -> InputError:
    message = " ".join(str(err).split()) or type(err).__name__
    return InputError(f"cannot write {codec} ({pix_fmt}) video to a '{suffix}' file: {message}")


def _default_pix_fmt(codec: str, suffix: str, depth: int, alpha: bool, source_pix_fmt: str) -> str:
    if codec == "gif":
        return "pal8"
    _, _, s_rgb, s_sub = _format_traits(source_pix_fmt)
    if s_rgb and depth <= 8 and not alpha and suffix in PLAYABLE_420.get(codec, ()):
        return "yuv420p"
    return choose_pix_fmt(codec, depth, alpha, s_rgb, s_sub)


class VideoEncoder:
    """Encodes RGB(A) numpy frames to a container at a constant `rate`; optional audio is interleaved by time.

    Args:
        path: output file (written as given; the caller makes it atomic) or a writable binary file object.
        rate: output frame rate; frame k is stamped start + k / rate.
        codec: encoder name (see `resolve_codec`); crf: quality where the encoder has a crf option (else unused).
        color: colorspace/color_range/color_primaries/color_trc of the source, kept on the output.
        pix_fmt: the encoder's pixel format; default `choose_pix_fmt` (pal8 for GIF).
    """

    def __init__(self, path, *, width: int, height: int, rate: Fraction, codec: str, depth: int, alpha: bool,
                 source_pix_fmt: str = "rgb24", crf: int | None = None, color: dict | None = None,
                 rotation: int = 0, start: Fraction = Fraction(0), container_format: str | None = None,
                 pix_fmt: str | None = None):
        import av

        self.container = av.open(str(path) if isinstance(path, (str, Path)) else path, mode="w",
                                 format=container_format)
        try:
            self._add_video(width, height, rate, codec, depth, alpha, source_pix_fmt, crf, color, rotation, start,
                            pix_fmt)
        except BaseException:
            self.container.close()
            raise

    def _add_video(self, width, height, rate, codec, depth, alpha, source_pix_fmt, crf, color, rotation, start,
                   pix_fmt) -> None:
        self.rate, self.start, self.color = rate, start, dict(color or {})
        self.array_format = _array_format(depth, alpha)
        _, _, s_rgb, s_sub = _format_traits(source_pix_fmt)
        if pix_fmt is None:
            pix_fmt = "pal8" if codec == "gif" else choose_pix_fmt(codec, depth, alpha, s_rgb, s_sub)
        subsampled = pix_fmt != "pal8" and _format_traits(pix_fmt)[3] > 0
        self.pad = (height % 2, width % 2) if subsampled else (0, 0)  # 4:2:0 needs even sizes: repeat the edge
        stream = self.container.add_stream(codec, rate=rate)
        stream.width, stream.height = width + self.pad[1], height + self.pad[0]
        stream.pix_fmt = pix_fmt
        stream.time_base = stream.codec_context.time_base = 1 / rate
        options = quality_options(codec, crf)
        if options:
            stream.options = options
        self.yuv = pix_fmt != "pal8" and not _format_traits(pix_fmt)[2]
        # Tag only specified values: an "unspecified" (2) colorspace on the encoder makes PyAV re-convert every
        # frame through swscale with undefined coefficients (non-deterministic output).
        self.color = {k: v for k, v in self.color.items() if v not in (None, 0, 2)}
        if self.color.get("colorspace") not in SWS_COLORSPACES:
            self.color.pop("colorspace", None)
        for key, value in self.color.items():
            if self.yuv or key in ("color_primaries", "color_trc"):
                setattr(stream.codec_context, key, value)
        if rotation:
            stream.set_display_rotation(rotation)
        self.stream, self.index = stream, 0
        self.audio: Iterator | None = None
        self.pending_audio = None

    def attach_audio(self, packets: Iterator) -> None:
        """Packets (already bound to an output stream) to interleave with the video by time."""
        self.audio = packets

    def add_audio_stream(self, *, template=None, codec: str | None = None, like=None):
        """A copy of stream `template`, or a `codec` encoder shaped like stream `like`; call before any frame."""
        import av

        if template is not None:
            return self.container.add_stream_from_template(template)
        rates = av.codec.Codec(codec, "w").audio_rates
        rate = like.rate if not rates or like.rate in rates else 48000
        stream = self.container.add_stream(codec, rate=rate)
        stream.layout = "mono" if like.layout.nb_channels == 1 else "stereo"
        return stream

    def write(self, image: np.ndarray) -> None:
        import av

        if any(self.pad):
            image = np.pad(image, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        if self.stream.pix_fmt == "pal8":
            frame = _palette_frame(image)
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=self.array_format)
        if self.yuv:
            space = SWS_COLORSPACES.get(self.color.get("colorspace"), "default")
            frame = frame.reformat(format=self.stream.pix_fmt, src_colorspace="default", dst_colorspace=space,
                                   dst_color_range=self.color.get("color_range") or None)
            for key, value in self.color.items():
                setattr(frame, key, value)
        frame.pts = self.index + round(self.start * self.rate)
        frame.time_base = 1 / self.rate
        self._mux_audio_until(Fraction(frame.pts) / self.rate)
        self.container.mux(self.stream.encode(frame))
        self.index += 1

    def _mux_audio_until(self, time: Fraction | None) -> None:
        while self.audio is not None:
            packet = self.pending_audio or next(self.audio, None)
            if packet is None:
                self.audio = None
                return
            if time is not None and packet.pts is not None and packet.pts * Fraction(packet.time_base) > time:
                self.pending_audio = packet
                return
            self.pending_audio = None
            self.container.mux(packet)

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self._mux_audio_until(None)
        self.container.close()

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self.container.close()


def _palette_frame(image: np.ndarray):
    """256-colour frame for GIF (Pillow's median-cut palette per frame; alpha and depth dropped)."""
    import av
    from PIL import Image

    rgb = image[..., :3] if image.dtype == np.uint8 else (image[..., :3] >> 8).astype(np.uint8)
    quantized = Image.fromarray(np.ascontiguousarray(rgb)).quantize(256)
    colors = np.zeros((256, 4), np.uint8)
    pal = np.asarray(quantized.getpalette()[: 256 * 3], np.uint8).reshape(-1, 3)
    colors[: len(pal), :3] = pal[:, ::-1]  # FFmpeg's pal8 entries are native-endian ARGB: B, G, R, A in memory
    colors[:, 3] = 255
    return av.VideoFrame.from_ndarray((np.asarray(quantized), colors), format="pal8")


def audio_packets(container, out_stream, *, copy: bool, tempo: Fraction = Fraction(1)) -> Iterator:
    """Packets of `container`'s first audio stream for `out_stream`: copied, or decoded -> atempo -> encoded."""
    source = container.streams.audio[0]
    if copy:
        for packet in container.demux(source):
            if packet.dts is not None:
                packet.stream = out_stream
                yield packet
        return
    graph = _atempo_graph(source, tempo) if tempo != 1 else None
    for frame in container.decode(source):
        for out in _filter(graph, frame):
            yield from out_stream.encode(out)
    for out in _filter(graph, None):
        yield from out_stream.encode(out)
    yield from out_stream.encode(None)


def _filter(graph, frame) -> list:
    import av

    if graph is None:
        return [] if frame is None else [frame]
    graph.push(frame)
    out = []
    while True:
        try:
            out.append(graph.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            return out


def _atempo_graph(source, tempo: Fraction):
    """atempo chain: each stage takes 0.5..2, so slow-downs by 2**k use k stages."""
    import av

    graph = av.filter.Graph()
    node = graph.add_abuffer(template=source)
    stages, left = [], float(tempo)
    while left < 0.5:
        stages.append(0.5)
        left /= 0.5
    stages.append(left)
    for factor in stages:
        stage = graph.add("atempo", f"{factor:.10f}")
        node.link_to(stage)
        node = stage
    sink = graph.add("abuffersink")
    node.link_to(sink)
    graph.configure()
    return graph


def can_copy_audio(container_suffix: str, codec_name: str) -> bool:
    """Whether a stream copy of `codec_name` audio fits the output container."""
    if container_suffix == ".webm":
        return codec_name in ("opus", "vorbis")
    if container_suffix in (".mp4", ".m4v", ".mov"):
        return codec_name in ("aac", "mp3", "alac", "ac3", "eac3", "opus", "flac")
    return container_suffix == ".mkv"


def write_png(path: Path, image: np.ndarray) -> None:
    """One RGB(A) uint8/uint16 frame as a PNG file (16-bit kept), written atomically."""
    import av

    fmt = _array_format(16 if image.dtype == np.uint16 else 8, image.shape[2] == 4)
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height = image.shape[1], image.shape[0]
    ctx.pix_fmt = {"rgb48le": "rgb48be", "rgba64le": "rgba64be"}.get(fmt, fmt)
    ctx.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
    data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
    write_bytes_atomic(path, data)


def lossless_encoder(path: Path, *, width: int, height: int, depth: int, alpha: bool) -> VideoEncoder:
    """FFV1-in-Matroska writer that stores RGB(A) uint8/uint16 frames bit-exactly (for `read_segment`)."""
    fmt = {"rgb24": "bgr0", "rgba": "bgra"}.get(_array_format(depth, alpha), _array_format(depth, alpha))
    return VideoEncoder(path, width=width, height=height, rate=Fraction(25), codec="ffv1", depth=depth, alpha=alpha,
                        container_format="matroska", pix_fmt=fmt)


def read_segment(path: Path, depth: int, alpha: bool) -> Iterator[np.ndarray]:
    """Frames of a file written by `lossless_encoder`, bit-exact."""
    fmt = _array_format(depth, alpha)
    with open_input(path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format=fmt)
