"""`filmnet convert`: any supported weights to filmnet safetensors."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import app, friendly_errors


@app.command()
@friendly_errors
def convert(
    src: Path = typer.Argument(..., help="Weights in any supported format (SavedModel, TorchScript, safetensors)."),
    output: Path = typer.Option(..., "-o", "--output", help="Destination .safetensors file."),
    config: Optional[str] = typer.Option(None, "--config", help="Config name (default: inferred from weights)."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check stored tensor checksums."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Convert weights to filmnet's native safetensors."""
    from ..weights import convert as convert_weights

    dst = convert_weights(src, output, config=config, verify_checksums=verify, overwrite=force)
    typer.echo(f"wrote {dst}")
