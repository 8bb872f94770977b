"""Run-folder files: resumable checkpoints (torch.save, loadable with weights_only=True) and native weights.

A checkpoint is a dict of tensors and plain types: model, optimizer, scheduler and grad-scaler state, step,
data position and every rank's RNG states. `model.safetensors` always holds the latest weights in the native
filmnet format (metadata format=filmnet + the model config as JSON).
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..io.atomic import atomic_target
from ..model import FILMConfig

CHECKPOINT_DIR = "checkpoints"
_CKPT_RE = re.compile(r"^step_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and python RNG states, as tensors and plain types."""
    np_state = np.random.get_state()
    py_version, py_keys, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "keys": torch.tensor(py_keys, dtype=torch.int64), "gauss": py_gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states captured by `rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(k) for k in p["keys"].tolist()), p["gauss"]))


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINT_DIR / f"step_{step:09d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    folder = run_dir / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: Path, step: int, payload: dict[str, Any], keep_last: int) -> Path:
    """Write `payload` atomically as checkpoints/step_N.pt and delete all but the newest `keep_last`."""
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp:
        torch.save(payload, tmp)
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_native_weights(model: nn.Module, path: Path) -> None:
    """Write `model` (a FILM) to `path` as native filmnet safetensors (atomic; CPU, contiguous)."""
    from ..weights import save_model

    save_model(model, path)


def load_native_weights(path: Path, config: FILMConfig | None = None) -> dict[str, torch.Tensor]:
    """State dict of FILM weights in any format `filmnet.load_model` reads (native, SavedModel, TorchScript...).

    With `config`, weights of another architecture raise a WeightsError naming the first mismatched tensor.
    """
    from ..weights import load_model

    return load_model(path, config=config).state_dict()
