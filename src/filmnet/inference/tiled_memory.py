"""Memory of the whole-frame tiled pass (`tiling.TiledRunner`): a linear model fitted to meta-device traces.

Peak live bytes = `whole` x frame pixels (both frames' image and feature pyramids in the compute dtype, every
level's flows, the coarse levels' work and the output) + `tile` x haloed tile pixels (the fine levels' convs on one
tile). Both rates come from tracing the real tiled code on the meta device (no data, no compute) at two frame
sizes with one tile size, so they follow the architecture, the config and the precision.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from ..model import FILM, FILMConfig
from .live_bytes import live_bytes_tracker
from .pair import PairRunner
from .tiled_encode import subtree_halo
from .tiling import TiledRunner, frame_grid


class TiledRates(NamedTuple):
    """Bytes per padded frame pixel (`whole`) and per haloed tile pixel (`tile`); `halo` in level-0 pixels."""

    whole: float
    tile: float
    halo: int

    def bytes(self, height: int, width: int, tile: tuple[int, int], batch: int = 1) -> float:
        """Live-tensor peak for padded height x width frames in tiles of at most `tile`."""
        th, tw = min(tile[0], height), min(tile[1], width)
        return batch * (self.whole * height * width + self.tile * (th + 2 * self.halo) * (tw + 2 * self.halo))


def trace_tiled_peak(config: FILMConfig, height: int, width: int, tile: tuple[int, int],
                     precision: str = "fp32", levels: int | None = None) -> int:
    """Peak bytes of tensor storages alive while a tiled pair (encode both, flows, one time) runs on padded
    (1, 3, height, width) frames on the meta device; inputs and parameters not counted."""
    with torch.device("meta"):
        model = FILM(config).eval()
        x0, x1 = torch.empty(1, 3, height, width), torch.empty(1, 3, height, width)
    runner = TiledRunner(PairRunner(model), frame_grid(height, width, tile), levels)
    tracker = live_bytes_tracker(precision)
    with torch.inference_mode(), tracker:
        e0, e1 = runner.encode(x0), runner.encode(x1)
        flows = runner.flows(e0, e1)
        image = runner.synthesize(e0, e1, flows, 0.5)
        del image
    return tracker.peak


@functools.lru_cache(maxsize=32)
def tiled_rates(config: FILMConfig, precision: str = "fp32", levels: int | None = None) -> TiledRates:
    """`TiledRates` for a config and precision, from two traces: 1x2 and 1x3 tiles of 4 x min_size pixels."""
    side = 4 * max(64, config.min_size if levels is None else 2 ** (levels - 1))
    small = trace_tiled_peak(config, side, 2 * side, (side, side), precision, levels)
    large = trace_tiled_peak(config, side, 3 * side, (side, side), precision, levels)
    whole = (large - small) / (side * side)
    with torch.device("meta"):
        halo = subtree_halo(FILM(config), config.sub_levels)
    # Inside the traced frame a tile has a halo on one side only: (side + halo) wide, hence the estimate's
    # (tile + 2 halo) is conservative.
    tile = max(0.0, small - whole * 2 * side * side) / (side * (side + halo))
    return TiledRates(whole, tile, halo)
