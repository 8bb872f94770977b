"""filmnet: FILM (Frame Interpolation for Large Motion) in PyTorch."""
from .errors import ChecksumError, FilmError, InputError, WeightsError
from .model import CONFIGS, FILM, FILMConfig, get_config, register_config

__version__ = "0.1.0"

__all__ = [
    "CONFIGS", "FILM", "FILMConfig", "get_config", "register_config",
    "FilmError", "WeightsError", "ChecksumError", "InputError",
]
