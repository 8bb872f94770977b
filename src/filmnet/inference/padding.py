"""Centred zero padding to a multiple of `align`, as the official tools do, with the matching crop."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Padder:
    """Pads (B, C, H, W) tensors to multiples of `align` (extra pixel bottom/right) and crops back."""

    height: int
    width: int
    align: int = 64

    @property
    def padding(self) -> tuple[int, int, int, int]:
        ph = -self.height % self.align
        pw = -self.width % self.align
        return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # left, right, top, bottom

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        return F.pad(x, p) if any(p) else x

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        left, _, top, _ = self.padding
        return x[..., top : top + self.height, left : left + self.width]
