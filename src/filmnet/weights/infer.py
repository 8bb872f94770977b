"""Infer a FILMConfig from the tensor shapes of a state_dict in our key naming.

Every option except `pyramid_levels` is visible in the shapes: the levels above the specialised ones
reuse the shared flow predictor and have no weights of their own. `pyramid_levels` therefore comes
from the file's metadata when present, else defaults to 7 (all released FILM models), raised if needed
to the smallest value the other options allow.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ..errors import WeightsError
from ..model.config import FILMConfig

DEFAULT_PYRAMID_LEVELS = 7

_FIRST_CONV = "extract.extract_sublevels.convs.0.0.0.weight"


def infer_config(state: Mapping[str, torch.Tensor], *, pyramid_levels: int | None = None) -> FILMConfig:
    """FILMConfig whose model has exactly the shapes of `state` (keys already normalised to ours).

    Args:
        state: our-naming state_dict (tensors may be on the meta device).
        pyramid_levels: from the file's metadata; None means DEFAULT_PYRAMID_LEVELS.
    Returns:
        The inferred config; the strict shape check after building the model still applies.
    """
    if _FIRST_CONV not in state:
        raise WeightsError(
            f"cannot infer the FILM config: key {_FIRST_CONV!r} is missing, so this does not look like a "
            "FILM state_dict; pass config=... (e.g. 'film_net') if it is one"
        )
    filters = int(state[_FIRST_CONV].shape[0])
    sub_levels = _count(state, r"extract\.extract_sublevels\.convs\.(\d+)\.0\.0\.weight")
    specialized = _count(state, r"predict_flow\._predictors\.(\d+)\._convs\.0\.0\.weight")
    fusion_blocks = _count(state, r"fuse\.convs\.(\d+)\.0\.0\.weight")
    # _predictors is stored coarse to fine: level i lives at index specialized - 1 - i.
    prefixes = [f"predict_flow._predictors.{specialized - 1 - i}" for i in range(specialized)]
    prefixes.append("predict_flow._predictor")
    flow_convs = tuple(_count(state, re.escape(p) + r"\._convs\.(\d+)\.0\.weight") - 2 for p in prefixes)
    flow_filters = tuple(int(_shape(state, f"{p}._convs.0.0.weight")[0]) for p in prefixes)
    fusion_levels = fusion_blocks + 1
    levels = pyramid_levels or max(DEFAULT_PYRAMID_LEVELS, sub_levels, fusion_levels, specialized + 1)
    try:
        return FILMConfig(
            pyramid_levels=levels,
            fusion_pyramid_levels=fusion_levels,
            specialized_levels=specialized,
            sub_levels=sub_levels,
            filters=filters,
            flow_convs=flow_convs,
            flow_filters=flow_filters,
        )
    except ValueError as e:
        raise WeightsError(f"the tensor shapes give an invalid FILM config ({e}); pass config=...") from None


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    """Number of distinct indices captured by `pattern`; they must be 0..n-1."""
    found = {int(m[1]) for k in state if (m := re.fullmatch(pattern, k))}
    if found != set(range(len(found))) or not found:
        raise WeightsError(
            f"cannot infer the FILM config: keys matching {pattern!r} have indices {sorted(found)}, "
            "expected 0..n-1; pass config=..."
        )
    return len(found)


def _shape(state: Mapping[str, torch.Tensor], key: str) -> torch.Size:
    if key not in state:
        raise WeightsError(f"cannot infer the FILM config: key {key!r} is missing; pass config=...")
    return state[key].shape
