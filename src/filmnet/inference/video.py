"""Video retiming (`filmnet video`): decode -> exact output times -> FILM at each t -> encode, streamed and resumable.

The source is a video file or a folder of PNG/JPEG/TIFF frames (at `in_fps`). Each output frame sits at its true
source time (`timing.py`); FILM synthesises it at that t directly, reusing each input frame's feature pyramid for
both pairs it belongs to. Frames too large for the interpolator's memory budget (or a forced `tile`) run tiled
(`Interpolator.pair_runner` gives a `tiling.TiledRunner`), with the same reuse across pairs. Pairs
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

import numpy as np
import torch

from ..errors import InputError
from ..scenes import SceneCheck
from ..io import media as vio
from ..io.atomic import atomic_target, discard
from ..io.media import parse_fps
from .frames import carry_alpha, quantize_like
from .interpolator import Interpolator
from .memory import Tiling
from .options import EncodeOptions, RetimeOptions, split_keywords
from .resume import Segment, finish_segment, read_manifest, segment_path, verify_segments, write_manifest
from .timing import PairSchedule, RetimePlan, count_frames, max_new_frames_per_pair, plan_retime

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = tuple(vio.DEFAULT_CODECS)
DEFAULT_FOLDER_FPS = Fraction(25)
WORK_VERSION = 3


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
    frames_skipped: int = 0
    notes: list[str] = field(default_factory=list)


def retime(
    src: str | os.PathLike,
    dst: str | os.PathLike | None = None,
    *,
    interpolator: Interpolator,
    options: RetimeOptions | None = None,
    encode: EncodeOptions | None = None,
    progress: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    **keywords,
) -> RetimeResult:
    """Retime `src` into `dst` (a video file or, without a suffix, a folder of 000000.png frames).

    Args:
        src: a video file, or a folder of PNG/JPEG/TIFF frames (natural name order; alpha kept).
        dst: default `{stem}_{N}X_{fps}fps.{ext}` beside a video, `{name}_{N}X_{fps}fps` (a PNG folder) beside a
            frame folder.
        interpolator: the FILM runner (device, precision, memory budget / tiling).
        options: `RetimeOptions`: multi / exp / fps / slowmo (exactly one; see `timing.plan_retime`); in_fps (frame
            folders only; a video's own timestamps are used); scene_threshold (pairs across a cut are held, never
            blended); dedupe (near-duplicate input frames dropped, their timestamps kept); resume (reuse finished
            segments of an interrupted run with the same inputs and options); force; keep_audio; segment_frames.
        encode: `EncodeOptions` (codec, crf, pix_fmt), checked before any work (`io.media.plan_encoder`). `crf` on
            an encoder without a crf option is ignored with a note; all three are ignored (with a note) for a
            PNG-folder output.
        progress: show a progress bar.
        on_progress: called as on_progress(input frames read, output frames done) after each input pair.
        **keywords: the fields of `RetimeOptions` and `EncodeOptions` given one by one (`multi=2, crf=18`),
            applied on top of `options` and `encode`. `RetimeOptions.ignore_errors` holds the previous frame in
            place of an input frame that cannot be decoded (and to the header's end when the stream ends early),
            counting them in `frames_skipped`; by default either is an `InputError` naming the frame and time, and
            nothing is written.
    Returns:
        A `RetimeResult`.
    Raises:
        InputError: unreadable input, bad options, an output that may not be written, or frames too large even
            for tiling within the interpolator's `max_memory`.
    """
    opts, encode = split_keywords(options, encode, keywords)
    info, plan, out, result, encoding = check_retime(src, dst, opts, encode)
    outputs = max_new_frames_per_pair(plan, info.rate)
    tiling = interpolator.tiling_for(info.height, info.width, outputs=outputs)
    work = out.parent / f".{out.name}.filmnet-work"
    key = _job_key(info, plan, interpolator, tiling, opts.scene_threshold, opts.dedupe, opts.segment_frames)
    done = _open_work(work, key, opts.resume, result)
    result.segments_reused = len(done)
    model = _Model(interpolator, info.height, info.width, tiling, outputs)
    job = _Job(info, plan, model, opts.scene_threshold, opts.dedupe, opts.segment_frames, work, key, done, result)
    job.ignore_errors = opts.ignore_errors
    try:
        job.run(progress, on_progress)
        _assemble(job, out, encoding, opts.keep_audio)
    except KeyboardInterrupt:  # Ctrl-C: keep the finished segments for --resume (as SIGKILL does)
        log.warning("interrupted: finished segments kept in %s; rerun with --resume to continue", work)
        raise
    except BaseException:  # a refusal or a failure: resuming would not help, so leave no stale work behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    if result.frames_skipped:
        result.notes.append(f"--ignore-errors: {result.frames_skipped} damaged or missing input frames skipped "
                            "(the previous frame held in their place)")
    for note in result.notes:
        log.warning(note)
    return result


def check_retime(src: str | os.PathLike, dst: str | os.PathLike | None, opts: RetimeOptions,
                 encode: EncodeOptions) -> tuple:
    """Everything `retime` checks before any model runs: the source, the plan, the output path and its encoder.

    Returns (info, plan, output path, an empty RetimeResult, encoder settings or None for a folder output); raises
    `InputError` as `retime` would. The CLI calls it before loading a model, so a bad option fails at once."""
    info, notes = probe_source(src, opts.in_fps)
    plan = plan_retime(info.rate, multi=opts.multi, exp=opts.exp, fps=opts.fps, slowmo=opts.slowmo)
    out = default_output(info.path, plan, folder=info.is_folder) if dst is None else Path(dst)
    folder_out = is_folder_output(out, default=dst is None)
    vio_check_output(out, info, opts.force, folder=folder_out)
    result = RetimeResult(out, 0, 0, plan.output_rate, notes=notes)
    encoding = _plan_encoding(info, plan, out if not folder_out else None, encode, result)
    return info, plan, out, result, encoding


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
    from ..io.media import check_output

    check_output(out, overwrite=force, inputs=(info.path, *info.files))
    if folder and (out.exists() or out.is_symlink()) and not out.is_dir():
        raise InputError(f"output {out} is an existing file, not a folder of frames; remove it or choose another "
                         "output name")


def _plan_encoding(info: vio.VideoInfo, plan: RetimePlan, out: Path | None, encode: EncodeOptions,
                   result: RetimeResult) -> vio.EncoderSettings | None:
    """The checked video encoder setup for `out` (None for a PNG folder), before any frame is interpolated."""
    if out is None:
        asked = encode.given()
        if asked:
            result.notes.append(f"{', '.join(asked)} ignored: the output is a folder of PNG frames")
        return None
    encoding = vio.plan_encoder(out.suffix, encode, _frame_format(info), plan.output_rate)
    result.notes.extend(encoding.notes)
    return encoding


def _frame_format(info: vio.VideoInfo) -> vio.FrameFormat:
    return vio.FrameFormat(info.width, info.height, info.depth, info.alpha, info.pix_fmt, info.color,
                           vio.first_rotation(info))


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
               device=str(interpolator.device), tiling=None if tiling is None else [*tiling.tile, "whole-frame"])
    mix = getattr(interpolator, "warp_mix", 0.0)
    if mix:  # only DIS sources apply a mix; keys of jobs without one stay as they were
        job["warp_mix"] = mix
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()


def _open_work(work: Path, key: str, resume: bool, result: RetimeResult) -> dict[int, Segment]:
    """Finished segments that still match their checksums from a matching manifest, else a fresh work folder."""
    found = read_manifest(work) if resume else None
    if found is not None:
        if found[0] == key:
            done, notes = verify_segments(work, found[1])
            result.notes.extend(notes)
            return done
        result.notes.append("--resume: the unfinished job used other inputs or options; starting over")
    elif resume:
        result.notes.append("--resume: no unfinished job found; starting from the beginning")
    elif work.exists():
        result.notes.append(f"discarding unfinished work in {work.name} (pass --resume to continue it)")
    discard(work)
    work.mkdir()
    write_manifest(work, key, {})
    return {}


class _Model:
    """FILM on RGB(A) uint8/uint16 frames of one size through the interpolator's pair runner (pad once, reuse
    encodings), untiled or tiled.

    Args:
        tiling: from `Interpolator.tiling_for`; None runs whole frames.
        chunk: unused (tiled frames are made one at a time); kept for callers.
    """

    def __init__(self, interpolator: Interpolator, height: int, width: int, tiling: Tiling | None = None,
                 chunk: int = 1):
        self.interp, self.tiling, self.chunk = interpolator, tiling, max(1, int(chunk))
        self.runner = interpolator.pair_runner(height, width, tiling)

    def encode(self, image: np.ndarray):
        return self.runner.encode(self.interp.to_tensor(image))

    def flows(self, e0, e1):
        return self.runner.flows(e0, e1)

    def frame(self, e0, e1, flows, t: Fraction, like: np.ndarray) -> np.ndarray:
        y = self.runner.crop(self.runner.synthesize(e0, e1, flows, float(t)))
        return quantize_like(self.interp.to_numpy(y), like)


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
        self.scenes = SceneCheck(scene_threshold)
        self.start: Fraction | None = None
        self.encoded: dict[int, object] = {}
        self.segments = 0
        self.planned = 0
        self.ignore_errors = False

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
                frames = PairSchedule(self.start, self.plan.sample_rate, pair.left.time, pair.end)  # lazy
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
        self.planned = written

    def _pairs(self) -> Iterator[_Pair]:
        prev, last, index = None, None, 0
        report = vio.DecodeReport()
        for frame in vio.read_frames(self.info, ignore_errors=self.ignore_errors, report=report):
            self.result.frames_skipped = report.skipped
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
        self.result.frames_skipped = report.skipped
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
        e0 = self._encode(pair.index, left)
        e1 = self._encode(pair.index + 1, pair.right.image)
        self.encoded = {pair.index + 1: e1}
        flows = self.model.flows(e0, e1)
        for f in frames:
            if f.t == 0:
                yield left
            else:
                image = self.model.frame(e0, e1, flows, f.t, left)
                yield carry_alpha(image, pair.left.image, pair.right.image, f.t)

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
        final = segment_path(self.work, seg)
        self.done[seg] = finish_segment(final.with_name(final.name + ".part"), final, writer.index)
        write_manifest(self.work, self.key, self.done)


def _end_time(last: vio.DecodedFrame, rate: Fraction) -> Fraction:
    """End of the stream: the last frame's time plus its duration (else one nominal frame period)."""
    return last.time + (last.duration or 1 / rate)


def _assemble(job: _Job, out: Path, encoding: vio.EncoderSettings | None, keep_audio: bool,
              frames: Iterator[np.ndarray] | None = None) -> None:
    """Encode the finished segments (plus audio) into `out` (a PNG folder when `encoding` is None), atomically.
    `frames` replaces the job's own segments (`assemble_ranges`); either way their count is checked against the plan."""
    frames = _checked_count(job, _segment_frames(job) if frames is None else frames)
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
        if seg in job.done and job.done[seg].frames:
            yield from vio.read_segment(segment_path(job.work, seg), job.info.depth, job.info.alpha)


def _checked_count(job: _Job, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Pass frames through, counting them into the result; a count that differs from the plan is an error (raised
    before the output is moved into place)."""
    count = 0
    for image in frames:
        count += 1
        yield image
    job.result.output_frames = count
    if count != job.planned:
        raise InputError(f"{job.info.path.name}: the finished segments hold {count} frames but the plan has "
                         f"{job.planned}; nothing was written (run again without --resume)")


def _write_folder(frames: Iterator[np.ndarray], out: Path) -> None:
    # replace_folder: check_output allowed it (--force and only NNNNNN.png inside)
    with atomic_target(out, directory=True, replace_folder=True) as tmp:
        for i, image in enumerate(frames):
            vio.write_png(tmp / f"{i:06d}.png", image)


def _encode_video(job: _Job, frames, tmp: Path, suffix: str, encoding: vio.EncoderSettings,
                  keep_audio: bool) -> None:
    info, plan = job.info, job.plan
    writer = vio.VideoEncoder(tmp, _frame_format(info), plan.output_rate, encoding, start=job.start * plan.stretch)
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
