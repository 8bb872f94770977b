"""Training losses of the released FILM models: L1, VGG-19 perceptual and Gram-matrix style (film_spec.md §3).

`TrainingLoss(recipe, vgg)` sums `weight(step) * term(pred, y)` over the recipe's terms (schedule.py) and
returns the total plus each unweighted term for logging. Terms whose weight is 0 at `step` are not computed.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..model import FILMOutput
from .schedule import LOSS_SCHEDULES
from .vgg import MISSING_WEIGHTS_HELP, VGG19Features, load_vgg19

VGG_LAYER_WEIGHTS = (1 / 2.6, 1 / 4.8, 1 / 3.7, 1 / 5.6, 10 / 1.5)


def l1_loss(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean |pred - y| over all pixels, channels and batch items."""
    return (pred - y).abs().mean()


def warped_l1_loss(outputs: FILMOutput, y: torch.Tensor) -> torch.Tensor:
    """Mean of the L1 of `x0_warped` and of `x1_warped` to y (the official code's unused `l1_warped`), in fp32."""
    return 0.5 * (l1_loss(outputs.x0_warped.float(), y) + l1_loss(outputs.x1_warped.float(), y))


def gram_matrix(feature: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) = Phi^T Phi / (H*W), computed in fp32."""
    b, c, h, w = feature.shape
    phi = feature.float().reshape(b, c, h * w)
    return phi @ phi.transpose(1, 2) / (h * w)


def perceptual_loss(feats_pred: list[torch.Tensor], feats_y: list[torch.Tensor]) -> torch.Tensor:
    """sum_k w_k * mean|phi_k(y) - phi_k(pred)|, divided by 255."""
    total = sum(w * (fy.float() - fp.float()).abs().mean() for w, fp, fy in zip(VGG_LAYER_WEIGHTS, feats_pred, feats_y))
    return total / 255.0


def style_loss(feats_pred: list[torch.Tensor], feats_y: list[torch.Tensor]) -> torch.Tensor:
    """sum_k w_k * mean((G(phi_k(y)/255) - G(phi_k(pred)/255))^2); no final /255."""
    return sum(
        w * (gram_matrix(fy.float() / 255.0) - gram_matrix(fp.float() / 255.0)).square().mean()
        for w, fp, fy in zip(VGG_LAYER_WEIGHTS, feats_pred, feats_y)
    )


class TrainingLoss(nn.Module):
    """Weighted sum of a recipe's loss terms; `forward(pred, y, step) -> (total, {term: value})`."""

    def __init__(self, recipe: str, vgg: VGG19Features | None = None):
        super().__init__()
        if recipe not in LOSS_SCHEDULES:
            raise ValueError(f"unknown loss recipe {recipe!r}; known: {', '.join(LOSS_SCHEDULES)}")
        self.schedule = LOSS_SCHEDULES[recipe]
        if vgg is None and self.needs_vgg(recipe):
            raise ValueError(f"the {recipe} loss needs VGG-19 weights")
        self.vgg = vgg

    @staticmethod
    def needs_vgg(recipe: str) -> bool:
        return bool({"vgg", "style"} & set(LOSS_SCHEDULES[recipe]))

    def weights(self, step: int) -> dict[str, float]:
        return {name: w(step) for name, w in self.schedule.items()}

    def forward(self, pred: torch.Tensor, y: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        weights = self.weights(step)
        terms = {"l1": l1_loss(pred.float(), y.float())}
        if weights.get("vgg", 0.0) or weights.get("style", 0.0):
            feats_pred = self.vgg(self.vgg.preprocess(pred))
            with torch.no_grad():
                feats_y = self.vgg(self.vgg.preprocess(y))
            if weights.get("vgg", 0.0):
                terms["vgg"] = perceptual_loss(feats_pred, feats_y)
            if weights.get("style", 0.0):
                terms["style"] = style_loss(feats_pred, feats_y)
        total = sum(weights[name] * value for name, value in terms.items())
        return total, terms


def build_loss(recipe: str, vgg_weights: str | Path | None = None) -> TrainingLoss:
    """TrainingLoss for `recipe` ('L1', 'VGG' or 'Style'), loading VGG-19 from `vgg_weights` when needed."""
    if recipe not in LOSS_SCHEDULES:
        raise ValueError(f"unknown loss recipe {recipe!r}; known: {', '.join(LOSS_SCHEDULES)}")
    if not TrainingLoss.needs_vgg(recipe):
        return TrainingLoss(recipe)
    if vgg_weights is None:
        raise WeightsError(f"the {recipe} loss needs VGG-19 weights (vgg_weights is not set).\n{MISSING_WEIGHTS_HELP}")
    return TrainingLoss(recipe, load_vgg19(vgg_weights))
