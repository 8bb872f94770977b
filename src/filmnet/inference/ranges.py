"""Ranges of one retime job for `filmnet batch`: its segments rendered by many workers, then encoded once.

`render_range` renders segments [first, stop) of `retime(src, ...)` into a work folder; `assemble_ranges` encodes
the ranges of a whole file into its output exactly as `retime` encodes its own segments, so the result is the
same frames as `filmnet video` on that file alone.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import InputError
from ..io import media as vio
from ..io.atomic import write_text_atomic
from .interpolator import Interpolator
from .options import EncodeOptions, RetimeOptions, split_keywords
from .resume import Segment, verify_segments
from .timing import max_new_frames_per_pair, plan_retime
from .video import (
    RetimeResult, _assemble, _end_time, _Job, _job_key, _Model, _open_work, _Pair, _plan_encoding, _segment_frames,
    is_folder_output, probe_source, vio_check_output,
)

log = logging.getLogger(__name__)
KeyframeTable = tuple[list[int], list[int]]


class _RangeJob(_Job):
    """A `_Job` that renders only segments [first, stop) (stop None: to the end) and stops decoding after them.

    Pairs keep their whole-file indices, so timing, scene cuts and dedupe are those of the whole file: with dedupe a
    range decodes from the first frame; without, from the keyframe before its first frame (`_seek_pairs`). A range
    reads one input frame past its last pair, the first frame of the next range.
    """

    def __init__(self, *args, first: int = 0, stop: int | None = None,
                 on_frames: Callable[[int], None] | None = None, table: KeyframeTable | None = None):
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
        instead of from the start. None when that cannot be done exactly (then `_Job._pairs` reads everything).

        The last range always reads the whole stream (decoding costs little beside the model): that read is the one
        that checks the file as `filmnet video` does (frames lost mid-stream, an end before the header's), so a
        damaged file fails in a batch exactly as it does alone."""
        first = self.first * self.seg_len
        if self.dedupe or first == 0 or self.info.is_folder or self.stop is None or self.ignore_errors:
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


def _frames_of(done: dict[int, Segment]) -> int:
    return sum(segment.frames for segment in done.values())


def render_range(src: str | os.PathLike, work: str | os.PathLike, *, interpolator: Interpolator, first: int = 0,
                 stop: int | None = None, options: RetimeOptions | None = None,
                 on_frames: Callable[[int], None] | None = None, table: KeyframeTable | None = None,
                 **keywords) -> dict:
    """Render segments [first, stop) of `retime(src, ...)` into the folder `work`, for `assemble_ranges`.

    Segment k holds the output frames of input pairs k * segment_frames .. (k + 1) * segment_frames - 1, exactly as
    `retime` renders them. Finished segments of the same job already in `work` are kept when their checksums match
    (resume); anything else there is replaced. `options` (or its fields as keywords: multi, exp, fps, slowmo,
    scene_threshold, dedupe, segment_frames) are those of `retime`. `on_frames(n)` is called as frames are rendered.
    Returns the range record also written to `work/range.json` (last, atomically): job key, first, stop, start
    time, segments {index: frames, size, sha256}, counts. `table`: the file's `io.media.keyframe_table`, when the
    caller has it (else it is read when needed).
    """
    opts, _ = split_keywords(options, None, keywords)
    work = Path(work)
    info, notes = probe_source(src, None)
    plan = plan_retime(info.rate, multi=opts.multi, exp=opts.exp, fps=opts.fps, slowmo=opts.slowmo)
    result = RetimeResult(work, 0, 0, plan.output_rate, notes=notes)
    outputs = max_new_frames_per_pair(plan, info.rate)
    tiling = interpolator.tiling_for(info.height, info.width, outputs=outputs)
    key = _job_key(info, plan, interpolator, tiling, opts.scene_threshold, opts.dedupe, opts.segment_frames)
    (work / "range.json").unlink(missing_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    done = _open_work(work, key, True, result)
    reused = len(done)
    if on_frames is not None and done:
        on_frames(_frames_of(done))
    model = _Model(interpolator, info.height, info.width, tiling, outputs)
    job = _RangeJob(info, plan, model, opts.scene_threshold, opts.dedupe, opts.segment_frames, work, key, done,
                    result, first=first, stop=stop, on_frames=on_frames, table=table)
    job.ignore_errors = opts.ignore_errors
    job.run(False)
    segments = {i: {"frames": s.frames, "size": s.size, "sha256": s.sha256} for i, s in sorted(job.done.items())}
    record = dict(key=key, first=first, stop=stop, start=str(job.start), segments=segments,
                  frames=_frames_of(job.done), input_frames=result.input_frames, scene_cuts=result.scene_cuts,
                  duplicates_dropped=result.duplicates_dropped, segments_reused=reused, seeked=job.seeked,
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


def assemble_ranges(src: str | os.PathLike, dst: str | os.PathLike, works: list[str | os.PathLike], *,
                    options: RetimeOptions | None = None, encode: EncodeOptions | None = None,
                    **keywords) -> RetimeResult:
    """Encode the ranges rendered by `render_range` (in order, covering the whole file) into `dst`, as `retime`
    encodes its own segments: the same frames, encoder setup and audio, written atomically. `options` / `encode`
    (or their fields as keywords) are those of `retime` (force and keep_audio included). The work folders are left
    in place (the caller removes them)."""
    opts, encode = split_keywords(options, encode, keywords)
    info, notes = probe_source(src, None)
    plan = plan_retime(info.rate, multi=opts.multi, exp=opts.exp, fps=opts.fps, slowmo=opts.slowmo)
    out = Path(dst)
    folder_out = is_folder_output(out)
    vio_check_output(out, info, opts.force, folder=folder_out)
    result = RetimeResult(out, 0, 0, plan.output_rate, notes=notes)
    encoding = _plan_encoding(info, plan, out if not folder_out else None, encode, result)
    parts = [(work, *_read_range(work, info.path.name)) for work in map(Path, works)]
    if not parts or len({record["key"] for _, record, _ in parts}) != 1:
        raise InputError(f"{info.path.name}: the ranges to assemble belong to different jobs")
    if parts[0][1]["first"] != 0 or parts[-1][1]["stop"] is not None or any(
            a["stop"] != b["first"] for (_, a, _), (_, b, _) in zip(parts, parts[1:])):
        raise InputError(f"{info.path.name}: the ranges to assemble do not cover the whole file")

    def frames() -> Iterator[np.ndarray]:
        for work, _, done in parts:
            yield from _segment_frames(SimpleNamespace(work=work, info=info, done=done,
                                                       segments=max(done, default=-1) + 1))

    last = parts[-1][1]
    result.input_frames, result.duplicates_dropped = last["input_frames"], last["duplicates_dropped"]
    result.scene_cuts = sum(record["scene_cuts"] for _, record, _ in parts)
    result.segments_reused = sum(record["segments_reused"] for _, record, _ in parts)
    planned = sum(_frames_of(done) for _, _, done in parts)
    job = SimpleNamespace(info=info, plan=plan, start=Fraction(last["start"]), result=result, planned=planned)
    _assemble(job, out, encoding, opts.keep_audio, frames())
    result.frames_skipped = sum(record.get("frames_skipped", 0) for _, record, _ in parts)
    if result.frames_skipped:
        result.notes.append(f"--ignore-errors: {result.frames_skipped} damaged or missing input frames skipped "
                            "(the previous frame held in their place)")
    for note in result.notes:
        log.warning(note)
    return result
