"""Overlapping tiles with feathered blending, so frames larger than memory allows interpolate without seams.

The frame is zero-padded (centred, to a multiple of 64) exactly like the untiled path, then cut into tiles whose
sizes and starts are multiples of 64 in that padded frame. Aligned starts keep every tile on the untiled image
pyramid's 2x2 pooling grid, and a single tile is exactly the untiled computation. Tile outputs are blended with
raised-cosine weights across each overlap (film_spec.md §4; FILM's own tiles do not overlap and leave seams).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ContextManager

import torch
from torch import nn

from ..errors import InputError
from .flows import FLOW_SOURCES, apply_warp_mix, dis_flow_fields, fusion_flows, mean_motion, select_flows
from .padding import Padder

ALIGN = 64


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis, [start, start + size), its overlap with each neighbour, and blend width."""

    start: int
    size: int
    overlap_before: int
    overlap_after: int
    blend: int = 0


def tile_spans(length: int, tile: int, overlap: int, align: int = ALIGN) -> list[Span]:
    """Cover [0, length) with tiles of `tile` pixels overlapping by at least `overlap`, starts spread evenly.

    Args:
      length: axis length (a multiple of `align`, as after padding).
      tile, overlap: multiples of `align` with 0 <= overlap < tile; `overlap` is also the blend width.
    Returns:
      Spans in order; a single span of `length` when it fits in one tile.
    """
    if length <= tile:
        return [Span(0, length, 0, 0, overlap)]
    if length % align or tile % align or overlap % align:
        raise InputError(f"length {length}, tile {tile} and overlap {overlap} must be multiples of {align}")
    if not 0 <= overlap < tile:
        raise InputError(f"overlap must be in [0, tile), got overlap {overlap} with tile {tile}")
    n_units, tile_units = length // align, tile // align
    stride_units = (tile - overlap) // align
    count = math.ceil((n_units - tile_units) / stride_units) + 1
    # Floor-spread starts: consecutive gaps are at most ceil(spread) <= stride, so overlaps stay >= `overlap`.
    starts = [k * (n_units - tile_units) // (count - 1) * align for k in range(count)]
    spans = []
    for k, start in enumerate(starts):
        before = starts[k - 1] + tile - start if k > 0 else 0
        after = start + tile - starts[k + 1] if k < count - 1 else 0
        spans.append(Span(start, tile, before, after, overlap))
    return spans


def count_tiles(height: int, width: int, tile: tuple[int, int], overlap: int, align: int = ALIGN) -> int:
    """Number of tiles `interpolate_tiled` runs for an (unpadded) height x width frame."""
    hp, wp = _padded(height, align), _padded(width, align)
    return len(tile_spans(hp, tile[0], overlap, align)) * len(tile_spans(wp, tile[1], overlap, align))


def blend_ramp(span: Span, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """1-D weights for one span: a raised-cosine cross-fade `blend` wide, centred in each overlap.

    Beyond the cross-fade the tile gives way (weight 0) to its neighbour, so every output pixel comes from the
    tile whose edge is farthest. Fades of neighbouring tiles are complementary: weights sum to 1 whenever the
    fades of one tile do not meet (spacing >= blend); `interpolate_tiled` still normalises by the sum.
    """
    w = torch.ones(span.size, dtype=torch.float64)
    if span.overlap_before:
        blend = min(span.blend, span.overlap_before)
        cut = (span.overlap_before - blend) // 2
        w[:cut] = 0
        w[cut : cut + blend] *= _rise(blend)
    if span.overlap_after:
        blend = min(span.blend, span.overlap_after)
        cut = (span.overlap_after - blend) // 2
        w[span.size - cut :] = 0
        w[span.size - cut - blend : span.size - cut] *= _rise(blend).flip(0)
    return w.to(device=device, dtype=dtype)


def _rise(n: int) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n, dtype=torch.float64) + 0.5) / n)


def interpolate_tiled(
    model: nn.Module,
    x0: torch.Tensor,
    x1: torch.Tensor,
    time: torch.Tensor | float = 0.5,
    *,
    tile: tuple[int, int],
    overlap: int = 128,
    autocast: ContextManager | Callable[[], ContextManager] | None = None,
    channels_last: bool = False,
    align: int = ALIGN,
    flow: str = "model",
    warp_mix: float = 0.0,
) -> torch.Tensor:
    """FILM's `image` for unpadded frames, computed tile by tile with feathered overlaps.

    Args:
      model: a FILM module (uses `encode`, `estimate_flows`, `synthesize`).
      x0, x1: (B, 3, H, W) float frames of any size; padded here like the untiled path.
      time: scalar or (B,) in [0, 1].
      tile: (th, tw) tile size in the padded frame, multiples of `align` (use `memory.choose_tiling`).
      overlap: minimum overlap between neighbouring tiles and width of their cross-fade, a multiple of `align`.
      autocast: a context manager, or a factory for one, entered around each tile (e.g. bf16 autocast).
      channels_last: feed tiles in channels_last memory format (match the model's format).
      flow: "model", "dis" (OpenCV DIS flows of the whole frame, cropped per tile) or "hybrid" (per tile, see
        `flows.select_flows`).
      warp_mix: `flows.apply_warp_mix` share for tiles fused on DIS flows; whether the frame moves little enough is
        decided once, from the whole frame's DIS flows, as the untiled path decides it.
    Returns:
      (B, 3, H, W) float32 image, unclipped; identical to the untiled result when one tile covers the frame.
    """
    return interpolate_tiled_times(model, x0, x1, [time], tile=tile, overlap=overlap, autocast=autocast,
                                   channels_last=channels_last, align=align, flow=flow, warp_mix=warp_mix)[0]


def interpolate_tiled_times(
    model: nn.Module,
    x0: torch.Tensor,
    x1: torch.Tensor,
    times: Sequence[torch.Tensor | float],
    *,
    tile: tuple[int, int],
    overlap: int = 128,
    autocast: ContextManager | Callable[[], ContextManager] | None = None,
    channels_last: bool = False,
    align: int = ALIGN,
    flow: str = "model",
    warp_mix: float = 0.0,
) -> list[torch.Tensor]:
    """`interpolate_tiled` for several times at once: each tile's features and flows are computed once.

    Returns:
      One (B, 3, H, W) float32 image per entry of `times`, in order.
    """
    if x0.shape != x1.shape or x0.ndim != 4:
        raise InputError(f"x0 and x1 must be (B, 3, H, W) of one shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    if flow not in FLOW_SOURCES[1:]:
        raise InputError(f"flow must be one of {', '.join(FLOW_SOURCES[1:])}, got {flow!r}")
    h, w = x0.shape[-2:]
    padder = Padder(h, w, align)
    p0, p1 = padder.pad(x0), padder.pad(x1)
    rows = tile_spans(p0.shape[-2], tile[0], overlap, align)
    cols = tile_spans(p0.shape[-1], tile[1], overlap, align)
    fields = None if flow == "model" else dis_flow_fields(p0, p1, padder.padding)
    frame_motion = None if fields is None else mean_motion(fields[0], padder.padding)
    run = _tile_runner(model, times, autocast, channels_last, fields, hybrid=flow == "hybrid", warp_mix=warp_mix,
                       frame_motion=frame_motion)
    if len(rows) == 1 and len(cols) == 1:
        return [padder.unpad(image) for image in run(p0, p1, (...,))]
    outs = [torch.zeros(x0.shape[0], 3, *p0.shape[-2:], dtype=torch.float32, device=x0.device) for _ in times]
    total = torch.zeros(1, 1, *p0.shape[-2:], dtype=torch.float32, device=x0.device)
    for r in rows:
        wy = blend_ramp(r, device=x0.device)
        for c in cols:
            weight = wy[:, None] * blend_ramp(c, device=x0.device)[None, :]
            window = (..., slice(r.start, r.start + r.size), slice(c.start, c.start + c.size))
            for out, image in zip(outs, run(p0[window], p1[window], window)):
                out[window] += image * weight
            total[window] += weight
    return [padder.unpad(out / total) for out in outs]


def _tile_runner(model: nn.Module, times: Sequence, autocast, channels_last: bool,
                 fields: tuple[torch.Tensor, torch.Tensor] | None, hybrid: bool = False,
                 warp_mix: float = 0.0, frame_motion: torch.Tensor | None = None) -> Callable:
    def run(a: torch.Tensor, b: torch.Tensor, window: tuple) -> list[torch.Tensor]:
        if channels_last:
            a, b = a.contiguous(memory_format=torch.channels_last), b.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), _context(autocast):
            e0, e1 = model.encode(a), model.encode(b)
            if fields is None:
                flows = model.estimate_flows(e0, e1)
            else:
                flows = fusion_flows(fields[0][window], fields[1][window], model.config.fusion_pyramid_levels)
                flows.dis_motion = frame_motion
                if hybrid:
                    flows = select_flows(a, b, flows, lambda: model.estimate_flows(e0, e1))
            batch_times = [_batch_time(t, a) for t in times]
            return [apply_warp_mix(model.synthesize(e0, e1, flows, bt), flows, bt, warp_mix).float()
                    for bt in batch_times]

    return run


def _batch_time(time: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(time, dtype=torch.float32, device=x.device).reshape(-1)
    return t.expand(x.shape[0]) if t.numel() == 1 else t


def _context(autocast) -> ContextManager:
    if autocast is None:
        return contextlib.nullcontext()
    return autocast if hasattr(autocast, "__enter__") else autocast()  # an instance, or a factory for one


def _padded(n: int, align: int) -> int:
    return n + (-n % align)
