"""Retiming, stage 1: plan a job once, as a value (`check_retime` -> `RetimeJob`), before any model loads.

The source is probed (a video file or a frame folder), the output times are planned (`timing.plan_retime`), the
output path is checked (`io.media.check_output`, never an input) and its encoder set up on an in-memory encoder
(`io.media.plan_encoder`). Rendering (`retime_render`) and assembling (`retime_assemble`) take the job as it is;
the resume key is the job plus the loaded model (`job_key`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch

from ..errors import InputError
from ..io import media as vio
from ..io.media import parse_fps
from .options import EncodeOptions, RetimeOptions
from .timing import RetimePlan, max_new_frames_per_pair, plan_retime

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


@dataclass(frozen=True)
class RetimeJob:
    """One checked retiming job: the probed source, the plan, the output and its encoder (None: a PNG folder), the
    options, and notes for the user so far (an assumed frame rate, ignored encoder options)."""

    info: vio.VideoInfo
    plan: RetimePlan
    output: Path
    encoding: vio.EncoderSettings | None
    options: RetimeOptions
    notes: tuple[str, ...] = ()

    @property
    def outputs_per_pair(self) -> int:
        """Most new frames between two inputs (sizes the tiling budget)."""
        return max_new_frames_per_pair(self.plan, self.info.rate)

    @property
    def work(self) -> Path:
        """The folder of resumable segments beside the output."""
        return self.output.parent / f".{self.output.name}.filmnet-work"

    def result(self, output: Path | None = None) -> RetimeResult:
        """An empty result of this job, holding its notes."""
        return RetimeResult(output or self.output, 0, 0, self.plan.output_rate, notes=list(self.notes))


def check_retime(src: str | os.PathLike, dst: str | os.PathLike | None, opts: RetimeOptions,
                 encode: EncodeOptions, *, default_folder: bool | None = None) -> RetimeJob:
    """Everything `retime` checks before any model runs: the source, the plan, the output path and its encoder.

    Raises `InputError` as `retime` would. `default_folder`: whether a suffix-less name is a folder (default: only
    for the default output name)."""
    info, plan, notes = plan_source(src, opts)
    out = default_output(info.path, plan, folder=info.is_folder) if dst is None else Path(dst)
    folder = dst is None if default_folder is None else default_folder
    return finish_job((info, plan, notes), out, opts, encode, default_folder=folder)


def plan_source(src: str | os.PathLike, opts: RetimeOptions) -> tuple[vio.VideoInfo, RetimePlan, list[str]]:
    """The probed source, its plan and notes: the first half of `check_retime` (a caller may then name the
    output from the plan, as `filmnet batch` does)."""
    info, notes = probe_source(src, opts.in_fps)
    return info, plan_retime(info.rate, multi=opts.multi, exp=opts.exp, fps=opts.fps, slowmo=opts.slowmo), notes


def finish_job(planned: tuple, out: Path, opts: RetimeOptions, encode: EncodeOptions, *,
               default_folder: bool = False) -> RetimeJob:
    """The second half of `check_retime`: the output `out` checked and its encoder set up, for `planned` (the
    triple of `plan_source`)."""
    info, plan, notes = planned
    folder_out = is_folder_output(out, default=default_folder)
    check_output(out, info, opts.force, folder=folder_out)
    encoding, more = plan_encoding(info, plan, None if folder_out else out, encode)
    return RetimeJob(info, plan, out, encoding, opts, tuple(notes + more))


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


def check_output(out: Path, info: vio.VideoInfo, force: bool, *, folder: bool) -> None:
    """The writers' rule (`check_output`: with `force`, an existing folder, even one named `x.mp4`, is replaced
    only if it holds nothing but `NNNNNN.png`), plus: an existing file is never replaced by a PNG folder."""
    vio.check_output(out, overwrite=force, inputs=(info.path, *info.files))
    if folder and (out.exists() or out.is_symlink()) and not out.is_dir():
        raise InputError(f"output {out} is an existing file, not a folder of frames; remove it or choose another "
                         "output name")


def plan_encoding(info: vio.VideoInfo, plan: RetimePlan, out: Path | None,
                  encode: EncodeOptions) -> tuple[vio.EncoderSettings | None, list[str]]:
    """The checked video encoder setup for `out` (None for a PNG folder) and its notes, before any frame is made."""
    if out is None:
        asked = encode.given()
        return None, [f"{', '.join(asked)} ignored: the output is a folder of PNG frames"] if asked else []
    encoding = vio.plan_encoder(out.suffix, encode, frame_format(info), plan.output_rate)
    return encoding, list(encoding.notes)


def frame_format(info: vio.VideoInfo) -> vio.FrameFormat:
    return vio.FrameFormat(info.width, info.height, info.depth, info.alpha, info.pix_fmt, info.color,
                           vio.first_rotation(info))


def job_key(job: RetimeJob, interpolator, tiling) -> str:
    """The resume key: the job (source, plan, scene/dedupe/segment options) plus the loaded model (its weights'
    bytes, precision, flow source, device) and the tiling in use."""
    digest = hashlib.sha256()
    for name, tensor in interpolator.model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes: bf16/fp16 too
    info, plan, opts = job.info, job.plan, job.options
    key = dict(v=WORK_VERSION, src=vio.source_fingerprint(info), rate=str(info.rate),
               plan=[str(plan.sample_rate), str(plan.output_rate), str(plan.stretch)], scene=opts.scene_threshold,
               dedupe=opts.dedupe, seg=opts.segment_frames, weights=digest.hexdigest(),
               precision=interpolator.precision, flow=getattr(interpolator, "flow", "model"),
               device=str(interpolator.device), tiling=None if tiling is None else [*tiling.tile, "whole-frame"])
    mix = getattr(interpolator, "warp_mix", 0.0)
    if mix:  # only DIS sources apply a mix; keys of jobs without one stay as they were
        key["warp_mix"] = mix
    runner = getattr(interpolator, "runner", None)
    official = (None, runner.model.config.pyramid_levels) if runner is not None else ()
    if runner is not None and (runner.levels not in official or runner.padding_mode != "zeros"):  # issues 22, 24
        key.update(levels=str(runner.levels), padding=runner.padding_mode)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
