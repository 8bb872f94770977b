"""What the web page does, without the web page: check inputs, run FILM, write the files it shows.

Pure functions and small classes, testable without Gradio. Every refusal is an `InputError` (or `Cancelled`) with
the same one-line message the CLI prints; `app.py` turns them into messages on the page.
"""
from __future__ import annotations

import os
import shutil
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..frame_spec import FrameSpec
from ..errors import FilmError, InputError, one_line  # noqa: F401  one_line: the page shows refusals on one line
from ..weights import hub
from .folders import LEGACY_ROOT_MAX_AGE_S, SessionFolders, new_server_root, sweep_dead_roots
from .uploads import MB, Limits, check_image_upload, check_upload, image_size

__all__ = ["LEGACY_ROOT_MAX_AGE_S", "MB", "Limits", "SessionFolders", "check_image_upload", "check_upload",
           "image_size", "new_server_root", "sweep_dead_roots"]  # and what is defined here

BUNDLED = hub.FALLBACK_MODEL  # the model that ships inside the package
GIF_PREVIEW_WIDTH = 480

ProgressFn = Callable[[int, int], None]  # (done, total)


class Cancelled(FilmError):
    """The user pressed Cancel; the job's files are removed."""


# ---------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu. `spec` is what `Interpolator` gets: a registry name or a weights path."""

    value: str
    label: str
    spec: str | Path


def _hub():
    """The model registry (`filmnet.weights.hub`); tests swap it for a fake one."""
    return hub


def bundled_weights() -> Path:
    return hub.bundled_path(hub.MODELS[hub.FALLBACK_MODEL])


def model_choices(*, model: str | None = None, weights: str | os.PathLike | None = None) -> list[ModelChoice]:
    """The model menu, default first: `weights` (the server's own file) or `model`, then the registry's models
    (marked cached or not), then the bundled film_lite. Only these values are ever accepted from a request."""
    choices: list[ModelChoice] = []
    if weights is not None:
        path = Path(weights)
        if not path.exists():
            raise InputError(f"weights not found: {path}")
        choices.append(ModelChoice("weights", f"server weights: {path.name}", path.resolve()))
    hub = _hub()
    bundled = ModelChoice(BUNDLED, f"{BUNDLED} (bundled, small and fast)", bundled_weights())
    registry: list[ModelChoice] = []
    if hub is not None:
        for name, entry in hub.MODELS.items():
            if name == BUNDLED:
                continue
            state = "cached" if _is_cached(hub, name) else "not cached: downloads on first use"
            description = getattr(entry, "description", "")
            registry.append(ModelChoice(name, f"{name} ({state})" + (f": {description}" if description else ""),
                                        name))
    if model is not None:
        wanted = _canonical(model, hub)
        first = [c for c in registry + [bundled] if c.value == wanted]
        if not first:
            known = ", ".join(c.value for c in registry + [bundled])
            raise InputError(f"unknown model {model!r}; choose one of {known}")
        choices += first
    elif weights is None:  # the registry's default when it is cached, else the bundled model (no download)
        default = getattr(hub, "DEFAULT_MODEL", None)
        choices += [c for c in registry if c.value == default and _is_cached(hub, c.value)] or [bundled]
    for choice in registry + [bundled]:
        if all(choice.value != c.value for c in choices):
            choices.append(choice)
    return choices


def _is_cached(hub, name: str) -> bool:
    try:
        return bool(hub.is_cached(name))
    except Exception:  # a broken cache entry is "not cached", not a crashed page
        return False


def _canonical(name: str, hub) -> str:
    if name == BUNDLED or hub is None:
        return name
    try:
        return hub.resolve_name(name).name
    except Exception:
        return name


def pick_model(choices: Sequence[ModelChoice], value: str | None) -> ModelChoice:
    """The menu entry for a request's `model` (value or label; empty: the default). Never a path."""
    if value in (None, ""):
        return choices[0]
    for choice in choices:
        if value in (choice.value, choice.label):
            return choice
    hub = _hub()
    wanted = _canonical(str(value), hub)
    for choice in choices:
        if choice.value == wanted:
            return choice
    raise InputError(f"unknown model {value!r}; choose one of {', '.join(c.value for c in choices)}")


PYRAMID_DEPTHS = ("auto", *map(str, range(5, 12)))  # the page's menu; scripts may send any depth


def check_depth(value) -> int | str:
    """A request's pyramid depth: "auto" (also for empty) or a whole number of levels (its range is checked
    against the model and frame size when the job runs, `Interpolator(pyramid_levels=...)`)."""
    text = "" if value is None else str(value).strip().lower()
    if text in ("", "auto"):
        return "auto"
    try:
        number = float(text)
        whole = number == int(number) >= 1
    except (ValueError, OverflowError):  # not a number, inf or nan
        whole = False
    if not whole:
        raise InputError(f"pyramid depth must be auto or a whole number of levels, got {value!r}")
    return int(number)


class InterpolatorCache:
    """Keeps the most recently used (model, pyramid depth) loaded: one model at a time, as models are large."""

    def __init__(self, factory: Callable[[ModelChoice, int | str], object] | None = None, **options):
        self._factory = factory or self._load
        self._options = options
        self._lock = threading.Lock()
        self._key: tuple[str, int | str] | None = None
        self._value = None

    def _load(self, choice: ModelChoice, pyramid_levels: int | str):
        from ..inference import Interpolator

        return Interpolator(choice.spec, **self._options, pyramid_levels=pyramid_levels)

    def get(self, choice: ModelChoice, pyramid_levels: int | str = "auto"):
        key = (choice.value, check_depth(pyramid_levels))
        with self._lock:
            if self._key != key:
                self._value, self._key = None, None  # the old model goes before the new one loads
                self._value = self._factory(choice, key[1])
                self._key = key
            return self._value


# ---------------------------------------------------------------- photos


@dataclass(frozen=True)
class PhotoRequest:
    """What a Photos request asks for: exactly one of `exp`/`multi`; `sequence`: "plain", "loop" or "pingpong"
    (`inference/loops.py`); `pyramid_levels`: the depth the app builds the interpolator with (`check_depth`)."""

    exp: int | None = None
    multi: int | None = None
    fps: float | str = 30
    resize: bool = False
    sequence: str = "plain"
    pyramid_levels: int | str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "pyramid_levels", check_depth(self.pyramid_levels))


@dataclass
class PhotoResult:
    mp4: Path
    gif: Path
    zip: Path
    frames: int
    size: tuple[int, int]  # (h, w)
    compare: list[tuple[Path, str]] = field(default_factory=list)  # (image, caption): pair, middle, blend


def check_photos(paths: Sequence[str | os.PathLike], *, resize: bool, limits: Limits) -> tuple[int, int]:
    """Refuse too few/many images, oversize ones and (unless `resize`) mismatched sizes; returns the (h, w) used.

    Reads headers only, so refusals come before any compute."""
    paths = [check_upload(p, limits, "image") for p in paths if p not in (None, "")]
    if len(paths) < 2:
        raise InputError(f"need at least 2 images, got {len(paths)}")
    if len(paths) > limits.max_images:
        raise InputError(f"at most {limits.max_images} images per request, got {len(paths)}")
    sizes = [image_size(p, limits) for p in paths]
    for path, (h, w) in zip(paths[1:], sizes[1:]):
        if (h, w) != sizes[0] and not resize:
            raise InputError(f"{path.name} is {w}x{h} but {paths[0].name} is {sizes[0][1]}x{sizes[0][0]} (WxH); "
                             "tick \"Resize to the first image\" to resize frames to the first one's size")
    return sizes[0]


def photo_frame_count(n_images: int, *, exp: int | None = None, multi: int | None = None,
                      sequence: str = "plain") -> int:
    """Frames made from n photos; `sequence`: "plain", "loop" or "pingpong" (`inference/loops.py`)."""
    return FrameSpec(exp, multi).total(n_images, sequence)


def check_photo_options(n_images: int, exp: int | None, multi: int | None, limits: Limits,
                        sequence: str = "plain") -> int:
    if (exp is None) == (multi is None):
        raise InputError("give exactly one of exp (times to interpolate) or multi (frames per pair)")
    if exp is not None and not (isinstance(exp, int) and 1 <= exp <= limits.max_exp):
        raise InputError(f"times to interpolate must be an integer from 1 to {limits.max_exp}, got {exp!r}")
    if multi is not None and not (isinstance(multi, int) and 2 <= multi <= limits.max_multi):
        raise InputError(f"frames per pair must be an integer from 2 to {limits.max_multi}, got {multi!r}")
    total = photo_frame_count(n_images, exp=exp, multi=multi, sequence=sequence)  # hook (loops)
    if total > limits.max_output_frames:
        raise InputError(f"that would make {total} frames, over this server's limit of {limits.max_output_frames}")
    return total


def interpolate_photos(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                       request: PhotoRequest = PhotoRequest(), *, interpolator, limits: Limits = Limits(),
                       on_progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> PhotoResult:
    """Frames between each pair of `paths`, written as an mp4, a GIF preview, a zip of PNGs and compare images."""
    from ..inference import loops
    from ..io import open_writer, parse_fps, read_image, resize_image, to_uint8, write_image

    exp, multi, sequence = request.exp, request.multi, request.sequence
    paths = [Path(p) for p in paths if p not in (None, "")]
    size = check_photos(paths, resize=request.resize, limits=limits)
    total = check_photo_options(len(paths), exp, multi, limits, loops.check_mode(sequence))
    rate = parse_fps(request.fps)
    out = Path(out_dir)
    stem = paths[0].stem[:40] or "frames"
    spec = FrameSpec(exp, multi)
    label = f"{spec.label}_{float(rate):g}fps"
    mp4, gif, png_dir = out / f"{stem}_{label}.mp4", out / f"{stem}_{label}.gif", out / "frames"
    inputs = [resize_image(read_image(p), size) for p in paths]
    preview_size = _preview_size(size)
    middle_index = spec.factor // 2
    middle = None
    if on_progress is not None:
        on_progress(0, total)
    with open_writer(mp4, rate) as video, open_writer(gif, rate) as preview, open_writer(png_dir) as pngs:
        made = interpolator.iter_sequence(loops.sequence_inputs(inputs, sequence), exp=exp, multi=multi,
                                          n_inputs=len(inputs) + (sequence == "loop"))  # hook (loops)
        for index, frame in enumerate(loops.arrange(made, sequence)):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled; nothing was kept")
            video.write(frame)
            pngs.write(frame)
            preview.write(resize_image(frame, preview_size) if preview_size != size else frame)
            if index == middle_index:
                middle = frame
            if on_progress is not None:
                on_progress(index + 1, total)
    zip_path = _zip_folder(png_dir, out / f"{stem}_{label}_png.zip")
    shutil.rmtree(png_dir, ignore_errors=True)
    compare = compare_images(inputs[0], inputs[1], middle, out, to_uint8=to_uint8, write_image=write_image)
    return PhotoResult(mp4, gif, zip_path, video.count, size, compare)


def _preview_size(size: tuple[int, int]) -> tuple[int, int]:
    h, w = size
    if w <= GIF_PREVIEW_WIDTH:
        return size
    return max(2, round(h * GIF_PREVIEW_WIDTH / w)), GIF_PREVIEW_WIDTH


def _zip_folder(folder: Path, dst: Path) -> Path:
    tmp = dst.with_name(dst.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are already compressed
        for path in sorted(folder.iterdir()):
            archive.write(path, arcname=path.name)
    os.replace(tmp, dst)
    return dst


def blend(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """The 50/50 average of a pair: what a plain cross-fade shows at t = 0.5."""
    return (0.5 * (np.asarray(frame0, np.float32) + np.asarray(frame1, np.float32))).astype(np.float32)


def compare_images(frame0: np.ndarray, frame1: np.ndarray, middle: np.ndarray | None, out: Path, *,
                   to_uint8, write_image) -> list[tuple[Path, str]]:
    """PNGs for the compare view: first input, FILM's middle frame, the 50/50 blend, second input."""
    items = [(frame0, "input 1"), (middle, "FILM middle frame"), (blend(frame0, frame1), "50/50 blend of the pair"),
             (frame1, "input 2")]
    paths = []
    for index, (image, caption) in enumerate(items):
        if image is None:
            continue
        path = out / f"compare_{index}.png"
        write_image(path, image)
        paths.append((path, caption))
    return paths


# ---------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoRequest:
    """What a Video request asks for: exactly one of `multi`, `fps` (a target rate) or `slowmo`; `keep_audio`
    stretches the audio in slow motion; `pyramid_levels` as for `PhotoRequest`."""

    multi: int | None = None
    fps: str | float | None = None
    slowmo: int | None = None
    scene_threshold: float | None = None
    keep_audio: bool = False
    pyramid_levels: int | str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "pyramid_levels", check_depth(self.pyramid_levels))


@dataclass
class VideoResult:
    mp4: Path
    input_frames: int
    output_frames: int
    fps: str
    notes: list[str]


def retime_video(src: str | os.PathLike, out_dir: str | os.PathLike, request: VideoRequest = VideoRequest(), *,
                 interpolator, limits: Limits = Limits(), on_progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> VideoResult:
    """Retime an uploaded video into `out_dir` as mp4 (audio copied, or stretched with `keep_audio` and slowmo).

    `on_progress(done, total)` counts output frames as `retime` writes them (total is an estimate from the
    container's frame count, or 0 when unknown); setting `cancel` stops at the next input pair."""
    from ..inference.options import EncodeOptions, RetimeOptions
    from ..inference.retime_plan import default_output, finish_job, plan_source
    from ..inference.timing import count_frames, format_number
    from ..inference.video import render_job

    src = check_upload(src, limits, "video")
    multi, fps, slowmo, keep_audio = request.multi, request.fps, request.slowmo, request.keep_audio
    options = [v for v in (multi, fps, slowmo) if v not in (None, "", 0)]
    if len(options) != 1:
        raise InputError("give exactly one of multi (x N frames), a target fps, or slow motion (x N duration)")
    if multi not in (None, 0) and not 2 <= int(multi) <= limits.max_multi:
        raise InputError(f"multi must be from 2 to {limits.max_multi}, got {multi!r}")
    if slowmo not in (None, 0) and not 2 <= int(slowmo) <= limits.max_multi:
        raise InputError(f"slow motion must be from 2 to {limits.max_multi}, got {slowmo!r}")
    if keep_audio and slowmo in (None, 0):
        keep_audio = False  # retime keeps the audio as it is unless the duration changes
    options = RetimeOptions(multi=int(multi) if multi else None, fps=fps if fps else None,
                            slowmo=int(slowmo) if slowmo else None, scene_threshold=request.scene_threshold,
                            keep_audio=keep_audio)
    info, plan, notes = plan_source(src, options)  # planned once: the job below is rendered as it is
    if info.width * info.height > limits.max_pixels:
        raise InputError(f"{src.name} is {info.width}x{info.height}, over this server's limit of "
                         f"{limits.max_pixels} pixels")
    from fractions import Fraction

    from ..io.media import count_video_frames

    frames = count_video_frames(info) if not info.is_folder else len(info.files)  # mkv/webm headers give no count
    total = count_frames(Fraction(0), plan.sample_rate, Fraction(frames) / info.rate)
    if total > limits.max_output_frames:
        raise InputError(f"that would make about {total} frames, over this server's limit of "
                         f"{limits.max_output_frames}")
    job = finish_job((info, plan, notes), Path(out_dir) / default_output(src, plan).with_suffix(".mp4").name,
                     options, EncodeOptions())

    def step(_read: int, written: int) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled; nothing was kept")
        if written > limits.max_output_frames:  # the header's count was low: the limit holds while it runs
            raise InputError(f"the video makes more than {limits.max_output_frames} frames, this server's limit")
        if on_progress is not None:
            on_progress(written, max(total, written))

    if on_progress is not None:
        on_progress(0, total)
    result = render_job(job, interpolator=interpolator, on_progress=step)
    notes = [note.replace("--keep-audio", '"Keep audio"') for note in result.notes]  # the page's words
    return VideoResult(result.output, result.input_frames, result.output_frames, format_number(result.output_rate),
                       notes)
