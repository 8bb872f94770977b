"""Overlapping tiles with feathered blending, so frames larger than memory allows interpolate without seams.

The frame is zero-padded (centred, to a multiple of 64) exactly like the untiled path, then cut into tiles whose
sizes and starts are multiples of 64 in that padded frame. Aligned starts keep every tile on the untiled image
pyramid's 2x2 pooling grid, and a single tile is exactly the untiled computation. Tile outputs are blended with
raised-cosine weights across each overlap (film_spec.md §4; FILM's own tiles do not overlap and leave seams).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from ..errors import InputError
from ..model import FILM
from .pair import PairRunner

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


def interpolate_tiled(model: FILM | PairRunner, x0: torch.Tensor, x1: torch.Tensor, time: torch.Tensor | float = 0.5,
                      *, tile: tuple[int, int], overlap: int = 128, align: int = ALIGN) -> torch.Tensor:
    """FILM's `image` for unpadded frames, computed tile by tile with feathered overlaps.

    Args:
      model: a FILM module (its own flows, no autocast), or a `PairRunner` carrying the flow source, precision
        and memory format.
      x0, x1: (B, 3, H, W) float frames of any size; padded here like the untiled path.
      time: scalar or (B,) in [0, 1].
      tile: (th, tw) tile size in the padded frame, multiples of `align` (use `memory.choose_tiling`).
      overlap: minimum overlap between neighbouring tiles and width of their cross-fade, a multiple of `align`.
    Returns:
      (B, 3, H, W) float32 image, unclipped; identical to the untiled result when one tile covers the frame.
    """
    return interpolate_tiled_times(model, x0, x1, [time], tile=tile, overlap=overlap, align=align)[0]


def interpolate_tiled_times(model: FILM | PairRunner, x0: torch.Tensor, x1: torch.Tensor,
                            times: Sequence[torch.Tensor | float], *, tile: tuple[int, int], overlap: int = 128,
                            align: int = ALIGN) -> list[torch.Tensor]:
    """`interpolate_tiled` for several times at once: each tile's features and flows are computed once.

    A DIS flow source (`filmnet.flows`) computes its flows once on the whole frame; each tile takes its window, and
    whether the frame moves little enough for the warp mix is decided from the whole frame, as untiled.

    Returns:
      One (B, 3, H, W) float32 image per entry of `times`, in order.
    """
    if x0.shape != x1.shape or x0.ndim != 4:
        raise InputError(f"x0 and x1 must be (B, 3, H, W) of one shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    if not times:
        return []
    runner = model if isinstance(model, PairRunner) else PairRunner(model)
    whole = runner.sized(*x0.shape[-2:], align)
    p0, p1 = whole.pad(x0), whole.pad(x1)
    rows = tile_spans(p0.shape[-2], tile[0], overlap, align)
    cols = tile_spans(p0.shape[-1], tile[1], overlap, align)
    with torch.inference_mode():
        frame = whole.frame_flows(p0[:, :3], p1[:, :3])  # hook (alpha): flows from RGB; alpha rides along
    per_tile = replace(runner, padder=None)

    def run(window: tuple) -> list[torch.Tensor]:
        tile_frame = None if frame is None else frame.crop(window)
        return list(per_tile.frames(per_tile.encode(p0[window]), per_tile.encode(p1[window]), times, tile_frame))

    if len(rows) == 1 and len(cols) == 1:
        return [whole.crop(image) for image in run((...,))]
    shape = (*x0.shape[:2], *p0.shape[-2:])  # hook (alpha): RGBA frames keep their 4 channels
    outs = [torch.zeros(shape, dtype=torch.float32, device=x0.device) for _ in times]
    total = torch.zeros(1, 1, *p0.shape[-2:], dtype=torch.float32, device=x0.device)
    for r in rows:
        wy = blend_ramp(r, device=x0.device)
        for c in cols:
            weight = wy[:, None] * blend_ramp(c, device=x0.device)[None, :]
            window = (..., slice(r.start, r.start + r.size), slice(c.start, c.start + c.size))
            for out, image in zip(outs, run(window)):
                out[window] += image * weight
            total[window] += weight
    return [whole.crop(out / total) for out in outs]


def _padded(n: int, align: int) -> int:
    return n + (-n % align)
