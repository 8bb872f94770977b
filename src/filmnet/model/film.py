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

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise InputError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
        m = self.config.min_size
        if x.shape[-2] < m or x.shape[-1] < m:
            raise InputError(
                f"input is {x.shape[-1]}x{x.shape[-2]} (WxH); FILM with {self.config.pyramid_levels} pyramid "
                f"levels needs at least {m}x{m}. Pad or upscale the frames."
            )

    def encode(self, x: torch.Tensor) -> Encoded:
        self.check_input(x)
        images = image_pyramid(x, self.config.pyramid_levels)
        return Encoded(images, self.extract(images))

    def estimate_flows(self, e0: Encoded, e1: Encoded) -> PairFlows:
        fwd_res = self.predict_flow(e0.features, e1.features)
        bwd_res = self.predict_flow(e1.features, e0.features)
        n = self.config.fusion_pyramid_levels
        return PairFlows(
            fwd_res, bwd_res, flow_pyramid_synthesis(fwd_res)[:n], flow_pyramid_synthesis(bwd_res)[:n]
        )

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

    def forward(self, x0: torch.Tensor, x1: torch.Tensor, time: torch.Tensor | float | None = None) -> FILMOutput:
        if x0.shape != x1.shape:
            raise InputError(f"x0 and x1 differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
        time = _as_time(time, x0)
        e0, e1 = self.encode(x0), self.encode(x1)
        return self.synthesize(e0, e1, self.estimate_flows(e0, e1), time)


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
