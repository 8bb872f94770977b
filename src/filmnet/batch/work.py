"""What a worker does with a unit: the same code for local worker processes and Ray actors.

A `Worker` holds one `Interpolator` (built once, from plain model options) and runs units; a unit's failure (a bad
file) comes back as a result with the error, never as an exception, so one file cannot stop the batch.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..io.atomic import write_text_atomic
from ..errors import error_line
from .plan import AssembleUnit, RangeUnit, output_digest, read_table, record_path


def configure_threads(threads: int | None) -> None:
    """Same torch thread count in every worker and in a single `filmnet video` run: float reductions may depend on
    it, and outputs must be bit-identical."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs units with one model (`model`: the batch's checked `ModelOptions`, weights pinned to a file)."""

    def __init__(self, model, threads: int | None = None):
        from ..model_options import ModelOptions

        configure_threads(threads)
        self.model_options = model if isinstance(model, ModelOptions) else ModelOptions(**model)
        self._interpolator = None
        self.name = worker_name()

    @property
    def interpolator(self):
        if self._interpolator is None:
            self._interpolator = self.model_options.interpolator()
        return self._interpolator

    def run(self, unit, on_frames: Callable[[int], None] | None = None) -> dict:
        started = time.perf_counter()
        try:
            if isinstance(unit, RangeUnit):
                result = self._render(unit, on_frames)
            else:
                result = self._assemble(unit)
        except Exception as err:  # a bad file: report it, keep the worker
            result = dict(status="failed", error=error_line(err))
        return dict(result, id=unit.id, seconds=time.perf_counter() - started, worker=self.name)

    def _render(self, unit: RangeUnit, on_frames) -> dict:
        from ..inference.ranges import SegmentRange, render_range

        Path(unit.work).parent.mkdir(parents=True, exist_ok=True)
        span = SegmentRange(unit.first, unit.stop, read_table(unit.table, unit.src))
        source, options = (unit.job, {}) if unit.job is not None else (
            unit.src, dict(unit.options, segment_frames=unit.segment_frames))
        record = render_range(source, unit.work, interpolator=self.interpolator, span=span, on_frames=on_frames,
                              **options)
        return dict(status="ok", frames=record["frames"], input_frames=record["input_frames"],
                    segments_reused=record["segments_reused"])

    def _assemble(self, unit: AssembleUnit) -> dict:
        return assemble(unit)


def assemble(unit: AssembleUnit) -> dict:
    """Encode a file's ranges into its output (atomically), record it as done, then remove the work folder."""
    from ..inference.ranges import assemble_ranges

    out = Path(unit.out)
    write_text_atomic(record_path(out), json.dumps(dict(unit.record, sha256=None)))  # ours from now on
    if unit.job is not None:
        result = assemble_ranges(unit.job, None, list(unit.works))
    else:
        result = assemble_ranges(unit.src, out, list(unit.works), force=unit.force, **unit.options)
    record = dict(unit.record, sha256=output_digest(out), frames=result.output_frames,
                  input_frames=result.input_frames)
    write_text_atomic(record_path(out), json.dumps(record))
    if unit.works:
        shutil.rmtree(Path(unit.works[0]).parent, ignore_errors=True)
    return dict(status="ok", frames=result.output_frames, input_frames=result.input_frames, notes=result.notes)
