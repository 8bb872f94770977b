"""Encoding with PyAV: codec and pixel-format choice, checked encoder setups, `VideoEncoder` (RGB(A) uint8/uint16
frames -> a container, with optional audio), GIF palettes, and the lossless FFV1 segments `filmnet video` resumes
from. `av` is imported lazily.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError
from . import hdr
from .formats import SWS_COLORSPACES, array_format, format_traits, open_input
from .kinds import CONTAINER_FORMATS, MP4_FAMILY
from ..limits import MAX_RATE

CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264", "h265": "libx265", "hevc": "libx265",
    "x265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1", "prores": "prores_ks",
}
DEFAULT_CODECS = {suffix: {"webm": "libvpx-vp9", "gif": "gif"}.get(fmt, "libx264") for suffix, fmt in CONTAINER_FORMATS.items()}
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 30, "libsvtav1": 30}
# 8-bit RGB sources into these containers get 4:2:0 from these encoders (what browsers and QuickTime play; VP9 with
# alpha: yuva420p).
PLAYABLE_420 = {"libx264": MP4_FAMILY, "libx265": MP4_FAMILY, "libvpx-vp9": (".webm",)}
# Audio codecs each container takes as a stream copy; anything else is re-encoded.
AUDIO_ENCODER = {".webm": "libopus"}
SKIPPED_PIX_FMTS = ("nv", "pal8", "rgb8", "bgr8", "rgb4", "bgr4", "monob", "rgb555", "p01", "p21", "y210")


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
        d, a, rgb, sub = format_traits(name)
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
class EncodeOptions:
    """What the user asks of a video encoder (`--codec`, `--crf`, `--pix-fmt`); None picks the default for the
    container and the source (see `plan_encoder`)."""

    codec: str | None = None
    crf: int | None = None
    pix_fmt: str | None = None

    def given(self) -> list[str]:
        """The flags set, e.g. ["--codec", "--crf"] (for notes when they do not apply)."""
        return [f"--{name.replace('_', '-')}" for name in ("codec", "crf", "pix_fmt") if getattr(self, name) is not None]


@dataclass(frozen=True)
class EncoderSettings:
    """A checked encoder setup for one output file (see `plan_encoder`); `notes` are for the user."""

    codec: str
    container_format: str
    pix_fmt: str
    crf: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameFormat:
    """The frames an encoder receives: size, bit depth (8 or 16), alpha, and what the source was (its pixel format,
    colour tags kept on the output, display rotation)."""

    width: int
    height: int
    depth: int = 8
    alpha: bool = False
    source_pix_fmt: str = "rgb24"
    color: dict | None = None
    rotation: int = 0


def plan_encoder(suffix: str, encode: EncodeOptions, fmt: FrameFormat, rate: Fraction) -> EncoderSettings:
    """Resolve codec, container and pixel format for a `suffix` output and open (then close) an in-memory encoder
    with them, so a mismatch is a one-line `InputError` before any work is done.

    The pixel format is `encode.pix_fmt` when given, else `choose_pix_fmt`, except that 8-bit RGB sources without
    alpha get yuv420p from H.264/H.265 in .mp4/.m4v/.mov (4:4:4 and planar RGB do not play in browsers or
    QuickTime).
    """
    import io

    import av

    suffix = suffix.lower()
    name = resolve_codec(encode.codec, suffix)
    if not 0 < rate <= MAX_RATE:
        raise InputError(f"cannot write video at {float(rate):.6g} fps: output rates must be in (0, {MAX_RATE:g}]")
    notes = []
    if (fmt.color or {}).get(hdr.HDR_KEY) is not None and name not in hdr.WRITERS:
        notes.append(hdr.dropped_note(name))
    if encode.crf is not None and not has_option(name, "crf"):
        notes.append(f"--crf ignored: encoder {name} has no crf option")
    pix_fmt = encode.pix_fmt
    if pix_fmt is None:
        pix_fmt = _default_pix_fmt(name, suffix, fmt.depth, fmt.alpha, fmt.source_pix_fmt)
    elif pix_fmt not in [f.name for f in av.codec.Codec(name, "w").video_formats or []]:
        raise InputError(f"encoder {name} does not take pixel format {pix_fmt!r}")
    settings = EncoderSettings(name, CONTAINER_FORMATS.get(suffix, "mp4"), pix_fmt, encode.crf, tuple(notes))
    try:
        probe = VideoEncoder(io.BytesIO(), fmt, rate, settings)
    except (ValueError, av.error.FFmpegError) as err:
        raise _encoder_error(name, pix_fmt, suffix, err) from None
    try:
        probe.container.start_encoding()  # opens the encoder with its options and writes the header
    except (ValueError, av.error.FFmpegError) as err:
        raise _encoder_error(name, pix_fmt, suffix, err) from None
    finally:
        with contextlib.suppress(ValueError, av.error.FFmpegError):  # e.g. GIF refuses a trailer with no frames
            probe.container.close()
    return settings


def _encoder_error(codec: str, pix_fmt: str, suffix: str, err: Exception) -> InputError:
    message = " ".join(str(err).split()) or type(err).__name__
    return InputError(f"cannot write {codec} ({pix_fmt}) video to a '{suffix}' file: {message}")


def _default_pix_fmt(codec: str, suffix: str, depth: int, alpha: bool, source_pix_fmt: str) -> str:
    if codec == "gif":
        return "pal8"
    _, _, s_rgb, s_sub = format_traits(source_pix_fmt)
    playable = suffix in PLAYABLE_420.get(codec, ())
    names = [f.name for f in av_codec_formats(codec)]
    if alpha and playable and "yuva420p" in names:
        return "yuva420p"  # VP9 in WebM: the alpha browsers play (libvpx does not open gbrap)
    keeps_alpha = any(format_traits(n)[1] for n in names if not n.startswith(SKIPPED_PIX_FMTS))
    if s_rgb and depth <= 8 and playable and not (alpha and keeps_alpha):
        return "yuv420p"
    return choose_pix_fmt(codec, depth, alpha, s_rgb, s_sub)


def av_codec_formats(codec: str) -> list:
    import av

    return list(av.codec.Codec(codec, "w").video_formats or [])


class VideoEncoder:
    """Encodes RGB(A) numpy frames to a container at a constant `rate`; optional audio is interleaved by time.

    Args:
        path: output file (written as given; the caller makes it atomic) or a writable binary file object.
        fmt: the frames (size, depth, alpha) and the source's colour tags and rotation, kept on the output.
        rate: output frame rate; frame k is stamped start + k / rate.
        settings: codec, container format, pixel format and crf (used where the encoder has a crf option), as
            `plan_encoder` checked them.
        start: time of the first frame.
    """

    def __init__(self, path, fmt: FrameFormat, rate: Fraction, settings: EncoderSettings, *,
                 start: Fraction = Fraction(0)):
        import av

        self.container = av.open(str(path) if isinstance(path, (str, Path)) else path, mode="w",
                                 format=settings.container_format)
        try:
            self._add_video(fmt, rate, settings, start)
        except BaseException:
            self.container.close()
            raise

    def _add_video(self, fmt: FrameFormat, rate: Fraction, settings: EncoderSettings, start: Fraction) -> None:
        codec, pix_fmt = settings.codec, settings.pix_fmt
        self.rate, self.start, self.color = rate, start, dict(fmt.color or {})
        self.array_format = array_format(fmt.depth, fmt.alpha)
        subsampled = pix_fmt != "pal8" and format_traits(pix_fmt)[3] > 0
        self.pad = (fmt.height % 2, fmt.width % 2) if subsampled else (0, 0)  # 4:2:0 needs even sizes: repeat edge
        stream = self.container.add_stream(codec, rate=rate)
        stream.width, stream.height = fmt.width + self.pad[1], fmt.height + self.pad[0]
        stream.pix_fmt = pix_fmt
        stream.time_base = stream.codec_context.time_base = 1 / rate
        options = quality_options(codec, settings.crf)
        meta = self.color.pop(hdr.HDR_KEY, None)
        if meta is not None:
            options.update(hdr.encoder_options(codec, meta))
        if options:
            stream.options = options
        self.yuv = pix_fmt != "pal8" and not format_traits(pix_fmt)[2]
        # Tag only specified values: an "unspecified" (2) colorspace on the encoder makes PyAV re-convert every
        # frame through swscale with undefined coefficients (non-deterministic output).
        self.color = {k: v for k, v in self.color.items() if v not in (None, 0, 2)}
        if self.color.get("colorspace") not in SWS_COLORSPACES:
            self.color.pop("colorspace", None)
        for key, value in self.color.items():
            if self.yuv or key in ("color_primaries", "color_trc"):
                setattr(stream.codec_context, key, value)
        if fmt.rotation:
            stream.set_display_rotation(fmt.rotation)
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
    if container_suffix in MP4_FAMILY:
        return codec_name in ("aac", "mp3", "alac", "ac3", "eac3", "opus", "flac")
    return container_suffix == ".mkv"

def lossless_encoder(path: Path, *, width: int, height: int, depth: int, alpha: bool) -> VideoEncoder:
    """FFV1-in-Matroska writer that stores RGB(A) uint8/uint16 frames bit-exactly (for `read_segment`)."""
    pix_fmt = {"rgb24": "bgr0", "rgba": "bgra"}.get(array_format(depth, alpha), array_format(depth, alpha))
    return VideoEncoder(path, FrameFormat(width, height, depth, alpha), Fraction(25),
                        EncoderSettings("ffv1", "matroska", pix_fmt))


def read_segment(path: Path, depth: int, alpha: bool) -> Iterator[np.ndarray]:
    """Frames of a file written by `lossless_encoder`, bit-exact."""
    fmt = array_format(depth, alpha)
    with open_input(path) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format=fmt)
