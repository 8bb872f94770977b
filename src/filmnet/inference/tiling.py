"""Tiles that see the whole frame: FILM on frames larger than memory allows, equal to the untiled result.

The frame is padded (centred, to a multiple of 64, in the runner's padding mode) exactly like the untiled path
and cut into a grid of tiles (`tile_spans`, starts on multiples of 64). The image and feature pyramids and every level's flows are kept
whole-frame; only the convs of the fine levels (feature extractor, flow refinement, fusion decoder) run per tile,
grown by a halo of their receptive field (`tiled_grid`, `tiled_encode`, `tiled_synth`). Warps read the whole-frame
pyramids, so a tile sees motion of any size and its pixels equal the untiled computation (up to float rounding):
tiles neither overlap nor blend. `overlap` is accepted for compatibility and no longer used.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..model import FILM, Encoded, PairFlows
from . import alpha as alpha_carry
from .pair import PairRunner
from .tiled_encode import encode_tiled
from .tiled_grid import Grid
from .tiled_synth import estimate_flows_tiled, synthesize_tiled

ALIGN = 64


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis, [start, start + size), and its overlap with each neighbour."""

    start: int
    size: int
    overlap_before: int
    overlap_after: int


def tile_spans(length: int, tile: int, overlap: int, align: int = ALIGN) -> list[Span]:
    """Cover [0, length) with tiles of `tile` pixels overlapping by at least `overlap`, starts spread evenly.

    Args:
      length: axis length (a multiple of `align`, as after padding).
      tile, overlap: multiples of `align` with 0 <= overlap < tile (exact tiles use overlap 0).
    Returns:
      Spans in order; a single span of `length` when it fits in one tile.
    """
    if length <= tile:
        return [Span(0, length, 0, 0)]
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
        spans.append(Span(start, tile, before, after))
    return spans


def frame_grid(height: int, width: int, tile: tuple[int, int], align: int = ALIGN) -> Grid:
    """The tile grid of a padded height x width frame: tiles of at most `tile` (th, tw), starts spread evenly."""
    def bounds(length: int, size: int) -> tuple[int, ...]:
        return tuple(span.start for span in tile_spans(length, size, 0, align)) + (length,)

    return Grid(bounds(height, tile[0]), bounds(width, tile[1]))


def count_tiles(height: int, width: int, tile: tuple[int, int], align: int = ALIGN) -> int:
    """Number of tiles for an (unpadded) height x width frame."""
    return frame_grid(_padded(height, align), _padded(width, align), tile, align).count


@dataclass(frozen=True)
class TiledRunner:
    """A sized `PairRunner` (with its padder) run tile by tile; the same `encode` / `flows` / `synthesize` /
    `frames` as the pair runner, so encodings are reused across pairs and times alike, and the same results:
    the runner's padding mode, its pyramid depth (resolved for the padded whole frame), its per-pair "auto" depth
    probe, and RGBA frames' alpha (warped with the whole-frame finest flows, `alpha.attach`).

    Args:
      runner: the runner for the frame size (`PairRunner.sized`).
      grid: tile boundaries in the padded frame (`frame_grid`).
      levels: pyramid depth (None: the model's config); `tiled_runner` passes the runner's resolved depth.
    """

    runner: PairRunner
    grid: Grid
    levels: int | None = None

    @property
    def model(self) -> FILM:
        return self.runner.model

    @property
    def padding(self) -> tuple[int, int, int, int]:
        return self.runner.padding

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner.pad(x)

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        return self.runner.crop(y)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Encoded:
        """Pad an unpadded (B, 3 or 4, H, W) frame and compute its whole-frame pyramids, fine levels per tile
        (alpha kept aside as `PairRunner.encode` does)."""
        x, alpha = alpha_carry.split(self.runner.pad(x))
        if self.runner.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.runner.context():
            return alpha_carry.with_alpha(encode_tiled(self.model, x, self.grid, self.levels), alpha)

    @torch.inference_mode()
    def flows(self, e0: Encoded, e1: Encoded) -> PairFlows:
        """The pair's flows from the runner's source; the model's own are computed per tile on whole pyramids,
        with the runner's per-pair depth probe ("auto")."""
        runner = self.runner

        def own() -> PairFlows:
            with runner.context():
                return estimate_flows_tiled(self.model, e0, e1, self.grid, runner.shallow_levels)

        levels = self.model.config.fusion_pyramid_levels if runner.source.uses_dis else 0
        return runner.source.pair_flows(e0, e1, own, levels, runner.padding)

    @torch.inference_mode()
    def synthesize(self, e0: Encoded, e1: Encoded, flows: PairFlows, t: float | torch.Tensor) -> torch.Tensor:
        """The padded frame at time t as float32, unclipped and uncropped; RGBA when encoded with alpha."""
        x = e0.images[0]
        time = torch.as_tensor(t, dtype=torch.float32, device=x.device).reshape(-1)
        time = time.expand(x.shape[0]) if time.numel() == 1 else time
        source = self.runner.source
        with self.runner.context():
            out = synthesize_tiled(self.model, e0, e1, flows, time, self.grid, warped=bool(source.warp_mix))
            image = source.finish(out, flows, time).float()
        return alpha_carry.attach(image, out, e0, e1, time)

    def frames(self, e0: Encoded, e1: Encoded, times: Sequence[float | torch.Tensor]) -> Iterator[torch.Tensor]:
        """The cropped, unclipped frames at `times`; flows computed once, one full frame alive at a time."""
        if not times:
            return
        flows = self.flows(e0, e1)
        for t in times:
            yield self.crop(self.synthesize(e0, e1, flows, t))

    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float | torch.Tensor]) -> list[torch.Tensor]:
        """`frames` of two unencoded frames."""
        return list(self.frames(self.encode(x0), self.encode(x1), times))


def tiled_runner(runner: PairRunner, height: int, width: int, tile: tuple[int, int],
                 align: int = ALIGN) -> TiledRunner | PairRunner:
    """The runner for unpadded height x width frames in tiles of `tile`: the plain sized runner when one tile
    covers the padded frame (the untiled computation, bit for bit), else a `TiledRunner` at the depth the sized
    runner resolves for the padded whole frame (`PairRunner.padded_depth`)."""
    whole = runner.sized(height, width, align)
    grid = frame_grid(_padded(height, align), _padded(width, align), tile, align)
    return whole if grid.count == 1 else TiledRunner(whole, grid, whole.padded_depth())


def interpolate_tiled(model: FILM | PairRunner, x0: torch.Tensor, x1: torch.Tensor, time: torch.Tensor | float = 0.5,
                      *, tile: tuple[int, int], overlap: int = 0, align: int = ALIGN) -> torch.Tensor:
    """FILM's `image` for unpadded frames, computed tile by tile; equal to the untiled result.

    Args:
      model: a FILM module (its own flows, no autocast), or a `PairRunner` carrying the flow source, precision,
        memory format, pyramid depth and padding mode.
      x0, x1: (B, 3 or 4, H, W) float frames of any size; padded here like the untiled path.
      time: scalar or (B,) in [0, 1].
      tile: (th, tw) largest tile in the padded frame, multiples of `align` (use `memory.choose_tiling`).
      overlap: unused (tiles are exact, so they no longer overlap); kept for compatibility.
    Returns:
      (B, C, H, W) float32 image, unclipped; bit-identical to the untiled result when one tile covers the frame.
    """
    return interpolate_tiled_times(model, x0, x1, [time], tile=tile, overlap=overlap, align=align)[0]


def interpolate_tiled_times(model: FILM | PairRunner, x0: torch.Tensor, x1: torch.Tensor,
                            times: Sequence[torch.Tensor | float], *, tile: tuple[int, int], overlap: int = 0,
                            align: int = ALIGN) -> list[torch.Tensor]:
    """`interpolate_tiled` for several times at once: the encodings and flows are computed once (`tiled_runner`).

    A DIS flow source (`filmnet.flows`) computes its flows once on the whole frame, as untiled.

    Returns:
      One (B, C, H, W) float32 image per entry of `times`, in order.
    """
    del overlap  # tiles are exact: nothing to blend
    if x0.shape != x1.shape or x0.ndim != 4:
        raise InputError(f"x0 and x1 must be (B, 3, H, W) of one shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
    runner = model if isinstance(model, PairRunner) else PairRunner(model)
    return tiled_runner(runner, *x0.shape[-2:], tile, align).run(x0, x1, times)


def _padded(n: int, align: int) -> int:
    return n + (-n % align)
