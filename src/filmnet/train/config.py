"""Training configuration: a frozen dataclass, loaded from TOML or YAML with CLI overrides on top.

Defaults are the official film_net recipe (film_spec.md §3): global batch 8, 256 crops, Adam(1e-4, eps 1e-7),
staircase decay x0.464158 every 750k steps, 3M steps. Keys in a config file are the field names below.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..precision import PRECISIONS
from .augment import check_degrade_kind

LOSS_RECIPES = ("L1", "VGG", "Style")
# Evaluation-only sets (shared/data/README.md): never train or tune on them.
EVAL_ONLY_SETS = frozenset({"middlebury_other", "davis_adacof", "ucf101_dvf"})


def eval_only_parts(path: str | Path) -> set[str]:
    """Evaluation-only set names in `path` as typed or once resolved (`..`, symlinks)."""
    path = Path(path)
    return EVAL_ONLY_SETS.intersection(path.parts) | EVAL_ONLY_SETS.intersection(path.resolve().parts)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. `batch_size` is the GLOBAL batch, split evenly over DDP ranks."""

    model: str = "film_net"
    data: tuple[str, ...] = ()
    steps: int = 3_000_000
    batch_size: int = 8
    crop: int = 256
    spacings: tuple[int, ...] = (1, 2, 3)
    augment: bool = True
    large_motion: bool = False
    object_motion: float = 0.0  # probability of an object moving on its own (train/augment.py); not official
    degrade: float = 0.0  # probability of a degraded triplet (train/augment.py); not official
    degrade_kind: str = "soft"  # "soft" (resize + JPEG) or "codec" (MPEG-4 video coding)
    lr: float = 1e-4
    lr_decay_steps: int = 750_000
    lr_decay_rate: float = 0.464158
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-7
    loss: str = "L1"
    vgg_weights: str | None = None
    precision: str = "auto"
    channels_last: bool = True
    device: str = "auto"
    num_workers: int = 4
    seed: int = 0
    log_every: int = 100
    image_every: int = 1000
    ckpt_every: int = 3000
    val_every: int = 3000
    keep_last: int = 10
    holdout: float = 0.0
    val_batches: int = 8
    out: str = "runs/film"
    resume: bool = False
    init_weights: str | None = None
    grad_clip: float | None = None
    time_limit_minutes: float | None = None  # stop (and save) after this much wall-clock time, e.g. a GPU lease
    fusion_init: str = "default"    # "blend": start the decoder as an average of the warped inputs (train/init.py)
    warped_weight: float = 0.0      # extra L1 on x0_warped/x1_warped (the official, unused `l1_warped` term)
    pseudo_flow_weight: float = 0.0  # DIS flow labels on the flow pyramid (train/pseudo_flow.py); needs OpenCV
    pseudo_flow_steps: int = 0       # ...weighted down linearly to 0 by this step
    max_short_side: int | None = 540  # videos are decoded downscaled to this short side; image frames keep theirs

    def __post_init__(self) -> None:
        for name in ("data", "spacings", "adam_betas"):
            value = getattr(self, name)
            if isinstance(value, (str, Path)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        object.__setattr__(self, "spacings", tuple(int(s) for s in self.spacings))
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        self._validate()

    def _validate(self) -> None:
        if self.loss not in LOSS_RECIPES:
            raise InputError(f"loss must be one of {', '.join(LOSS_RECIPES)}, got {self.loss!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("steps", "batch_size", "crop", "log_every", "image_every", "ckpt_every", "val_every",
                     "keep_last", "lr_decay_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        from ..bounds import BOUNDS, check as check_bound, describe

        for name in ("steps", "batch_size"):
            check_bound(name, getattr(self, name))
        if self.crop > BOUNDS["crop"].high:  # small crops stay allowed from Python (tests train on 16 px)
            raise InputError(describe("crop", self.crop))
        if self.fusion_init not in ("default", "blend"):
            raise InputError(f"fusion_init must be 'default' or 'blend', got {self.fusion_init!r}")
        check_degrade_kind(self.degrade_kind)
        for name in ("object_motion", "degrade"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.pseudo_flow_weight < 0 or (self.pseudo_flow_weight > 0 and self.pseudo_flow_steps < 1):
            raise InputError("pseudo_flow_weight must be >= 0, and pseudo_flow_steps >= 1 when it is set; got "
                             f"{self.pseudo_flow_weight} and {self.pseudo_flow_steps}")
        if not 0.0 <= self.holdout < 1.0:
            raise InputError(f"holdout must be in [0, 1), got {self.holdout}")
        if len(self.adam_betas) != 2:
            raise InputError(f"adam_betas needs two values, got {self.adam_betas}")
        for d in self.data:
            banned = eval_only_parts(d)
            if banned:
                raise InputError(f"{d} is an evaluation-only set ({', '.join(sorted(banned))}); never train on it")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def load_train_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Read a TOML (.toml) or YAML (.yaml/.yml) config, then apply `overrides` (None values are ignored).

    Precedence: dataclass defaults < file values < overrides (the CLI flags). Unknown keys are refused.
    """
    values: dict[str, Any] = _read_file(Path(path)) if path is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TrainConfig(**values)


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"training config {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib

        with path.open("rb") as f:
            data = tomllib.load(f)
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise InputError(f"reading {path.name} needs PyYAML (`pip install pyyaml`), or use a .toml config") from exc
        data = yaml.safe_load(path.read_text()) or {}
    else:
        raise InputError(f"training config {path} must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise InputError(f"training config {path} must be a table of options, got {type(data).__name__}")
    return data
