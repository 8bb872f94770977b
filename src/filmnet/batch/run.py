"""`run_batch`: plan the files, run their units on local worker processes or a Ray cluster, show one progress bar
and write the report.

The driver keeps no state but the report: plans come from the inputs and what is in OUTDIR (done records, work
folders), so a rerun of the same command skips verified outputs and resumes partial ones.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError
from ..io.guard import refuse_input_overwrite
from ..io import owner
from ..io.atomic import write_text_atomic
from ..model_options import ModelOptions
from .inputs import VIDEO_EXTENSIONS, collect
from .plan import FileJob, RangeUnit, file_error, model_key, plan_file

log = logging.getLogger(__name__)

DEFAULT_RANGE_FRAMES = 1024
DEFAULT_RETRIES = 3
LOCK_NAME = ".filmnet-batch.lock"  # OUTDIR's owner while a batch runs (`io.owner`): host, pid, start time


@dataclass
class BatchResult:
    files: list[FileJob]
    report: Path | None
    seconds: float

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def ok(self) -> bool:
        return not self.count("failed")


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs.

    address: a Ray cluster (else RAY_ADDRESS, else local worker processes). workers: local worker processes
    (default 1; 0: run in this process), or on Ray at most this many model actors (default: one per GPU, or the
    CPUs / `cpus_per_worker`). threads: torch threads per worker (default: OMP_NUM_THREADS, else the worker's CPU
    share). range_frames: split files longer than this (input frames) into ranges rendered in parallel; 0: never.
    segment_frames: input frames per resumable segment. force: replace outputs this batch did not write.
    report: a JSON report, one entry per file, rewritten as files finish. retries: times a unit is retried after
    its worker died. extensions: the video suffixes a folder is searched for. executor: a prebuilt executor (tests).
    """

    address: str | None = None
    workers: int | None = None
    threads: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0
    range_frames: int = DEFAULT_RANGE_FRAMES
    segment_frames: int = 64
    force: bool = False
    report: str | os.PathLike | None = None
    progress: bool = True
    retries: int = DEFAULT_RETRIES
    extensions: tuple = VIDEO_EXTENSIONS
    executor: object = None


def ray_address(address: str | None) -> str | None:
    """--ray-address, else RAY_ADDRESS, else None (local mode)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def _one_batch_per_outdir(run):
    """Hold OUTDIR's lock (`io.owner`) while `run` works in it: a second batch there would race this one (one line
    naming the live one); a dead batch's lock is taken over."""

    @functools.wraps(run)
    def locked(inputs, outdir, **keywords):
        if keywords.get("model") is not None:  # bad model options stop the batch before OUTDIR is made
            model = keywords["model"]
            keywords["model"] = (model if isinstance(model, ModelOptions) else ModelOptions(**model)).checked()
        folder = Path(outdir)
        if folder.exists() and not folder.is_dir():
            return run(inputs, outdir, **keywords)  # which says so
        folder.mkdir(parents=True, exist_ok=True)
        with owner.held(folder / LOCK_NAME, "filmnet batch"):
            return run(inputs, outdir, **keywords)

    return locked


@_one_batch_per_outdir
def run_batch(inputs: list[str], outdir: str | os.PathLike, *, options: dict, model: ModelOptions | dict,
              settings: BatchSettings | None = None, **keywords) -> BatchResult:
    """Retime every input into `outdir` as `filmnet video` would, on local processes or (with `address` or
    RAY_ADDRESS) a Ray cluster.

    Args:
        settings: how the batch runs (`BatchSettings`), or its fields as keywords (`workers=2, force=True`).
        options: the `retime` options shared by all files (multi/exp/fps/slowmo, scene_threshold, dedupe, codec,
            crf, pix_fmt, keep_audio); manifest rows override them per file.
        model: the `ModelOptions` (or its fields as a dict), checked here before anything is planned or any
            worker starts; pass them `pinned()` (or with a weights path) so that every worker loads one file.
    Returns:
        A `BatchResult`; `report` (JSON, one entry per file) is written after each file finishes.
    """
    s = replace(settings or BatchSettings(), **keywords)
    model = (model if isinstance(model, ModelOptions) else ModelOptions(**model)).checked()
    address, workers, threads, executor, report = s.address, s.workers, s.threads, s.executor, s.report
    started = time.perf_counter()
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"output folder {outdir} is a file")
    outdir.mkdir(parents=True, exist_ok=True)
    items = collect(list(inputs), s.extensions)
    inside = [i for i in items if outdir.resolve() in i.src.resolve().parents]
    if inside:  # e.g. OUTDIR inside an input folder: earlier outputs are not inputs
        log.warning("skipping %d input(s) inside the output folder %s", len(inside), outdir)
        items = [i for i in items if i not in inside]
    if not items:
        raise InputError("no input files")
    # files only: OUTDIR (and the report) may lie inside an input folder, whose earlier outputs are then skipped
    every_input = tuple(p for p in (*inputs, *(i.src for i in items), model.weights)
                        if p is not None and not Path(p).is_dir())
    if report is not None:  # the report is the batch's own file, rewritten by each rerun, but never an input
        refuse_input_overwrite(report, every_input, what="--report")
    key = model_key(model.key())
    files = [plan_file(i, item, outdir, options, key, settings=s, inputs=every_input) for i, item in enumerate(items)]
    _check_collisions(files)
    report_path = Path(report) if report is not None else None
    address = ray_address(address)
    if executor is None and not any(f.status == "pending" for f in files):  # all finished or failed: no workers
        executor = _NoWork()
    if executor is None:
        if address is None and workers == 0:
            from .local import InlineExecutor

            executor = InlineExecutor(model, threads=threads)
        elif address is None:
            from .local import LocalExecutor

            executor = LocalExecutor(model, workers=workers or 1, threads=threads)
        else:
            from .ray_runner import RayExecutor

            executor = RayExecutor(model, address=address, workers=workers, threads=threads,
                                   cpus_per_worker=s.cpus_per_worker, gpus_per_worker=s.gpus_per_worker)
    try:
        _Scheduler(files, executor, report_path, s.retries).run(s.progress)
    finally:
        executor.close()
    result = BatchResult(files, report_path, time.perf_counter() - started)
    _write_report(files, report_path)
    return result


def _check_collisions(files: list[FileJob]) -> None:
    owners: dict[Path, FileJob] = {}
    for job in files:
        if job.out is None or job.status == "failed":
            continue
        other = owners.setdefault(job.out.resolve(), job)
        if other is not job:
            job.status, job.error = "failed", f"same output as {other.src}: {job.out}"


def _write_report(files: list[FileJob], path: Path | None) -> None:
    if path is not None:
        entries = [f.entry() for f in files]
        write_text_atomic(path, json.dumps({"files": entries}, indent=2) + "\n")


class _NoWork:
    """The executor of a batch with nothing left to run."""

    def close(self) -> None:
        pass


class _Scheduler:
    """Feeds units to the executor: every range unit first, a file's assemble unit once all its ranges are done."""

    def __init__(self, files: list[FileJob], executor, report: Path | None, retries: int):
        self.files, self.executor, self.report, self.retries = files, executor, report, retries
        self.queue: deque = deque(u for f in files if f.status == "pending" for u in f.ranges)
        self.attempts: dict[str, int] = {}
        self.counted: dict[str, int] = {}  # progress counted per unit (undone when a unit is retried)
        self.inflight = 0

    def run(self, progress: bool) -> None:
        from tqdm.auto import tqdm

        planned = sum(f.planned for f in self.files if f.status != "failed")
        done = sum(f.frames for f in self.files if f.status == "skipped")
        with tqdm(total=planned, initial=done, disable=not progress, unit="frame", desc="batch",
                  dynamic_ncols=True) as bar:
            self.bar = bar
            for f in self.files:
                if f.status != "pending":
                    _log_file(f)
            while self.queue or self.inflight:
                self._submit()
                for unit, outcome in self.executor.wait(0.25):
                    self.inflight -= 1
                    self._finish(unit, outcome)
                self._progress(self.executor.progress())
            bar.refresh()

    def _submit(self) -> None:
        waiting = deque()
        while self.queue:
            unit = self.queue.popleft()
            if self.files[unit.file].status == "failed":
                continue
            if self.executor.submit(unit):
                self.attempts[unit.id] = self.attempts.get(unit.id, 0) + 1
                self.inflight += 1
            else:
                waiting.append(unit)
        self.queue = waiting

    def _progress(self, counts: dict[str, int]) -> None:
        for uid, n in counts.items():
            self.counted[uid] = self.counted.get(uid, 0) + n
            self.bar.update(n)

    def _finish(self, unit, outcome) -> None:
        job = self.files[unit.file]
        if job.status == "failed":  # another unit of this file failed: nothing left to do for it
            return
        if isinstance(outcome, BaseException):  # the worker died (or the cluster lost it)
            self._undo_progress(unit.id)
            if self.attempts.get(unit.id, 0) <= self.retries:
                log.warning("%s: worker lost (%s); retrying", Path(unit.src).name, outcome)
                self.queue.append(unit)
                return
            outcome = dict(status="failed", error=f"worker lost {self.attempts[unit.id]} times: {outcome}")
        job.seconds += outcome.get("seconds", 0.0)
        if outcome.get("worker"):
            job.workers.append(outcome["worker"])
        if outcome["status"] != "ok":
            job.status, job.error = "failed", file_error(job.src, outcome.get("error"))
            for uid in [u.id for u in job.ranges]:
                self._undo_progress(uid)
            self.bar.total -= job.planned
            self._file_done(job)
        elif isinstance(unit, RangeUnit):
            job.ranges_done += 1
            job.segments_reused += outcome.get("segments_reused", 0)
            if job.ranges_done == len(job.ranges):
                self.queue.appendleft(job.assemble)
        else:
            job.status, job.frames, job.input_frames = "done", outcome["frames"], outcome["input_frames"]
            job.notes = list(outcome.get("notes") or [])
            counted = sum(self.counted.pop(u.id, 0) for u in job.ranges)
            self.bar.total += job.frames - job.planned  # the true count, not the plan's
            self.bar.update(job.frames - counted)
            self._file_done(job)

    def _undo_progress(self, uid: str) -> None:
        n = self.counted.pop(uid, 0)
        if n:
            self.bar.update(-n)

    def _file_done(self, job: FileJob) -> None:
        _log_file(job)
        _write_report(self.files, self.report)


def _log_file(job: FileJob) -> None:
    from tqdm import tqdm

    with tqdm.external_write_mode():  # the progress bar steps aside for the line
        if job.status == "failed":  # the one report of a failure (the CLI does not repeat it), naming the file once
            named = job.src.name in (job.error or "")
            log.error("failed: %s", job.error if named else f"{job.src}: {job.error}")
        else:
            log.info("%s: %s (%d frames)", job.src, job.status, job.frames)
            for note in job.notes:
                log.warning("note: %s: %s", job.src, note)
