"""`filmnet video`: video retiming."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, fail, friendly_errors, model_options, video_option


@app.command()
@friendly_errors
@model_options()
def video(
    src: Path = typer.Argument(..., help="Input video, or a folder of PNG/JPEG/TIFF frames."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output video, .gif, or a folder (default: {stem}_{N}X_{fps}fps.{ext})."),
    multi: Optional[int] = video_option("multi"),
    exp: Optional[int] = video_option("exp"),
    fps: Optional[str] = video_option("fps"),
    slowmo: Optional[int] = video_option("slowmo"),
    scene_threshold: Optional[float] = video_option("scene-threshold"),
    dedupe: bool = video_option("dedupe"),
    codec: Optional[str] = video_option("codec"),
    crf: Optional[int] = video_option("crf"),
    pix_fmt: Optional[str] = video_option("pix-fmt"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted job, reusing finished segments."),
    keep_audio: bool = video_option("keep-audio"),
    in_fps: Optional[str] = typer.Option(None, "--in-fps", help="Frame rate of a frame-folder input (default 25)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    ignore_errors: bool = typer.Option(False, "--ignore-errors",
                                       help="Hold the previous frame in place of damaged input frames (counted)."),
    loop: bool = video_option("loop"),
    model_options=None,
) -> None:
    """Raise a video's frame rate or slow it down: give exactly one of --multi/--exp/--fps/--slowmo."""
    from ..inference.options import EncodeOptions, RetimeOptions
    from ..inference.video import check_retime, render_job

    if sum(v is not None for v in (multi, exp, fps, slowmo)) != 1:
        fail("give exactly one of --multi N, --exp T, --fps F or --slowmo N")
    options = RetimeOptions(multi=multi, exp=exp, fps=fps, slowmo=slowmo, in_fps=in_fps, scene_threshold=scene_threshold,
                            dedupe=dedupe, resume=resume, force=force, keep_audio=keep_audio,
                            ignore_errors=ignore_errors, loop=loop)
    encode = EncodeOptions(codec=codec, crf=crf, pix_fmt=pix_fmt)
    job = check_retime(src, output, options, encode)  # planned once, before a model loads
    result = render_job(job, interpolator=model_options.interpolator(), progress=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {result.output_frames} frames at {result.output_rate} fps to {result.output}")
