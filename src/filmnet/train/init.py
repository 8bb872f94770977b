"""Initialisations for (re)training: the fusion as a blend of the warped inputs; a wider flow estimator."""
from __future__ import annotations

import dataclasses

import torch

from ..errors import InputError
from ..model import FILM


@torch.no_grad()
def init_fusion_as_blend(model: FILM) -> FILM:
    """Make the finest fusion block pass both warped RGB images through and the output conv average them.

    The model then outputs (warp(x0) + warp(x1)) / 2: static areas come out exact from step one, and the L1
    gradient reaches the flow estimator through the warp. Only six channels of the finest block and the output
    conv are set; the rest of the decoder keeps its weights and joins in as the output conv learns to use it.
    """
    cfg = model.config
    block = model.fuse.convs[-1]  # the finest level
    conv1, conv2, out = block[1][0], block[2][0], model.fuse.output_conv
    if conv1.out_channels < 6:
        raise ValueError("blend initialisation needs at least 6 fusion filters at the finest level")
    side = 3 + cfg.feature_channels(0)  # aligned[0] = [warped x0 (RGB + features), warped x1 (...), flows]
    rgb = (0, 1, 2, side, side + 1, side + 2)
    k1, k2 = conv1.kernel_size[0] // 2, conv2.kernel_size[0] // 2
    for c, source in enumerate(rgb):
        conv1.weight[c] = 0.0
        conv1.weight[c, source, k1, k1] = 1.0
        conv1.bias[c] = 0.0
        conv2.weight[c] = 0.0
        conv2.weight[c, c, k2, k2] = 1.0
        conv2.bias[c] = 0.0
    out.weight.zero_()
    out.bias.zero_()
    for c in range(3):
        out.weight[c, c] = 0.5
        out.weight[c, c + 3] = 0.5
    return model


@torch.no_grad()
def widen_flow_estimator(model: FILM, flow_filters: tuple[int, ...], std: float = 1e-3) -> FILM:
    """A copy of `model` whose flow predictors have `flow_filters` (each >= the old) and compute the same flows.

    Old weights are copied; a new channel gets small random incoming weights and zero outgoing weights, so it
    changes nothing until training gives it a use. Everything outside the flow estimator is copied unchanged.
    """
    old = model.config
    flow_filters = tuple(int(f) for f in flow_filters)
    if len(flow_filters) != len(old.flow_filters) or any(n < o for n, o in zip(flow_filters, old.flow_filters)):
        raise InputError(f"flow_filters {flow_filters} must have {len(old.flow_filters)} entries, each at least "
                         f"the current {old.flow_filters}")
    wide = FILM(dataclasses.replace(old, flow_filters=flow_filters)).to(next(model.parameters()).device)
    state = model.state_dict()
    target = wide.state_dict()
    for key, new in target.items():
        w = state[key]
        if new.shape == w.shape:
            new.copy_(w)
            continue
        if new.ndim == 4:  # conv weight (out, in, k, k): new rows random, new input columns zero
            new.normal_(0.0, std)
            new[:, w.shape[1]:] = 0.0
        else:  # bias
            new.zero_()
        new[tuple(slice(0, n) for n in w.shape)] = w
    wide.load_state_dict(target)
    return wide
