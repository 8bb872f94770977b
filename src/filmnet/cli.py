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


class Flow(str, Enum):
    auto = "auto"
    model = "model"
    dis = "dis"
    hybrid = "hybrid"


FLOW_HELP = ("Flow source: model (FILM's estimator), dis (OpenCV DIS into FILM's fusion), hybrid (DIS, or FILM's "
             "flows for large motion where they align better), auto (what the weights ask for).")
WARP_MIX_HELP = ("On pairs fused on DIS flows with under 8 px of motion, move the output this share (0-1) towards "
                 "the time-weighted average of the two warped inputs. Default: what the weights ask for, else 0.")


def _mix_note(interpolator) -> str:
    mixed = interpolator.warp_mix and interpolator.flow != "model"
    return f", warp mix {interpolator.warp_mix:g}" if mixed else ""


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
        except ImportError as err:  # an optional extra that is not installed
            module = (err.name or "").split(".")[0]
            extra = {"onnx": "onnx", "onnxruntime": "onnx", "yaml": "train", "scipy": "train"}.get(module)
            package = {"cv2": "opencv-python-headless"}.get(module, err.name or "the missing package")
            hint = f'pip install "filmnet[{extra}]"' if extra else f"pip install {package}"
            _fail(f"{err.name or 'a required package'} is not installed ({hint})")

    return wrapper


@app.command()
@friendly_errors
def interpolate(
    inputs: list[Path] = typer.Argument(..., help="Two or more frames, in time order.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4/.m4v/.mkv/.mov/.webm, .gif, or a folder of PNGs."),
    exp: Optional[int] = typer.Option(None, "--exp", min=1, max=16,
                                      help="Recursive midpoints: 2^T-1 new frames per pair (official)."),
    multi: Optional[int] = typer.Option(None, "--multi", min=2, max=1024,
                                        help="N-1 new frames per pair at t=k/N."),
    fps: str = typer.Option("30", "--fps", help="Frame rate of video/GIF output, e.g. 30 or 30000/1001."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file or folder (default: bundled)."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    resize: bool = typer.Option(False, "--resize", help="Resize every frame to the first frame's size."),
    max_memory: str = typer.Option("auto", "--max-memory",
                                   help="Memory budget, e.g. 8GB; larger frames are tiled. auto: what is free; none: never tile."),
    tile: Optional[str] = typer.Option(None, "--tile", help="Force tiles of HxW pixels (multiples of 64), e.g. 512x512."),
    tile_overlap: Optional[int] = typer.Option(None, "--tile-overlap", min=0, help="Tile overlap in pixels (multiple of 64)."),
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
    interpolator = Interpolator(weights, device=device, precision=precision.value, flow=flow.value,
                                warp_mix=warp_mix, **_memory_options(max_memory, tile, tile_overlap))
    frames = interpolator.iter_sequence(_read_frames(inputs, size), exp=exp, multi=multi, progress=True,
                                         n_inputs=len(inputs))
    with writer:
        for frame in frames:
            writer.write(frame)
    typer.echo(f"wrote {writer.count} frames to {output} ({interpolator.precision} on {interpolator.device}, "
               f"{interpolator.flow} flows{_mix_note(interpolator)})")


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


@app.command()
@friendly_errors
def video(
    src: Path = typer.Argument(..., help="Input video, or a folder of PNG/JPEG/TIFF frames."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output video, .gif, or a folder (default: {stem}_{N}X_{fps}fps.{ext})."),
    multi: Optional[int] = typer.Option(None, "--multi", min=2, max=64, help="N x the frames at N x the fps."),
    exp: Optional[int] = typer.Option(None, "--exp", min=1, max=6, help="N = 2^T."),
    fps: Optional[str] = typer.Option(None, "--fps", help="Exact target rate, e.g. 60 or 60000/1001."),
    slowmo: Optional[int] = typer.Option(None, "--slowmo", min=2, max=64, help="Same fps, N x the duration."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file or folder (default: bundled)."),
    scene_threshold: Optional[float] = typer.Option(None, "--scene-threshold", min=0.0, max=2.0,
                                                    help="Scene-cut score above which frames are held, not blended."),
    dedupe: bool = typer.Option(False, "--dedupe", help="Drop exact or near-duplicate input frames first."),
    codec: Optional[str] = typer.Option(None, "--codec", help="Encoder, e.g. libx264, libx265, libvpx-vp9."),
    crf: Optional[int] = typer.Option(None, "--crf", min=0, max=63, help="Quality (lower is better)."),
    pix_fmt: Optional[str] = typer.Option(None, "--pix-fmt", help="Output pixel format, e.g. yuv420p, yuv444p, yuv420p10le."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted job, reusing finished segments."),
    keep_audio: bool = typer.Option(False, "--keep-audio", help="With --slowmo: stretch the audio instead of dropping it."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    in_fps: Optional[str] = typer.Option(None, "--in-fps", help="Frame rate of a frame-folder input (default 25)."),
    max_memory: str = typer.Option("auto", "--max-memory", help="Memory budget for tiling, e.g. 8GB, or auto."),
    tile: Optional[str] = typer.Option(None, "--tile", help="Force tiles of HxW pixels (multiples of 64)."),
    tile_overlap: Optional[int] = typer.Option(None, "--tile-overlap", min=0, help="Tile overlap in pixels."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Raise a video's frame rate or slow it down."""
    from .inference import Interpolator
    from .inference.video import retime

    if sum(v is not None for v in (multi, exp, fps, slowmo)) != 1:
        _fail("give exactly one of --multi N, --exp T, --fps F or --slowmo N")
    interpolator = Interpolator(weights, device=device, precision=precision.value, flow=flow.value,
                                warp_mix=warp_mix, **_memory_options(max_memory, tile, tile_overlap))
    result = retime(src, output, interpolator=interpolator, multi=multi, exp=exp, fps=fps, slowmo=slowmo, in_fps=in_fps,
                    scene_threshold=scene_threshold, dedupe=dedupe, codec=codec, crf=crf, pix_fmt=pix_fmt, resume=resume,
                    force=force, keep_audio=keep_audio, progress=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"wrote {result.output_frames} frames at {result.output_rate} fps to {result.output}")


@app.command()
@friendly_errors
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="TOML or YAML training config; flags override it."),
    model: Optional[str] = typer.Option(None, "--model", help="Architecture name, e.g. film_net or film_lite."),
    data: Optional[list[Path]] = typer.Option(None, "--data", help="Training source folder or video (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Global batch (split over ranks)."),
    crop: Optional[int] = typer.Option(None, "--crop", min=64),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (model.safetensors, checkpoints, logs)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run folder's latest checkpoint."),
    loss: Optional[str] = typer.Option(None, "--loss", help="L1, VGG or Style."),
    vgg_weights: Optional[Path] = typer.Option(None, "--vgg-weights", help="Local VGG-19 weights (.pth or .mat)."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="Training precision."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda."),
    init_weights: Optional[Path] = typer.Option(None, "--init-weights", help="Start from these weights."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", min=0.0,
                                               help="Stop (saving weights and a checkpoint) after this many minutes."),
) -> None:
    """Train FILM (one CPU, one GPU, or many with torchrun)."""
    from .train.trainer import train_from_cli

    run = train_from_cli(
        config, model=model, data=[str(d) for d in data] if data else None, steps=steps, batch_size=batch_size,
        crop=crop, out=str(out) if out else None, resume=True if resume else None, loss=loss,
        vgg_weights=str(vgg_weights) if vgg_weights else None, precision=precision.value if precision else None,
        device=device, init_weights=str(init_weights) if init_weights else None, time_limit_minutes=time_limit,
    )
    typer.echo(f"latest weights: {Path(run) / 'model.safetensors'}")


class Method(str, Enum):
    blend = "blend"
    dis = "dis"


@app.command("eval")
@friendly_errors
def eval_(
    data: list[Path] = typer.Option(..., "--data", help="Evaluation folder (repeatable)."),
    weights: Optional[list[Path]] = typer.Option(None, "--weights", help="Weights to evaluate (repeatable)."),
    method: Optional[list[Method]] = typer.Option(None, "--method", help="Baseline: blend or dis (repeatable)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the summary JSON here."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write per-triplet rows here."),
    precision: Precision = typer.Option(Precision.fp32, "--precision", help="Precision for model weights."),
    flow: list[Flow] = typer.Option([Flow.auto], "--flow",
                                    help="Flow source(s) for each --weights (repeatable: one result per source)."),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    float_prediction: bool = typer.Option(False, "--float-prediction",
                                          help="Score the float prediction instead of the 8-bit one."),
) -> None:
    """Score weights and/or baselines on benchmark triplets (PSNR, SSIM, Middlebury IE)."""
    from .eval import evaluate, format_table, save_results
    from .inference import Interpolator

    if not weights and not method:
        _fail("give --weights W and/or --method blend|dis")
    runners = []
    sources = list(dict.fromkeys(f.value for f in flow))
    several = len(sources) > 1
    for name, w in zip(_unique_names(weights or []), weights or []):
        for source in sources:
            interp = Interpolator(w, device=device, precision=precision.value, max_memory=None, flow=source,
                                  warp_mix=warp_mix)
            interp.name = f"filmnet:{name}" + (f":{interp.flow}" if several or interp.flow != "model" else "")
            if interp.warp_mix and interp.flow != "model":
                interp.name += f"+mix{interp.warp_mix:g}"
            runners.append((interp, None))
    runners += [(None, m.value) for m in method or []]
    results = [evaluate(d, model=m, method=b, precision=precision.value, quantize=not float_prediction)
               for d in data for m, b in runners]
    typer.echo(format_table(results))
    save_results(results, json_path=json_path, csv_path=csv_path)


@app.command()
@friendly_errors
def demo(
    output: Path = typer.Option(Path("filmnet_demo"), "-o", "--output", help="Folder for the demo files."),
    exp: int = typer.Option(4, "--exp", min=1, max=6, help="2^T-1 new frames between the two renders."),
    fps: float = typer.Option(30.0, "--fps", min=1.0),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights (default: bundled film_lite)."),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    force: bool = typer.Option(False, "--force", help="Overwrite demo files from an earlier run."),
) -> None:
    """Interpolate a synthetic (procedurally rendered) scene into a slow-motion mp4 and gif."""
    from .demo import run_demo
    from .inference import Interpolator

    interpolator = Interpolator(weights, precision=precision.value, flow=flow.value, warp_mix=warp_mix)
    result = run_demo(output, interpolator, exp=exp, fps=fps, overwrite=force)
    for path in result.videos:
        typer.echo(f"wrote {path}")
    typer.echo(f"middle frame vs the scene rendered at t = 0.5: {result.middle_psnr:.2f} dB PSNR "
               f"(averaging the two inputs: {result.blend_psnr:.2f} dB)")


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
    from .errors import InputError
    from .export import export_onnx
    from .weights import load_model

    if output.exists() and not force:
        raise InputError(f"{output} exists; pass --force to overwrite it")
    model = load_model(weights)
    typer.echo(f"wrote {export_onnx(model, output, opset=opset, pad=pad)}")


def _unique_names(paths: list[Path]) -> list[str]:
    """Short labels for weights files: the stem, or parent/stem where stems clash (every run has model.safetensors)."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    return [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]


def _memory_options(max_memory: str, tile: Optional[str] = None, overlap: Optional[int] = None) -> dict:
    from .errors import InputError

    options: dict = {"max_memory": None if max_memory.lower() == "none" else max_memory}
    if tile is not None:
        try:
            h, w = (int(v) for v in tile.lower().split("x"))
        except ValueError:
            raise InputError(f"--tile must look like 512x512 (HxW), got {tile!r}") from None
        options["tile"] = (h, w)
    if overlap is not None:
        options["overlap"] = overlap
    return options


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
    from .inference.memory import tune_allocator

    tune_allocator()
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
