"""Exact tiled evaluation of one stage of FILM: windows of a pyramid level, run with a halo, kept whole.

A stage (a conv stack with a bounded receptive field) runs on each window grown by `halo` pixels and only the
window's own pixels are kept, written into a whole-level tensor. Away from the frame's edges the halo hides the
zero padding of the window's convs, and at the frame's edges the window ends where the frame ends, so the result
equals the untiled stage (up to float rounding in the convs' algorithms).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.ops import memory_format


@dataclass(frozen=True)
class Grid:
    """Tile boundaries along each axis in level-0 pixels: (0, b1, ..., length), increasing."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def count(self) -> int:
        return (len(self.rows) - 1) * (len(self.cols) - 1)

    def windows(self, level: int, size: Sequence[int], multiple: int = 1) -> list[Window]:
        """The windows at pyramid `level` (size (h, w)): the boundaries scaled by 2^-level, rounded down to
        `multiple`, the last one the level's size."""
        rows = _scaled(self.rows, level, size[0], multiple)
        cols = _scaled(self.cols, level, size[1], multiple)
        return [Window(r0, r1, c0, c1) for r0, r1 in zip(rows, rows[1:]) for c0, c1 in zip(cols, cols[1:])]


def _scaled(bounds: tuple[int, ...], level: int, length: int, multiple: int) -> list[int]:
    inner = sorted({(b >> level) // multiple * multiple for b in bounds[1:-1]} - {0})
    return [0] + [b for b in inner if b < length] + [length]


@dataclass(frozen=True)
class Window:
    """Rows [top, bottom) and columns [left, right) of one pyramid level."""

    top: int
    bottom: int
    left: int
    right: int

    def grown(self, halo: int, size: Sequence[int]) -> Window:
        """This window grown by `halo` on each side, within (0, 0)-(h, w)."""
        return Window(max(0, self.top - halo), min(size[0], self.bottom + halo),
                      max(0, self.left - halo), min(size[1], self.right + halo))

    @property
    def index(self) -> tuple:
        return (..., slice(self.top, self.bottom), slice(self.left, self.right))

    @property
    def origin(self) -> tuple[int, int]:
        return self.top, self.left

    def within(self, outer: Window) -> tuple:
        """Index of this window inside a tensor that covers `outer`."""
        return (..., slice(self.top - outer.top, self.bottom - outer.top),
                slice(self.left - outer.left, self.right - outer.left))


def run_windows(stage: Callable[[Window], torch.Tensor], windows: list[Window], size: Sequence[int],
                halo: int) -> torch.Tensor:
    """The whole-level result of `stage`, computed window by window.

    Args:
      stage: maps a (grown) window to its (B, C, h, w) result on that window.
      windows: a partition of the level (from `Grid.windows`).
      size: the level's (h, w).
      halo: pixels each window is grown by (at least the stage's receptive-field radius).
    """
    if len(windows) == 1:
        return stage(windows[0])
    out = None
    for window in windows:
        outer = window.grown(halo, size)
        part = stage(outer)[window.within(outer)]
        if out is None:
            out = torch.empty((*part.shape[:2], *size), dtype=part.dtype, device=part.device,
                              memory_format=memory_format(part))
        out[window.index] = part
        del part
    return out


def conv_radius(module: torch.nn.Module) -> int:
    """The receptive-field radius of a plain stack of stride-1 convs (sum of kernel_size // 2 per conv)."""
    return sum(m.kernel_size[0] // 2 for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def nearest_rows(in_size: int, out_size: int, device: torch.device) -> torch.Tensor:
    """Source indices of `ops.resize_nearest` along one axis (in_size -> out_size), as torch computes them."""
    ramp = torch.arange(in_size, dtype=torch.float32, device=device).view(1, 1, 1, in_size)
    return F.interpolate(ramp, size=(1, out_size), mode="nearest-exact").view(-1).long()
