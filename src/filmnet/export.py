"""ONNX export of FILM: inputs x0, x1 (B, 3, H, W) and time (B, 1); output `image` (B, 3, H, W), unclipped.

Uses the TorchScript-based exporter (`dynamo=False`), which keeps the model's shape arithmetic (`shape[-2:]` for
resizes, arange for warp grids) as graph ops, so one file runs at any batch, height and width. By default the
centred zero padding to a multiple of 64 and the crop back are in the graph (numerically the `Padder` path), so
callers pass frames of any size. grid_sample needs opset >= 16. See docs/PERFORMANCE.md for runtimes.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .io.atomic import atomic_target

INPUT_NAMES = ("x0", "x1", "time")
OUTPUT_NAMES = ("image",)
MIN_OPSET = 16
_NEAREST_EXACT = "aten::_upsample_nearest_exact2d"


class ImageOnly(nn.Module):
    """`model(x0, x1, time).image`, optionally with centred zero padding to `align` inside the graph."""

    def __init__(self, model: nn.Module, align: int | None = 64):
        super().__init__()
        self.model = model
        self.align = align

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        if self.align is None:
            return self.model(x0, x1, time).image
        h, w = x0.shape[-2], x0.shape[-1]
        ph, pw = (self.align - h % self.align) % self.align, (self.align - w % self.align) % self.align
        top, left = ph // 2, pw // 2
        pads = [left, pw - left, top, ph - top]  # as Padder: the extra pixel goes bottom/right
        image = self.model(F.pad(x0, pads), F.pad(x1, pads), time).image
        return image[:, :, top : top + h, left : left + w]


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    dynamic: bool = True,
    pad: bool = True,
    example_size: tuple[int, int] = (128, 128),
    check: bool = True,
) -> Path:
    """Write `model` as an ONNX file (atomically).

    Args:
      model: a FILM module; exported in fp32 eval mode on CPU (a copy is not made; the module is not changed).
      path: output .onnx file; must not exist as a directory.
      opset: ONNX opset, >= 16 (GridSample).
      dynamic: dynamic batch, height and width; False bakes `example_size` and batch 1.
      pad: pad to a multiple of 64 inside the graph (any input size works); False: the caller pads
        (`filmnet.inference.Padder`) and H, W must be multiples of 64.
      example_size: (H, W) traced; any legal size gives the same graph when `dynamic`.
      check: run `onnx.checker` on the result.
    Returns:
      The written path.
    """
    import onnx  # torch.onnx.export needs it: fail before tracing with a clear ImportError

    if opset < MIN_OPSET:
        raise InputError(f"opset {opset} is too old: FILM's warp needs GridSample (opset >= {MIN_OPSET})")
    path = Path(path)
    wrapper = ImageOnly(model, 64 if pad else None).eval()
    param = next(model.parameters())
    if param.device.type != "cpu" or param.dtype != torch.float32:
        raise InputError(f"export a float32 CPU model (got {param.dtype} on {param.device}); call .float().cpu()")
    h, w = example_size
    args = (torch.rand(1, 3, h, w), torch.rand(1, 3, h, w), torch.full((1, 1), 0.5))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp:
        _register_symbolics(opset)
        with torch.no_grad(), warnings.catch_warnings():
            # Expected: input checks trace as constants; the TorchScript exporter is "legacy" since torch 2.9.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based", category=DeprecationWarning)
            torch.onnx.export(
                wrapper, args, str(tmp), dynamo=False, opset_version=opset, input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES), dynamic_axes=_dynamic_axes() if dynamic else None,
                do_constant_folding=True,
            )
        if check:
            onnx.checker.check_model(str(tmp))
    return path


def _dynamic_axes() -> dict[str, dict[int, str]]:
    frames = {0: "batch", 2: "height", 3: "width"}
    return {"x0": frames, "x1": frames, "time": {0: "batch"}, "image": frames}


def _register_symbolics(opset: int) -> None:
    torch.onnx.register_custom_op_symbolic(_NEAREST_EXACT, _nearest_exact_symbolic, opset)


def _nearest_exact_symbolic(g, input, output_size, scale_factors):
    """torch 'nearest-exact' (TF2 half-pixel nearest): src = floor((dst + 0.5) * in / out).

    ONNX Resize with half_pixel coordinates and round_prefer_ceil gives round((dst + 0.5) * in / out - 0.5),
    ties up, which is the same index.
    """
    shape = g.op("Shape", input)
    batch_channels = g.op("Slice", shape, _const(g, [0]), _const(g, [2]), _const(g, [0]))
    sizes = g.op("Concat", batch_channels, g.op("Cast", output_size, to_i=7), axis_i=0)  # 7: INT64
    empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
    return g.op("Resize", input, empty, empty, sizes, coordinate_transformation_mode_s="half_pixel",
                mode_s="nearest", nearest_mode_s="round_prefer_ceil")


def _const(g, values: list[int]):
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))
