"""Image sequences as stored pixels: in-between frames for uint8/uint16 RGB(A) inputs (`filmnet interpolate`).

FILM synthesises RGB in [0, 1]; here the inputs pass through exactly, new frames are quantised to the inputs' bit
depth, and alpha is carried from the nearer input frame, as `filmnet video` does.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..frame_spec import FrameSpec
from ..io.media import to_float_image


def quantize_like(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB -> `like`'s integer dtype (full 8- or 16-bit scale), rounded."""
    scale = 65535.0 if like.dtype == np.uint16 else 255.0
    return (np.clip(rgb, 0.0, 1.0) * scale + 0.5).astype(like.dtype)


def carry_alpha(rgb: np.ndarray, left: np.ndarray, right: np.ndarray, t: float) -> np.ndarray:
    """RGB plus the alpha of the nearer input (`left` for t < 1/2); unchanged when the inputs have none."""
    if left.shape[2] == 3:
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

    def rgb_inputs() -> Iterator[np.ndarray]:
        for frame in pixels:
            seen.append(frame)
            yield to_float_image(frame)

    made = interpolator.iter_sequence(rgb_inputs(), exp=exp, multi=multi, progress=progress, n_inputs=n_inputs)
    for index, rgb in enumerate(made):
        pair, k = divmod(index, per_pair)
        if k == 0:
            if pair > 0:
                seen[pair - 1] = None  # done with it
            yield seen[pair]
        else:
            left, right = seen[pair], seen[pair + 1]
            yield carry_alpha(quantize_like(rgb, left), left, right, k / per_pair)
