"""Alpha that moves with the picture: each input's alpha is warped to t with the flows the fusion used, then the
two warped alphas are combined.

FILM synthesises RGB only. A frame with alpha enters the pair runner as (B, 4, H, W): `split` keeps the RGB for
the model and the alpha beside its `Encoded` (`AlphaEncoded`); `attach` appends the carried alpha to the fused RGB
of `PairRunner.synthesize`, so tiles carry it too (each tile warps its own alpha with its own flows).

The warps are the model's finest level (film_spec.md §3): input 0 is sampled at `t * backward[0]`, input 1 at
`(1 - t) * forward[0]`. FILM's fusion has no blend weights, so the combination (`combine`) weights the warped
alphas by time, (1 - t) and t: smooth in t (no jump at t = 1/2) and, on the sprite scenes of
benchmarks/alpha_rules.py, as good as the alternatives kept in RULES (the nearer input's warped alpha, the maximum,
and time weights times each warped input's RGB agreement with the fused frame, which lost on crossing sprites).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model import Encoded, FILMOutput
from ..model.ops import warp
from .padding import Padder

VISIBILITY_SCALE = 0.1  # RGB distance (in [0, 1] units) at which a warped input's weight falls to 1/e
RULES = ("time", "visible", "nearer", "max")  # "time" is the one used; the others are for measurement


@dataclass
class AlphaEncoded(Encoded):
    """An `Encoded` frame with its padded alpha (B, 1, H, W) float32 in [0, 1]."""

    alpha: torch.Tensor | None = None


def pad(padder: Padder, x: torch.Tensor) -> torch.Tensor:
    """`padder.pad`, but an alpha channel is padded by repeating its edge (the RGB as the padder says), so an
    opaque frame stays opaque in its padding and in every tile."""
    if x.shape[1] != 4 or not any(padder.padding):
        return padder.pad(x)
    return torch.cat([padder.pad(x[:, :3]), F.pad(x[:, 3:], padder.padding, mode="replicate")], dim=1)


def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, 4, H, W) -> the RGB (B, 3, H, W) and the alpha (B, 1, H, W); (B, 3, H, W) -> (x, None)."""
    if x.shape[1] == 4:
        return x[:, :3], x[:, 3:].float()
    return x, None


def with_alpha(encoded: Encoded, alpha: torch.Tensor | None) -> Encoded:
    """`encoded`, carrying `alpha` (already padded like its images) when there is one."""
    if alpha is None:
        return encoded
    return AlphaEncoded(encoded.images, encoded.features, alpha)


def carried(e: Encoded) -> torch.Tensor | None:
    return getattr(e, "alpha", None)


def attach(image: torch.Tensor, out: FILMOutput, e0: Encoded, e1: Encoded, time: torch.Tensor) -> torch.Tensor:
    """The fused (B, 3, H, W) image, with the alpha at `time` appended when the inputs carry alpha."""
    a0, a1 = carried(e0), carried(e1)
    if a0 is None or a1 is None:
        return image
    return torch.cat([image, alpha_at(a0, a1, out, image, time)], dim=1)


def alpha_at(a0: torch.Tensor, a1: torch.Tensor, out: FILMOutput, image: torch.Tensor, time: torch.Tensor,
             rule: str = "time") -> torch.Tensor:
    """The alpha (B, 1, H, W) in [0, 1] at `time` (B,) from two padded input alphas and the pair's output.

    Fully opaque inputs give exactly 1 (no warp), so opaque frames come out as before."""
    if bool((a0 >= 1).all()) and bool((a1 >= 1).all()):
        return torch.ones_like(a0)
    t = time.reshape(-1, 1, 1, 1).float()
    w0 = warp(a0, t * out.backward_flows[0].float(), torch.float32)
    w1 = warp(a1, (1 - t) * out.forward_flows[0].float(), torch.float32)
    return combine(w0, w1, t, out, image, rule).clamp(0.0, 1.0)


def combine(w0: torch.Tensor, w1: torch.Tensor, t: torch.Tensor, out: FILMOutput, image: torch.Tensor,
            rule: str = "time") -> torch.Tensor:
    """Two warped alphas -> one, by `rule` (see RULES and the module doc)."""
    if rule == "time":
        return (1 - t) * w0 + t * w1
    if rule == "nearer":
        return torch.where(t < 0.5, w0, w1)
    if rule == "max":
        return torch.maximum(w0, w1)
    if rule != "visible":
        raise ValueError(f"unknown alpha rule {rule!r}; choose one of {', '.join(RULES)}")
    fused = image.float()
    v0 = _agreement(out.x0_warped, fused)
    v1 = _agreement(out.x1_warped, fused)
    k0, k1 = (1 - t) * v0, t * v1
    total = k0 + k1
    mixed = (k0 * w0 + k1 * w1) / total.clamp_min(1e-12)
    return torch.where(total > 1e-12, mixed, (1 - t) * w0 + t * w1)


def _agreement(warped: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    d2 = (warped.float() - fused).square().sum(dim=1, keepdim=True)
    return torch.exp(-d2 / VISIBILITY_SCALE ** 2)
