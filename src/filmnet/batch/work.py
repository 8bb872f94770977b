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
from .plan import AssembleUnit, RangeUnit, error_message, output_digest, read_table, record_path


def configure_threads(threads: int | None) -> None:
    """Same torch thread count in every worker and in a single `filmnet video` run: float reductions may depend on
    it, and outputs must be bit-identical."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs units with one model (`model`: Interpolator keyword options plus `weights`)."""

    def __init__(self, model: dict, threads: int | None = None):
        configure_threads(threads)
        self.model_options = dict(model)
        self._interpolator = None
        self.name = worker_name()

    @property
    def interpolator(self):
        if self._interpolator is None:
            from ..inference import Interpolator
            from ..inference.memory import TilingOptions

            m = self.model_options
            self._interpolator = Interpolator(
                m.get("weights"), device=m.get("device") or "cpu", precision=m.get("precision", "auto"),
                flow=m.get("flow", "auto"), warp_mix=m.get("warp_mix"),
                tiling=TilingOptions.from_text(m.get("max_memory", "auto"), m.get("tile"), m.get("tile_overlap")),
                pyramid_levels=m.get("pyramid_levels", "auto"), padding=m.get("padding", DEFAULT_PADDING))
        return self._interpolator

    def run(self, unit, on_frames: Callable[[int], None] | None = None) -> dict:
        started = time.perf_counter()
        try:
            if isinstance(unit, RangeUnit):
                result = self._render(unit, on_frames)
            else:
                result = self._assemble(unit)
        except Exception as err:  # a bad file: report it, keep the worker
            result = dict(status="failed", error=error_message(err))
        return dict(result, id=unit.id, seconds=time.perf_counter() - started, worker=self.name)

    def _render(self, unit: RangeUnit, on_frames) -> dict:
        from ..inference.ranges import render_range

        Path(unit.work).parent.mkdir(parents=True, exist_ok=True)
        record = render_range(unit.src, unit.work, interpolator=self.interpolator, first=unit.first, stop=unit.stop,
                              segment_frames=unit.segment_frames, on_frames=on_frames,
                              table=read_table(unit.table, unit.src), **unit.options)
        return dict(status="ok", frames=record["frames"], input_frames=record["input_frames"],
                    segments_reused=record["segments_reused"])

    def _assemble(self, unit: AssembleUnit) -> dict:
        return assemble(unit)


def assemble(unit: AssembleUnit) -> dict:
    """Encode a file's ranges into its output (atomically), record it as done, then remove the work folder."""
    from ..inference.ranges import assemble_ranges

    out = Path(unit.out)
    write_text_atomic(record_path(out), json.dumps(dict(unit.record, sha256=None)))  # ours from now on
    result = assemble_ranges(unit.src, out, list(unit.works), force=unit.force, **unit.options)
    record = dict(unit.record, sha256=output_digest(out), frames=result.output_frames,
                  input_frames=result.input_frames)
    write_text_atomic(record_path(out), json.dumps(record))
    if unit.works:
        shutil.rmtree(Path(unit.works[0]).parent, ignore_errors=True)
    return dict(status="ok", frames=result.output_frames, input_frames=result.input_frames, notes=result.notes)
