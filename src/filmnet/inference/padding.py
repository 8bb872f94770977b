"""Centred padding to a multiple of `align`, with the matching crop.

The official tools pad with zeros ("zeros", kept for parity). Warping pulls padding into the picture wherever
the flow points out of the frame, so zeros leave dark bands on frames whose size is not a multiple of 64;
"reflect" (the Interpolator's default, issue 24) mirrors the picture across its edges and "replicate" repeats the edge
pixels; both remove the bands, and reflect measured best on training-side triplets (research/border_padding.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

PADDING_MODES = ("reflect", "replicate", "zeros")
DEFAULT_PADDING = "reflect"


def check_padding_mode(mode: str) -> str:
    if mode not in PADDING_MODES:
        raise InputError(f"unknown padding {mode!r}; choose one of {', '.join(PADDING_MODES)}")
    return mode


@dataclass(frozen=True)
class Padder:
    """Pads (B, C, H, W) tensors to multiples of `align` (extra pixel bottom/right) and crops back.
    `mode`: "zeros" (official), "replicate" or "reflect" (see the module docstring; reflect falls back to
    replicate where the padding is wider than the frame)."""

    height: int
    width: int
    align: int = 64
    mode: str = "zeros"

    def __post_init__(self) -> None:
        check_padding_mode(self.mode)

    @property
    def padding(self) -> tuple[int, int, int, int]:
        ph = -self.height % self.align
        pw = -self.width % self.align
        return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        if not any(p):
            return x
        if self.mode == "zeros":
            return F.pad(x, p)
        if self.mode == "reflect" and (max(p[:2]) >= x.shape[-1] or max(p[2:]) >= x.shape[-2]):
            return F.pad(x, p, mode="replicate")  # reflection needs padding narrower than the frame
        return F.pad(x, p, mode=self.mode)

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        left, _, top, _ = self.padding
        return x[..., top : top + self.height, left : left + self.width]
