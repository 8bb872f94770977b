"""filmnet's native weights: safetensors with the config in the metadata; also plain safetensors reading.

Metadata written by `save_model`: `format="filmnet"`, `format_version`, `config` (JSON of
`FILMConfig.to_dict()`), plus any caller strings (e.g. the source file's format).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from ..io.atomic import write_bytes_atomic
from ..model.config import FILMConfig

NATIVE_FORMAT = "filmnet"
FORMAT_VERSION = "1"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors crate's own limit


def read_header(path: Path) -> dict | None:
    """The safetensors JSON header of `path`, or None when the file is not safetensors."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return None
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= _MAX_HEADER:
            return None
        raw = f.read(n)
    if not raw.startswith(b"{"):
        return None
    if len(raw) < n:
        raise WeightsError(f"{path}: truncated safetensors file (header cut short); download or convert it again")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    except RecursionError:  # `{"a":[[[[...`: a safetensors header nests three levels at most
        raise WeightsError(f"{path}: the safetensors header nests too deeply to be weights; refused") from None
    return header if isinstance(header, dict) else None


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a short file raises a 'truncated' WeightsError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    header = read_header(path)
    if header is None:
        raise WeightsError(f"{path}: not a safetensors file (bad header)")
    needed = _data_end(header, path)
    if needed > path.stat().st_size:
        raise WeightsError(
            f"{path}: truncated safetensors file ({path.stat().st_size} bytes, header needs {needed}); "
            "download or convert it again"
        )
    try:
        tensors = load_file(path)
    except SafetensorError as e:
        raise WeightsError(f"{path}: unreadable safetensors file: {e}") from None
    return tensors, dict(header.get("__metadata__") or {})


def _data_end(header: dict, path: Path) -> int:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (KeyError, TypeError, IndexError, ValueError):
        raise WeightsError(f"{path}: malformed safetensors header") from None
    return 8 + n + max(ends, default=0)


def config_from_metadata(metadata: dict[str, str], path: Path) -> FILMConfig | None:
    """The FILMConfig stored in metadata["config"], or None when absent."""
    if "config" not in metadata:
        return None
    try:
        return FILMConfig.from_dict(json.loads(metadata["config"]))
    except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as e:
        raise WeightsError(f"{path}: the config in the file's metadata is invalid: {e}") from None


def save_model(model: nn.Module, path: str | Path, *, metadata: dict[str, str] | None = None) -> Path:
    """Write `model` (a FILM) as native filmnet safetensors, atomically.

    Args:
        model: FILM whose `config` and `state_dict()` are saved (tensors keep their dtype).
        path: destination `.safetensors`; replaced atomically if it exists.
        metadata: extra string entries; cannot override `format` or `config`.
    Returns:
        The path written.
    """
    from safetensors.torch import save

    path = Path(path)
    if not isinstance(getattr(model, "config", None), FILMConfig):
        raise WeightsError(f"save_model needs a FILM model (with a FILMConfig `config`), got {type(model).__name__}")
    extra = dict(metadata or {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        raise WeightsError("metadata keys and values must be strings")
    meta = {
        **extra,
        "format": NATIVE_FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict(), sort_keys=True),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Serialise to bytes first: safetensors' own file writer creates files 0600.
    return write_bytes_atomic(path, save(tensors, metadata=meta))
