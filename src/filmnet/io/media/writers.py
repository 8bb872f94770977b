"""Streaming frame writers chosen by the output path: a video (`.mp4`/`.m4v`/`.mkv`/`.mov`, `.webm`), `.gif`, or a
folder of PNGs, all on the one encoder stack that `filmnet video` uses (`encode.VideoEncoder`, `folders.write_png`).

Frames are (H, W, 3|4) uint8/uint16 RGB(A), or float32 in [0, 1] (written as 8 bits). The first frame (or
`prepare`) fixes the size, bit depth and alpha; later frames are converted to them. Every writer builds its output
beside the target under a temporary name and moves it into place with `os.replace` only when the `with` block ends
without error, so a failed run leaves nothing behind and never a half-written file.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError
from ..atomic import commit, discard, make_temp
from ..limits import MAX_RATE
from .encode import EncodeOptions, EncoderSettings, FrameFormat, VideoEncoder, plan_encoder
from .folders import write_png
from .formats import array_format
from .images import to_uint8
from .kinds import CONTAINER_FORMATS, VIDEO_OUTPUT_SUFFIXES

VIDEO_FORMATS = {suffix: CONTAINER_FORMATS[suffix] for suffix in VIDEO_OUTPUT_SUFFIXES}
FRAME_NAME = re.compile(r"^\d{6}\.png$")
MAX_FPS = 1000
ABSURD_FPS = MAX_RATE  # the bound even where `max_fps` is None


def parse_fps(fps: float | str | Fraction, *, max_fps: float | None = MAX_FPS) -> Fraction:
    """A frame rate as an exact positive Fraction: 30, 29.97 (decimal as written), "30000/1001" or a Fraction.

    Denominators are limited to 1e6 (encoders need a sane time base). `max_fps=None`: no upper bound.
    """
    try:
        rate = Fraction(str(fps).strip()) if isinstance(fps, (str, float)) else Fraction(fps)
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        raise InputError(f"invalid frame rate {fps!r}; use a number such as 30, 29.97 or 30000/1001") from None
    rate = rate.limit_denominator(1_000_000)
    if rate <= 0 or rate < Fraction(1, 1_000_000):
        raise InputError(f"frame rate must be positive (at least 1/1000000 fps), got {fps!r}")
    if rate > ABSURD_FPS:
        raise InputError(f"frame rate must be at most {ABSURD_FPS:g} even for high-speed footage, got {fps!r}")
    if max_fps is not None and rate > max_fps:
        raise InputError(f"frame rate must be at most {max_fps:g}, got {fps!r}: no display or encoder time base "
                         "goes beyond it")
    return rate


def as_pixels(frame: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|3|4) uint8/uint16/float [0, 1] -> (H, W, 3|4) uint8/uint16 (floats become 8 bits)."""
    a = np.asarray(frame)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an HxW, HxWx3 or HxWx4 image array, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype in (np.uint8, np.uint16):
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise InputError(f"unsupported image dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
    if not np.isfinite(a).all():
        raise InputError("image array contains NaN or infinite values")
    return to_uint8(a)


def to_layout(pixels: np.ndarray, depth: int, alpha: bool) -> np.ndarray:
    """`as_pixels` output converted to `depth` (8 or 16) bits and to RGBA (opaque) or RGB."""
    if depth > 8 and pixels.dtype == np.uint8:
        pixels = pixels.astype(np.uint16) * 257
    elif depth <= 8 and pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if alpha and pixels.shape[2] == 3:
        opaque = np.full(pixels.shape[:2] + (1,), np.iinfo(pixels.dtype).max, pixels.dtype)
        pixels = np.concatenate([pixels, opaque], axis=2)
    elif not alpha and pixels.shape[2] == 4:
        pixels = pixels[..., :3]
    return pixels


class FrameWriter:
    """Base class: `with writer: writer.write(frame)`; commits on success, removes everything on error."""

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        self.count = 0
        self.depth, self.alpha = 8, False
        self._size: tuple[int, int] | None = None
        self._tmp: Path | None = None
        check_output(self.path, overwrite=overwrite)

    def __enter__(self) -> "FrameWriter":
        self._tmp = self._open_tmp()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            if self.count == 0:
                raise InputError(f"no frames were written to {self.path}")
            self._finish()
            commit(self._tmp, self.path, replace_folder=True)  # check_output vetted an existing folder
        except BaseException:
            self._discard()
            raise

    def prepare(self, height: int, width: int, *, depth: int = 8, alpha: bool = False) -> None:
        """Fix the frame size and layout before the first frame (a video checks its encoder setup here)."""
        if self._size is not None:
            raise RuntimeError("prepare() must come before the first frame")
        self._size, self.depth, self.alpha = (height, width), 16 if depth > 8 else 8, bool(alpha)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; all frames must have the first frame's size."""
        pixels = as_pixels(frame)
        if self._size is None:
            self.prepare(*pixels.shape[:2], depth=16 if pixels.dtype == np.uint16 else 8, alpha=pixels.shape[2] == 4)
        elif pixels.shape[:2] != self._size:
            raise InputError(f"frame {self.count} is {pixels.shape[1]}x{pixels.shape[0]}, expected "
                             f"{self._size[1]}x{self._size[0]} (WxH)")
        self._write(to_layout(pixels, self.depth, self.alpha))
        self.count += 1

    def _discard(self) -> None:
        try:
            self._finish()
        except Exception:  # the original error matters, not a failure to flush a broken file
            pass
        if self._tmp is not None:
            discard(self._tmp)

    def _open_tmp(self) -> Path:
        return make_temp(self.path)

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Flush and close the temporary output (called once on success, maybe again on error)."""


class FolderWriter(FrameWriter):
    """PNG frames `000000.png`, `000001.png`, ... in a folder, with alpha and 16 bits kept."""

    def _open_tmp(self) -> Path:
        return make_temp(self.path, directory=True)

    def _write(self, frame: np.ndarray) -> None:
        write_png(self._tmp / f"{self.count:06d}.png", frame)


class VideoWriter(FrameWriter):
    """A video or GIF through `encode.VideoEncoder`, set up by `encode.plan_encoder` (the container's default codec,
    e.g. H.264 with yuv420p in .mp4, VP9 in .webm, a palette per frame in .gif; alpha and depth kept where the
    format can). Odd sizes are padded to even for subsampled pixel formats by repeating the last row/column.
    """

    def __init__(self, path: str | os.PathLike, fps: float | str | Fraction = 30, *, overwrite: bool = False,
                 crf: int | None = None, encode: EncodeOptions | None = None):
        super().__init__(path, overwrite=overwrite)
        if self.path.suffix.lower() not in CONTAINER_FORMATS:
            raise InputError(f"unsupported video output {self.path}: use {', '.join(CONTAINER_FORMATS)}")
        self.fps = parse_fps(fps)
        self.options = encode or EncodeOptions(crf=crf)
        self.settings: EncoderSettings | None = None
        self._encoder: VideoEncoder | None = None

    def prepare(self, height: int, width: int, *, depth: int = 8, alpha: bool = False) -> None:
        super().prepare(height, width, depth=depth, alpha=alpha)
        self.format = FrameFormat(width, height, self.depth, self.alpha, array_format(self.depth, self.alpha))
        self.settings = plan_encoder(self.path.suffix, self.options, self.format, self.fps)

    def _write(self, frame: np.ndarray) -> None:
        if self._encoder is None:
            self._encoder = VideoEncoder(self._tmp, self.format, self.fps, self.settings)
        self._encoder.write(frame)

    def _finish(self) -> None:
        encoder, self._encoder = self._encoder, None
        if encoder is None:
            return
        try:
            encoder.container.mux(encoder.stream.encode(None))
        finally:
            encoder.container.close()


class GifWriter(VideoWriter):
    """Animated GIF that loops forever (a 256-colour palette per frame; alpha and depth dropped)."""


def open_writer(path: str | os.PathLike, fps: float | str | Fraction = 30, *, overwrite: bool = False,
                encode: EncodeOptions | None = None) -> FrameWriter:
    """Pick a writer from the path: a video (`.mp4`, `.m4v`, `.mkv`, `.mov`, `.webm`), `.gif`, or (no suffix) a PNG
    folder. `encode` (codec, crf, pix_fmt) applies to videos and GIFs."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_FORMATS:
        return VideoWriter(path, fps, overwrite=overwrite, encode=encode)
    if suffix == ".gif":
        return GifWriter(path, fps, overwrite=overwrite, encode=encode)
    if suffix == "" or path.is_dir():
        return FolderWriter(path, overwrite=overwrite)
    raise InputError(f"unsupported output {path}: use a {', '.join(VIDEO_FORMATS)} or .gif file, or a folder name")


def check_output(path: Path, *, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output that is an input (resolved: symlinks, hard links, inside an input folder or holding an
    input; see `guard`), sits in a missing folder, or exists (unless `overwrite`).

    An existing folder is replaced only if it holds nothing but our `NNNNNN.png` frames.
    """
    from ..guard import refuse_input_overwrite

    refuse_input_overwrite(path, inputs)
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise InputError(f"output {path} already exists; pass --force to overwrite it")
    if path.is_dir() and not all(FRAME_NAME.match(p.name) and p.is_file() for p in path.iterdir()):
        raise InputError(f"refusing to overwrite folder {path}: it holds files other than NNNNNN.png frames")
