from .config import CONFIGS, FILMConfig, get_config, register_config
from .film import FILM, Encoded, PairFlows

__all__ = ["CONFIGS", "FILM", "FILMConfig", "Encoded", "PairFlows", "get_config", "register_config"]
