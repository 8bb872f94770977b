"""Folders of frames: a PNG/JPEG/TIFF folder as a source (natural name order, frame i at i / rate, EXIF orientation
applied) and PNG frames written with their alpha and 16 bits kept."""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..atomic import write_bytes_atomic
from .formats import DecodedFrame, DecodeReport, VideoInfo, array_format, format_traits, open_input, to_array
from .images import natural_key, orient
from .kinds import IMAGE_SUFFIXES


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
    from .images import read_image_size

    read_image_size(files[0])  # size and still-image checks from the header, before decoding
    with open_input(files[0], "image") as container:
        first = _decode_image(container, files[0])
    depth, alpha, _, _ = format_traits(first.format.name)
    width, height = first.width, first.height
    if exif_orientation(files[0]) in (5, 6, 7, 8):
        width, height = height, width
    return VideoInfo(folder, width, height, Fraction(rate), len(files), first.format.name, depth, alpha,
                     False, {}, tuple(files))


def exif_orientation(path: Path) -> int:
    """EXIF orientation (1-8) of an image file from its header, as `images.read_image` applies it; 1
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


def read_folder(info: VideoInfo, ignore_errors: bool = False,
                report: DecodeReport | None = None) -> Iterator[DecodedFrame]:
    """Frames of a frame-folder source, converted to the first frame's layout; all must share its size.

    An unreadable frame file is an `InputError` naming it, or with `ignore_errors` the previous frame held (counted
    in `report.skipped`)."""
    from .images import read_image_size

    fmt, period = array_format(info.depth, info.alpha), 1 / info.rate
    image = None
    for index, path in enumerate(info.files):
        try:
            if index:
                read_image_size(path)  # header checks (size limit, still image) before decoding
            with open_input(path, "image") as container:
                frame = _decode_image(container, path)
        except InputError as err:
            if not ignore_errors or image is None:
                raise InputError(f"frame {index} (at {float(index * period):.3f} s): {err}") from None
            if report is not None:
                report.skipped += 1
            yield DecodedFrame(index, index * period, period, image)
            continue
        image = to_array(frame, fmt)
        orientation = exif_orientation(path)
        if orientation != 1:
            image = orient(image, orientation)
        if image.shape[:2] != (info.height, info.width):
            raise InputError(f"{path.name} is {image.shape[1]}x{image.shape[0]} but {info.files[0].name} is "
                             f"{info.width}x{info.height} (WxH, after EXIF orientation); all frames must have one "
                             "size")
        yield DecodedFrame(index, index * period, period, image)


def write_png(path: Path, image: np.ndarray) -> None:
    """One RGB(A) uint8/uint16 frame as a PNG file (16-bit kept), written atomically."""
    import av

    fmt = array_format(16 if image.dtype == np.uint16 else 8, image.shape[2] == 4)
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height = image.shape[1], image.shape[0]
    ctx.pix_fmt = {"rgb48le": "rgb48be", "rgba64le": "rgba64be"}.get(fmt, fmt)
    ctx.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
    data = b"".join(bytes(p) for p in ctx.encode(frame) + ctx.encode(None))
    write_bytes_atomic(path, data)

