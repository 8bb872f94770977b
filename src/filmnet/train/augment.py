"""Joint geometric augmentation of a training triplet (x0, y, x1), as the official FILM recipe (film_spec.md §3).

Order per example, same parameters for all three frames: rot90 (k in 0..3), left-right flip (p=.5), rotation by
U(-45, 45) degrees (p=.5, bilinear, zero fill, size kept), temporal reverse (swap x0/x1, p=.5), then a joint
random crop. The rotation is sampled only for the crop window (same pixels as rotate-then-crop, much cheaper).
Optional large-motion augmentation (not in the official recipe): x0 and x1 are cropped from windows shifted by
-d and +d, y from the window in between, which adds a global translation of 2d between the inputs while y stays
exactly halfway (p=.5, |d| <= crop/8 per axis, limited by the frame size).
Optional object motion (not official either, `paste_moving_object`): a textured ellipse cut from the triplet's own
middle frame (turned and mirrored) is pasted into x0, y and x1 at positions p, p + d/2 and p + d, moving on its own
over the background by up to `max_motion` px, so y stays the exact midpoint.
Optional degradation (not official either, `degrade_triplet`): the soft, compressed look of web and phone video,
applied to all three frames alike so the target is as soft as the inputs. `codec_triplet` instead codes the triplet as
a low-bitrate MPEG-4 Part 2 video (the codec family of UCF101's sources), optionally at a lower resolution.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import InputError


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


def paste_moving_object(frames: torch.Tensor, rng: np.random.Generator, *, max_motion: int) -> torch.Tensor:
    """Paste one object moving linearly by up to `max_motion` px into a cropped triplet (3, C, S, S) (x0, y, x1).

    The object is an ellipse (radii S/16..S/5, soft 1 px edge) with the texture of a random square of the middle
    frame, rotated by a multiple of 90 degrees and maybe mirrored. Its displacement is even per axis, so at y it sits
    at whole pixels exactly halfway; it is placed so its centre stays inside the crop at all three times.
    """
    _, _, size, _ = frames.shape
    ry, rx = (int(v) for v in rng.integers(max(2, size // 16), max(3, size // 5) + 1, size=2))
    half = max(ry, rx)
    patch_side = 2 * half + 1
    top, left = (int(v) for v in rng.integers(0, size - patch_side + 1, size=2))
    texture = frames[1, :, top : top + patch_side, left : left + patch_side]
    texture = torch.rot90(texture, int(rng.integers(4)), dims=(-2, -1))
    if rng.random() < 0.5:
        texture = texture.flip(-1)
    length = rng.uniform(0, max_motion)
    angle = rng.uniform(0, 2 * math.pi)
    dy, dx = (2 * round(length * v / 2) for v in (math.sin(angle), math.cos(angle)))
    dy, dx = (int(np.clip(v, -(size - 2), size - 2) // 2 * 2) for v in (dy, dx))
    cy0 = int(rng.integers(max(0, -dy), size - max(0, dy)))
    cx0 = int(rng.integers(max(0, -dx), size - max(0, dx)))
    yy, xx = torch.meshgrid(torch.arange(patch_side) - half, torch.arange(patch_side) - half, indexing="ij")
    dist = torch.sqrt((yy / ry) ** 2 + (xx / rx) ** 2) * min(ry, rx)  # ~ px from the centre, scaled to the ellipse
    alpha = (min(ry, rx) - dist + 0.5).clamp(0, 1).to(frames.dtype)
    out = frames.clone()
    for k in range(3):
        cy, cx = cy0 + k * dy // 2, cx0 + k * dx // 2
        y0, x0 = cy - half, cx - half
        sy, sx = slice(max(0, y0), min(size, y0 + patch_side)), slice(max(0, x0), min(size, x0 + patch_side))
        py, px = slice(sy.start - y0, sy.stop - y0), slice(sx.start - x0, sx.stop - x0)
        a = alpha[py, px]
        out[k, :, sy, sx] = out[k, :, sy, sx] * (1 - a) + texture[:, py, px] * a
    return out


DEGRADE_SCALE = (0.4, 1.0)  # linear resolution kept by the down-up resize
DEGRADE_QUALITY = (25, 90)  # JPEG quality


def degrade_triplet(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Soften and compress a cropped triplet (3, 3, S, S) float in [0, 1]: each half the time, a down-up bilinear
    resize to a scale in DEGRADE_SCALE, then JPEG at a quality in DEGRADE_QUALITY (each frame coded on its own, as a
    video codec codes each frame with its own errors). The same draw for all three frames."""
    out = frames.float()
    if rng.random() < 0.5:
        size = out.shape[-2:]
        scale = rng.uniform(*DEGRADE_SCALE)
        small = [max(8, round(n * scale)) for n in size]
        out = F.interpolate(out, size=small, mode="bilinear", antialias=True, align_corners=False)
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    if rng.random() < 0.5:
        quality = int(rng.integers(DEGRADE_QUALITY[0], DEGRADE_QUALITY[1] + 1))
        out = torch.stack([_jpeg(frame, quality) for frame in out])
    return out


def _jpeg(frame: torch.Tensor, quality: int) -> torch.Tensor:
    rgb = (frame.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(decoded).permute(2, 0, 1)


CODEC_QSCALE = (2, 10)  # MPEG-4 Part 2 quantiser (ffmpeg -q:v): 2 is near-transparent, 10 visibly blocky
CODEC_SCALE = (0.6, 1.0)  # linear resolution the video is coded at, half the time


def codec_triplet(frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Code a triplet (3, 3, S, S) float in [0, 1] as a three-frame MPEG-4 Part 2 video in time order (x0, y, x1:
    one key frame, then predicted frames, yuv420p) at a quantiser in CODEC_QSCALE, and decode it. Half the time the
    video is coded at a scale in CODEC_SCALE and shown resized back, as low-resolution web video is."""
    import av  # imported here, as only this degradation uses it

    out = frames.float().clamp(0.0, 1.0)
    size = out.shape[-2:]
    if rng.random() < 0.5:
        scale = rng.uniform(*CODEC_SCALE)
        small = [max(16, 2 * round(n * scale / 2)) for n in size]
        out = F.interpolate(out, size=small, mode="bilinear", antialias=True, align_corners=False)
    height, width = (2 * (n // 2) for n in out.shape[-2:])
    rgb = (out[..., :height, :width] * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    qscale = str(int(rng.integers(CODEC_QSCALE[0], CODEC_QSCALE[1] + 1)))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25, options={"qmin": qscale, "qmax": qscale})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in rgb:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    coded = out.clone()
    coded[..., :height, :width] = torch.from_numpy(decoded).permute(0, 3, 1, 2).float() / 255.0
    if coded.shape[-2:] != size:
        coded = F.interpolate(coded, size=size, mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    return coded


DEGRADATIONS = {"soft": degrade_triplet, "codec": codec_triplet}  # the `degrade_kind` names


def check_degrade_kind(kind: str) -> str:
    if kind not in DEGRADATIONS:
        raise InputError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    return kind
