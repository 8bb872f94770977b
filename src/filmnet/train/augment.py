"""Joint geometric augmentation of a training triplet (x0, y, x1), as the official FILM recipe (film_spec.md §3).

Order per example, same parameters for all three frames: rot90 (k in 0..3), left-right flip (p=.5), rotation by
U(-45, 45) degrees (p=.5, bilinear, zero fill, size kept), temporal reverse (swap x0/x1, p=.5), then a joint
random crop. The rotation is sampled only for the crop window (same pixels as rotate-then-crop, much cheaper).
Optional large-motion augmentation (not in the official recipe): x0 and x1 are cropped from windows shifted by
-d and +d, y from the window in between, which adds a global translation of 2d between the inputs while y stays
exactly halfway (p=.5, |d| <= crop/8 per axis, limited by the frame size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentParams:
    """One draw of augmentation parameters; `shift` is (dy, dx) of the large-motion translation."""

    rot90: int = 0
    flip: bool = False
    angle_deg: float = 0.0
    reverse: bool = False
    shift: tuple[int, int] = (0, 0)


def sample_params(rng: np.random.Generator, crop: int, *, large_motion: bool = False) -> AugmentParams:
    """Draw the official augmentation parameters (plus an optional large-motion shift)."""
    rot90 = int(rng.integers(4))
    flip = bool(rng.random() < 0.5)
    angle = float(rng.uniform(-45.0, 45.0)) if rng.random() < 0.5 else 0.0
    reverse = bool(rng.random() < 0.5)
    shift = (0, 0)
    if large_motion and rng.random() < 0.5:
        max_shift = max(1, crop // 8)
        shift = tuple(int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    return AugmentParams(rot90, flip, angle, reverse, shift)


def pad_to(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Zero-pad (centred) the last two dims up to at least (height, width)."""
    h, w = frames.shape[-2:]
    dh, dw = max(0, height - h), max(0, width - w)
    if dh == 0 and dw == 0:
        return frames
    return F.pad(frames, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


def center_crop(frames: torch.Tensor, crop: int) -> torch.Tensor:
    """Centre crop (zero-padding first if smaller) of (..., H, W) to (..., crop, crop)."""
    frames = pad_to(frames, crop, crop)
    h, w = frames.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    return frames[..., top : top + crop, left : left + crop]


def _rotated_windows(frames: torch.Tensor, corners: list[tuple[int, int]], crop: int, angle_deg: float) -> torch.Tensor:
    """Crop windows of `frames` (N, C, H, W) after rotating each frame about its centre; zero fill outside."""
    n, _, h, w = frames.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    offs = torch.arange(crop, dtype=torch.float32)
    grids = []
    for top, left in corners:
        yy, xx = torch.meshgrid(offs + top - cy, offs + left - cx, indexing="ij")
        src_x = cos * xx - sin * yy + cx
        src_y = sin * xx + cos * yy + cy
        # align_corners=True: -1 and 1 are the centres of the first and last pixels.
        grids.append(torch.stack((2 * src_x / max(w - 1, 1) - 1, 2 * src_y / max(h - 1, 1) - 1), dim=-1))
    grid = torch.stack(grids).to(frames.dtype)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def apply_augment(frames: torch.Tensor, params: AugmentParams, crop: int, rng: np.random.Generator) -> torch.Tensor:
    """Augment and crop a stacked triplet (3, C, H, W) ordered (x0, y, x1); returns (3, C, crop, crop)."""
    if params.rot90:
        frames = torch.rot90(frames, params.rot90, dims=(-2, -1))
    if params.flip:
        frames = torch.flip(frames, dims=(-1,))
    frames = pad_to(frames, crop, crop)
    h, w = frames.shape[-2:]
    dy = int(np.clip(params.shift[0], -((h - crop) // 2), (h - crop) // 2))
    dx = int(np.clip(params.shift[1], -((w - crop) // 2), (w - crop) // 2))
    top = int(rng.integers(abs(dy), h - crop - abs(dy) + 1))
    left = int(rng.integers(abs(dx), w - crop - abs(dx) + 1))
    corners = [(top - dy, left - dx), (top, left), (top + dy, left + dx)]
    if params.angle_deg == 0.0:
        out = torch.stack([f[:, t : t + crop, l : l + crop] for f, (t, l) in zip(frames, corners)])
    else:
        out = _rotated_windows(frames, corners, crop, params.angle_deg)
    if params.reverse:
        out = out.flip(0)
    return out.contiguous()


def augment_triplet(frames: torch.Tensor, crop: int, rng: np.random.Generator, *, large_motion: bool = False) -> torch.Tensor:
    """Draw parameters from `rng` and apply them: (3, C, H, W) -> (3, C, crop, crop)."""
    return apply_augment(frames, sample_params(rng, crop, large_motion=large_motion), crop, rng)
