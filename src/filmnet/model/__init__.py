from .config import CONFIGS, FILMConfig, get_config, register_config
from .film import FILM, Encoded, FILMOutput, PairFlows

__all__ = ["CONFIGS", "FILM", "FILMConfig", "FILMOutput", "Encoded", "PairFlows", "get_config", "register_config"]
