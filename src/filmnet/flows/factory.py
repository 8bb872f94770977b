"""`get_flow_source`: a FlowSource from a name ("auto", "model", "dis", "hybrid") and the weights' metadata.

"auto" takes what the weights file recommends (metadata `flow`, else "model"); a warp mix of None takes the
metadata's `warp_mix` (else 0). When OpenCV is missing, "auto" falls back to the model's own flows with a one-line
note; asking for "dis" or "hybrid" explicitly is an error that names the `dis` extra.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from ..errors import InputError
from .dis import DIS_INSTALL, check_warp_mix, cv2_available
from .sources import DisFlows, FlowSource, HybridFlows, OwnFlows

log = logging.getLogger(__name__)

SOURCES: dict[str, type[FlowSource]] = {"model": OwnFlows, "dis": DisFlows, "hybrid": HybridFlows}
FLOW_SOURCES = ("auto", *SOURCES)
METADATA_KEY = "flow"
WARP_MIX_KEY = "warp_mix"


def check_flow(flow: str) -> str:
    if flow not in FLOW_SOURCES:
        raise InputError(f"unknown flow source {flow!r}; choose one of {', '.join(FLOW_SOURCES)}")
    return flow


def get_flow_source(name: str | FlowSource = "auto", weights_metadata: Mapping[str, str] | None = None, *,
                    warp_mix: float | None = None, source: str = "the weights file") -> FlowSource:
    """The FlowSource for `name` (a FlowSource is returned as is).

    Args:
      name: "auto" (the metadata's `flow`, else "model"), "model", "dis" or "hybrid".
      weights_metadata: the weights file's safetensors metadata (`weights_metadata`), or None.
      warp_mix: share for DIS sources; None: the metadata's `warp_mix`, else 0. Ignored for the model's flows.
      source: names the weights in error messages.
    Raises:
      InputError: an unknown name, bad metadata, or "dis"/"hybrid" asked for explicitly without OpenCV.
    """
    if isinstance(name, FlowSource):
        return name
    metadata = dict(weights_metadata or {})
    flow = check_flow(name)
    warp_mix = _metadata_warp_mix(metadata, source) if warp_mix is None else check_warp_mix(warp_mix)
    if flow == "auto":
        flow = metadata.get(METADATA_KEY, "model")
        if flow not in SOURCES:
            raise InputError(f"{source}: metadata {METADATA_KEY}={flow!r} is not one of {', '.join(SOURCES)}")
        if SOURCES[flow].uses_dis and not cv2_available():
            log.warning("note: %s asks for %s flows, which need OpenCV (%s); using the model's own flows",
                        Path(source).name or source, flow, DIS_INSTALL)
            return OwnFlows()
    return OwnFlows() if not SOURCES[flow].uses_dis else SOURCES[flow](warp_mix)


def _metadata_warp_mix(metadata: Mapping[str, str], source: str) -> float:
    try:
        return check_warp_mix(float(metadata.get(WARP_MIX_KEY, 0.0)))
    except (ValueError, InputError):
        raise InputError(f"{source}: metadata {WARP_MIX_KEY}={metadata[WARP_MIX_KEY]!r} is not a share in "
                         "[0, 1]") from None


def weights_metadata(weights: str | os.PathLike | nn.Module | None) -> tuple[dict, str]:
    """(metadata, name) of a native weights file, the default model's for None (`weights.hub`); ({}, ...) for a
    module, a folder or a file without safetensors metadata."""
    from ..weights.native import read_header

    if isinstance(weights, nn.Module):
        return {}, "module"
    if weights is None:  # the default model, as `Interpolator(None)` and `load_model(None)` mean it
        from ..weights.hub import resolve_weights

        weights = resolve_weights(None)
    path = Path(weights)
    header = read_header(path) if path.is_file() else None
    return dict((header or {}).get("__metadata__") or {}), str(path)


def flow_source_for(weights: str | os.PathLike | nn.Module | None, flow: str | FlowSource = "auto",
                    warp_mix: float | None = None) -> FlowSource:
    """`get_flow_source` with the metadata of `weights` (a path, None for the default, or a module)."""
    if isinstance(flow, FlowSource):
        return flow
    if check_flow(flow) != "auto" and warp_mix is not None:
        return get_flow_source(flow, warp_mix=warp_mix)  # nothing to read from the file
    metadata, name = weights_metadata(weights)
    return get_flow_source(flow, metadata, warp_mix=warp_mix, source=name)


def recommended_flow(weights: str | os.PathLike | nn.Module | None) -> str:
    """The flow source a weights file names in its metadata ("model" when it names none or is a module)."""
    metadata, name = weights_metadata(weights)
    flow = metadata.get(METADATA_KEY, "model")
    if flow not in SOURCES:
        raise InputError(f"{name}: metadata {METADATA_KEY}={flow!r} is not one of {', '.join(SOURCES)}")
    return flow
