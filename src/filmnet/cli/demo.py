"""`filmnet demo`: a synthetic scene to slow motion."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..bounds import option as bounded
from .common import FLOW_HELP, WARP_MIX_HELP, Flow, Precision, app, friendly_errors
from .common import choose_weights, model_option, weights_option
from .common import Padding, padding_option, pyramid_levels_option


@app.command()
@friendly_errors
def demo(
    output: Path = typer.Option(Path("filmnet_demo"), "-o", "--output", help="Folder for the demo files (made if missing; a demo folder from an earlier run is overwritten)."),
    exp: int = typer.Option(4, "--exp", callback=bounded("demo_exp"), help="2^T-1 new frames between the two renders."),
    fps: float = typer.Option(30.0, "--fps", help="Frame rate of the mp4 and gif (at most 1000)."),
    model: Optional[str] = model_option(),
    weights: Optional[Path] = weights_option(),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite files of the demo's names in a folder that is not a demo folder."),
    pyramid_levels: str = pyramid_levels_option(),
    padding: Padding = padding_option(),
) -> None:
    """Interpolate a synthetic (procedurally rendered) scene into a slow-motion mp4 and gif."""
    from ..demo import run_demo
    from ..inference import Interpolator
    from ..io.guard import refuse_input_overwrite
    from ..io.media import parse_fps

    refuse_input_overwrite(output, [weights], what="demo folder")
    parse_fps(fps)

    interpolator = Interpolator(choose_weights(model, weights), precision=precision.value, flow=flow.value, warp_mix=warp_mix,
                                pyramid_levels=pyramid_levels, padding=padding.value)
    result = run_demo(output, interpolator, exp=exp, fps=fps, overwrite=force)
    for path in result.videos:
        typer.echo(f"wrote {path}")
    typer.echo(f"middle frame vs the scene rendered at t = 0.5: {result.middle_psnr:.2f} dB PSNR "
               f"(averaging the two inputs: {result.blend_psnr:.2f} dB)")
