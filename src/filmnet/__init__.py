"""filmnet: FILM (Frame Interpolation for Large Motion) in PyTorch."""
from .errors import ChecksumError, FilmError, InputError, WeightsError
from .model import CONFIGS, FILM, FILMConfig, get_config, register_config
from .weights import convert, detect_format, load_model, save_model
from .inference import Interpolator

__version__ = "0.1.0"

__all__ = [
    "CONFIGS", "FILM", "FILMConfig", "get_config", "register_config",
    "FilmError", "WeightsError", "ChecksumError", "InputError",
    "load_model", "save_model", "convert", "detect_format", "Interpolator",
]
