"""`filmnet interpolate`: in-between frames for a sequence of images."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import typer

from ..bounds import option as bounded
from .common import FLOW_HELP, WARP_MIX_HELP, Flow, Precision, fail, mix_note, app, friendly_errors, tiling_options
from .common import choose_weights, model_option, weights_option


DEFAULT_EXP = 4  # as `filmnet demo`: 15 new frames per pair


@app.command()
@friendly_errors
def interpolate(
    inputs: list[Path] = typer.Argument(..., help="Two or more frames, in time order.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4/.m4v/.mkv/.mov/.webm, .gif, or a folder of PNGs."),
    exp: Optional[int] = typer.Option(None, "--exp", callback=bounded("exp"),
                                      help="Recursive midpoints: 2^T-1 new frames per pair (official). Exactly one of "
                                           "--exp/--multi applies; with neither, --exp 4."),
    multi: Optional[int] = typer.Option(None, "--multi", callback=bounded("multi"),
                                        help="N-1 new frames per pair at t=k/N. Exactly one of --exp/--multi."),
    fps: str = typer.Option("30", "--fps", help="Frame rate of video/GIF output, e.g. 30 or 30000/1001."),
    model: Optional[str] = model_option(),
    weights: Optional[Path] = weights_option(),
    precision: Precision = typer.Option(Precision.auto, "--precision", help="Compute precision."),
    flow: Flow = typer.Option(Flow.auto, "--flow", help=FLOW_HELP),
    warp_mix: Optional[float] = typer.Option(None, "--warp-mix", min=0.0, max=1.0, help=WARP_MIX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
    resize: bool = typer.Option(False, "--resize", help="Resize every frame to the first frame's size."),
    max_memory: str = typer.Option("auto", "--max-memory",
                                   help="Memory budget, e.g. 8GB; larger frames are tiled. auto: what is free; none: never tile."),
    tile: Optional[str] = typer.Option(None, "--tile", help="Force tiles of HxW pixels (multiples of 64), e.g. 512x512."),
    tile_overlap: Optional[int] = typer.Option(None, "--tile-overlap", callback=bounded("tile_overlap"), help="Unused: tiles see the whole frame and are exact (kept for compatibility; multiple of 64)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output."),
) -> None:
    """Make in-between frames for a sequence of images: exactly one of --exp/--multi (default --exp 4).

    Alpha and 16 bits are kept where the output can hold them (a PNG folder).
    """
    from ..errors import InputError
    from ..inference import Interpolator
    from ..inference.frames import iter_pixel_sequence
    from ..io.media import check_output, open_writer, parse_fps, read_pixels

    if len(inputs) < 2:
        fail(f"need at least 2 input images, got {len(inputs)}")
    if exp is not None and multi is not None:
        fail("give exactly one of --exp/--multi (--exp T or --multi N), not both")
    if exp is None and multi is None:
        exp = DEFAULT_EXP
    parse_fps(fps)
    weights = choose_weights(model, weights)
    check_output(output, overwrite=force, inputs=(*inputs, weights if isinstance(weights, (str, Path)) else None))
    size = _check_sizes(inputs, resize)
    writer = open_writer(output, fps, overwrite=force)
    first = read_pixels(inputs[0])
    depth, alpha = (16 if first.dtype.itemsize == 2 else 8), first.shape[2] == 4
    writer.prepare(*size, depth=depth, alpha=alpha)  # a video checks its encoder here, before any compute
    interpolator = Interpolator(weights, device=device, precision=precision.value, flow=flow.value,
                                warp_mix=warp_mix, tiling=tiling_options(max_memory, tile, tile_overlap))
    frames = iter_pixel_sequence(interpolator, _read_frames(inputs, size, depth, alpha), exp=exp, multi=multi,
                                 progress=True, n_inputs=len(inputs))
    planned = (len(inputs) - 1) * (2 ** exp if exp is not None else multi) + 1
    with writer:
        for frame in frames:
            writer.write(frame)
        if writer.count != planned:  # raised inside the writer: nothing is written
            raise InputError(f"made {writer.count} frames but the plan has {planned}; nothing was written")
    typer.echo(f"wrote {writer.count} frames to {output} ({interpolator.precision} on {interpolator.device}, "
               f"{interpolator.flow} flows{mix_note(interpolator)})")


def _check_sizes(inputs: list[Path], resize: bool) -> tuple[int, int]:
    """Read every header up front so a size mismatch or unreadable file fails before any compute."""
    from ..errors import InputError
    from ..io.media import read_image_size

    sizes = [read_image_size(p) for p in inputs]
    for path, (h, w) in zip(inputs[1:], sizes[1:]):
        if (h, w) != sizes[0] and not resize:
            raise InputError(f"{path} is {w}x{h} but {inputs[0]} is {sizes[0][1]}x{sizes[0][0]} (WxH); "
                             "pass --resize to resize frames to the first one's size")
    return sizes[0]


def _read_frames(inputs: list[Path], size: tuple[int, int], depth: int, alpha: bool) -> Iterator:
    """Each input as stored pixels in the first input's layout (bit depth, alpha), resized to `size` if needed."""
    import numpy as np

    from ..io.media import read_pixels, resize_image, to_layout

    for path in inputs:
        pixels = to_layout(read_pixels(path), depth, alpha)
        if pixels.shape[:2] != tuple(size):
            scale = float(np.iinfo(pixels.dtype).max)
            resized = resize_image(pixels.astype(np.float32) / scale, size)
            pixels = (resized * scale + 0.5).astype(pixels.dtype)
        yield pixels
