"""`filmnet batch`: many videos (or long ones) on local worker processes or a Ray cluster."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import app, fail, friendly_errors, model_options, video_option


@app.command()
@friendly_errors
@model_options(device=dict(default=None, help="cpu, cuda or cuda:N (default: cpu locally; on Ray, the GPUs when "
                                                  "the cluster has any)."))
def batch(
    inputs: List[str] = typer.Argument(..., help="Video files, folders (searched recursively), glob patterns, or "
                                                 "a .csv/.jsonl manifest with per-file options."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder (names as filmnet video gives them)."),
    multi: Optional[int] = video_option("multi"),
    exp: Optional[int] = video_option("exp"),
    fps: Optional[str] = video_option("fps"),
    slowmo: Optional[int] = video_option("slowmo"),
    scene_threshold: Optional[float] = video_option("scene-threshold"),
    dedupe: bool = video_option("dedupe"),
    codec: Optional[str] = video_option("codec"),
    crf: Optional[int] = video_option("crf"),
    pix_fmt: Optional[str] = video_option("pix-fmt"),
    keep_audio: bool = video_option("keep-audio"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Run on this Ray cluster (default: "
                                              "$RAY_ADDRESS; neither set: local worker processes)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Local worker processes (default 1; 0: "
                                          "in this process); on "
                                          "Ray, at most this many model actors (default: one per GPU or per "
                                          "--cpus-per-worker)."),
    cpus_per_worker: float = typer.Option(1.0, "--cpus-per-worker", min=0.01, help="CPUs per model actor on Ray."),
    gpus_per_worker: float = typer.Option(1.0, "--gpus-per-worker", min=0.01, max=1.0,
                                          help="GPUs per model actor on Ray (e.g. 0.5: two per GPU)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch threads per worker (default: "
                                          "$OMP_NUM_THREADS, else CPUs / workers; on Ray --cpus-per-worker)."),
    range_frames: int = typer.Option(1024, "--range-frames", min=0, help="Split files longer than this many input "
                                     "frames into ranges rendered in parallel (0: never split)."),
    segment_frames: int = typer.Option(64, "--segment-frames", min=1, help="Input frames per resumable segment."),
    retries: int = typer.Option(3, "--retries", min=0, help="Retries of a unit whose worker died."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a JSON report (one entry per file)."),
    force: bool = typer.Option(False, "--force", help="Replace existing outputs not written by this batch."),
    ignore_errors: bool = typer.Option(False, "--ignore-errors",
                                       help="Hold the previous frame in place of damaged input frames (counted)."),
    loop: bool = video_option("loop"),
    model_options=None,
) -> None:
    """Retime many videos (or long ones in parallel ranges), locally or on a Ray cluster; reruns skip finished
    files and resume partial ones."""
    from ..batch import run_batch

    if loop:  # hook (loops): ranges cannot reach a clip's first frame
        fail("--loop is not supported by batch (its ranges cannot reach a clip's first frame); "
             "use filmnet video --loop per file")
    timing = [v for v in (multi, exp, fps, slowmo) if v is not None]
    if len(timing) > 1:
        fail("give at most one of --multi N, --exp T, --fps F or --slowmo N")
    if not timing and not any(Path(i).suffix.lower() in (".csv", ".jsonl") for i in inputs):
        fail("give one of --multi N, --exp T, --fps F or --slowmo N (or per file, in a manifest)")
    options = dict(multi=multi, exp=exp, fps=fps, slowmo=slowmo, scene_threshold=scene_threshold, dedupe=dedupe,
                   codec=codec, crf=crf, pix_fmt=pix_fmt, keep_audio=keep_audio, ignore_errors=ignore_errors)
    # checked (bad --tile etc.) before any worker starts; the weights file is resolved once, for every worker
    result = run_batch(inputs, output, options=options, model=model_options.pinned(), address=ray_address, workers=workers,
                       threads=threads, cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                       range_frames=range_frames, segment_frames=segment_frames, force=force, report=report,
                       retries=retries)
    typer.echo(f"{result.count('done')} done, {result.count('skipped')} skipped (already finished), "
               f"{result.count('failed')} failed, in {result.seconds:.1f} s"
               + (f"; report: {result.report}" if result.report else ""))
    if not result.ok:
        raise typer.Exit(1)
