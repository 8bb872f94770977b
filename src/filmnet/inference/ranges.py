"""Ranges of one retime job for `filmnet batch`: its segments rendered by many workers, then encoded once.

`render_range` renders a `SegmentRange` of a job into a work folder; `assemble_ranges` encodes the ranges of a
whole file into its output exactly as `retime` encodes its own segments, so the result is the same frames as
`filmnet video` on that file alone. Both take the `RetimeJob` the batch planner made (`plan_range_job`), or a
source path (then the job is planned here).
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import write_text_atomic
from .interpolator import Interpolator
from .options import EncodeOptions, RetimeOptions, split_keywords
from .resume import Segment, verify_segments
from .retime_assemble import assemble, segment_frames
from .retime_plan import RetimeJob, RetimeResult, check_retime, job_key, plan_source
from .retime_render import KeyframeTable, Renderer, SegmentRange, frame_model, open_work

log = logging.getLogger(__name__)

__all__ = ["KeyframeTable", "SegmentRange", "assemble_ranges", "plan_range_job", "render_range"]


def plan_range_job(src: str | os.PathLike, dst: str | os.PathLike, options: RetimeOptions,
                   encode: EncodeOptions | None = None) -> RetimeJob:
    """The `RetimeJob` of a batch file: `check_retime` with `dst` a file, or a folder only without a suffix."""
    return check_retime(src, dst, options, encode or EncodeOptions(), default_folder=False)


def _job(src: str | os.PathLike | RetimeJob, dst, options, encode, keywords) -> RetimeJob:
    if isinstance(src, RetimeJob):
        if keywords or options is not None or encode is not None:
            raise TypeError("options come with the RetimeJob; give them to plan_range_job")
        return src
    opts, encode = split_keywords(options, encode, keywords)
    return plan_range_job(src, dst, opts, encode)


def _frames_of(done: dict[int, Segment]) -> int:
    return sum(segment.frames for segment in done.values())


def render_range(src: str | os.PathLike | RetimeJob, work: str | os.PathLike, *, interpolator: Interpolator,
                 span: SegmentRange = SegmentRange(), options: RetimeOptions | None = None,
                 on_frames: Callable[[int], None] | None = None, **keywords) -> dict:
    """Render the segments `span` of `retime(src, ...)` into the folder `work`, for `assemble_ranges`.

    Segment k holds the output frames of input pairs k * segment_frames .. (k + 1) * segment_frames - 1, exactly as
    `retime` renders them. Finished segments of the same job already in `work` are kept when their checksums match
    (resume); anything else there is replaced. `src`: the job, or a source with `options` (or its fields as
    keywords: multi, exp, fps, slowmo, scene_threshold, dedupe, segment_frames) as `retime` takes them.
    `on_frames(n)` is called as frames are rendered. Returns the range record also written to `work/range.json`
    (last, atomically): job key, first, stop, start time, segments {index: frames, size, sha256}, counts.
    """
    work = Path(work)
    opts = src.options if isinstance(src, RetimeJob) else split_keywords(options, None, keywords)[0]
    if opts.loop:  # a range cannot reach the clip's first frame
        raise InputError("--loop is not supported by batch ranges; use filmnet video --loop on the file")
    if isinstance(src, RetimeJob):
        job = _job(src, None, options, None, keywords)
    else:  # a range writes no output of its own: the source and its plan are all it needs
        info, plan, notes = plan_source(src, opts)
        job = RetimeJob(info, plan, work, None, opts, tuple(notes))
    model = frame_model(job, interpolator)
    key = job_key(job, interpolator, model.tiling)
    result = job.result(work)
    (work / "range.json").unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    done = open_work(work, key, True, result.notes)
    reused = len(done)
    if on_frames is not None and done:
        on_frames(_frames_of(done))
    renderer = Renderer(job, model, work, key, done, result, span, on_frames)
    renderer.run()
    segments = {i: {"frames": s.frames, "size": s.size, "sha256": s.sha256} for i, s in sorted(done.items())}
    record = dict(key=key, first=span.first, stop=span.stop, start=str(renderer.start), segments=segments,
                  frames=_frames_of(done), input_frames=result.input_frames, scene_cuts=result.scene_cuts,
                  duplicates_dropped=result.duplicates_dropped, segments_reused=reused, seeked=renderer.seeked,
                  frames_skipped=result.frames_skipped)
    write_text_atomic(work / "range.json", json.dumps(record))
    return record


def _read_range(work: Path, name: str) -> tuple[dict, dict[int, Segment]]:
    """A finished range's record and its segments, each checked against its recorded size and SHA-256."""
    try:
        record = json.loads((work / "range.json").read_text())
        done = {int(k): Segment(int(v["frames"]), int(v["size"]), str(v["sha256"]))
                for k, v in record["segments"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{work} holds no finished range") from None
    good, problems = verify_segments(work, done)
    if problems:
        raise InputError(f"{name}: a rendered range in {work} is damaged ({problems[0]}); render it again")
    return record, good


def assemble_ranges(src: str | os.PathLike | RetimeJob, dst: str | os.PathLike | None,
                    works: list[str | os.PathLike], *, options: RetimeOptions | None = None,
                    encode: EncodeOptions | None = None, **keywords) -> RetimeResult:
    """Encode the ranges rendered by `render_range` (in order, covering the whole file) into the job's output, as
    `retime` encodes its own segments: the same frames, encoder setup and audio, written atomically. `src`: the
    job (its output is used; `dst` None), or a source with `dst` and `options` / `encode` (or their fields as
    keywords) as `retime` takes them (force and keep_audio included). The work folders are left in place (the
    caller removes them)."""
    job = _job(src, dst, options, encode, keywords)
    info = job.info
    result = job.result()
    parts = [(work, *_read_range(work, info.path.name)) for work in map(Path, works)]
    if not parts or len({record["key"] for _, record, _ in parts}) != 1:
        raise InputError(f"{info.path.name}: the ranges to assemble belong to different jobs")
    if parts[0][1]["first"] != 0 or parts[-1][1]["stop"] is not None or any(
            a["stop"] != b["first"] for (_, a, _), (_, b, _) in zip(parts, parts[1:])):
        raise InputError(f"{info.path.name}: the ranges to assemble do not cover the whole file")

    def frames() -> Iterator[np.ndarray]:
        for work, _, done in parts:
            yield from segment_frames(work, done, info)

    last = parts[-1][1]
    result.input_frames, result.duplicates_dropped = last["input_frames"], last["duplicates_dropped"]
    result.scene_cuts = sum(record["scene_cuts"] for _, record, _ in parts)
    result.segments_reused = sum(record["segments_reused"] for _, record, _ in parts)
    planned = sum(_frames_of(done) for _, _, done in parts)
    assemble(job, frames(), start=Fraction(last["start"]), planned=planned, result=result)
    result.frames_skipped = sum(record.get("frames_skipped", 0) for _, record, _ in parts)
    if result.frames_skipped:
        result.notes.append(f"--ignore-errors: {result.frames_skipped} damaged or missing input frames skipped "
                            "(the previous frame held in their place)")
    for note in result.notes:
        log.warning(note)
    return result
