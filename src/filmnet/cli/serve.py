"""`filmnet serve`: the web page (Gradio; `pip install "filmnet[ui]"`)."""
from __future__ import annotations

import importlib.util
from typing import Optional

import typer

from .common import app, fail, friendly_errors, model_options


@app.command()
@friendly_errors
@model_options("model", "weights", "precision", "device", model=dict(help="Default model name (the page lists the others)."),
               weights=dict(help="Serve this weights file as the default model."))
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; 0.0.0.0 opens the page to your network."),
    port: int = typer.Option(7860, "--port", min=1, max=65535, help="Port to listen on."),
    max_file_size: int = typer.Option(200, "--max-file-size", min=1, help="Upload limit in MB."),
    queue_size: int = typer.Option(8, "--queue-size", min=1, help="Requests that may wait; more are refused."),
    root_path: Optional[str] = typer.Option(None, "--root-path",
                                            help="URL prefix when served behind a reverse proxy, e.g. /filmnet."),
    model_options=None,
) -> None:
    """Start the web page: photos to slow motion, video retiming, and endpoints for scripts.

    The model menu's default is --weights, else --model, else film_net when it is already cached, else the bundled
    film_lite: nothing is downloaded at start-up. A model picked on the page that is not cached downloads then.
    """
    if importlib.util.find_spec("gradio") is None:  # not imported here: launch() sets its temp folder first
        fail('the web page needs Gradio: pip install "filmnet[ui]"')
    from ..ui.app import ServeConfig, launch

    m = model_options
    config = ServeConfig(host=host, port=port, model=m.model, weights=m.weights, device=m.device, precision=m.precision, max_file_size_mb=max_file_size,
                         queue_size=queue_size, root_path=root_path)
    launch(config, block=True, announce=lambda url: typer.echo(f"filmnet serve: open {url} (Ctrl-C stops)"))
