"""`filmnet models`: list, pull, locate and remove the named pretrained models."""
from __future__ import annotations

from urllib.parse import urlsplit

import typer

from .common import app, friendly_errors

models_app = typer.Typer(name="models", help="Named pretrained models: list, pull, path, rm.",
                         invoke_without_command=True, no_args_is_help=False)
app.add_typer(models_app, name="models")


@models_app.callback()
@friendly_errors
def models(ctx: typer.Context) -> None:
    """List the named models (or run a subcommand: pull, path, rm)."""
    if ctx.invoked_subcommand is None:
        list_models()


@models_app.command("list")
@friendly_errors
def list_models() -> None:
    """Print every model: name, size, cached, source, license, sha256 (when known)."""
    from ..weights import hub

    rows = [("name", "size", "cached", "source", "license", "sha256")]
    for entry in hub.MODELS.values():
        cached = hub.cached_file(entry.name)
        if entry.bundled:
            size = hub.bundled_path(entry).stat().st_size
            rows.append((entry.name, _mb(size), "bundled", "filmnet package", entry.license,
                         hub.sha256_file(hub.bundled_path(entry))))
        elif cached is not None:
            rows.append((entry.name, _mb(cached.path.stat().st_size), "yes", _short_url(cached.record.get("url", "")),
                         entry.license, cached.sha256))
        else:
            rows.append((entry.name, f"~{_mb(entry.size)}", "no", _short_url(entry.sources[0].url), entry.license,
                         entry.sha256 or "recorded on first download"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    typer.echo(f"\ncache: {hub.cache_dir()}" + ("  (FILMNET_OFFLINE=1: no downloads)" if hub.offline() else ""))
    for entry in hub.MODELS.values():
        if entry.sources:
            typer.echo(f"{entry.name} sources, tried in order: "
                       + ", ".join(f"{u} ({_pin(s)})" for s, u in hub.source_urls(entry)))


@models_app.command("pull")
@friendly_errors
def pull(name: str = typer.Argument(..., help="Model name, e.g. film_net."),
         force: bool = typer.Option(False, "--force", help="Download again even if cached.")) -> None:
    """Download a model into the cache (verified; resumes an interrupted download of the same file) and print its
    path."""
    from ..weights import hub

    try:
        path = hub.pull(name, force=force)
    except KeyboardInterrupt:
        typer.echo("interrupted: the partial download is kept; the next pull resumes it if the server shows the file "
                   "is unchanged (else it starts over)", err=True)
        raise
    record = hub.cached_file(name)
    typer.echo(f"{hub.resolve_name(name).name}: {path}" + (f" (sha256 {record.sha256})" if record else ""))


@models_app.command("path")
@friendly_errors
def path(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Print the local file of a model (bundled or cached, sha256 verified); an error if it is not downloaded."""
    from ..weights import hub

    typer.echo(str(hub.model_path(name, download=False)))


@models_app.command("rm")
@friendly_errors
def rm(name: str = typer.Argument(..., help="Model name.")) -> None:
    """Remove a downloaded model (and any partial download) from the cache."""
    from ..weights import hub

    removed = hub.remove(name)
    if not removed:
        typer.echo(f"{hub.resolve_name(name).name} is not in the cache ({hub.cache_dir()})")
    for p in removed:
        typer.echo(f"removed {p}")


def _pin(source) -> str:
    if source.pinned:
        return f"pinned: {source.size} bytes, sha256 {source.sha256}"
    return "not pinned: size and official tensor shapes checked, sha256 recorded on download"


def _mb(n) -> str:
    return "?" if not n else f"{n / 1e6:.1f} MB"


def _short_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    return f"{parts.netloc}/.../{name}" if parts.netloc else url
