"""Weight files: format detection, key normalisation, config inference, loading, saving, conversion; `hub` turns
model names into paths."""
from . import hub
from .infer import infer_config
from .keys import normalize_keys
from .loader import FORMATS, LoadedWeights, build_model, convert, detect_format, load_model, read_weights
from .native import save_model

__all__ = [
    "FORMATS", "LoadedWeights", "hub", "build_model", "convert", "detect_format", "infer_config", "load_model",
    "normalize_keys", "read_weights", "save_model",
]
