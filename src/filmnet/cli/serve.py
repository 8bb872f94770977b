"""`filmnet serve`: the web page (Gradio; `pip install "filmnet[ui]"`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

import typer

from .common import Precision, app, fail, friendly_errors


@app.command()
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 opens the page to your network."),
    port: int = typer.Option(7860, "--port", min=1, max=65535),
    model: Optional[str] = typer.Option(None, "--model", help="Default model name (the page lists the others)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Serve this weights file as the default model."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    max_file_size: int = typer.Option(200, "--max-file-size", min=1, help="Upload limit in MB."),
    queue_size: int = typer.Option(8, "--queue-size", min=1, help="Requests that may wait; more are refused."),
    root_path: Optional[str] = typer.Option(None, "--root-path",
                                            help="URL prefix when served behind a reverse proxy, e.g. /filmnet."),
) -> None:
    """Start the web page: photos to slow motion, video retiming, and endpoints for scripts."""
    if model is not None and weights is not None:
        fail("give --model NAME or --weights PATH, not both")
    if importlib.util.find_spec("gradio") is None:  # not imported here: launch() sets its temp folder first
        fail('the web page needs Gradio: pip install "filmnet[ui]"')
    from ..ui.app import ServeConfig, launch

    config = ServeConfig(host=host, port=port, model=model, weights=str(weights) if weights else None,
                         device=device, precision=precision.value, max_file_size_mb=max_file_size,
                         queue_size=queue_size, root_path=root_path)
    launch(config, block=True, announce=lambda url: typer.echo(f"filmnet serve: open {url} (Ctrl-C stops)"))
