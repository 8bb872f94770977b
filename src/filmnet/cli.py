"""The `filmnet` command line: parses arguments, calls the Python API and prints where results went.

Every refusal is one line on stderr (`error: ...`) and a non-zero exit, with no output written. Each command
is one small function registered on `app`; `main()` is the console-script entry point.
"""
from __future__ import annotations

import functools
import sys
from enum import Enum
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from typer.exceptions import TyperException

from .errors import FilmError

app = typer.Typer(
    name="filmnet", help="FILM frame interpolation in PyTorch.", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
)


class Precision(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


def friendly_errors(command: Callable) -> Callable:
    """Turn filmnet and file-system errors into a one-line message and exit code 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except FilmError as err:
            _fail(str(err))
        except OSError as err:
            _fail(f"{err.strerror or err}{f': {err.filename}' if err.filename else ''}")

    return wrapper


@app.command()
@friendly_errors
def interpolate(
    inputs: list[Path] = typer.Argument(..., help="Two or more frames, in time order.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4/.mkv/.mov, .gif, or a folder of PNGs."),
    exp: Optional[int] = typer.Option(None, "--exp", min=1, max=16,
                                      help="Recursive midpoints: 2^T-1 new frames per pair (official)."),
    multi: Optional[int] = typer.Option(None, "--multi", min=2, max=1024,
                                        help="N-1 new frames per pair at t=k/N."),
    fps: str = typer.Option("30", "--fps", help="Frame rate of video/GIF output, e.g. 30 or 30000/1001."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file or folder (default: bundled)."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    resize: bool = typer.Option(False, "--resize", help="Resize every frame to the first frame's size."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Make in-between frames for a sequence of images."""
    from .inference import Interpolator
    from .io import check_output, open_writer, parse_fps

    if len(inputs) < 2:
        _fail(f"need at least 2 input images, got {len(inputs)}")
    if (exp is None) == (multi is None):
        _fail("give exactly one of --exp T or --multi N")
    parse_fps(fps)
    check_output(output, overwrite=force, inputs=tuple(inputs))
    size = _check_sizes(inputs, resize)
    writer = open_writer(output, fps, overwrite=force)
    interpolator = Interpolator(weights, device=device, precision=precision.value)
    frames = interpolator.iter_sequence(_read_frames(inputs, size), exp=exp, multi=multi, progress=True,
                                         n_inputs=len(inputs))
    with writer:
        for frame in frames:
            writer.write(frame)
    typer.echo(f"wrote {writer.count} frames to {output} ({interpolator.precision} on {interpolator.device})")


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
    from .weights import convert as convert_weights

    dst = convert_weights(src, output, config=config, verify_checksums=verify, overwrite=force)
    typer.echo(f"wrote {dst}")


def _check_sizes(inputs: list[Path], resize: bool) -> tuple[int, int]:
    """Read every header up front so a size mismatch or unreadable file fails before any compute."""
    from .errors import InputError
    from .io import read_image_size

    sizes = [read_image_size(p) for p in inputs]
    for path, (h, w) in zip(inputs[1:], sizes[1:]):
        if (h, w) != sizes[0] and not resize:
            raise InputError(f"{path} is {w}x{h} but {inputs[0]} is {sizes[0][1]}x{sizes[0][0]} (WxH); "
                             "pass --resize to resize frames to the first one's size")
    return sizes[0]


def _read_frames(inputs: list[Path], size: tuple[int, int]) -> Iterator:
    from .io import read_image, resize_image

    for path in inputs:
        yield resize_image(read_image(path), size)


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point; returns the exit code."""
    try:
        code = app(args=argv, prog_name="filmnet", standalone_mode=False)
    except TyperException as err:  # usage errors: unknown option, bad number, missing argument
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        if type(err).__name__ == "NoArgsIsHelpError":  # bare `filmnet`: the message is the help text
            typer.echo(message, err=True)
        else:
            typer.echo(f"error: {_one_line(message)} (see --help)", err=True)
        return getattr(err, "exit_code", 2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
