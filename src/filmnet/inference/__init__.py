"""Inference: padding and the Interpolator (frames in, frames out)."""
from .interpolator import Interpolator, autocast_context, resolve_precision
from .padding import Padder

__all__ = ["Interpolator", "Padder", "autocast_context", "resolve_precision"]
