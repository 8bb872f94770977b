"""Video retiming (`filmnet video`): decode -> exact output times -> FILM at each t -> encode, streamed and resumable.

Three stages, each a module: plan (`retime_plan.check_retime` -> a `RetimeJob`, before any model loads), render
(`retime_render.Renderer`: lossless resumable segments in `.{name}.filmnet-work/`) and assemble
(`retime_assemble.assemble`: one encode with the audio, moved into place atomically). `retime` runs all three;
`render_job` runs a job already planned (the CLI plans it before loading the model). Only Ctrl-C or a kill keeps
the work folder for `resume=True`; other failures remove it.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable

from . import loops
from .interpolator import Interpolator
from .options import EncodeOptions, RetimeOptions, split_keywords
from .retime_assemble import assemble, segment_frames
from .retime_plan import (
    DEFAULT_FOLDER_FPS, VIDEO_SUFFIXES, RetimeJob, RetimeResult, check_output, check_retime, default_output,
    is_folder_output, job_key, probe_source,
)
from .retime_render import Renderer, frame_model, open_work

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FOLDER_FPS", "VIDEO_SUFFIXES", "RetimeJob", "RetimeResult", "check_output", "check_retime",
           "default_output", "is_folder_output", "probe_source", "render_job", "retime"]


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
    job = check_retime(src, dst, opts, encode)
    return render_job(job, interpolator=interpolator, progress=progress, on_progress=on_progress)


def render_job(job: RetimeJob, *, interpolator: Interpolator, progress: bool = False,
               on_progress: Callable[[int, int], None] | None = None) -> RetimeResult:
    """Render and assemble a job planned by `check_retime` (see `retime`)."""
    model = frame_model(job, interpolator)
    work, result = job.work, job.result()
    key = loops.job_key(job_key(job, interpolator, model.tiling), job.options.loop)
    done = open_work(work, key, job.options.resume, result.notes)
    result.segments_reused = len(done)
    renderer = Renderer(job, model, work, key, done, result)
    try:
        renderer.run(progress, on_progress)
        frames = segment_frames(work, renderer.done, job.info, renderer.segments)
        assemble(job, frames, start=renderer.start, planned=renderer.planned, result=result)
    except KeyboardInterrupt:  # Ctrl-C: keep the finished segments for --resume (as SIGKILL does)
        log.warning("interrupted: finished segments kept in %s; rerun with --resume to continue", work)
        raise
    except BaseException:  # a refusal or a failure: resuming would not help, so leave no stale work behind
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    if job.options.loop:  # one line on the wrap and the audio
        held = result.scene_cuts > renderer.wrap_cuts  # the wrap is the last pair: a cut counted since is its own
        result.notes.append(loops.wrap_note(renderer.wrap_frames, job.info.has_audio, held))
    if result.frames_skipped:
        result.notes.append(f"--ignore-errors: {result.frames_skipped} damaged or missing input frames skipped "
                            "(the previous frame held in their place)")
    for note in result.notes:
        log.warning(note)
    return result
