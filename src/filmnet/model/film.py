"""The FILM network: features -> bidirectional flows -> warp to time t -> fusion."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import InputError
from .config import FILMConfig, get_config
from .feature_extractor import FeatureExtractor
from .flow_estimator import PyramidFlowEstimator, flow_pyramid_synthesis
from .fusion import Fusion
from .ops import cat_as, compute_dtype, image_pyramid, memory_format, warp


@dataclass
class Encoded:
    """One frame's image and feature pyramids; reusable for both pairs a video frame belongs to."""

    images: list[torch.Tensor]
    features: list[torch.Tensor]


@dataclass
class PairFlows:
    """Flows of one pair, independent of t: residual pyramids and accumulated flows (fusion levels)."""

    forward_residual: list[torch.Tensor]
    backward_residual: list[torch.Tensor]
    forward: list[torch.Tensor]
    backward: list[torch.Tensor]


@dataclass
class FILMOutput:
    """What the model returns: the fused `image` (unclipped), both inputs warped to t at the finest level, and the
    pair's flow pyramids (finest first, channels dx, dy): accumulated (fusion levels) and residual (all levels;
    empty for flows given from outside the model)."""

    image: torch.Tensor
    x0_warped: torch.Tensor
    x1_warped: torch.Tensor
    forward_flows: list[torch.Tensor] = field(default_factory=list)
    backward_flows: list[torch.Tensor] = field(default_factory=list)
    forward_residual_flows: list[torch.Tensor] = field(default_factory=list)
    backward_residual_flows: list[torch.Tensor] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The outputs under the official model's names (`image`, `forward_flow_pyramid`, ...)."""
        return {"image": self.image, "x0_warped": self.x0_warped, "x1_warped": self.x1_warped,
                "forward_flow_pyramid": self.forward_flows, "backward_flow_pyramid": self.backward_flows,
                "forward_residual_flow_pyramid": self.forward_residual_flows,
                "backward_residual_flow_pyramid": self.backward_residual_flows}


class FILM(nn.Module):
    """Frame Interpolation for Large Motion.

    `model(x0, x1, time=None)` takes NCHW float RGB in [0, 1] (H, W >= config.min_size) and returns a
    `FILMOutput`: `image` (unclipped), `x0_warped`, `x1_warped` and the flow pyramids.
    """

    def __init__(self, config: FILMConfig | str = "film_net"):
        super().__init__()
        self.config = get_config(config) if isinstance(config, str) else config
        self.extract = FeatureExtractor(self.config)
        self.predict_flow = PyramidFlowEstimator(self.config)
        self.fuse = Fusion(self.config)

    def check_input(self, x: torch.Tensor, levels: int | None = None) -> int:
        """Validate a (B, 3, H, W) input for a pyramid of `levels` (None: the config's); returns the depth."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise InputError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        levels = check_levels(self.config, levels, *x.shape[-2:])
        m = 2 ** (levels - 1)
        if x.shape[-2] < m or x.shape[-1] < m:
            raise InputError(
                f"input is {x.shape[-1]}x{x.shape[-2]} (WxH); FILM with {levels} pyramid "
                f"levels needs at least {m}x{m}. Pad or upscale the frames."
            )
        return levels

    def encode(self, x: torch.Tensor, levels: int | None = None) -> Encoded:
        """Image and feature pyramids of `levels` levels (None: config.pyramid_levels). The extractor's weights
        are shared across levels, so any depth from config.fusion_pyramid_levels up runs with the same tensors."""
        levels = self.check_input(x, levels)
        images = image_pyramid(x, levels)
        return Encoded(images, self.extract(images))

    def estimate_flows(self, e0: Encoded, e1: Encoded, shallow: int | None = None) -> PairFlows:
        """Flows over the encoded pyramids' depth (the coarse predictor is shared by every level it serves).

        `shallow`: a depth below the encoded one to fall back to when the deeper levels see little motion (a
        per-pair probe, `probe_depth`); the fallback is exactly the `shallow`-level computation."""
        a, b = e0.features, e1.features
        if shallow is not None and shallow < len(a):
            fwd_res, bwd_res = self._probed_flows(a, b, shallow)
        else:
            fwd_res, bwd_res = self.predict_flow(a, b), self.predict_flow(b, a)
        n = self.config.fusion_pyramid_levels
        return PairFlows(
            fwd_res, bwd_res, flow_pyramid_synthesis(fwd_res)[:n], flow_pyramid_synthesis(bwd_res)[:n]
        )

    def _probed_flows(self, a: list[torch.Tensor], b: list[torch.Tensor], shallow: int):
        fwd = self.predict_flow.descend(a, b, shallow)
        bwd = self.predict_flow.descend(b, a, shallow)
        if not needs_depth(fwd[1], bwd[1], shallow):
            return self.predict_flow(a[:shallow], b[:shallow]), self.predict_flow(b[:shallow], a[:shallow])
        return self.predict_flow.descend(a, b, 0, fwd)[0], self.predict_flow.descend(b, a, 0, bwd)[0]

    def synthesize(self, e0: Encoded, e1: Encoded, flows: PairFlows, time: torch.Tensor) -> FILMOutput:
        """Warp both inputs to `time` (B,) and fuse. Flows are scaled as in the released graph."""
        t = time.reshape(-1, 1, 1, 1).to(flows.forward[0].dtype)
        aligned, warped0, warped1 = [], None, None
        for level in range(self.config.fusion_pyramid_levels):
            bwd_t = t * flows.backward[level]
            fwd_t = (1 - t) * flows.forward[level]
            # Images stay float32 through the warp; the fused stack takes the convs' dtype and layout.
            features = e0.features[level]
            wide, layout = torch.promote_types(e0.images[level].dtype, features.dtype), memory_format(features)
            side0 = warp(cat_as([e0.images[level], features], wide, layout), bwd_t)
            side1 = warp(cat_as([e1.images[level], e1.features[level]], wide, layout), fwd_t)
            if level == 0:
                warped0, warped1 = side0[:, :3].clone(), side1[:, :3].clone()
            aligned.append(cat_as([side0, side1, bwd_t, fwd_t], compute_dtype(features), layout))
            del side0, side1
        return FILMOutput(self.fuse(aligned), warped0, warped1, flows.forward, flows.backward,
                          flows.forward_residual, flows.backward_residual)

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, time: torch.Tensor | float | None = None,
                levels: int | None = None) -> FILMOutput:
        if x0.shape != x1.shape:
            raise InputError(f"x0 and x1 differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
        time = _as_time(time, x0)
        e0, e1 = self.encode(x0, levels), self.encode(x1, levels)
        return self.synthesize(e0, e1, self.estimate_flows(e0, e1), time)


# The per-pair depth probe: the deep levels' flow at the shallow pyramid's coarsest-but-one level, in full-frame
# pixels, from which the deep pyramid is kept (research/pyramid_depth.py: a 7-level pyramid handles 64 px pans and
# fails at 128 px; deeper pyramids lose ~0.1 dB on small motion).
DEEP_MOTION_PX = 96.0


def needs_depth(forward: torch.Tensor, backward: torch.Tensor, level: int) -> bool:
    """True if the largest flow (B, 2, h, w) at pyramid `level`, either direction, reaches DEEP_MOTION_PX."""
    largest = max(float(f.float().norm(dim=1).amax()) for f in (forward, backward))
    return largest * 2 ** level >= DEEP_MOTION_PX


def check_levels(config: FILMConfig, levels: int | None, height: int, width: int) -> int:
    """`levels` (None: config.pyramid_levels) if in [config.min_pyramid_levels, deepest for height x width],
    else an InputError naming that range."""
    if levels is None:
        return config.pyramid_levels
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise InputError(f"pyramid levels must be an integer, got {levels!r}")
    low, high = config.min_pyramid_levels, max_levels_for(height, width)
    if not low <= levels <= high:
        raise InputError(f"{levels} pyramid levels is out of range for {width}x{height} (WxH) input: "
                         f"use {low}..{high}" if high >= low else
                         f"{width}x{height} (WxH) input is too small for {low} pyramid levels")
    return levels


def max_levels_for(height: int, width: int) -> int:
    """The deepest pyramid whose coarsest level (floor 2x2 pooling) is at least 1 pixel."""
    return max(1, min(int(height), int(width))).bit_length()


def _as_time(time, x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    if time is None:
        time = 0.5
    time = torch.as_tensor(time, dtype=torch.float32, device=x.device)
    if time.ndim == 2 and time.shape[1] == 1:
        time = time[:, 0]
    if time.ndim == 0:
        time = time.expand(b)
    if time.shape != (b,):
        raise InputError(f"time must be a scalar, (B,) or (B, 1) with B={b}; got shape {tuple(time.shape)}")
    return time
