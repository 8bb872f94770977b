"""Reference interpolators without learning, for sanity checks of the evaluation: frame blend and DIS flow.

Both take and return (H, W, 3) float32 RGB arrays in [0, 1]. `dis` needs OpenCV (`pip install
"filmnet[dis]"`, i.e. opencv-python-headless), imported only when called.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError

BASELINES = ("blend", "dis")


def blend(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """The average of the two frames."""
    return ((frame0.astype(np.float32) + frame1.astype(np.float32)) * 0.5).astype(np.float32)


def require_cv2():
    """The cv2 module, or an InputError saying how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise InputError("DIS optical flow (the 'dis' baseline, pseudo-flow training) needs OpenCV: "
                         "pip install opencv-python-headless (or filmnet[dis])") from err
    return cv2


def _grey_uint8(cv2, frame: np.ndarray) -> np.ndarray:
    rgb = (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dis_flows(frame0: np.ndarray, frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV DIS flows (preset MEDIUM) of two (H, W, 3) [0, 1] frames: f01 on I0's grid (I0(x) ~ I1(x + f01(x)))
    and f10 on I1's grid, each (H, W, 2) float32 (dx, dy) in pixels."""
    cv2 = require_cv2()
    g0, g1 = _grey_uint8(cv2, frame0), _grey_uint8(cv2, frame1)
    flow_est = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return flow_est.calc(g0, g1, None), flow_est.calc(g1, g0, None)


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
