"""What every command shares: the Typer app, option enums and help texts, and the one-line error handling."""
from __future__ import annotations

import functools
import inspect
import typing
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer

from ..errors import FilmError, error_line, one_line
from ..model_options import FLOWS, MODEL_HELP, PADDINGS, PRECISIONS, ModelOptions, fields_of

app = typer.Typer(
    name="filmnet", help="FILM frame interpolation in PyTorch.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
)


Precision = Enum("Precision", {name: name for name in PRECISIONS}, type=str)
Flow = Enum("Flow", {name: name for name in FLOWS}, type=str)
Padding = Enum("Padding", {name: name for name in PADDINGS}, type=str)
WEIGHTS_HELP = fields_of()["weights"].metadata["help"]


def model_option(help: str = MODEL_HELP):
    """--model NAME, for a command that declares it itself (eval: repeatable)."""
    return typer.Option(None, "--model", help=help, show_default=False)


def weights_option(help: str = WEIGHTS_HELP):
    return typer.Option(None, "--weights", help=help, show_default=False)


def model_flag(name: str, **change):
    """(type, typer.Option) of the `ModelOptions` field `name`, as every command declares it; `change`: another
    default or help text."""
    from ..bounds import limits, option as bounded

    meta = fields_of()[name].metadata
    default = change.pop("default", fields_of()[name].default)
    keywords = dict(help=meta["help"], show_default=default is not None and name not in ("model", "weights"))
    if "limits" in meta:
        keywords.update(limits(meta["limits"]))
    if "bound" in meta:
        keywords["callback"] = bounded(meta["bound"])
    keywords.update(change)
    kind = {"path": Path}.get(meta["kind"], meta["kind"])
    if "choices" in meta:
        kind = {"precision": Precision, "flow": Flow, "padding": Padding}[name]
        default = kind(default)
    return Optional[kind], typer.Option(default, f"--{name.replace('_', '-')}", **keywords)


def model_options(*names: str, **changes: dict) -> Callable:
    """Declare the `ModelOptions` fields `names` (default: all) as flags of a command and hand the command one
    checked `ModelOptions` as its `model_options` parameter (its errors are one line, via `friendly_errors`).
    `changes[name]`: another default or help text for that flag in this command."""
    names = names or tuple(fields_of())

    def declare(command: Callable) -> Callable:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command)
        params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
                  if p.name != "model_options"]
        flags = {name: model_flag(name, **changes.get(name, {})) for name in names}
        params += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                   for name, (kind, option) in flags.items()]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            given = {k: (v.value if isinstance(v, Enum) else v) for k, v in given.items()}
            if given.get("weights") is not None:
                given["weights"] = str(given["weights"])
            return command(*args, model_options=ModelOptions(**given).checked(), **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer reads the flags from __signature__
        return wrapper

    return declare


def mix_note(interpolator) -> str:
    return f", warp mix {interpolator.warp_mix:g}" if interpolator.warp_mix else ""  # only DIS sources mix


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors (also FILMNET_DEBUG=1)."),
) -> None:
    """FILM frame interpolation in PyTorch."""
    from .crash import set_debug

    set_debug(debug)


def friendly_errors(command: Callable) -> Callable:
    """Turn every error into a one-line message and exit code 1 (no traceback; `--debug` shows it).

    Errors filmnet does not expect also write their traceback to a log file whose path the message names.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from .crash import debug_enabled, describe_unexpected, print_traceback

        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if debug_enabled():
                print_traceback(err)
            if isinstance(err, (FilmError, OSError, ImportError)):
                _expected(err)
            fail(describe_unexpected(err))

    return wrapper


def _expected(err: Exception) -> None:
    """One line for filmnet's own errors, file-system errors and missing optional packages."""
    if isinstance(err, FilmError):
        fail(str(err))
    if isinstance(err, OSError):
        fail(error_line(err) if err.strerror else f"{err}{f': {err.filename}' if err.filename else ''}")
    if isinstance(err, ImportError):  # an optional extra that is not installed
        module = (err.name or "").split(".")[0]
        extra = {"onnx": "onnx", "onnxruntime": "onnx", "yaml": "train", "scipy": "train", "cv2": "dis"}.get(module)
        package = err.name or "the missing package"
        hint = f'pip install "filmnet[{extra}]"' if extra else f"pip install {package}"
        fail(f"{err.name or 'a required package'} is not installed ({hint})")


_VIDEO_FLAGS = {  # flag: (default, typer.Option keywords); `filmnet video` and `filmnet batch` declare them alike
    "multi": (None, dict(callback="video_multi", help="N x the frames at N x the fps.")),
    "exp": (None, dict(callback="video_exp", help="N = 2^T.")),
    "fps": (None, dict(help="Exact target rate, e.g. 60 or 60000/1001.")),
    "slowmo": (None, dict(callback="slowmo", help="Same fps, N x the duration.")),
    "scene-threshold": (None, dict(limits="scene_threshold", help="Scene-cut score above which frames are held, not "
                                   "blended.")),
    "dedupe": (False, dict(help="Drop exact or near-duplicate input frames first.")),
    "codec": (None, dict(help="Encoder, e.g. libx264, libx265, libvpx-vp9.")),
    "crf": (None, dict(callback="crf", help="Quality (lower is better).")),
    "pix-fmt": (None, dict(help="Output pixel format, e.g. yuv420p, yuv444p, yuv420p10le.")),
    "keep-audio": (False, dict(help="With --slowmo: stretch the audio instead of dropping it.")),
    "loop": (False, dict(help="Seamless loop: interpolate the last frame into the first in its slot (same frame "
                              "count and duration; audio unchanged). video only: batch refuses it.")),
}


def video_option(flag: str):
    """The `--FLAG` option of video retiming, as `filmnet video` and `filmnet batch` both declare it (bounded ones
    check `filmnet.bounds`)."""
    from ..bounds import limits, option as bounded

    default, keywords = _VIDEO_FLAGS[flag]
    if "limits" in keywords:
        keywords = dict({k: v for k, v in keywords.items() if k != "limits"}, **limits(keywords["limits"]))
    if "callback" in keywords:
        keywords = dict(keywords, callback=bounded(keywords["callback"]))
    return typer.Option(default, f"--{flag}", **keywords)
