"""Large-motion pairs with exact ground truth, built from real frames of the training-side sources only.

Kinds (motion D in px, even, at the output size):
- pan: a crop window over a real "canvas" frame; I0 at x0, I1 at x0 + D, truth at x0 + D/2 (the content moves
  left by D). The canvas is one real frame resized (Lanczos; antialiased when it shrinks) by
  max(H / h_src, (W + MAX_MOTION) / w_src), so every motion up to MAX_MOTION uses the same content, then cropped
  to H rows around the centre.
- zoom: one real frame, first resized (Lanczos) to just cover the output, then resampled (bicubic, about the
  centre, zooming in only) at scales 1, r and the truth at the arithmetic middle (1 + r) / 2. With the scale
  linear in t, a point at offset p from the centre is at s * p: every point moves at constant velocity along a
  ray, which is the linear motion frame interpolation assumes. ("geom" uses sqrt(r), a zoom steady in log-scale;
  a dolly towards a plane would give the harmonic mean.) D is the displacement of the frame's corner point between
  I0 and I1 as seen from the truth frame: D = R * (r - 1) / s_mid with R the half-diagonal, so
  r = (2R + D) / (2R - D) for "arith".
- object: an ellipse cut from one real frame moves right by D over another real frame (static background); I0 and
  I1 have it at -D/2 and +D/2 from the centre, the truth at the centre. Hard (binary) mask, integer positions.

Sizes above the sources (they stop at 1920x1080) are reached by upscaling real frames with Lanczos, as above;
the scale used is recorded per pair (`Pair.scale`). Evaluation sets are never read here.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SIZES = {"540p": (540, 960), "1080p": (1080, 1920), "4k": (2160, 3840)}  # name: (height, width)
MOTIONS = (16, 32, 64, 128, 256, 512)
MAX_MOTION = 512
KINDS = ("pan", "zoom", "object")
# Scenes: (file under shared/data, frame index). Training-side sources only (train_video/*).
SCENES = {
    "baseball": ("train_video/toflow_baseball/baseball_1280x720_20f_ffv1.mkv", 0),  # lossless, 1280x720
    "square": ("train_video/openpose_video/video.avi", 0),  # people on a street square, 1280x720
    "camel": ("train_video/pips2_camel/camel.mp4", 0),  # camel and palm trees, 960x540
}
KIND_SCENES = {"pan": ("baseball",), "zoom": ("square",), "object": ("camel", "baseball")}  # object: (bg, object)
EVAL_SETS = ("middlebury_other", "davis_adacof", "ucf101_dvf")


@dataclass
class Pair:
    """One triplet: uint8 (H, W, 3) frames and how it was made."""

    kind: str
    size: str
    motion: int
    frame0: np.ndarray
    frame1: np.ndarray
    truth: np.ndarray
    scale: float  # resampling of the real frame (1 = native pixels)
    note: str
    common: tuple[int, int, int, int] | None = None  # (top, bottom, left, right) of the truth seen in both inputs

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.size}/d{self.motion:03d}"


def _check_motion(motion: int) -> int:
    if motion <= 0 or motion % 2 or motion > MAX_MOTION:
        raise ValueError(f"motion must be an even number of px in [2, {MAX_MOTION}], got {motion}")
    return motion


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (h, w, 3) -> (height, width, 3) with PIL Lanczos (antialiased when shrinking)."""
    from PIL import Image

    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def centre_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    if h < height or w < width:
        raise ValueError(f"cannot crop {width}x{height} from {w}x{h}")
    top, left = (h - height) // 2, (w - width) // 2
    return image[top:top + height, left:left + width]


def cover(image: np.ndarray, height: int, width: int, extra_width: int = 0) -> tuple[np.ndarray, float]:
    """Resize so the frame covers height x (width + extra_width), crop the rows to `height`; (canvas, scale)."""
    h, w = image.shape[:2]
    scale = max(height / h, (width + extra_width) / w)
    resized = resize(image, max(height, round(h * scale)), max(width + extra_width, round(w * scale)))
    return centre_crop(resized, height, resized.shape[1]), scale


def pan(canvas: np.ndarray, width: int, motion: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(I0, I1, truth): windows of `width` columns at x0, x0 + motion and x0 + motion / 2, centred on the canvas."""
    motion = _check_motion(motion)
    x0 = (canvas.shape[1] - width - motion) // 2
    if x0 < 0:
        raise ValueError(f"canvas of width {canvas.shape[1]} is too narrow for {width} + {motion} px")
    return tuple(canvas[:, x:x + width].copy() for x in (x0, x0 + motion, x0 + motion // 2))


def zoom_scales(height: int, width: int, motion: int, middle: str = "arith") -> tuple[float, float, float]:
    """(s0, s1, s_mid): s0 = 1, s1 such that the corner moves `motion` px between I0 and I1 (see module doc)."""
    reach = 2 * (math.hypot(height, width) / 2)  # 2R
    if motion >= reach:
        raise ValueError(f"a zoom cannot move the corner {motion} px at {width}x{height}")
    if middle == "arith":
        r = (reach + motion) / (reach - motion)
        return 1.0, r, (1.0 + r) / 2
    if middle == "geom":  # R (r - 1) / sqrt(r) = motion: solve for sqrt(r)
        q = motion / (reach / 2)
        root = (q + math.sqrt(q * q + 4)) / 2
        return 1.0, root * root, root
    raise ValueError(f"zoom middle must be 'arith' or 'geom', got {middle!r}")


def zoom_view(base: np.ndarray, height: int, width: int, scale: float) -> np.ndarray:
    """The centre of `base` magnified by `scale` >= 1 (bicubic), height x width, uint8."""
    import torch
    import torch.nn.functional as F

    bh, bw = base.shape[:2]
    if scale < 1 or bh < height or bw < width:
        raise ValueError("zoom_view only zooms in on a base that covers the output")
    xs = (bw / 2 + (torch.arange(width, dtype=torch.float64) + 0.5 - width / 2) / scale) / bw * 2 - 1
    ys = (bh / 2 + (torch.arange(height, dtype=torch.float64) + 0.5 - height / 2) / scale) / bh * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None].float()
    x = torch.from_numpy(np.array(base)).permute(2, 0, 1)[None].float() / 255.0
    y = F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)[0]
    return (y.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def zoom(source: np.ndarray, height: int, width: int, motion: int, middle: str = "arith"):
    """(I0, I1, truth, base scale) of a zoom into `source` (see module doc)."""
    motion = _check_motion(motion)
    h, w = source.shape[:2]
    base_scale = max(height / h, width / w)
    base = resize(source, max(height, round(h * base_scale)), max(width, round(w * base_scale)))
    s0, s1, s_mid = zoom_scales(height, width, motion, middle)
    return (*(zoom_view(base, height, width, s) for s in (s0, s1, s_mid)), base_scale)


def ellipse_mask(height: int, width: int) -> np.ndarray:
    y = (np.arange(height) + 0.5 - height / 2) / (height / 2)
    x = (np.arange(width) + 0.5 - width / 2) / (width / 2)
    return (y[:, None] ** 2 + x[None, :] ** 2) <= 1.0


def object_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the moving ellipse: a third of the frame height, a quarter of its width."""
    return height // 3, width // 4


def paste_object(background: np.ndarray, patch: np.ndarray, mask: np.ndarray, motion: int):
    """(I0, I1, truth): `patch` (where `mask`) over `background` at -motion/2, +motion/2 and 0 from the centre."""
    motion = _check_motion(motion)
    height, width = background.shape[:2]
    oh, ow = mask.shape
    top, left = (height - oh) // 2, (width - ow) // 2
    if left - motion // 2 < 0:
        raise ValueError(f"object of width {ow} cannot move {motion} px inside width {width}")
    out = []
    for dx in (-motion // 2, motion // 2, 0):
        frame = background.copy()
        region = frame[top:top + oh, left + dx:left + dx + ow]
        region[mask] = patch[mask]
        out.append(frame)
    return tuple(out)


def data_root(shared: Path) -> Path:
    return Path(shared) / "data"


@lru_cache(maxsize=8)
def read_scene(root: str, name: str) -> np.ndarray:
    """The scene's real frame as uint8 (h, w, 3) RGB (refuses the evaluation sets)."""
    import av

    rel, index = SCENES[name]
    if rel.split("/")[0] in EVAL_SETS:
        raise ValueError(f"{rel} is an evaluation set; the benchmark only reads training-side sources")
    with av.open(str(Path(root) / rel)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise ValueError(f"{rel} has no frame {index}")


def build_pair(kind: str, size: str, motion: int, root: Path, zoom_middle: str = "arith") -> Pair:
    """One pair of `kind` at `size` ("540p", "1080p", "4k") with `motion` px, from real frames under `root`."""
    height, width = SIZES[size]
    scenes = KIND_SCENES[kind]
    frames = [read_scene(str(root), s) for s in scenes]
    if kind == "pan":
        canvas, scale = cover(frames[0], height, width, MAX_MOTION)
        i0, i1, gt = pan(canvas, width, motion)
        note = f"{scenes[0]} x{scale:.3f} canvas {canvas.shape[1]}x{height}"
    elif kind == "zoom":
        i0, i1, gt, scale = zoom(frames[0], height, width, motion, zoom_middle)
        s = zoom_scales(height, width, motion, zoom_middle)
        note = f"{scenes[0]} x{scale:.3f}, zoom {s[0]:.3f} -> {s[1]:.3f}, truth {s[2]:.3f} ({zoom_middle})"
    elif kind == "object":
        background, scale = cover(frames[0], height, width)
        source, _ = cover(frames[1], height, width)
        oh, ow = object_size(height, width)
        mask = ellipse_mask(oh, ow)
        patch = centre_crop(source, oh, ow)
        i0, i1, gt = paste_object(background, patch, mask, motion)
        note = f"{scenes[1]} ellipse {ow}x{oh} over {scenes[0]} x{scale:.3f}"
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return Pair(kind, size, motion, i0, i1, gt, scale, note, common_view(kind, height, width, motion, zoom_middle))


def common_view(kind: str, height: int, width: int, motion: int, zoom_middle: str = "arith"):
    """(top, bottom, left, right): the box of the truth whose content both inputs show. A pan's truth has D/2
    columns on each side that only one input shows; a zoom's border outside s_mid / s1 of the frame leaves I1.
    A moving object's background is seen by one input or the other everywhere: the whole frame."""
    if kind == "pan":
        return 0, height, motion // 2, width - motion // 2
    if kind == "zoom":
        _, s1, s_mid = zoom_scales(height, width, motion, zoom_middle)
        h, w = math.floor(height * s_mid / s1 / 2), math.floor(width * s_mid / s1 / 2)
        return height // 2 - h, height // 2 + h, width // 2 - w, width // 2 + w
    return 0, height, 0, width


def write_pairs(pairs: Iterable[Pair], folder: Path, force: bool = False, inputs: Iterable[Path] = ()) -> Path:
    """Write `pairs` (built lazily if an iterator) as `<folder>/<kind>/<size>/dNNN/{im1,im2,im3}.png` (the Vimeo layout `filmnet eval` reads;
    im2 is the truth) plus `pairs.json`, atomically: the whole folder appears at once or not at all."""
    from PIL import Image

    from filmnet.io.atomic import atomic_target
    from filmnet.io.guard import check_new_output

    folder = check_new_output(Path(folder), inputs, force=force, what="benchmark folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    manifest = []
    with atomic_target(folder, directory=True, replace_folder=force) as tmp:
        for pair in pairs:
            sub = tmp / pair.name
            sub.mkdir(parents=True)
            for name, image in (("im1.png", pair.frame0), ("im2.png", pair.truth), ("im3.png", pair.frame1)):
                Image.fromarray(image).save(sub / name)
            manifest.append(dict(name=pair.name, kind=pair.kind, size=pair.size, motion=pair.motion,
                                 scale=pair.scale, note=pair.note))
        (tmp / "pairs.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return folder
