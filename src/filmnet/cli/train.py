"""`filmnet train`: training."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..bounds import option as bounded
from .common import Precision, app, friendly_errors


@app.command()
@friendly_errors
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML training config; flags override it."),
    model: Optional[str] = typer.Option(None, "--model", help="Architecture to train (a config name, e.g. film_net or film_lite; training starts from scratch unless --init-weights)."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Training source folder or video (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", callback=bounded("steps")),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", callback=bounded("batch_size"), help="Global batch (split over ranks)."),
    crop: Optional[int] = typer.Option(None, "--crop", callback=bounded("crop")),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (model.safetensors, checkpoints, logs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's latest checkpoint."),
    loss: Optional[str] = typer.Option(None, "--loss", help="L1, VGG or Style."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="Local VGG-19 weights (.pth or .mat)."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="Training precision."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    init_weights: Optional[Path] = typer.Option(None, "--init-weights", help="Start from these weights."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", min=0.0,
                                               help="Stop (saving weights and a checkpoint) after this many minutes."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier run in the --out folder (not with --resume)."),
) -> None:
    """Train FILM (one CPU, one GPU, or many with torchrun)."""
    from ..train.trainer import train_from_cli

    run = train_from_cli(
        config, model=model, data=[str(d) for d in data] if data else None, steps=steps, batch_size=batch_size,
        crop=crop, out=str(out) if out else None, resume=True if resume else None, loss=loss,
        vgg_weights=str(vgg_weights) if vgg_weights else None, precision=precision.value if precision else None,
        device=device, init_weights=str(init_weights) if init_weights else None, time_limit_minutes=time_limit,
        force=force,
    )
    typer.echo(f"latest weights: {Path(run) / 'model.safetensors'}")
