"""Inference: the pair runner, padding, tiling, memory budgets and the Interpolator (frames in, frames out)."""
from ..precision import autocast_context, resolve_precision
from .interpolator import Interpolator
from .memory import Tiling, TilingOptions, choose_tiling, parse_memory
from .padding import Padder
from .pair import PairRunner
from .tiling import interpolate_tiled

__all__ = ["Interpolator", "Padder", "PairRunner", "Tiling", "TilingOptions", "autocast_context", "choose_tiling",
           "interpolate_tiled", "parse_memory", "resolve_precision"]
