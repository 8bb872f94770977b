"""Retiming, stage 2: render a planned `RetimeJob` (or a `SegmentRange` of it) into resumable lossless segments.

Each output frame sits at its true source time (`timing.py`); FILM synthesises it at that t directly, reusing each
input frame's feature pyramid for both pairs it belongs to. Frames too large for the interpolator's memory budget
(or a forced tile) run tile by tile on whole-frame pyramids (`Interpolator.pair_runner`), with the same reuse.
Pairs across a scene cut are held (the earlier frame repeats). Work is cut into segments of `segment_frames` input pairs, stored losslessly (FFV1-in-Matroska) in
the work folder with a manifest (`resume.py`), so a rerun reuses finished segments that still verify.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import media as vio
from ..io.atomic import discard
from ..scenes import SceneCheck
from .frames import carry_alpha, pixels_tensor, quantize_like
from .interpolator import Interpolator
from .memory import Tiling
from .resume import Segment, finish_segment, read_manifest, segment_path, verify_segments, write_manifest
from .retime_plan import RetimeJob, RetimeResult
from .timing import PairSchedule, count_frames

KeyframeTable = tuple[list[int], list[int]]


@dataclass(frozen=True)
class SegmentRange:
    """Segments [first, stop) of a job (stop None: to the end); `table`: the source's keyframe table, when known,
    to seek to the range's first frame instead of decoding from the start."""

    first: int = 0
    stop: int | None = None
    table: KeyframeTable | None = None

    def holds(self, segment: int) -> bool:
        return segment >= self.first and (self.stop is None or segment < self.stop)


class FrameModel:
    """The interpolator's pair loop (`Interpolator.pair_stage`) on a job's RGB(A) uint8/uint16 frames: `prepare`
    per input frame (reused for both its pairs), `frames` per pair, quantised to the inputs' depth. `tiling`: the
    tiling the interpolator picked for the job's frames (None: whole frames)."""

    def __init__(self, interpolator: Interpolator, job: RetimeJob):
        height, width, outputs = job.info.height, job.info.width, job.outputs_per_pair
        self.interp = interpolator
        self.tiling: Tiling | None = interpolator.tiling_for(height, width, outputs=outputs)
        self._prepare, self._frames_at = interpolator.pair_stage(height, width, outputs=outputs)

    def prepare(self, image: np.ndarray):
        return self._prepare(pixels_tensor(self.interp, image))  # RGBA: the alpha moves with the picture

    def frames(self, s0, s1, times: list[Fraction], like: np.ndarray) -> Iterator[np.ndarray]:
        for y in self._frames_at(s0, s1, [float(t) for t in times]):
            yield quantize_like(self.interp.to_numpy(y), like)


def frame_model(job: RetimeJob, interpolator: Interpolator) -> FrameModel:
    """The `FrameModel` of a job: its frame size, and the tiling the interpolator picks for it."""
    return FrameModel(interpolator, job)


@dataclass
class Pair:
    """Two consecutive kept input frames; `right` is None for the held tail after the last frame."""

    index: int
    left: vio.DecodedFrame
    right: vio.DecodedFrame | None
    end: Fraction


def open_work(work: Path, key: str, resume: bool, notes: list[str]) -> dict[int, Segment]:
    """Finished segments that still match their checksums from a matching manifest, else a fresh work folder."""
    found = read_manifest(work) if resume else None
    if found is not None:
        if found[0] == key:
            done, problems = verify_segments(work, found[1])
            notes.extend(problems)
            return done
        notes.append("--resume: the unfinished job used other inputs or options; starting over")
    elif resume:
        notes.append("--resume: no unfinished job found; starting from the beginning")
    elif work.exists():
        notes.append(f"discarding unfinished work in {work.name} (pass --resume to continue it)")
    discard(work)
    work.mkdir()
    write_manifest(work, key, {})
    return {}


class Renderer:
    """Renders the unfinished segments of `span` of one job into the work folder `work`.

    Pairs keep their whole-file indices, so timing, scene cuts and dedupe are those of the whole file: with dedupe
    a range decodes from the first frame; without, from the keyframe before its first frame (`_seek_pairs`). A
    range reads one input frame past its last pair, the first frame of the next range. `on_frames(n)` is called
    as frames are written.
    """

    def __init__(self, job: RetimeJob, model: FrameModel, work: Path, key: str, done: dict[int, Segment],
                 result: RetimeResult, span: SegmentRange = SegmentRange(),
                 on_frames: Callable[[int], None] | None = None):
        self.job, self.info, self.plan, self.model = job, job.info, job.plan, model
        self.work, self.key, self.done, self.result = work, key, done, result
        self.span, self.on_frames = span, on_frames
        self.seg_len, self.dedupe = max(1, int(job.options.segment_frames)), job.options.dedupe
        self.scenes = SceneCheck(job.options.scene_threshold)
        self.start: Fraction | None = None
        self.encoded: dict[int, object] = {}
        self.segments = self.planned = 0
        self.seeked = False
        self.first_frame, self.wrap_frames, self.wrap_cuts = None, 0, 0  # --loop: the tail pair wraps to frame 0

    def run(self, progress: bool = False, on_progress: Callable[[int, int], None] | None = None) -> None:
        from .progress import WarmupBar

        total = None
        if self.info.frames:
            total = count_frames(Fraction(0), self.plan.sample_rate, Fraction(self.info.frames) / self.info.rate)
        with WarmupBar(total=total, disable=not progress, unit="frame", desc="retiming", dynamic_ncols=True) as bar:
            writer, seg, written = None, -1, 0
            for pair in self.pairs():
                if pair.index // self.seg_len != seg:
                    self._finish_segment(writer, seg)
                    seg = pair.index // self.seg_len
                    writer = None if seg in self.done else self._segment_writer(seg)
                frames = PairSchedule(self.start, self.plan.sample_rate, pair.left.time, pair.end)  # lazy
                if pair.right is not None and pair.right is self.first_frame:  # --loop: the wrap pair
                    self.wrap_frames = sum(1 for f in frames if f.t != 0)
                    self.wrap_cuts = self.result.scene_cuts
                if writer is None:
                    bar.update(len(frames))
                else:
                    for image in self.render(pair, frames):
                        writer.write(image)
                        if self.on_frames is not None:
                            self.on_frames(1)
                        bar.update(1)
                written += len(frames)
                if on_progress is not None:
                    on_progress(self.result.input_frames, written)
            self._finish_segment(writer, seg)
        self.segments = seg + 1
        self.planned = written

    def pairs(self) -> Iterator[Pair]:
        """The input pairs of the span, in order (the held tail last)."""
        for pair in self._seek_pairs() or self._decoded_pairs():
            if self.span.stop is not None and pair.index >= self.span.stop * self.seg_len:
                return
            yield pair

    def _decoded_pairs(self) -> Iterator[Pair]:
        prev, last, index = None, None, 0
        report = vio.DecodeReport()
        for frame in vio.read_frames(self.info, ignore_errors=self.job.options.ignore_errors, report=report):
            self.result.frames_skipped = report.skipped
            last = frame
            self.result.input_frames += 1
            if prev is not None and frame.time <= prev.time:
                raise InputError(f"{self.info.path.name}: frame {frame.index} is not later than the one before it")
            if prev is not None and self.dedupe and self.scenes.duplicate(prev, frame):
                self.result.duplicates_dropped += 1
                continue
            if prev is None:
                self.start, self.first_frame = frame.time, frame
            else:
                yield Pair(index, prev, frame, frame.time)
                index += 1
            prev = frame
        self.result.frames_skipped = report.skipped
        if prev is None:
            raise InputError(f"{self.info.path} has no decodable video frames")
        wrap = self.first_frame if self.job.options.loop and self.first_frame is not prev else None  # last -> first
        yield Pair(index, prev, wrap, end_time(last, self.info.rate))

    def _seek_pairs(self) -> Iterator[Pair] | None:
        """Without dedupe, pair k is input frames (k, k + 1): decode from the keyframe before the range's first
        frame instead of from the start. None when that cannot be done exactly (then everything is decoded).

        The last range always reads the whole stream (decoding costs little beside the model): that read is the
        one that checks the file as `filmnet video` does (frames lost mid-stream, an end before the header's), so
        a damaged file fails in a batch exactly as it does alone."""
        first = self.span.first * self.seg_len
        if self.dedupe or first == 0 or self.info.is_folder or self.span.stop is None or \
                self.job.options.ignore_errors:  # held frames need the stream from its start
            return None
        table = self.span.table or vio.keyframe_table(self.info)
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

    def _pairs_from(self, prev: vio.DecodedFrame, frames: Iterator[vio.DecodedFrame]) -> Iterator[Pair]:
        self.result.input_frames = prev.index + 1
        for frame in frames:
            self.result.input_frames = frame.index + 1
            if frame.time <= prev.time:
                raise InputError(f"{self.info.path.name}: frame {frame.index} is not later than the one before it")
            yield Pair(prev.index, prev, frame, frame.time)
            prev = frame
        yield Pair(prev.index, prev, None, end_time(prev, self.info.rate))

    def render(self, pair: Pair, frames) -> Iterator[np.ndarray]:
        """The output frames of one pair at the times of `frames` (held across a cut and after the last input)."""
        left = pair.left.image
        needs_model = pair.right is not None and any(f.t != 0 for f in frames)
        if needs_model and self.scenes.cut(pair.left, pair.right):
            self.result.scene_cuts += 1
            needs_model = False
        if not needs_model:
            self.encoded.clear()
            yield from (left for _ in frames)
            return
        right = pair.right.image
        s0 = self._prepare(pair.index, left)
        s1 = self._prepare(pair.index + 1, right)
        self.encoded = {pair.index + 1: s1}
        made = self.model.frames(s0, s1, [f.t for f in frames if f.t != 0], left)
        for f in frames:
            yield left if f.t == 0 else carry_alpha(next(made), left, right, f.t)

    def _prepare(self, index: int, image: np.ndarray):
        if index not in self.encoded:
            self.encoded[index] = self.model.prepare(image)
        return self.encoded[index]

    def _segment_writer(self, seg: int) -> vio.VideoEncoder | None:
        if not self.span.holds(seg):
            return None
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


def end_time(last: vio.DecodedFrame, rate: Fraction) -> Fraction:
    """End of the stream: the last frame's time plus its duration (else one nominal frame period)."""
    return last.time + (last.duration or 1 / rate)
