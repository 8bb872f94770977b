"""What every command shares: the Typer app, option enums and help texts, and the one-line error handling."""
from __future__ import annotations

import functools
from enum import Enum
from pathlib import Path
from typing import Callable, Optional

import typer

from ..errors import FilmError

app = typer.Typer(
    name="filmnet", help="FILM frame interpolation in PyTorch.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
)


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Flow(str, Enum):
    auto = "auto"
    model = "model"
    dis = "dis"
    hybrid = "hybrid"


FLOW_HELP = ("Flow source: model (FILM's estimator), dis (OpenCV DIS into FILM's fusion), hybrid (DIS, or FILM's "
             "flows for large motion where they align better), auto (what the weights ask for; the model's own "
             "flows when OpenCV is missing). dis and hybrid need OpenCV: pip install \"filmnet[dis]\".")
WARP_MIX_HELP = ("On pairs fused on DIS flows with under 8 px of motion, move the output this share (0-1) towards "
                 "the time-weighted average of the two warped inputs. Default: what the weights ask for, else 0.")


MODEL_HELP = ("Named model (see `filmnet models`), fetched and cached on first use. Default: film_net if cached or "
              "fetchable, else the bundled film_lite.")
WEIGHTS_HELP = "Weights file or folder (instead of --model)."


def model_option(help: str = MODEL_HELP):
    """--model NAME, shared by every command that runs a model (a list annotation makes it repeatable)."""
    return typer.Option(None, "--model", help=help, show_default=False)


def weights_option(help: str = WEIGHTS_HELP):
    return typer.Option(None, "--weights", help=help, show_default=False)


def choose_weights(model: Optional[str], weights: Optional[Path]):
    """The weights argument for the API: --model NAME's file, --weights PATH, or None (the default model)."""
    if model is not None and weights is not None:
        fail("give --model NAME or --weights PATH, not both")
    if model is not None:
        from ..weights.hub import model_path

        return model_path(model)
    return weights


def mix_note(interpolator) -> str:
    return f", warp mix {interpolator.warp_mix:g}" if interpolator.warp_mix else ""  # only DIS sources mix


def one_line(text: str) -> str:
    return " ".join(str(text).split())


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
        fail(f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}")
    if isinstance(err, ImportError):  # an optional extra that is not installed
        module = (err.name or "").split(".")[0]
        extra = {"onnx": "onnx", "onnxruntime": "onnx", "yaml": "train", "scipy": "train", "cv2": "dis"}.get(module)
        package = err.name or "the missing package"
        hint = f'pip install "filmnet[{extra}]"' if extra else f"pip install {package}"
        fail(f"{err.name or 'a required package'} is not installed ({hint})")


def tiling_options(max_memory: str, tile: Optional[str] = None, overlap: Optional[int] = None):
    """The `TilingOptions` of --max-memory, --tile HxW and --tile-overlap, bounded (`filmnet.bounds`)."""
    from ..inference.memory import TilingOptions

    return TilingOptions.from_text(max_memory, tile, overlap)


_VIDEO_FLAGS = {  # flag: (default, typer.Option keywords); `filmnet video` and `filmnet batch` declare them alike
    "multi": (None, dict(callback="video_multi", help="N x the frames at N x the fps.")),
    "exp": (None, dict(callback="video_exp", help="N = 2^T.")),
    "fps": (None, dict(help="Exact target rate, e.g. 60 or 60000/1001.")),
    "slowmo": (None, dict(callback="slowmo", help="Same fps, N x the duration.")),
    "scene-threshold": (None, dict(min=0.0, max=2.0, help="Scene-cut score above which frames are held, not blended.")),
    "dedupe": (False, dict(help="Drop exact or near-duplicate input frames first.")),
    "codec": (None, dict(help="Encoder, e.g. libx264, libx265, libvpx-vp9.")),
    "crf": (None, dict(callback="crf", help="Quality (lower is better).")),
    "pix-fmt": (None, dict(help="Output pixel format, e.g. yuv420p, yuv444p, yuv420p10le.")),
    "keep-audio": (False, dict(help="With --slowmo: stretch the audio instead of dropping it.")),
    "tile-overlap": (None, dict(callback="tile_overlap", help="Unused: tiles are exact (kept for compatibility).")),
}


def video_option(flag: str):
    """The `--FLAG` option of video retiming, as `filmnet video` and `filmnet batch` both declare it (bounded ones
    check `filmnet.bounds`)."""
    from ..bounds import option as bounded

    default, keywords = _VIDEO_FLAGS[flag]
    if "callback" in keywords:
        keywords = dict(keywords, callback=bounded(keywords["callback"]))
    return typer.Option(default, f"--{flag}", **keywords)
