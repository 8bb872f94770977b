"""`filmnet export`: ONNX export."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import app, friendly_errors, model_options


@app.command()
@friendly_errors
@model_options("model", "weights")
def export(
    output: Path = typer.Option(..., "--onnx", help="Destination .onnx file."),
    opset: int = typer.Option(17, "--opset", min=16, help="ONNX opset (grid_sample needs >= 16)."),
    pad: bool = typer.Option(True, "--pad/--no-pad", help="Pad to a multiple of 64 inside the graph."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
    model_options=None,
) -> None:
    """Export the model to ONNX with dynamic batch, height and width (its own flows: DIS flows are not in the graph)."""
    from ..export import export_onnx
    from ..io.guard import check_new_output
    from ..weights import load_model
    from ..weights.hub import resolve_weights

    source = resolve_weights(model_options.weights_arg())  # a path: load_model takes paths only
    check_new_output(output, [source if isinstance(source, (str, Path)) else None], force=force)
    film = load_model(source)
    typer.echo(f"wrote {export_onnx(film, output, opset=opset, pad=pad)}")
