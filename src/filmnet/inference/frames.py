"""Image sequences as stored pixels: in-between frames for uint8/uint16 RGB(A) inputs (`filmnet interpolate`).

FILM synthesises RGB in [0, 1]; here the inputs pass through exactly, new frames are quantised to the inputs' bit
depth, and alpha moves with the picture: RGBA inputs enter the pair runner as RGBA tensors and their alpha is
warped with the flows the fusion used (`alpha.py`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from ..frame_spec import FrameSpec
from ..io.media import to_float_image


def quantize_like(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB -> `like`'s integer dtype (full 8- or 16-bit scale), rounded."""
    scale = 65535.0 if like.dtype == np.uint16 else 255.0
    return (np.clip(rgb, 0.0, 1.0) * scale + 0.5).astype(like.dtype)


def carry_alpha(rgb: np.ndarray, left: np.ndarray, right: np.ndarray, t: float) -> np.ndarray:
    """RGB plus the alpha of the nearer input (`left` for t < 1/2); unchanged when the inputs have none or `rgb`
    already carries the alpha that moved with the picture (frames from `pixels_tensor`)."""
    if left.shape[2] == 3 or rgb.shape[2] == left.shape[2]:
        return rgb
    alpha = (left if t < 0.5 else right)[..., 3:]
    return np.concatenate([rgb, alpha], axis=2)


def iter_pixel_sequence(interpolator, pixels: Iterable[np.ndarray], *, exp: int | None = None,
                        multi: int | None = None, progress: bool = False,
                        n_inputs: int | None = None) -> Iterator[np.ndarray]:
    """`Interpolator.iter_sequence` on (H, W, 3|4) uint8/uint16 frames of one layout, yielding that layout.

    Frame k of pair i sits at t = k / `FrameSpec.factor`; inputs are yielded as given (bit-exact).
    """
    per_pair = FrameSpec.of(exp, multi).factor
    seen: list[np.ndarray | None] = []

    def rgb_inputs() -> Iterator[np.ndarray | torch.Tensor]:
        for frame in pixels:
            seen.append(frame)
            yield to_float_image(frame) if frame.shape[2] == 3 else rgba_tensor(frame)

    made = interpolator.iter_sequence(rgb_inputs(), exp=exp, multi=multi, progress=progress, n_inputs=n_inputs)
    for index, rgb in enumerate(made):
        pair, k = divmod(index, per_pair)
        if k == 0:
            if pair > 0:
                seen[pair - 1] = None  # done with it
            yield seen[pair]
        else:
            yield quantize_like(rgb, seen[pair])  # RGBA when the inputs have alpha (carried by the pair runner)


def pixels_tensor(interpolator, frame: np.ndarray) -> torch.Tensor:
    """(H, W, 3|4) stored pixels -> the (1, 3|4, H, W) float tensor on the interpolator's device; with alpha, the
    pair runner carries it (`alpha.py`)."""
    if frame.shape[2] == 3:
        return interpolator.to_tensor(frame)
    return rgba_tensor(frame).to(interpolator.device)


def rgba_tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, 4) uint8/uint16 pixels -> (1, 4, H, W) float32 in [0, 1] (RGB as `to_float_image` gives it)."""
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    rgba = frame.astype(np.float32) / np.float32(scale)
    return torch.from_numpy(np.ascontiguousarray(rgba.transpose(2, 0, 1)))[None]
