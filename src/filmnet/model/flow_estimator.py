"""Bidirectional residual coarse-to-fine flow estimation."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .config import FILMConfig
from .ops import Conv2d, upsample_flow, warp


class FlowEstimator(nn.Module):
    """num_convs 3x3 convs, a 1x1 to F/2, and a 1x1 to 2 channels (dx, dy) without activation."""

    def __init__(self, in_channels: int, num_convs: int, filters: int):
        super().__init__()
        convs = []
        for _ in range(num_convs):
            convs.append(Conv2d(in_channels, filters, 3))
            in_channels = filters
        convs.append(Conv2d(filters, filters // 2, 1))
        convs.append(Conv2d(filters // 2, 2, 1, activation=False))
        self._convs = nn.ModuleList(convs)

    def forward(self, features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
        x = torch.cat([features_a, features_b], dim=1)
        for conv in self._convs[:-1]:
            x = conv(x)
        head = self._convs[-1]
        # Flows stay fp32 under autocast: bf16 would quantise a 200 px flow to whole pixels.
        # Two channels: plain NCHW keeps the flow arithmetic and resizes on their fast paths.
        with _no_autocast(x.device.type):
            return head(x.to(head[0].weight.dtype)).contiguous()


def _no_autocast(device_type: str):
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


class PyramidFlowEstimator(nn.Module):
    """Specialised predictors on the finest levels, one shared predictor on all coarser ones.

    `_predictors` is stored coarse to fine (index 0 is level specialized_levels-1), as in the
    community port, so its state_dict keys load unchanged.
    """

    def __init__(self, config: FILMConfig):
        super().__init__()
        s = config.specialized_levels
        self.specialized_levels = s
        self._predictor = FlowEstimator(
            2 * config.feature_channels(s), config.flow_convs[-1], config.flow_filters[-1]
        )
        self._predictors = nn.ModuleList(
            FlowEstimator(2 * config.feature_channels(i), config.flow_convs[i], config.flow_filters[i])
            for i in reversed(range(s))
        )

    def predictor(self, level: int) -> FlowEstimator:
        if level < self.specialized_levels:
            return self._predictors[self.specialized_levels - 1 - level]
        return self._predictor

    def forward(self, pyramid_a: list[torch.Tensor], pyramid_b: list[torch.Tensor]) -> list[torch.Tensor]:
        """Returns the residual flow pyramid, finest first; the coarsest entry is the initial estimate."""
        residuals, _ = self.descend(pyramid_a, pyramid_b, 0)
        return residuals

    def descend(self, pyramid_a: list[torch.Tensor], pyramid_b: list[torch.Tensor], stop: int,
                start: tuple[list[torch.Tensor], torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Coarse to fine down to level `stop`: (the residuals of levels stop.., finest first; the accumulated flow
        at `stop`). `start`: an earlier `descend` of these pyramids to continue from (it stopped at a coarser
        level); None starts at the pyramids' coarsest level."""
        if start is None:
            top = len(pyramid_a) - 1
            v = self.predictor(top)(pyramid_a[top], pyramid_b[top])
            coarse = [v]
        else:
            coarse, v = start[0][::-1], start[1]
            top = len(pyramid_a) - len(start[0])
        residuals = list(coarse)
        for i in reversed(range(stop, top)):
            v = upsample_flow(v, pyramid_a[i].shape[-2:])
            warped = warp(pyramid_b[i], v)
            r = self.predictor(i)(pyramid_a[i], warped)
            residuals.append(r)
            v = v + r
        return residuals[::-1], v


def flow_pyramid_synthesis(residuals: list[torch.Tensor]) -> list[torch.Tensor]:
    """Accumulate residual flows into full flows, finest first."""
    flow = residuals[-1]
    flows = [flow]
    for r in reversed(residuals[:-1]):
        flow = r + upsample_flow(flow, r.shape[-2:])
        flows.append(flow)
    return flows[::-1]
