"""U-Net fusion decoder over the warped image+feature pyramids."""
from __future__ import annotations

import torch
from torch import nn

from .config import FILMConfig
from .ops import Conv2d, resize_nearest


def aligned_channels(config: FILMConfig, level: int) -> int:
    """Fusion input channels: both warped (image + features) plus both t-scaled flows."""
    return 2 * (3 + config.feature_channels(level)) + 4


class Fusion(nn.Module):
    """`convs` is stored coarse to fine (index 0 is level fusion_levels-2), as in the community port."""

    def __init__(self, config: FILMConfig):
        super().__init__()
        levels = config.fusion_pyramid_levels
        self.output_conv = nn.Conv2d(config.filters, 3, 1)
        convs = []
        for i in reversed(range(levels - 1)):
            f = config.fusion_filters(i)
            up_in = aligned_channels(config, levels - 1) if i == levels - 2 else config.fusion_filters(i + 1)
            convs.append(
                nn.ModuleList(
                    [
                        Conv2d(up_in, f, 2, activation=False),
                        Conv2d(aligned_channels(config, i) + f, f, 3),
                        Conv2d(f, f, 3),
                    ]
                )
            )
        self.convs = nn.ModuleList(convs)

    def forward(self, aligned: list[torch.Tensor]) -> torch.Tensor:
        net = aligned[-1]
        for block, level in zip(self.convs, reversed(range(len(aligned) - 1))):
            skip = aligned[level]
            net = block[0](resize_nearest(net, skip.shape[-2:]))
            net = torch.cat([skip, net], dim=1)
            net = block[2](block[1](net))
        return self.output_conv(net)
