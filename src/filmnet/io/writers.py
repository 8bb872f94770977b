"""Streaming frame writers chosen by the output path: a video (`.mp4`/`.m4v`/`.mkv`/`.mov` H.264, `.webm` VP9), `.gif`,
or a folder of PNGs.

Frames are (H, W, 3) float32 in [0, 1] (or uint8). Every writer builds its output beside the target under a
temporary name and moves it into place with `os.replace` only when the `with` block ends without error, so a
failed run leaves nothing behind and never a half-written file.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from .atomic import commit, discard, make_temp
from .images import to_float_image, to_uint8, write_image
from .video import CONTAINER_FORMATS, DEFAULT_CODECS, quality_options

VIDEO_FORMATS = {suffix: fmt for suffix, fmt in CONTAINER_FORMATS.items() if suffix != ".gif"}
FRAME_NAME = re.compile(r"^\d{6}\.png$")
MAX_FPS = 1000
ABSURD_FPS = 10**6  # no camera records faster: the bound even where `max_fps` is None


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


def _as_uint8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 and frame.ndim == 3 else to_uint8(to_float_image(frame))


class FrameWriter:
    """Base class: `with writer: writer.write(frame)`; commits on success, removes everything on error."""

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False):
        self.path = Path(path)
        self.overwrite = overwrite
        self.count = 0
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

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) frame; all frames must have the first frame's size."""
        frame = _as_uint8(frame)
        if self._size is None:
            self._size = frame.shape[:2]
        elif frame.shape[:2] != self._size:
            raise InputError(f"frame {self.count} is {frame.shape[1]}x{frame.shape[0]}, expected "
                             f"{self._size[1]}x{self._size[0]} (WxH)")
        self._write(frame)
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
    """PNG frames `000000.png`, `000001.png`, ... in a folder."""

    def _open_tmp(self) -> Path:
        return make_temp(self.path, directory=True)

    def _write(self, frame: np.ndarray) -> None:
        write_image(self._tmp / f"{self.count:06d}.png", frame)


class VideoWriter(FrameWriter):
    """The container's default codec (H.264; VP9 for .webm), yuv420p, its default CRF (18 for H.264), via PyAV.

    Odd sizes are padded to even by repeating the last row/column.
    """

    def __init__(self, path: str | os.PathLike, fps: float | str | Fraction = 30, *, overwrite: bool = False,
                 crf: int | None = None):
        super().__init__(path, overwrite=overwrite)
        if self.path.suffix.lower() not in VIDEO_FORMATS:
            raise InputError(f"unsupported video output {self.path}: use {', '.join(VIDEO_FORMATS)}")
        self.fps = parse_fps(fps)
        self.crf = crf
        self._container = None
        self._stream = None

    def _write(self, frame: np.ndarray) -> None:
        import av

        h, w = frame.shape[:2]
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self._container is None:
            suffix = self.path.suffix.lower()
            codec = DEFAULT_CODECS[suffix]
            self._container = av.open(str(self._tmp), "w", format=VIDEO_FORMATS[suffix])
            self._stream = self._container.add_stream(codec, rate=self.fps)
            self._stream.width, self._stream.height = frame.shape[1], frame.shape[0]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = quality_options(codec, self.crf)
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        self._container.mux(self._stream.encode(video_frame))

    def _finish(self) -> None:
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            container.mux(self._stream.encode(None))
        finally:
            container.close()


class GifWriter(FrameWriter):
    """Animated GIF that loops forever (Pillow, adaptive palette per frame).

    GIF encoding needs every frame at the end, so frames are kept as palette images (1 byte per pixel);
    use mp4 or a folder for long sequences.
    """

    def __init__(self, path: str | os.PathLike, fps: float | str | Fraction = 30, *, overwrite: bool = False):
        super().__init__(path, overwrite=overwrite)
        self.fps = parse_fps(fps)
        self._frames: list = []

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        self._frames.append(Image.fromarray(frame).quantize(256, method=Image.Quantize.MEDIANCUT))

    def _finish(self) -> None:
        frames, self._frames = self._frames, []
        if not frames:
            return
        duration_ms = max(20, round(1000 / float(self.fps)))  # browsers treat < 20 ms as 100 ms
        frames[0].save(self._tmp, format="GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=duration_ms, disposal=1, optimize=False)


def open_writer(path: str | os.PathLike, fps: float | str | Fraction = 30, *, overwrite: bool = False) -> FrameWriter:
    """Pick a writer from the path: a video (`.mp4`, `.m4v`, `.mkv`, `.mov`, `.webm`), `.gif`, or (no suffix) a PNG
    folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_FORMATS:
        return VideoWriter(path, fps, overwrite=overwrite)
    if suffix == ".gif":
        return GifWriter(path, fps, overwrite=overwrite)
    if suffix == "" or path.is_dir():
        return FolderWriter(path, overwrite=overwrite)
    raise InputError(f"unsupported output {path}: use a {', '.join(VIDEO_FORMATS)} or .gif file, or a folder name")


def check_output(path: Path, *, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse an output that is an input (resolved: symlinks, hard links, inside an input folder or holding an
    input; see `guard`), sits in a missing folder, or exists (unless `overwrite`).

    An existing folder is replaced only if it holds nothing but our `NNNNNN.png` frames.
    """
    from .guard import refuse_input_overwrite

    refuse_input_overwrite(path, inputs)
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise InputError(f"output {path} already exists; pass --force to overwrite it")
    if path.is_dir() and not all(FRAME_NAME.match(p.name) and p.is_file() for p in path.iterdir()):
        raise InputError(f"refusing to overwrite folder {path}: it holds files other than NNNNNN.png frames")
