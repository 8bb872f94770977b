"""Retiming, stage 3: encode the finished segments of a `RetimeJob` into its output, atomically.

A video output is encoded in one pass with the audio (copied, re-encoded or stretched), colour tags and rotation
(`io.media.VideoEncoder`); a PNG-folder output goes through `io.media.FolderWriter`. Either is written under a
temporary name and renamed into place; the frame count is checked against the plan first.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import media as vio
from ..io.atomic import atomic_target
from .resume import Segment, segment_path
from .retime_plan import RetimeJob, RetimeResult, frame_format


def segment_frames(work: Path, done: dict[int, Segment], info: vio.VideoInfo,
                   count: int | None = None) -> Iterator[np.ndarray]:
    """The frames of the finished segments 0 .. count - 1 (default: up to the last one) in `work`, in order."""
    for seg in range(max(done, default=-1) + 1 if count is None else count):
        if seg in done and done[seg].frames:
            yield from vio.read_segment(segment_path(work, seg), info.depth, info.alpha)


def assemble(job: RetimeJob, frames: Iterable[np.ndarray], *, start: Fraction, planned: int,
             result: RetimeResult) -> None:
    """Encode `frames` (the rendered segments, in order) into `job.output` (a PNG folder when `job.encoding` is
    None), atomically; `start` is the first input frame's time and `planned` the frame count the plan makes."""
    frames = _checked_count(job, frames, planned, result)
    out = job.output
    if job.encoding is None:
        with vio.FolderWriter(out, overwrite=True) as writer:  # check_retime vetted an existing folder
            for image in frames:
                writer.write(image)
        if job.info.has_audio:
            result.notes.append("audio dropped: a PNG folder has no audio track")
        return
    # replace_folder: check_retime allowed it (--force and nothing but NNNNNN.png inside)
    with atomic_target(out, suffix=f".part{out.suffix}", replace_folder=True) as tmp:
        _encode_video(job, frames, tmp, start, result)


def _checked_count(job: RetimeJob, frames: Iterable[np.ndarray], planned: int,
                   result: RetimeResult) -> Iterator[np.ndarray]:
    """Pass frames through, counting them into the result; a count that differs from the plan is an error (raised
    before the output is moved into place)."""
    count = 0
    for image in frames:
        count += 1
        yield image
    result.output_frames = count
    if count != planned:
        raise InputError(f"{job.info.path.name}: the finished segments hold {count} frames but the plan has "
                         f"{planned}; nothing was written (run again without --resume)")


def _encode_video(job: RetimeJob, frames, tmp: Path, start: Fraction, result: RetimeResult) -> None:
    info, plan = job.info, job.plan
    writer = vio.VideoEncoder(tmp, frame_format(info), plan.output_rate, job.encoding, start=start * plan.stretch)
    audio_source = vio.open_input(info.path) if info.has_audio else contextlib.nullcontext()
    with audio_source as source, writer:
        _attach_audio(job, writer, source, result.notes)
        if any(writer.pad):
            result.notes.append(f"{info.width}x{info.height} padded to even size for {writer.stream.pix_fmt}")
        for image in frames:
            writer.write(image)


def _attach_audio(job: RetimeJob, writer: vio.VideoEncoder, source, notes: list[str]) -> None:
    stretch, suffix = job.plan.stretch, job.output.suffix.lower()
    if source is None or not source.streams.audio:
        return
    if suffix == ".gif":
        notes.append("audio dropped: GIF has no audio track")
        return
    if stretch != 1 and not job.options.keep_audio:
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
