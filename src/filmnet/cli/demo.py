"""`filmnet demo`: a synthetic scene to slow motion."""
from __future__ import annotations

from pathlib import Path

import typer

from ..bounds import option as bounded
from .common import app, friendly_errors, model_options


@app.command()
@friendly_errors
@model_options("model", "weights", "precision", "flow", "warp_mix", "pyramid_levels", "padding")
def demo(
    output: Path = typer.Option(Path("filmnet_demo"), "-o", "--output", help="Folder for the demo files (made if missing; a demo folder from an earlier run is overwritten)."),
    exp: int = typer.Option(4, "--exp", callback=bounded("demo_exp"), help="2^T-1 new frames between the two renders."),
    fps: str = typer.Option("30", "--fps", help="Frame rate of the mp4 and gif, e.g. 30 or 30000/1001 (at most 1000)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files of the demo's names in a folder that is not a demo folder."),
    model_options=None,
) -> None:
    """Interpolate a synthetic (procedurally rendered) scene into a slow-motion mp4 and gif."""
    from ..demo import run_demo
    from ..io.guard import refuse_input_overwrite
    from ..io.media import parse_fps

    refuse_input_overwrite(output, [model_options.weights], what="demo folder")
    parse_fps(fps)

    interpolator = model_options.interpolator()
    result = run_demo(output, interpolator, exp=exp, fps=fps, overwrite=force)
    for path in result.videos:
        typer.echo(f"wrote {path}")
    typer.echo(f"middle frame vs the scene rendered at t = 0.5: {result.middle_psnr:.2f} dB PSNR "
               f"(averaging the two inputs: {result.blend_psnr:.2f} dB)")
