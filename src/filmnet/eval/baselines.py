"""Reference interpolators without learning, for sanity checks of the evaluation: frame blend and DIS flow.

Both take and return (H, W, 3) float32 RGB arrays in [0, 1]. `dis` needs OpenCV (`pip install
"filmnet[dis]"`, i.e. opencv-python-headless), imported only when called.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError
from ..flows.dis import dis_flows, require_cv2

BASELINES = ("blend", "dis")


def blend(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """The average of the two frames."""
    return ((frame0.astype(np.float32) + frame1.astype(np.float32)) * 0.5).astype(np.float32)


def dis(frame0: np.ndarray, frame1: np.ndarray,
        flows: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Mid frame from OpenCV DIS optical flow (preset MEDIUM) in both directions.

    f01 maps I0 -> I1 and f10 maps I1 -> I0 (each on its source grid). Assuming linear motion, the mid frame at
    x sees I0 at x + 0.5 f10(x) and I1 at x + 0.5 f01(x); both are sampled bilinearly (border replicate) and averaged.
    `flows`: (f01, f10) from `dis_flows` of the same frames, when the caller already has them.
    """
    cv2 = require_cv2()
    if frame0.shape != frame1.shape:
        raise InputError(f"frames differ in size: {frame0.shape} vs {frame1.shape}")
    f01, f10 = flows if flows is not None else dis_flows(frame0, frame1)
    h, w = frame0.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    def sample(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
        map_x, map_y = grid_x + 0.5 * flow[..., 0], grid_y + 0.5 * flow[..., 1]
        return cv2.remap(frame.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return (0.5 * (sample(frame0, f10) + sample(frame1, f01))).astype(np.float32)


def get_baseline(name: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Look up a baseline by name ("blend" or "dis")."""
    table = {"blend": blend, "dis": dis}
    if name not in table:
        raise InputError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
    return table[name]
