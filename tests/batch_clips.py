"""Tiny clips and weights shared by the batch tests."""
from fractions import Fraction as F
from pathlib import Path

import numpy as np

import filmnet
from helpers import tiny_model

H, W = 64, 64


def frame(i: int, seed: int = 0, cut_at: int | None = None) -> np.ndarray:
    """A moving box over a ramp; after `cut_at` a different picture (a scene cut)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 1] = np.linspace(0, 120, W, dtype=np.uint8)[None, :]
    img[..., 2] = (seed * 40 + i * 7) % 200
    x = (4 + 3 * i + 5 * seed) % (W - 16)
    img[20:36, x:x + 16] = 255
    if cut_at is not None and i >= cut_at:
        img = 255 - img[::-1]
    return img


def make_clip(path: Path, n: int = 8, *, seed: int = 0, rate=F(24), cut_at=None, repeat=(),
              codec="libx264", pix_fmt="yuv420p", lossless=False, gop=None) -> Path:
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = W, H, pix_fmt
        if gop:
            v.codec_context.gop_size = gop
        if lossless:  # repeated frames stay exact repeats
            v.options = {"qp": "0"}
        for i in range(n):
            img = frame(i - 1 if i in repeat else i, seed, cut_at)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode(None))
    return path


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def same_frames(a: Path, b: Path) -> bool:
    fa, fb = decode(a), decode(b)
    return len(fa) == len(fb) > 0 and all(np.array_equal(x, y) for x, y in zip(fa, fb))


def save_tiny(path: Path) -> Path:
    return filmnet.save_model(tiny_model(), path)


MODEL = dict(device="cpu", precision="fp32", flow="auto", max_memory="auto")
