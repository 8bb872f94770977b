"""`filmnet export`: ONNX export."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, friendly_errors


@app.command()
@friendly_errors
def export(
    output: Path = typer.Option(..., "--onnx", help="Destination .onnx file."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights (default: bundled)."),
    opset: int = typer.Option(17, "--opset", min=16, help="ONNX opset (grid_sample needs >= 16)."),
    pad: bool = typer.Option(True, "--pad/--no-pad", help="Pad to a multiple of 64 inside the graph."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Export the model to ONNX with dynamic batch, height and width (its own flows: DIS flows are not in the graph)."""
    from ..export import export_onnx
    from ..io.guard import check_new_output
    from ..weights import load_model

    check_new_output(output, [weights], force=force)
    model = load_model(weights)
    typer.echo(f"wrote {export_onnx(model, output, opset=opset, pad=pad)}")
