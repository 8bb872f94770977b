"""Flow sources: the model's own flows, OpenCV DIS flows, or a per-pair choice of the two (`FlowSource`).

OpenCV is imported only here (and by the eval baselines); it is the optional `dis` extra.
"""
from .dis import HYBRID_MOTION, DisPairFlows, require_cv2
from .factory import FLOW_SOURCES, check_flow, flow_source_for, get_flow_source, recommended_flow, weights_metadata
from .sources import DisFlows, FlowSource, FrameFlows, HybridFlows, OwnFlows

__all__ = ["FLOW_SOURCES", "HYBRID_MOTION", "DisFlows", "DisPairFlows", "FlowSource", "FrameFlows", "HybridFlows",
           "OwnFlows", "check_flow", "flow_source_for", "get_flow_source", "recommended_flow", "require_cv2",
           "weights_metadata"]
