"""Whole-frame image and feature pyramids, with the feature extractor's fine levels computed tile by tile.

FILM's feature at level i concatenates sub-level j of the shared sub-tree run on image level i - j (film_spec.md).
The sub-tree runs on every image level; on the fine image levels (< `coarse`) it runs per window grown by its
receptive field, with windows on its pooling grid, so the whole-frame features equal the untiled ones.
"""
from __future__ import annotations

import torch

from ..model import FILM, Encoded
from ..model.ops import image_pyramid, memory_format
from .tiled_grid import Grid, Window, conv_radius

COARSE_LEVEL = 3  # levels from here down run whole-frame: 1/64 of the pixels or fewer


def subtree_halo(model: FILM, sub_levels: int) -> int:
    """Pixels (of the image level) a window grows by so its first `sub_levels` sub-tree outputs are exact."""
    convs = model.extract.extract_sublevels.convs
    bad = 0  # invalid border (in pixels of the current sub-level) caused by a window edge
    for j in range(sub_levels):
        bad = -(-bad // 2) + conv_radius(convs[j])
    return bad << (sub_levels - 1)


def encode_tiled(model: FILM, x: torch.Tensor, grid: Grid, levels: int | None = None) -> Encoded:
    """`model.encode(x)` for a padded (B, 3, H, W) frame, whole-frame, with fine levels computed per window.

    Args:
      grid: tile boundaries in pixels of `x` (level 0).
      levels: pyramid depth (None: the model's config).
    Call under the runner's autocast; `x` in the runner's memory format.
    """
    levels = model.config.pyramid_levels if levels is None else int(levels)
    images = image_pyramid(x, levels)
    extractor = model.extract.extract_sublevels
    sub_levels = model.extract.sub_levels
    features: list[torch.Tensor | None] = [None] * levels
    offsets = [sum(extractor.convs[k][-1][0].out_channels for k in range(j)) for j in range(sub_levels + 1)]
    for k, image in enumerate(images):
        n = min(levels - k, sub_levels)
        size = image.shape[-2:]
        whole = [Window(0, size[0], 0, size[1])]
        windows = whole if k >= COARSE_LEVEL else grid.windows(k, size, 1 << (n - 1))
        halo = subtree_halo(model, n)
        for window in windows:
            outer = window if len(windows) == 1 else window.grown(halo, size)
            parts = extractor(image[outer.index], n)
            for j, part in enumerate(parts):
                level = k + j
                target = _level_tensor(features, level, part, images[level].shape[-2:],
                                       offsets[min(level, sub_levels - 1) + 1])
                inner = _sub_window(window, outer, j, images[level].shape[-2:])
                target[:, offsets[j]:offsets[j + 1]][inner[0]] = part[inner[1]]
            del parts
    return Encoded(images, features)


def _level_tensor(features: list, level: int, like: torch.Tensor, size, channels: int) -> torch.Tensor:
    if features[level] is None:
        features[level] = torch.empty((like.shape[0], channels, *size), dtype=like.dtype, device=like.device,
                                      memory_format=memory_format(like))
    return features[level]


def _sub_window(window: Window, outer: Window, j: int, size) -> tuple[tuple, tuple]:
    """(index into the whole sub-level j, index into the window's output) of `window`'s exact pixels."""
    top, left = window.top >> j, window.left >> j
    bottom = size[0] if window.bottom >= outer.bottom else window.bottom >> j
    right = size[1] if window.right >= outer.right else window.right >> j
    o_top, o_left = outer.top >> j, outer.left >> j
    return ((..., slice(top, bottom), slice(left, right)),
            (..., slice(top - o_top, bottom - o_top), slice(left - o_left, right - o_left)))
