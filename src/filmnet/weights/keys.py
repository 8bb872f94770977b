"""State-dict key namings of the FILM ports, and one function mapping any of them onto ours.

Ours is the dajes v1.0.2+ naming (`weights_formats.md` §1.3). Known variants (§1.2, §2.3):
dajes v1.0.0 (activation-less convs are bare `X.weight`) and ComfyUI core (`X.conv.weight`).
The variant is recognised by marker keys, as timm's `checkpoint_filter_fn` does.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

FILMNET = "filmnet"  # == dajes v1.0.2+
DAJES_V100 = "dajes-v1.0.0"
COMFYUI = "comfyui"

T = TypeVar("T")

# Convs without activation: flow-head last conv and the fusion 2x2 conv (v1.0.0 keeps them bare).
_BARE_CONV = re.compile(r"^(predict_flow\._predictors?(?:\.\d+)?\._convs\.\d+|fuse\.convs\.\d+\.\d+)\.(weight|bias)$")
_COMFY_CONV = re.compile(r"\.conv\.(weight|bias)$")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def detect_naming(keys: list[str]) -> str:
    """Which port's key naming `keys` use: FILMNET, DAJES_V100 or COMFYUI."""
    if any(_COMFY_CONV.search(k) for k in keys):
        return COMFYUI
    if any(_BARE_CONV.match(k) for k in keys):
        return DAJES_V100
    return FILMNET


def to_filmnet_key(key: str, naming: str) -> str:
    """One key of `naming` in our naming (e.g. `fuse.convs.0.0.weight` -> `fuse.convs.0.0.0.weight` for v1.0.0)."""
    if naming == COMFYUI:
        return _COMFY_CONV.sub(r".0.\1", key)
    if naming == DAJES_V100:
        return _BARE_CONV.sub(r"\1.0.\2", key)
    return key


def from_filmnet(state: Mapping[str, T], naming: str) -> dict[str, T]:
    """Our state_dict renamed into `naming` (inverse of `normalize_keys`; used to write foreign files)."""
    if naming == COMFYUI:
        return {k if k.startswith("fuse.output_conv.") else re.sub(r"\.0\.(weight|bias)$", r".conv.\1", k): v
                for k, v in state.items()}
    if naming == DAJES_V100:
        bare = _activation_less_convs(list(state))
        return {re.sub(r"\.0\.(weight|bias)$", r".\1", k) if k.rsplit(".", 2)[0] in bare else k: v
                for k, v in state.items()}
    return dict(state)


def _activation_less_convs(keys: list[str]) -> set[str]:
    """Module paths (our naming, without the trailing `.0`) of each flow head's last conv and fusion 2x2 convs."""
    heads: dict[str, int] = {}
    bare = set()
    for k in keys:
        if m := re.match(r"^(predict_flow\._predictors?(?:\.\d+)?\._convs)\.(\d+)\.0\.weight$", k):
            heads[m[1]] = max(heads.get(m[1], 0), int(m[2]))
        elif m := re.match(r"^(fuse\.convs\.\d+\.0)\.0\.weight$", k):
            bare.add(m[1])
    return bare | {f"{p}.{i}" for p, i in heads.items()}


def normalize_keys(state: Mapping[str, T]) -> tuple[dict[str, T], str]:
    """Map a state_dict in any known naming onto ours; returns (state, detected naming)."""
    stripped = {_strip_wrappers(k): v for k, v in state.items()}
    naming = detect_naming(list(stripped))
    return {to_filmnet_key(k, naming): v for k, v in stripped.items()}, naming


def _strip_wrappers(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        key = key.removeprefix(prefix)
    return key
