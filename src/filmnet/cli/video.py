"""`filmnet video`: video retiming."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import FLOW_HELP, WARP_MIX_HELP, Flow, Precision, fail, app, tiling_options, friendly_errors
from .common import choose_weights, model_option, video_option, weights_option


@app.command()
@friendly_errors
def video(
    src: Path = typer.Argument(..., help="Input video, or a folder of PNG/JPEG/TIFF frames."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output video, .gif, or a folder (default: {stem}_{N}X_{fps}fps.{ext})."),
    multi: Optional[int] = video_option("multi"),
    exp: Optional[int] = video_option("exp"),
    fps: Optional[str] = video_option("fps"),
    slowmo: Optional[int] = video_option("slowmo"),
    model: Optional[str] = model_option(),
    weights: Optional[Path] = weights_option(),
    scene_threshold: Optional[float] = video_option("scene-threshold"),
    dedupe: bool = video_option("dedupe"),
    codec: Optional[str] = video_option("codec"),
    crf: Optional[int] = video_option("crf"),
    pix_fmt: Optional[str] = video_option("pix-fmt"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted job, reusing finished segments."),
    keep_audio: bool = video_option("keep-audio"),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    in_fps: Optional[str] = typer.Option(None, "--in-fps", help="Frame rate of a frame-folder input (default 25)."),
    max_memory: str = typer.Option("auto", "--max-memory", help="Memory budget for tiling, e.g. 8GB, or auto."),
    tile: Optional[str] = typer.Option(None, "--tile", help="Force tiles of HxW pixels (multiples of 64)."),
    tile_overlap: Optional[int] = video_option("tile-overlap"),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    ignore_errors: bool = typer.Option(False, "--ignore-errors",
                                       help="Hold the previous frame in place of damaged input frames (counted)."),
    loop: bool = video_option("loop"),
) -> None:
    """Raise a video's frame rate or slow it down: give exactly one of --multi/--exp/--fps/--slowmo."""
    from ..inference import Interpolator
    from ..inference.options import EncodeOptions, RetimeOptions
    from ..inference.video import check_retime, retime

    if sum(v is not None for v in (multi, exp, fps, slowmo)) != 1:
        fail("give exactly one of --multi N, --exp T, --fps F or --slowmo N")
    options = RetimeOptions(multi=multi, exp=exp, fps=fps, slowmo=slowmo, in_fps=in_fps, scene_threshold=scene_threshold,
                            dedupe=dedupe, resume=resume, force=force, keep_audio=keep_audio,
                            ignore_errors=ignore_errors, loop=loop)
    encode = EncodeOptions(codec=codec, crf=crf, pix_fmt=pix_fmt)
    check_retime(src, output, options, encode)  # bad options fail before a model loads
    interpolator = Interpolator(choose_weights(model, weights), device=device, precision=precision.value, flow=flow.value,
                                warp_mix=warp_mix, tiling=tiling_options(max_memory, tile, tile_overlap))
    result = retime(src, output, interpolator=interpolator, options=options, encode=encode, progress=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {result.output_frames} frames at {result.output_rate} fps to {result.output}")
