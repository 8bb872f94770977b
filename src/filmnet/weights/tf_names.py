"""Name-based mapping from official TF variable names to filmnet state_dict keys."""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from ..errors import WeightsError
from ..model.config import FILMConfig

_FEAT = re.compile(r"feat_net/sub_extractor/cfeat_conv_(\d+)/(kernel|bias)$")
_FLOW = re.compile(r"predict_flow/flow_predictor_(\d+|shared)/conv_(\d+)/(kernel|bias)$")
_FUSE = re.compile(r"fusion/conv2d(?:_(\d+))?/(kernel|bias)$")


class LayerCounts(NamedTuple):
    """The two config numbers the name mapping needs, for callers that have no full FILMConfig."""

    specialized_levels: int
    fusion_pyramid_levels: int


def tf_name_to_key(name: str, config: FILMConfig | LayerCounts) -> str:
    """Map e.g. `predict_flow/flow_predictor_0/conv_4/kernel` to `predict_flow._predictors.2._convs.4.0.weight`."""
    name = name.removesuffix(":0")
    if m := _FEAT.search(name):
        n, kind = int(m[1]), m[2]
        return f"extract.extract_sublevels.convs.{n // 2}.{n % 2}.0.{_param(kind)}"
    if m := _FLOW.search(name):
        p, k, kind = m[1], int(m[2]), m[3]
        if p == "shared":
            return f"predict_flow._predictor._convs.{k}.0.{_param(kind)}"
        if int(p) >= config.specialized_levels:
            raise WeightsError(f"{name}: predictor {p} does not exist with specialized_levels={config.specialized_levels}")
        return f"predict_flow._predictors.{config.specialized_levels - 1 - int(p)}._convs.{k}.0.{_param(kind)}"
    if m := _FUSE.search(name):
        idx, kind = int(m[1] or 0), m[2]
        n_blocks = config.fusion_pyramid_levels - 1
        if idx == 3 * n_blocks:
            return f"fuse.output_conv.{_param(kind)}"
        if idx > 3 * n_blocks:
            raise WeightsError(f"{name}: no such fusion conv with fusion_pyramid_levels={config.fusion_pyramid_levels}")
        return f"fuse.convs.{n_blocks - 1 - idx // 3}.{idx % 3}.0.{_param(kind)}"
    raise WeightsError(f"unrecognised FILM variable name {name!r}")


def _param(kind: str) -> str:
    return "weight" if kind == "kernel" else "bias"


def tf_to_torch_array(name: str, value: np.ndarray) -> np.ndarray:
    """HWIO kernels to OIHW; biases unchanged."""
    if name.removesuffix(":0").endswith("kernel"):
        if value.ndim != 4:
            raise WeightsError(f"{name}: expected a 4-D HWIO kernel, got shape {value.shape}")
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    return value
