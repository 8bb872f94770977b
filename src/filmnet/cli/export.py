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
    from ..errors import InputError
    from ..export import export_onnx
    from ..weights import load_model

    if output.exists() and not force:
        raise InputError(f"{output} exists; pass --force to overwrite it")
    film = load_model(choose_weights(model, weights))
    typer.echo(f"wrote {export_onnx(film, output, opset=opset, pad=pad)}")
