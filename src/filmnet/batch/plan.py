"""Planning a batch: one `FileJob` per input, cut into stateless work units.

A file is rendered as one or more `RangeUnit`s (consecutive runs of `segment_frames`-pair segments; the last runs to
the end of the file) and then encoded once by an `AssembleUnit`, so the frames are exactly those of `filmnet video`
and nothing is encoded twice. Every unit only reads its inputs and writes under OUTDIR (temporary names, then an
atomic rename), so any worker on any node may run it, and a retried unit simply does it again.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import FilmError, InputError, error_line
from ..io.atomic import write_text_atomic
from ..io.hashing import hash_file
from ..inference.options import EncodeOptions, RetimeOptions
from ..inference.retime_plan import RetimeJob, default_output, finish_job, is_folder_output, plan_source
from ..inference.timing import count_frames
from ..bounds import check
from ..io.guard import refuse_input_overwrite
from ..io import media as vio
from .inputs import Item, merge_options

RENDER_OPTIONS = ("multi", "exp", "fps", "slowmo", "scene_threshold", "dedupe", "ignore_errors")
ENCODE_OPTIONS = ("multi", "exp", "fps", "slowmo", "codec", "crf", "pix_fmt", "keep_audio")
RECORD_VERSION = 1


@dataclass(frozen=True)
class RangeUnit:
    """Render segments [first, stop) of one file into `work` (see `inference.video.render_range`)."""

    file: int
    src: str
    work: str
    first: int
    stop: int | None
    options: dict
    segment_frames: int
    planned: int  # output frames, for progress
    table: str | None = None  # a JSON file with the source's keyframe table, written by the planner
    job: RetimeJob | None = None  # the file's planned job (workers render it as it is)

    @property
    def id(self) -> str:
        return f"{self.file}:range:{self.first}"


@dataclass(frozen=True)
class AssembleUnit:
    """Encode a file's rendered ranges into its output, then write its done record and remove its work folder."""

    file: int
    src: str
    out: str
    works: tuple[str, ...]
    options: dict
    force: bool
    record: dict  # the done record to write beside the output (its sha256 is filled in by the worker)
    job: RetimeJob | None = None  # the file's planned job, with its checked output and encoder

    @property
    def id(self) -> str:
        return f"{self.file}:assemble"


@dataclass
class FileJob:
    """One input file's plan and, as the batch runs, its report entry."""

    index: int
    src: Path
    out: Path | None = None
    ranges: list[RangeUnit] = field(default_factory=list)
    assemble: AssembleUnit | None = None
    planned: int = 0
    status: str = "pending"  # pending, done, skipped, failed
    error: str | None = None
    frames: int = 0
    input_frames: int | None = None
    seconds: float = 0.0
    workers: list[str] = field(default_factory=list)
    ranges_done: int = 0
    segments_reused: int = 0
    notes: list[str] = field(default_factory=list)

    def entry(self) -> dict:
        worker = self.workers[-1] if self.workers else None
        return dict(input=str(self.src), output=None if self.out is None else str(self.out), status=self.status,
                    frames=self.frames, planned_frames=self.planned, input_frames=self.input_frames,
                    seconds=round(self.seconds, 3), worker=worker, workers=sorted(set(self.workers)),
                    ranges=len(self.ranges), segments_reused=self.segments_reused, error=self.error,
                    notes=self.notes)


def plan_file(index: int, item: Item, outdir: Path, defaults: dict, model_key: str, *, settings,
              inputs: tuple = ()) -> FileJob:
    """Probe `item` and cut it into units; a file whose verified output is already there is `skipped`, a file that
    cannot be planned (unreadable, bad options, output taken) is `failed` with the reason. `settings`: the batch's
    `range_frames`, `segment_frames` and `force` (a `BatchSettings`). `inputs`: every input of the batch (files,
    folders, manifests), none of which an output may touch (`io.guard`)."""
    range_frames, segment_frames, force = settings.range_frames, settings.segment_frames, settings.force
    job = FileJob(index, item.src)
    try:
        options = merge_options(defaults, item)
        options.update(dedupe=bool(options.get("dedupe")), keep_audio=bool(options.get("keep_audio")),
                       ignore_errors=bool(options.get("ignore_errors")))
        for bound, key in (("video_multi", "multi"), ("video_exp", "exp"), ("slowmo", "slowmo"), ("crf", "crf"),
                           ("scene_threshold", "scene_threshold")):
            if options.get(key) is not None:  # manifest rows get the bounds and reasons of `filmnet video`
                check(bound, options[key])
        opts = RetimeOptions(**{k: options.get(k) for k in RENDER_OPTIONS}, keep_audio=options["keep_audio"],
                             segment_frames=segment_frames, force=True)  # the batch decides on replacing (below)
        info, plan, notes = plan_source(item.src, opts)
        # a manifest's output is relative and stays inside OUTDIR (batch/manifest.py checked it)
        out = outdir / (item.output if item.output is not None else item.rel / default_output(item.src, plan).name)
        job.out = out
        check_inside(out, outdir)
        is_folder_output(out)  # a bad output suffix fails the file now
        refuse_input_overwrite(out, [item.src, *inputs])
        frames = vio.count_video_frames(info)
        job.input_frames = frames
        job.planned = count_frames(Fraction(0), plan.sample_rate, Fraction(frames) / info.rate)
        record = done_record(item.src, options, model_key)
        if verify_output(out, record):
            job.status, job.frames = "skipped", read_record(out)["frames"]
            return job
        ours = read_record(out).get("key") == record["key"]  # written (or begun) by this job, but not verified
        if out.exists() and not (force or ours):
            raise InputError(f"output {out} exists and was not written by a finished batch with these options; "
                             "pass --force to replace it")
        out.parent.mkdir(parents=True, exist_ok=True)
        encode = EncodeOptions(**{k: options.get(k) for k in ("codec", "crf", "pix_fmt")})
        retime_job = finish_job((info, plan, notes), out, opts, encode)  # the output and its encoder, checked now
        work_root = out.parent / f".{out.name}.filmnet-batch"
        per_range = max(1, round(range_frames / segment_frames)) if range_frames > 0 else None
        segments = max(1, math.ceil(frames / segment_frames))
        bounds = list(range(0, segments, per_range)) if per_range else [0]
        render = {k: options.get(k) for k in RENDER_OPTIONS}
        table = None
        if len(bounds) > 1 and not options["dedupe"]:  # ranges will seek: index the file once, here
            table = _write_table(info, work_root)
        for i, first in enumerate(bounds):
            stop = bounds[i + 1] if i + 1 < len(bounds) else None
            pairs_end = frames if stop is None else min(frames, stop * segment_frames)
            planned = count_frames(Fraction(0), plan.sample_rate, Fraction(pairs_end) / info.rate) - count_frames(
                Fraction(0), plan.sample_rate, Fraction(min(frames, first * segment_frames)) / info.rate)
            work = work_root / f"range_{first:06d}-{'end' if stop is None else f'{stop:06d}'}"
            job.ranges.append(RangeUnit(index, str(item.src), str(work), first, stop, render, segment_frames,
                                        planned, table, retime_job))
        encode = {k: options.get(k) for k in ENCODE_OPTIONS}
        job.assemble = AssembleUnit(index, str(item.src), str(out), tuple(u.work for u in job.ranges), encode,
                                    True, record, retime_job)
    except (FilmError, OSError) as err:
        job.status, job.error = "failed", file_error(item.src, error_line(err))
    return job


def check_inside(out: Path, outdir: Path) -> None:
    """Every output stays inside OUTDIR, also through symlinked folders (a manifest row is CLI input)."""
    inside = out.is_relative_to(outdir) and ".." not in out.relative_to(outdir).parts
    if not inside or outdir.resolve() not in out.resolve().parents:
        raise InputError(f"output {out} is outside the output folder {outdir}")


def _write_table(info: vio.VideoInfo, work_root: Path) -> str | None:
    """The keyframe table of a file, saved once for all its ranges (so each need not read the whole file)."""
    table = vio.keyframe_table(info)
    if table is None:
        return None
    work_root.mkdir(exist_ok=True)
    path = work_root / "frames.json"
    write_text_atomic(path, json.dumps(dict(src=vio.source_fingerprint(info), pts=table[0], keyframes=table[1])))
    return str(path)


def read_table(path: str | None, src: str) -> tuple[list[int], list[int]] | None:
    """A table saved by the planner for this very source file (same path, size, mtime), else None."""
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
        if data["src"] != vio.source_fingerprint(vio.probe_video(src)):
            return None
        return data["pts"], data["keyframes"]
    except (OSError, ValueError, KeyError, FilmError):
        return None


def file_error(src: Path, text: str | None) -> str | None:
    """A file's error without the file's name in front (the report and the log name the file once)."""
    for prefix in (f"{src}: ", f"{src.name}: "):
        if text and text.startswith(prefix):
            return text[len(prefix):]
    return text


# Done records: `.{output name}.filmnet-done.json` beside each output, naming the job and the output's hash.


def record_path(out: Path) -> Path:
    return out.parent / f".{out.name}.filmnet-done.json"


def done_record(src: Path, options: dict, model_key: str) -> dict:
    """What identifies a finished output: the source's size and mtime, the options and the model."""
    stat = src.stat()
    keyed = {k: options.get(k) for k in sorted(set(RENDER_OPTIONS) | set(ENCODE_OPTIONS))}
    if not keyed.get("ignore_errors"):  # off: the same key as before the flag existed
        del keyed["ignore_errors"]
    job = dict(v=RECORD_VERSION, src=str(src.resolve()), size=stat.st_size, mtime=stat.st_mtime_ns,
               options=keyed, model=model_key)
    return dict(key=hashlib.sha256(json.dumps(job, sort_keys=True, default=str).encode()).hexdigest())


def read_record(out: Path) -> dict:
    try:
        return json.loads(record_path(out).read_text())
    except (OSError, ValueError):
        return {}


def verify_output(out: Path, record: dict) -> bool:
    """True when `out` is the finished output of the same job: its record matches and its bytes hash as recorded."""
    saved = read_record(out)
    if not saved or saved.get("key") != record["key"] or not out.exists():
        return False
    return saved.get("sha256") == output_digest(out)


def output_digest(out: Path) -> str:
    """sha256 of an output file, or of a PNG-folder output's files (names and bytes, in order)."""
    digest = hashlib.sha256()
    files = sorted(out.iterdir()) if out.is_dir() else [out]
    for path in files:
        if out.is_dir():
            digest.update(path.name.encode() + b"\0")
        hash_file(path, digest)
    return digest.hexdigest()


def model_key(model: dict) -> str:
    """Identifies the model options and weights file (path, size, mtime) without loading it."""
    weights = model.get("weights")
    fingerprint = None
    if weights:
        path = Path(weights)
        if path.exists():
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            fingerprint = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        else:
            fingerprint = str(weights)
    from .. import __version__

    data = dict(model, weights=fingerprint, version=__version__)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def env_threads() -> int:
    """torch's thread count in a fresh process here, as `filmnet video` would use: OMP_NUM_THREADS, else the
    cores torch finds."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    import torch

    return torch.get_num_threads()
