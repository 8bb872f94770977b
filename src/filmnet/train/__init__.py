"""Training: data, augmentation, losses, schedules, the trainer and its checkpoints."""
from .config import TrainConfig, load_train_config
from .trainer import train, train_from_cli

__all__ = ["TrainConfig", "load_train_config", "train", "train_from_cli"]
