"""FILM's flows and fusion on whole-frame pyramids, with the fine levels computed tile by tile.

Every stage keeps its result whole-frame (flows: 2 channels; fusion decoder outputs below level 0), so a tile's
convs only need a halo of their receptive field. Warps read the whole-frame image and feature pyramids
(`Encoded`, in the compute dtype), so a tile sees motion of any size, exactly as the untiled model does.
"""
from __future__ import annotations

import torch

from ..model import FILM, Encoded, FILMOutput, PairFlows
from ..model.film import needs_depth
from ..model.flow_estimator import flow_pyramid_synthesis
from ..model.ops import cat_as, compute_dtype, memory_format, upsample_flow, warp
from .tiled_encode import COARSE_LEVEL
from .tiled_grid import Grid, Window, conv_radius, nearest_rows, run_windows


def _windows(grid: Grid, level: int, size) -> list[Window]:
    return [Window(0, size[0], 0, size[1])] if level >= COARSE_LEVEL else grid.windows(level, size)


def descend_tiled(model: FILM, pyramid_a: list[torch.Tensor], pyramid_b: list[torch.Tensor], grid: Grid, stop: int,
                  start: tuple[list[torch.Tensor], torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
    """`model.predict_flow.descend(pyramid_a, pyramid_b, stop, start)`: coarse levels whole, fine levels per window.

    Returns (the residuals of levels stop.., finest first; the accumulated flow at `stop`)."""
    estimator = model.predict_flow
    if start is None:
        top = len(pyramid_a) - 1
        v = estimator.predictor(top)(pyramid_a[top], pyramid_b[top])
        residuals = [v]
    else:
        residuals, v = start[0][::-1], start[1]
        top = len(pyramid_a) - len(start[0])
    for i in reversed(range(stop, top)):
        size = pyramid_a[i].shape[-2:]
        v = upsample_flow(v, size)
        predictor = estimator.predictor(i)

        def stage(w: Window, a=pyramid_a[i], b=pyramid_b[i], v=v, predictor=predictor) -> torch.Tensor:
            return predictor(a[w.index], warp(b, v[w.index], origin=w.origin))

        r = run_windows(stage, _windows(grid, i, size), size, conv_radius(predictor))
        residuals = residuals + [r]
        v = v + r
    return residuals[::-1], v


def estimate_flows_tiled(model: FILM, e0: Encoded, e1: Encoded, grid: Grid, shallow: int | None = None) -> PairFlows:
    """`model.estimate_flows(e0, e1, shallow)` on whole-frame encodings, fine levels per window; `shallow` makes
    the same per-pair depth decision (`film.needs_depth` on the coarse levels, which run whole)."""
    a, b = e0.features, e1.features
    if shallow is not None and shallow < len(a):
        fwd = descend_tiled(model, a, b, grid, shallow)
        bwd = descend_tiled(model, b, a, grid, shallow)
        if needs_depth(fwd[1], bwd[1], shallow):
            fwd_res, bwd_res = descend_tiled(model, a, b, grid, 0, fwd)[0], descend_tiled(model, b, a, grid, 0, bwd)[0]
        else:
            fwd_res = descend_tiled(model, a[:shallow], b[:shallow], grid, 0)[0]
            bwd_res = descend_tiled(model, b[:shallow], a[:shallow], grid, 0)[0]
    else:
        fwd_res, bwd_res = descend_tiled(model, a, b, grid, 0)[0], descend_tiled(model, b, a, grid, 0)[0]
    n = model.config.fusion_pyramid_levels
    return PairFlows(fwd_res, bwd_res, flow_pyramid_synthesis(fwd_res)[:n], flow_pyramid_synthesis(bwd_res)[:n])


class _Aligned:
    """The fusion's input at a level and window: both sides' images and features warped to t, and both flows."""

    def __init__(self, e0: Encoded, e1: Encoded, flows: PairFlows, time: torch.Tensor):
        self.t = time.reshape(-1, 1, 1, 1).to(flows.forward[0].dtype)
        self.flows, self.features = flows, (e0.features, e1.features)
        # Images are warped in the features' layout, as the untiled model warps their concatenation.
        self.images = tuple([image.contiguous(memory_format=memory_format(f)) for image, f in zip(e.images, e.features)]
                            for e in (e0, e1))

    def flows_at(self, level: int, index: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        return self.t * self.flows.backward[level][index], (1 - self.t) * self.flows.forward[level][index]

    def __call__(self, level: int, w: Window) -> torch.Tensor:
        bwd_t, fwd_t = self.flows_at(level, w.index)
        features = self.features[0][level]
        wide = torch.promote_types(self.images[0][level].dtype, features.dtype)
        parts = []
        for side, flow in ((0, bwd_t), (1, fwd_t)):
            for pyramid in (self.images[side], self.features[side]):
                parts.append(warp(pyramid[level], flow, wide, w.origin))
        return cat_as(parts + [bwd_t, fwd_t], compute_dtype(features), memory_format(features))

    def warped_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Both inputs warped to t at the finest level, whole-frame (for the warp mix)."""
        bwd_t, fwd_t = self.flows_at(0, (...,))
        wide = torch.promote_types(self.images[0][0].dtype, self.features[0][0].dtype)
        return warp(self.images[0][0], bwd_t, wide), warp(self.images[1][0], fwd_t, wide)


def synthesize_tiled(model: FILM, e0: Encoded, e1: Encoded, flows: PairFlows, time: torch.Tensor, grid: Grid,
                     warped: bool = False) -> FILMOutput:
    """`model.synthesize(e0, e1, flows, time)`: the fusion decoder level by level, fine levels per window.

    Args:
      warped: also compute the whole-frame warped inputs (`x0_warped`, `x1_warped`; else None).
    """
    aligned = _Aligned(e0, e1, flows, time)
    fuse, n = model.fuse, model.config.fusion_pyramid_levels
    size = flows.forward[n - 1].shape[-2:]
    net = run_windows(lambda w: aligned(n - 1, w), _windows(grid, n - 1, size), size, 0)
    for block, level in zip(fuse.convs, reversed(range(n - 1))):
        size = flows.forward[level].shape[-2:]
        rows = nearest_rows(net.shape[-2], size[0], net.device)
        cols = nearest_rows(net.shape[-1], size[1], net.device)

        def stage(w: Window, net=net, rows=rows, cols=cols, block=block, level=level) -> torch.Tensor:
            up = net.index_select(-2, rows[w.top:w.bottom]).index_select(-1, cols[w.left:w.right])
            x = block[0](up.contiguous(memory_format=memory_format(net)))
            x = block[2](block[1](torch.cat([aligned(level, w), x], dim=1)))
            return fuse.output_conv(x) if level == 0 else x

        net = run_windows(stage, _windows(grid, level, size), size, conv_radius(block))
    x0_warped, x1_warped = aligned.warped_inputs() if warped else (None, None)
    return FILMOutput(net, x0_warped, x1_warped, flows.forward, flows.backward,
                      flows.forward_residual, flows.backward_residual)
