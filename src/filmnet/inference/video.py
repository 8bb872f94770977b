"""Video retiming (`filmnet video`): decode -> exact output times -> FILM at each t -> encode, streamed and resumable.

The source is a video file or a folder of PNG/JPEG/TIFF frames (at `in_fps`). Each output frame sits at its true
source time (`timing.py`); FILM synthesises it at that t directly, reusing each input frame's feature pyramid for
both pairs it belongs to. Frames too large for the interpolator's memory budget (or a forced `tile`) run tiled
(`tiling.interpolate_tiled_times`): each pair is then computed tile by tile, with no reuse across pairs. Pairs
across a scene cut are held (the earlier frame repeats). The encoder setup is checked before any work. Work is cut
into segments of `segment_frames` input frames, stored losslessly (FFV1-in-Matroska) in `.{name}.filmnet-work/`
with a manifest, so `resume=True` skips finished segments (only Ctrl-C or a kill keeps that folder; other failures
remove it); the final file is then encoded in one pass with the audio and moved into place atomically.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ..errors import InputError
from ..io import video as vio
from ..io.atomic import atomic_target, write_text_atomic
from ..io.writers import parse_fps
from .interpolator import Interpolator
from .memory import Tiling
from .padding import Padder
from .tiling import interpolate_tiled_times
from .timing import RetimePlan, count_frames, max_new_frames_per_pair, plan_retime, schedule_pair

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = tuple(vio.DEFAULT_CODECS)
DEFAULT_FOLDER_FPS = Fraction(25)
WORK_VERSION = 2


@dataclass
class RetimeResult:
    """What `retime` wrote, with counts and notes to show the user (audio dropped, frames padded, ...)."""

    output: Path
    input_frames: int
    output_frames: int
    output_rate: Fraction
    scene_cuts: int = 0
    duplicates_dropped: int = 0
    segments_reused: int = 0
    notes: list[str] = field(default_factory=list)


def retime(
    src: str | os.PathLike,
    dst: str | os.PathLike | None = None,
    *,
    interpolator: Interpolator,
    multi: int | None = None,
    exp: int | None = None,
    fps: str | Fraction | None = None,
    slowmo: int | None = None,
    in_fps: str | Fraction | None = None,
    scene_threshold: float | None = None,
    dedupe: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    pix_fmt: str | None = None,
    resume: bool = False,
    force: bool = False,
    keep_audio: bool = False,
    progress: bool = False,
    segment_frames: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> RetimeResult:
    """Retime `src` into `dst` (a video file or, without a suffix, a folder of 000000.png frames).

    Args:
        src: a video file, or a folder of PNG/JPEG/TIFF frames (natural name order; alpha kept).
        interpolator: the FILM runner (device, precision, memory budget / tiling).
        multi / exp / fps / slowmo: exactly one; see `timing.plan_retime`.
        in_fps: frame rate of a frame folder (default 25, with a note); refused for video files, whose
            timestamps are used.
        dst: default `{stem}_{N}X_{fps}fps.{ext}` beside a video, `{name}_{N}X_{fps}fps` (a PNG folder) beside a
            frame folder.
        scene_threshold: scene-cut threshold (`filmnet.scenes`); pairs across a cut are held, never blended.
        dedupe: drop near-duplicate input frames first (their timestamps are kept, so timing stays exact).
        codec / crf / pix_fmt: video output encoding (checked before any work; see `io.video.plan_encoder`).
            `crf` on an encoder without a crf option is ignored with a note; all three are ignored (with a note)
            for a PNG-folder output.
        resume: reuse finished segments of an interrupted run with the same inputs and options.
        segment_frames: input frames per resumable segment.
        on_progress: called as on_progress(input frames read, output frames done) after each input pair.
    Returns:
        A `RetimeResult`.
    Raises:
        InputError: unreadable input, bad options, an output that may not be written, or frames too large even
            for tiling within the interpolator's `max_memory`.
    """
    info, notes = probe_source(src, in_fps)
    plan = plan_retime(info.rate, multi=multi, exp=exp, fps=fps, slowmo=slowmo)
    out = default_output(info.path, plan, folder=info.is_folder) if dst is None else Path(dst)
    folder_out = is_folder_output(out, default=dst is None)
    vio_check_output(out, info, force, folder=folder_out)
    result = RetimeResult(out, 0, 0, plan.output_rate, notes=notes)
    encoding = _plan_encoding(info, plan, out, folder_out, codec, crf, pix_fmt, result)
    outputs = max_new_frames_per_pair(plan, info.rate)
    tiling = interpolator.tiling_for(info.height, info.width, outputs=outputs)
    work = out.parent / f".{out.name}.filmnet-work"
    key = _job_key(info, plan, interpolator, tiling, scene_threshold, dedupe, segment_frames)
    done = _open_work(work, key, resume, result)
    result.segments_reused = len(done)
    model = _Model(interpolator, info.height, info.width, tiling, outputs)
    job = _Job(info, plan, model, scene_threshold, dedupe, segment_frames, work, key, done, result)
    try:
        job.run(progress, on_progress)
        _assemble(job, out, encoding, keep_audio)
    except KeyboardInterrupt:  # Ctrl-C: keep the finished segments for --resume (as SIGKILL does)
        log.warning("interrupted: finished segments kept in %s; rerun with --resume to continue", work)
        raise
    except BaseException:  # a refusal or a failure: resuming would not help, so leave no stale work behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    for note in result.notes:
        log.warning(note)
    return result


def probe_source(src: str | os.PathLike, in_fps: str | Fraction | None) -> tuple[vio.VideoInfo, list[str]]:
    """`VideoInfo` of a video file or a frame folder, and notes for the user (e.g. an assumed frame rate)."""
    path = Path(src)
    if not path.is_dir():
        if in_fps is not None:
            raise InputError("--in-fps is for frame folders; a video's own timestamps set its timing")
        return vio.probe_video(path), []
    if in_fps is None:
        note = f"{path.name}: frame folder read at {DEFAULT_FOLDER_FPS} fps (pass --in-fps to set its rate)"
        return vio.probe_frames(path, DEFAULT_FOLDER_FPS), [note]
    return vio.probe_frames(path, parse_fps(in_fps, max_fps=None)), []


def default_output(src: Path, plan: RetimePlan, *, folder: bool = False) -> Path:
    """`{stem}_{N}X_{fps}fps{ext}` beside a video (non-video-container inputs, e.g. .avi, become .mp4), or
    `{name}_{N}X_{fps}fps` (a PNG folder) beside a frame folder."""
    if folder:
        return src.with_name(f"{src.name}_{plan.label}")
    suffix = src.suffix.lower() if src.suffix.lower() in VIDEO_SUFFIXES else ".mp4"
    return src.with_name(f"{src.stem}_{plan.label}{suffix}")


def is_folder_output(out: Path, *, default: bool = False) -> bool:
    """True for a PNG-folder output: no suffix, an existing folder, or a default name (`..._59.94fps`)."""
    suffix = out.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return False
    if not suffix or default or out.is_dir():
        return True
    raise InputError(f"unsupported output type '{out.suffix}'; use {', '.join(VIDEO_SUFFIXES)} or a folder name "
                     "without a dot")


def vio_check_output(out: Path, info: vio.VideoInfo, force: bool, *, folder: bool) -> None:
    """The writers' rule (`check_output`: with `force`, an existing folder, even one named `x.mp4`, is replaced
    only if it holds nothing but `NNNNNN.png`), plus: an existing file is never replaced by a PNG folder."""
    from ..io.writers import check_output

    check_output(out, overwrite=force, inputs=(info.path, *info.files))
    if folder and (out.exists() or out.is_symlink()) and not out.is_dir():
        raise InputError(f"output {out} is an existing file, not a folder of frames; remove it or choose another "
                         "output name")


def _plan_encoding(info: vio.VideoInfo, plan: RetimePlan, out: Path, folder: bool, codec: str | None,
                   crf: int | None, pix_fmt: str | None, result: RetimeResult) -> vio.EncoderSettings | None:
    """The checked video encoder setup (None for a PNG folder), before any frame is interpolated."""
    if folder:
        options = (("--codec", codec), ("--crf", crf), ("--pix-fmt", pix_fmt))
        asked = [flag for flag, value in options if value is not None]
        if asked:
            result.notes.append(f"{', '.join(asked)} ignored: the output is a folder of PNG frames")
        return None
    encoding = vio.plan_encoder(out.suffix, codec=codec, crf=crf, pix_fmt=pix_fmt, width=info.width,
                                height=info.height, rate=plan.output_rate, depth=info.depth, alpha=info.alpha,
                                source_pix_fmt=info.pix_fmt, color=info.color, rotation=vio.first_rotation(info))
    result.notes.extend(encoding.notes)
    return encoding


def _job_key(info, plan, interpolator, tiling, scene_threshold, dedupe, segment_frames) -> str:
    digest = hashlib.sha256()
    for name, tensor in interpolator.model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes: bf16/fp16 too
    job = dict(v=WORK_VERSION, src=vio.source_fingerprint(info), rate=str(info.rate),
               plan=[str(plan.sample_rate), str(plan.output_rate), str(plan.stretch)], scene=scene_threshold,
               dedupe=dedupe, seg=segment_frames, weights=digest.hexdigest(), precision=interpolator.precision,
               flow=getattr(interpolator, "flow", "model"),
               device=str(interpolator.device), tiling=None if tiling is None else [*tiling.tile, tiling.overlap])
    mix = getattr(interpolator, "warp_mix", 0.0)
    if mix and job["flow"] != "model":  # keys of jobs without a mix stay as they were
        job["warp_mix"] = mix
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()


def _open_work(work: Path, key: str, resume: bool, result: RetimeResult) -> dict[int, int]:
    """Finished segments {index: frame count} from a matching manifest, else a fresh work folder."""
    manifest = work / "manifest.json"
    if resume and manifest.is_file():
        data = json.loads(manifest.read_text())
        if data.get("key") == key:
            return {int(k): int(v) for k, v in data["segments"].items()}
        result.notes.append("--resume: the unfinished job used other inputs or options; starting over")
    elif resume:
        result.notes.append("--resume: no unfinished job found; starting from the beginning")
    elif work.exists():
        result.notes.append(f"discarding unfinished work in {work.name} (pass --resume to continue it)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    _write_json(manifest, {"key": key, "segments": {}})
    return {}


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data))


class _Model:
    """FILM on RGB(A) uint8/uint16 frames of one size, untiled (pad once, reuse encodings) or tiled per pair.

    Args:
        tiling: from `Interpolator.tiling_for`; None runs whole frames.
        chunk: most times computed in one tiled pass (each holds a full-frame accumulator).
    """

    def __init__(self, interpolator: Interpolator, height: int, width: int, tiling: Tiling | None = None,
                 chunk: int = 1):
        self.interp, self.tiling, self.chunk = interpolator, tiling, max(1, int(chunk))
        self.padder = Padder(height, width, interpolator.align)

    def encode(self, image: np.ndarray):
        return self.interp.encode(self.padder.pad(self.interp.to_tensor(image)))

    def flows(self, e0, e1):
        return self.interp.estimate_flows(e0, e1, self.padder.padding)

    def frame(self, e0, e1, flows, t: Fraction, like: np.ndarray) -> np.ndarray:
        y = self.interp.synthesize(e0, e1, flows, float(t))
        return _quantize(self.interp.to_numpy(self.padder.unpad(y)), like)

    def tiled_frames(self, left: np.ndarray, right: np.ndarray, times: list[Fraction]) -> Iterator[np.ndarray]:
        """Frames at `times` between two inputs, tile by tile (features are computed per pair and tile)."""
        interp, tiling = self.interp, self.tiling
        x0, x1 = interp.to_tensor(left), interp.to_tensor(right)
        for start in range(0, len(times), self.chunk):
            with torch.inference_mode():
                images = interpolate_tiled_times(
                    interp.model, x0, x1, [float(t) for t in times[start:start + self.chunk]], tile=tiling.tile,
                    overlap=tiling.overlap, autocast=interp.autocast, channels_last=interp.channels_last,
                    align=interp.align, flow=interp.flow, warp_mix=interp.warp_mix)
            for y in images:
                yield _quantize(interp.to_numpy(y), left)


def _quantize(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB -> `like`'s integer dtype (full 8- or 16-bit scale), rounded."""
    scale = 65535.0 if like.dtype == np.uint16 else 255.0
    return (rgb * scale + 0.5).astype(like.dtype)


@dataclass
class _Pair:
    """Two consecutive kept input frames; `right` is None for the held tail after the last frame."""

    index: int
    left: vio.DecodedFrame
    right: vio.DecodedFrame | None
    end: Fraction


class _Job:
    """Runs the unfinished segments of one retime job into the work folder."""

    def __init__(self, info, plan, model, scene_threshold, dedupe, segment_frames, work, key, done, result):
        self.info, self.plan, self.dedupe, self.work, self.key = info, plan, dedupe, work, key
        self.seg_len, self.done, self.result = max(1, int(segment_frames)), done, result
        self.model = model
        self.scenes = _SceneCheck(scene_threshold)
        self.start: Fraction | None = None
        self.encoded: dict[int, object] = {}
        self.segments = 0

    def run(self, progress: bool, on_progress: Callable[[int, int], None] | None = None) -> None:
        from tqdm.auto import tqdm

        total = None
        if self.info.frames:
            total = count_frames(Fraction(0), self.plan.sample_rate, Fraction(self.info.frames) / self.info.rate)
        with tqdm(total=total, disable=not progress, unit="frame", desc="retiming", dynamic_ncols=True) as bar:
            writer, seg, written = None, -1, 0
            for pair in self._pairs():
                if pair.index // self.seg_len != seg:
                    self._finish_segment(writer, seg)
                    seg = pair.index // self.seg_len
                    writer = None if seg in self.done else self._segment_writer(seg)
                frames = list(schedule_pair(self.start, self.plan.sample_rate, pair.left.time, pair.end))
                if writer is None:
                    bar.update(len(frames))
                else:
                    for image in self._render(pair, frames):
                        writer.write(image)
                        bar.update(1)
                written += len(frames)
                if on_progress is not None:
                    on_progress(self.result.input_frames, written)
            self._finish_segment(writer, seg)
        self.segments = seg + 1
        self.result.output_frames = sum(self.done.values())

    def _pairs(self) -> Iterator[_Pair]:
        prev, last, index = None, None, 0
        for frame in vio.read_frames(self.info):
            last = frame
            self.result.input_frames += 1
            if prev is not None and frame.time <= prev.time:
                raise InputError(f"{self.info.path.name}: frame {frame.index} is not later than the one before it")
            if prev is not None and self.dedupe and self.scenes.duplicate(prev, frame):
                self.result.duplicates_dropped += 1
                continue
            if prev is None:
                self.start = frame.time
            else:
                yield _Pair(index, prev, frame, frame.time)
                index += 1
            prev = frame
        if prev is None:
            raise InputError(f"{self.info.path} has no decodable video frames")
        yield _Pair(index, prev, None, _end_time(last, self.info.rate))

    def _render(self, pair: _Pair, frames) -> Iterator[np.ndarray]:
        left = pair.left.image
        needs_model = pair.right is not None and any(f.t != 0 for f in frames)
        if needs_model and self.scenes.cut(pair.left, pair.right):
            self.result.scene_cuts += 1
            needs_model = False
        if not needs_model:
            self.encoded.clear()
            yield from (left for _ in frames)
            return
        if self.model.tiling is not None:
            yield from self._render_tiled(pair, frames)
            return
        e0 = self._encode(pair.index, left)
        e1 = self._encode(pair.index + 1, pair.right.image)
        self.encoded = {pair.index + 1: e1}
        flows = self.model.flows(e0, e1)
        for f in frames:
            if f.t == 0:
                yield left
            else:
                image = self.model.frame(e0, e1, flows, f.t, left)
                yield _with_alpha(image, pair.left.image, pair.right.image, f.t)

    def _render_tiled(self, pair: _Pair, frames) -> Iterator[np.ndarray]:
        left, right = pair.left.image, pair.right.image
        made = self.model.tiled_frames(left, right, [f.t for f in frames if f.t != 0])
        for f in frames:
            yield left if f.t == 0 else _with_alpha(next(made), left, right, f.t)

    def _encode(self, index: int, image: np.ndarray):
        if index not in self.encoded:
            self.encoded[index] = self.model.encode(image)
        return self.encoded[index]

    def _segment_writer(self, seg: int) -> vio.VideoEncoder:
        path = self.work / f"segment_{seg:06d}.mkv.part"
        return vio.lossless_encoder(path, width=self.info.width, height=self.info.height, depth=self.info.depth,
                                    alpha=self.info.alpha)

    def _finish_segment(self, writer: vio.VideoEncoder | None, seg: int) -> None:
        if writer is None:
            return
        writer.close()
        part = self.work / f"segment_{seg:06d}.mkv.part"
        os.replace(part, part.with_suffix(""))
        self.done[seg] = writer.index
        _write_json(self.work / "manifest.json", {"key": self.key, "segments": self.done})


def _with_alpha(rgb: np.ndarray, left: np.ndarray, right: np.ndarray, t: Fraction) -> np.ndarray:
    """Alpha is carried from the nearer input frame (FILM synthesises RGB only)."""
    if left.shape[2] == 3:
        return rgb
    alpha = (left if t < Fraction(1, 2) else right)[..., 3:]
    return np.concatenate([rgb, alpha], axis=2)


def _end_time(last: vio.DecodedFrame, rate: Fraction) -> Fraction:
    """End of the stream: the last frame's time plus its duration (else one nominal frame period)."""
    return last.time + (last.duration or 1 / rate)


class _SceneCheck:
    """Scene-cut and duplicate tests from `filmnet.scenes`, on thumbnails made once per input frame."""

    def __init__(self, threshold: float | None):
        from .. import scenes

        self.scenes = scenes
        self.threshold = scenes.DEFAULT_SCENE_THRESHOLD if threshold is None else float(threshold)
        self.thumbs: dict[int, np.ndarray] = {}

    def _thumb(self, frame: vio.DecodedFrame) -> np.ndarray:
        if frame.index not in self.thumbs:
            image = frame.image[..., :3]
            if image.dtype == np.uint16:
                image = image.astype(np.float32) / 65535.0
            self.thumbs = {k: v for k, v in self.thumbs.items() if k >= frame.index - 1}
            self.thumbs[frame.index] = self.scenes.thumbnail(image)
        return self.thumbs[frame.index]

    def cut(self, a: vio.DecodedFrame, b: vio.DecodedFrame) -> bool:
        return bool(self.scenes.is_scene_cut(self._thumb(a), self._thumb(b), self.threshold))

    def duplicate(self, a: vio.DecodedFrame, b: vio.DecodedFrame) -> bool:
        return bool(self.scenes.is_near_duplicate(self._thumb(a), self._thumb(b)))


def _assemble(job: _Job, out: Path, encoding: vio.EncoderSettings | None, keep_audio: bool,
              frames: Iterator[np.ndarray] | None = None) -> None:
    """Encode the finished segments (plus audio) into `out` (a PNG folder when `encoding` is None), atomically.
    `frames` replaces the job's own segments (`assemble_ranges`)."""
    frames = _segment_frames(job) if frames is None else frames
    if encoding is None:
        _write_folder(frames, out)
        if job.info.has_audio:
            job.result.notes.append("audio dropped: a PNG folder has no audio track")
        return
    # replace_folder: vio_check_output allowed it (--force and nothing but NNNNNN.png inside)
    with atomic_target(out, suffix=f".part{out.suffix}", replace_folder=True) as tmp:
        _encode_video(job, frames, tmp, out.suffix.lower(), encoding, keep_audio)


def _segment_frames(job: _Job) -> Iterator[np.ndarray]:
    for seg in range(job.segments):
        if job.done.get(seg):
            yield from vio.read_segment(job.work / f"segment_{seg:06d}.mkv", job.info.depth, job.info.alpha)


def _write_folder(frames: Iterator[np.ndarray], out: Path) -> None:
    # replace_folder: check_output allowed it (--force and only NNNNNN.png inside)
    with atomic_target(out, directory=True, replace_folder=True) as tmp:
        for i, image in enumerate(frames):
            vio.write_png(tmp / f"{i:06d}.png", image)


def _encode_video(job: _Job, frames, tmp: Path, suffix: str, encoding: vio.EncoderSettings,
                  keep_audio: bool) -> None:
    info, plan = job.info, job.plan
    writer = vio.VideoEncoder(tmp, width=info.width, height=info.height, rate=plan.output_rate,
                              codec=encoding.codec, depth=info.depth, alpha=info.alpha, source_pix_fmt=info.pix_fmt,
                              crf=encoding.crf, color=info.color, rotation=vio.first_rotation(info),
                              start=job.start * plan.stretch, container_format=encoding.container_format,
                              pix_fmt=encoding.pix_fmt)
    audio_source = vio.open_input(info.path) if info.has_audio else contextlib.nullcontext()
    with audio_source as source, writer:
        _attach_audio(job, writer, source, suffix, keep_audio)
        if any(writer.pad):
            job.result.notes.append(f"{info.width}x{info.height} padded to even size for {writer.stream.pix_fmt}")
        for image in frames:
            writer.write(image)


def _attach_audio(job: _Job, writer: vio.VideoEncoder, source, suffix: str, keep_audio: bool) -> None:
    notes, stretch = job.result.notes, job.plan.stretch
    if source is None or not source.streams.audio:
        return
    if suffix == ".gif":
        notes.append("audio dropped: GIF has no audio track")
        return
    if stretch != 1 and not keep_audio:
        notes.append(f"audio dropped: slow motion x{stretch} changes the duration (--keep-audio stretches it)")
        return
    audio = source.streams.audio[0]
    copy = stretch == 1 and vio.can_copy_audio(suffix, audio.codec_context.name)
    if copy:
        stream = writer.add_audio_stream(template=audio)
    else:
        stream = writer.add_audio_stream(codec=vio.AUDIO_ENCODER.get(suffix, "aac"), like=audio)
        notes.append(f"audio re-encoded to {stream.codec_context.name}"
                     + (f" and slowed x{stretch} (atempo, pitch kept)" if stretch != 1 else ""))
    writer.attach_audio(vio.audio_packets(source, stream, copy=copy, tempo=1 / stretch))


# Ranges for `filmnet.batch`: one job's segments rendered by many workers, then encoded once.


class _RangeJob(_Job):
    """A `_Job` that renders only segments [first, stop) (stop None: to the end) and stops decoding after them.

    Pairs keep their whole-file indices, so timing, scene cuts and dedupe are those of the whole file: with dedupe a
    range decodes from the first frame; without, from the keyframe before its first frame (`_seek_pairs`). A range
    reads one input frame past its last pair, the first frame of the next range.
    """

    def __init__(self, *args, first: int = 0, stop: int | None = None,
                 on_frames: Callable[[int], None] | None = None, table: tuple[list[int], list[int]] | None = None):
        super().__init__(*args)
        self.first, self.stop, self.on_frames, self.table = int(first), stop, on_frames, table
        self.seeked = False

    def _pairs(self) -> Iterator[_Pair]:
        for pair in self._seek_pairs() or super()._pairs():
            if self.stop is not None and pair.index >= self.stop * self.seg_len:
                return
            yield pair

    def _seek_pairs(self) -> Iterator[_Pair] | None:
        """Without dedupe, pair k is input frames (k, k + 1): decode from the keyframe before the range's first frame
        instead of from the start. None when that cannot be done exactly (then `_Job._pairs` reads everything)."""
        first = self.first * self.seg_len
        if self.dedupe or first == 0 or self.info.is_folder:
            return None
        table = self.table or vio.keyframe_table(self.info)
        if table is None:
            return None
        frames = vio.read_frames_from(self.info, first, table)
        try:  # frame 0 (the output's time origin) must be the table's first frame, as decoded from the start
            with contextlib.closing(vio.read_frames_from(self.info, 0, table)) as heads:
                head = next(heads)
            left = next(frames)
        except (LookupError, StopIteration):
            frames.close()
            return None
        self.start, self.seeked = head.time, True
        return self._pairs_from(left, vio.prefetch(frames))

    def _pairs_from(self, prev: vio.DecodedFrame, frames: Iterator[vio.DecodedFrame]) -> Iterator[_Pair]:
        self.result.input_frames = prev.index + 1
        for frame in frames:
            self.result.input_frames = frame.index + 1
            if frame.time <= prev.time:
                raise InputError(f"{self.info.path.name}: frame {frame.index} is not later than the one before it")
            yield _Pair(prev.index, prev, frame, frame.time)
            prev = frame
        yield _Pair(prev.index, prev, None, _end_time(prev, self.info.rate))

    def _segment_writer(self, seg: int):
        if seg < self.first or (self.stop is not None and seg >= self.stop):
            return None
        return _CountingWriter(super()._segment_writer(seg), self.on_frames)


class _CountingWriter:
    """A segment writer that reports each frame written."""

    def __init__(self, writer: vio.VideoEncoder, on_frames: Callable[[int], None] | None):
        self.writer, self.on_frames = writer, on_frames

    @property
    def index(self) -> int:
        return self.writer.index

    def write(self, image: np.ndarray) -> None:
        self.writer.write(image)
        if self.on_frames is not None:
            self.on_frames(1)

    def close(self) -> None:
        self.writer.close()


def render_range(
    src: str | os.PathLike, work: str | os.PathLike, *, interpolator: Interpolator, first: int = 0,
    stop: int | None = None, multi: int | None = None, exp: int | None = None, fps: str | Fraction | None = None,
    slowmo: int | None = None, scene_threshold: float | None = None, dedupe: bool = False, segment_frames: int = 64,
    on_frames: Callable[[int], None] | None = None, table: tuple[list[int], list[int]] | None = None,
) -> dict:
    """Render segments [first, stop) of `retime(src, ...)` into the folder `work`, for `assemble_ranges`.

    Segment k holds the output frames of input pairs k * segment_frames .. (k + 1) * segment_frames - 1, exactly as
    `retime` renders them. Finished segments of the same job already in `work` are kept (resume); anything else
    there is replaced. `on_frames(n)` is called as frames are rendered. Returns the range record also written to
    `work/range.json` (last, atomically): job key, first, stop, start time, segments {index: frames}, counts.
    `table`: the file's `io.video.keyframe_table`, when the caller has it (else it is read when needed).
    """
    work = Path(work)
    info, notes = probe_source(src, None)
    plan = plan_retime(info.rate, multi=multi, exp=exp, fps=fps, slowmo=slowmo)
    result = RetimeResult(work, 0, 0, plan.output_rate, notes=notes)
    outputs = max_new_frames_per_pair(plan, info.rate)
    tiling = interpolator.tiling_for(info.height, info.width, outputs=outputs)
    key = _job_key(info, plan, interpolator, tiling, scene_threshold, dedupe, segment_frames)
    (work / "range.json").unlink(missing_ok=True)
    done = _open_work(work, key, True, result)
    reused = len(done)
    if on_frames is not None and done:
        on_frames(sum(done.values()))
    model = _Model(interpolator, info.height, info.width, tiling, outputs)
    job = _RangeJob(info, plan, model, scene_threshold, dedupe, segment_frames, work, key, done, result,
                    first=first, stop=stop, on_frames=on_frames, table=table)
    job.run(False)
    record = dict(key=key, first=first, stop=stop, start=str(job.start), segments=job.done,
                  frames=sum(job.done.values()), input_frames=result.input_frames, scene_cuts=result.scene_cuts,
                  duplicates_dropped=result.duplicates_dropped, segments_reused=reused, seeked=job.seeked)
    _write_json(work / "range.json", record)
    return record


def assemble_ranges(
    src: str | os.PathLike, dst: str | os.PathLike, works: list[str | os.PathLike], *, multi: int | None = None,
    exp: int | None = None, fps: str | Fraction | None = None, slowmo: int | None = None, codec: str | None = None,
    crf: int | None = None, pix_fmt: str | None = None, force: bool = False, keep_audio: bool = False,
) -> RetimeResult:
    """Encode the ranges rendered by `render_range` (in order, covering the whole file) into `dst`, as `retime`
    encodes its own segments: the same frames, encoder setup and audio, written atomically. The work folders are
    left in place (the caller removes them)."""
    info, notes = probe_source(src, None)
    plan = plan_retime(info.rate, multi=multi, exp=exp, fps=fps, slowmo=slowmo)
    out = Path(dst)
    folder_out = is_folder_output(out)
    vio_check_output(out, info, force, folder=folder_out)
    result = RetimeResult(out, 0, 0, plan.output_rate, notes=notes)
    encoding = _plan_encoding(info, plan, out, folder_out, codec, crf, pix_fmt, result)
    parts = []
    for work in map(Path, works):
        try:
            record = json.loads((work / "range.json").read_text())
        except (OSError, ValueError):
            raise InputError(f"{work} holds no finished range") from None
        parts.append((work, record))
    if not parts or len({r["key"] for _, r in parts}) != 1:
        raise InputError(f"{info.path.name}: the ranges to assemble belong to different jobs")
    if parts[0][1]["first"] != 0 or parts[-1][1]["stop"] is not None or any(
            a["stop"] != b["first"] for (_, a), (_, b) in zip(parts, parts[1:])):
        raise InputError(f"{info.path.name}: the ranges to assemble do not cover the whole file")

    def frames() -> Iterator[np.ndarray]:
        for work, record in parts:
            done = {int(k): v for k, v in record["segments"].items()}
            yield from _segment_frames(SimpleNamespace(work=work, info=info, done=done,
                                                       segments=max(done, default=-1) + 1))

    last = parts[-1][1]
    result.input_frames, result.duplicates_dropped = last["input_frames"], last["duplicates_dropped"]
    result.scene_cuts = sum(r["scene_cuts"] for _, r in parts)
    result.segments_reused = sum(r["segments_reused"] for _, r in parts)
    result.output_frames = sum(r["frames"] for _, r in parts)
    job = SimpleNamespace(info=info, plan=plan, start=Fraction(last["start"]), result=result)
    _assemble(job, out, encoding, keep_audio, frames())
    for note in result.notes:
        log.warning(note)
    return result
