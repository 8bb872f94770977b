"""OpenCV DIS flows for FILM's fusion, the "hybrid" per-pair choice, and the warp mix (used through `sources`).

- DIS: FILM's features, warping and fusion decoder with the flow estimator replaced by DIS (preset MEDIUM but
  refined down to full resolution, `FUSION_DIS_FINEST_SCALE`; both directions, on the whole frame; coarser fusion
  levels are area-downsampled). Needs OpenCV (the `dis` extra).
- hybrid (`select_flows`): DIS flows; for a pair whose mean DIS motion is at least `HYBRID_MOTION` px, also the
  model's own flows, and whichever of the two makes the inputs warped to t = 0.5 agree better (no ground truth
  needed) is fused.
- warp mix (`apply_warp_mix`): on pairs fused on DIS flows whose mean motion is below `HYBRID_MOTION`, the output
  moves a share of the way towards the time-weighted average of the two inputs warped by those flows, which
  averages out coding noise that the fusion keeps (MODEL_CARD).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..model import FILMOutput, PairFlows
from ..model.ops import warp

DIS_INSTALL = 'pip install "filmnet[dis]"'
HYBRID_MOTION = 8.0  # px of mean DIS motion from which "hybrid" also tries the model's own flows
# DIS scale whose flow is the output for the fusion: 0 = full resolution (MEDIUM stops at 1, half resolution).
# Chosen on the held-out training clips (MODEL_CARD); costs about 0.3 s more per 720p pair on 2 cores
# (benchmarks/dis_cost.py).
FUSION_DIS_FINEST_SCALE = 0
# Peak memory of `fusion_dis_flows` per frame pixel: its grey copies and DIS at scale 0 (~231 B/px measured at 1080p
# by RSS, benchmarks/dis_cost.py; MEDIUM's half-resolution grid took ~73). The memory model adds it for the "dis" and
# "hybrid" sources (`FlowSource.peak_bytes`).
DIS_PEAK_BYTES_PER_PIXEL = 240


@dataclass
class DisPairFlows(PairFlows):
    """A pair's flows fused from DIS: `motion` is the (B,) mean DIS motion (px) inside the frame, NaN for pairs
    that "hybrid" put on the model's own flows (read by the warp mix)."""

    motion: torch.Tensor | None = None


def cv2_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def require_cv2():
    """The cv2 module, or an InputError saying how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise InputError("DIS optical flow (--flow dis/hybrid, the 'dis' baseline, pseudo-flow training) needs "
                         f"OpenCV: {DIS_INSTALL}") from err
    return cv2


def set_cv2_threads(count: int) -> None:
    """OpenCV's own thread pool size (e.g. 1 in data-loader workers)."""
    require_cv2().setNumThreads(count)


def _grey_uint8(cv2, frame: np.ndarray) -> np.ndarray:
    rgb = (np.clip(frame, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dis_flows(frame0: np.ndarray, frame1: np.ndarray, *,
              finest_scale: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV DIS flows (preset MEDIUM) of two (H, W, 3) [0, 1] frames: f01 on I0's grid (I0(x) ~ I1(x + f01(x)))
    and f10 on I1's grid, each (H, W, 2) float32 (dx, dy) in pixels. `finest_scale` overrides the preset's (1)."""
    cv2 = require_cv2()
    g0, g1 = _grey_uint8(cv2, frame0), _grey_uint8(cv2, frame1)
    flow_est = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    if finest_scale is not None:
        flow_est.setFinestScale(finest_scale)
    return flow_est.calc(g0, g1, None), flow_est.calc(g1, g0, None)


def fusion_dis_flows(frame0: np.ndarray, frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The DIS flows the "dis" and "hybrid" sources feed the fusion: `dis_flows` at FUSION_DIS_FINEST_SCALE."""
    return dis_flows(frame0, frame1, finest_scale=FUSION_DIS_FINEST_SCALE)


def check_warp_mix(share: float) -> float:
    if not 0.0 <= share <= 1.0:
        raise InputError(f"warp_mix is a share in [0, 1], got {share}")
    return float(share)


def apply_warp_mix(out: FILMOutput, flows: PairFlows, time: torch.Tensor, share: float) -> torch.Tensor:
    """The fused `out.image`, on the pairs fused on DIS flows with mean motion below HYBRID_MOTION moved
    `share` of the way towards (1 - t) * x0_warped + t * x1_warped (in float32); unchanged elsewhere and for share 0.
    The motion is `DisPairFlows.motion`, measured inside the frame (`fusion_flows`). (On the held-out proxies,
    mixing larger motion lost more than it gained: MODEL_CARD.)"""
    motion = getattr(flows, "motion", None)
    if not share or motion is None:
        return out.image
    mixed = motion < HYBRID_MOTION  # False for NaN (the model's own flows)
    if not bool(mixed.any()):
        return out.image
    image = out.image.float()
    t = time.reshape(-1, 1, 1, 1).float()
    average = (1 - t) * out.x0_warped.float() + t * out.x1_warped.float()
    weight = share * mixed.reshape(-1, 1, 1, 1).float()
    return image + weight * (average - image)


def dis_flow_fields(x0: torch.Tensor, x1: torch.Tensor,
                    padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> tuple[torch.Tensor, torch.Tensor]:
    """`fusion_dis_flows` (f01 on x0's grid into x1, f10 on x1's grid into x0) of two padded (B, 3, H, W) batches,
    as float32 (B, 2, H, W) on their device. DIS sees only the frame inside `padding` (left, right, top,
    bottom), whose flows are edge-replicated over the padding."""
    left, right, top, bottom = padding
    h, w = x0.shape[-2] - top - bottom, x0.shape[-1] - left - right
    window = (slice(None), slice(top, top + h), slice(left, left + w))
    fields = stack_flow_pairs([fusion_dis_flows(_hwc(a[window]), _hwc(b[window])) for a, b in zip(x0, x1)])
    if any(padding):
        fields = tuple(F.pad(flow, padding, mode="replicate") for flow in fields)
    forward, backward = (flow.to(x0.device).contiguous() for flow in fields)
    return forward, backward


def stack_flow_pairs(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(f01, f10) (H, W, 2) arrays per pair, as `dis_flows` returns them -> two (B, 2, H, W) tensors."""
    forward, backward = (torch.from_numpy(np.stack([p[k] for p in pairs])).permute(0, 3, 1, 2) for k in (0, 1))
    return forward, backward


def mean_motion(forward: torch.Tensor, padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """(B,) mean length (px) of a (B, 2, H, W) flow inside `padding` (left, right, top, bottom)."""
    return forward[_inside(padding)].float().norm(dim=1).mean(dim=(1, 2))


def fusion_flows(forward: torch.Tensor, backward: torch.Tensor, levels: int,
                 padding: tuple[int, int, int, int] = (0, 0, 0, 0),
                 motion: torch.Tensor | None = None) -> DisPairFlows:
    """Full-resolution flows given from outside the model (f01, f10) as the fusion's `levels` flow levels. The
    residual pyramids are empty: such flows have none. `motion` defaults to the mean motion inside `padding`."""
    motion = mean_motion(forward, padding) if motion is None else motion
    return DisPairFlows([], [], flow_levels(forward, levels), flow_levels(backward, levels), motion)


def select_flows(x0: torch.Tensor, x1: torch.Tensor, dis: DisPairFlows, own: Callable[[], PairFlows],
                 padding: tuple[int, int, int, int] = (0, 0, 0, 0)) -> DisPairFlows:
    """The "hybrid" choice per pair of a (B, 3, H, W) batch: `dis`, or `own()` (called only when some pair moves
    at least HYBRID_MOTION px on average) where its warped inputs agree better. Measured inside `padding`."""
    window = _inside(padding)
    large = mean_motion(dis.forward[0], padding) >= HYBRID_MOTION
    if not bool(large.any()):
        return dis
    mine = own()
    use_own = large & (_disagreement(x0, x1, mine, window) < _disagreement(x0, x1, dis, window))
    if not bool(use_own.any()):
        return dis
    where = use_own.view(-1, 1, 1, 1)

    def pick(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.where(where, u.float(), v.float()) for u, v in zip(a, b)]

    motion = None if dis.motion is None else dis.motion.masked_fill(use_own, float("nan"))
    return DisPairFlows([], [], pick(mine.forward, dis.forward), pick(mine.backward, dis.backward), motion)


def _inside(padding: tuple[int, int, int, int]) -> tuple:
    left, right, top, bottom = padding
    return (..., slice(top, -bottom or None), slice(left, -right or None))


def _disagreement(x0: torch.Tensor, x1: torch.Tensor, flows: PairFlows, window: tuple) -> torch.Tensor:
    """Per pair: mean |x0 warped to t = 0.5 - x1 warped to t = 0.5| (the fusion's finest-level warps)."""
    a = warp(x0.float(), 0.5 * flows.backward[0].float())
    b = warp(x1.float(), 0.5 * flows.forward[0].float())
    return (a - b)[window].abs().mean(dim=(1, 2, 3))


def flow_levels(flow: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """A full-resolution (B, 2, H, W) pixel flow and its 2x area downsamplings, in each level's pixels."""
    out = [flow.contiguous()]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2) / 2)
    return out


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().permute(1, 2, 0).float().cpu().numpy()
