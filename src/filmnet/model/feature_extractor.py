"""Scale-agnostic feature extractor: one shared sub-tree CNN on every pyramid level, cascaded concat."""
from __future__ import annotations

import torch
from torch import nn

from .config import FILMConfig
from .ops import Conv2d, avg_pool


class SubTreeExtractor(nn.Module):
    """Two 3x3 convs per sub-level with 2x2 average pooling between sub-levels."""

    def __init__(self, in_channels: int, filters: int, sub_levels: int):
        super().__init__()
        convs = []
        for i in range(sub_levels):
            out = filters << i
            convs.append(nn.Sequential(Conv2d(in_channels, out, 3), Conv2d(out, out, 3)))
            in_channels = out
        self.convs = nn.ModuleList(convs)

    def forward(self, image: torch.Tensor, n: int) -> list[torch.Tensor]:
        head, pyramid = image, []
        for i in range(n):
            head = self.convs[i](head)
            pyramid.append(head)
            if i < n - 1:
                head = avg_pool(head)
        return pyramid


class FeatureExtractor(nn.Module):
    def __init__(self, config: FILMConfig, in_channels: int = 3):
        super().__init__()
        self.sub_levels = config.sub_levels
        self.extract_sublevels = SubTreeExtractor(in_channels, config.filters, config.sub_levels)

    def forward(self, image_pyramid: list[torch.Tensor]) -> list[torch.Tensor]:
        levels = len(image_pyramid)
        sub = [self.extract_sublevels(img, min(levels - i, self.sub_levels)) for i, img in enumerate(image_pyramid)]
        features = []
        for i in range(levels):
            parts = [sub[i - j][j] for j in range(min(i, self.sub_levels - 1) + 1)]
            features.append(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        return features
