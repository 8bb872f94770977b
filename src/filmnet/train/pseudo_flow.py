"""Classical-flow pseudo-labels for the flow pyramid (an optional, early-training aid; not in the official recipe).

`pseudo_flows(x0, x1)` runs OpenCV DIS both ways on one training crop and marks where the two directions agree.
`pseudo_flow_loss` compares the model's accumulated flow pyramids with the labels, level by level, on the
agreeing pixels only; the trainer weights it down to zero over `pseudo_flow_steps` (TRAINING.md).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..eval.baselines import dis_flows
from ..model.flow_estimator import flow_pyramid_synthesis

CHANNELS = 6  # f01 (dx, dy), valid01, f10 (dx, dy), valid10


def _consistent(flow_ab: np.ndarray, flow_ba: np.ndarray) -> np.ndarray:
    """1 where following flow_ab then flow_ba returns near the start (the usual occlusion test), else 0."""
    h, w = flow_ab.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    tx, ty = gx + flow_ab[..., 0], gy + flow_ab[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    xi, yi = np.clip(np.rint(tx), 0, w - 1).astype(np.intp), np.clip(np.rint(ty), 0, h - 1).astype(np.intp)
    back = flow_ba[yi, xi]
    err = np.square(flow_ab + back).sum(-1)
    bound = 0.01 * (np.square(flow_ab).sum(-1) + np.square(back).sum(-1)) + 0.5
    return (inside & (err < bound)).astype(np.float32)


def pseudo_flows(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """(6, H, W) float32 labels for one (3, H, W) [0, 1] pair: f01, its validity, f10, its validity."""
    a = x0.permute(1, 2, 0).numpy()
    b = x1.permute(1, 2, 0).numpy()
    f01, f10 = dis_flows(a, b)
    v01, v10 = _consistent(f01, f10), _consistent(f10, f01)
    stacked = np.concatenate([f01, v01[..., None], f10, v10[..., None]], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(stacked.transpose(2, 0, 1)))


def _level_loss(pred: torch.Tensor, flow: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    h, w = pred.shape[-2:]
    scale = torch.tensor([w / flow.shape[-1], h / flow.shape[-2]], device=flow.device).view(1, 2, 1, 1)
    target = F.interpolate(flow, size=(h, w), mode="area") * scale
    mask = (F.interpolate(valid, size=(h, w), mode="area") > 0.99).float()
    err = (pred.float() - target).abs().sum(1, keepdim=True) * mask
    return err.sum() / mask.sum().clamp_min(1.0)


def pseudo_flow_loss(forward_residuals: list[torch.Tensor], backward_residuals: list[torch.Tensor],
                     labels: torch.Tensor) -> torch.Tensor:
    """Mean over pyramid levels and both directions of the masked L1 (in each level's pixels) to the labels.

    The residual pyramids (finest first) are accumulated as the model does; labels are (B, 6, H, W).
    """
    labels = labels.float()
    total, count = labels.new_zeros(()), 0
    for residuals, flow, valid in ((forward_residuals, labels[:, 0:2], labels[:, 2:3]),
                                   (backward_residuals, labels[:, 3:5], labels[:, 5:6])):
        for pred in flow_pyramid_synthesis(residuals):
            total = total + _level_loss(pred, flow, valid)
            count += 1
    return total / max(count, 1)
