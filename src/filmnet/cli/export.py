"""`filmnet export`: ONNX export."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, friendly_errors
from .common import choose_weights, model_option, weights_option


@app.command()
@friendly_errors
def export(
    output: Path = typer.Option(..., "--onnx", help="Destination .onnx file."),
    model: Optional[str] = model_option(),
    weights: Optional[Path] = weights_option(),
    opset: int = typer.Option(17, "--opset", min=16, help="ONNX opset (grid_sample needs >= 16)."),
    pad: bool = typer.Option(True, "--pad/--no-pad", help="Pad to a multiple of 64 inside the graph."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Export the model to ONNX with dynamic batch, height and width (its own flows: DIS flows are not in the graph)."""
    from ..export import export_onnx
    from ..io.guard import check_new_output
    from ..weights import load_model
    from ..weights.hub import resolve_weights

    source = resolve_weights(choose_weights(model, weights))
    check_new_output(output, [source if isinstance(source, (str, Path)) else None], force=force)
    film = load_model(source)
    typer.echo(f"wrote {export_onnx(film, output, opset=opset, pad=pad)}")
