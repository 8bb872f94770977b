"""Read tensors from a TorchScript `.pt` archive without running any of its code.

A TorchScript archive is a zip: `<name>/data.pkl` (the module tree, pickled), `<name>/data/<n>` (raw
storages), `<name>/code/` (TorchScript source) and `<name>/constants.pkl`. We unpickle `data.pkl` with a
restricted unpickler: only tensor-rebuild and container globals are allowed, `__torch__.*` module
objects become inert stand-ins that record their attributes, and anything else is refused.
`torch.jit.load` is never used: it would compile and run the archive's code.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


class ScriptObject:
    """Inert stand-in for a pickled `__torch__.*` object: keeps its class name and state, runs nothing."""

    qualname = "__torch__"

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    if not all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride)):
        raise WeightsError("malformed tensor record in data.pkl")
    extent = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
    numel = 1
    for s in size:
        numel *= s
    if len(size) != len(stride) or extent > storage.numel() or numel > storage.numel():
        raise WeightsError(f"tensor of size {tuple(size)} does not fit its storage of {storage.numel()} elements")
    return torch.as_strided(storage, tuple(size), tuple(stride), offset).clone()


def _identity(value: Any, *_: Any) -> Any:
    return value


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("collections", "OrderedDict"): OrderedDict,
    # TorchScript's typed containers: the values are already plain lists/dicts.
    **{("torch.jit._pickle", n): _identity for n in (
        "restore_type_tag", "build_intlist", "build_floatlist", "build_doublelist", "build_boollist",
        "build_tensorlist", "build_tensor_from_id",
    )},
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix
        self.stand_ins: dict[str, type[ScriptObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualname = f"{module}.{name}"
            if qualname not in self.stand_ins:
                self.stand_ins[qualname] = type("ScriptObject", (ScriptObject,), {"qualname": qualname})
            return self.stand_ins[qualname]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise WeightsError(
            f"refusing to load: the archive's data.pkl references {module}.{name}, which is not needed to rebuild "
            "tensors (possibly a malicious file); nothing was executed"
        )

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise WeightsError(f"unsupported persistent id in data.pkl: {pid!r:.80}")
        dtype, key, numel = pid[1].dtype, str(pid[2]), pid[4]
        try:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
        except KeyError:
            raise WeightsError(f"storage data/{key} is missing from the archive (truncated file?)") from None
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not isinstance(numel, int) or len(raw) < numel * itemsize:
            raise WeightsError(f"storage data/{key} is truncated: {len(raw)} bytes for {numel} elements")
        if numel == 0:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(bytearray(raw[: numel * itemsize]), dtype=dtype)


def archive_prefix(zf: zipfile.ZipFile) -> str | None:
    """The top folder holding `data.pkl` in a torch zip archive, or None."""
    for name in zf.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[1] == "data.pkl":
            return parts[0]
    return None


def is_torchscript(zf: zipfile.ZipFile) -> bool:
    """TorchScript archives have `code/` and `constants.pkl` beside `data.pkl`; torch.save archives do not."""
    prefix = archive_prefix(zf)
    names = zf.namelist()
    return prefix is not None and (
        f"{prefix}/constants.pkl" in names or any(n.startswith(f"{prefix}/code/") for n in names)
    )


def read_torchscript(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors by dotted attribute path, root module's scalar attributes) of a TorchScript archive."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            refuse_bombs(zf)
            prefix = archive_prefix(zf)
            if prefix is None:
                raise WeightsError(f"{path}: zip archive without <name>/data.pkl; not a TorchScript file")
            if _big_endian(zf, prefix):
                raise WeightsError(f"{path}: big-endian archives are not supported")
            root = _RestrictedUnpickler(zf.read(f"{prefix}/data.pkl"), zf, prefix).load()
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from None
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise WeightsError(f"{path}: corrupt or truncated TorchScript archive ({e})") from None
    except Exception as e:  # any malformed pickle stream
        raise WeightsError(f"{path}: cannot read data.pkl ({type(e).__name__}: {e})") from None
    tensors: dict[str, torch.Tensor] = {}
    try:
        _collect(root, "", tensors, set())
    except RecursionError:
        raise WeightsError(f"{path}: data.pkl nests modules too deeply to be a model") from None
    attrs = _state(root)
    scalars = {k: v for k, v in attrs.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return tensors, scalars


MAX_INFLATION = 100  # a compressed member may inflate at most this much (torch itself stores members uncompressed)
INFLATION_SLACK = 1 << 20


def refuse_bombs(zf: zipfile.ZipFile) -> None:
    """Refuse a zip whose central directory promises more than it holds, before anything is inflated.

    Every member must lie inside the archive; a stored member inflates to exactly its stored size; the compressed
    members together inflate to at most MAX_INFLATION x their stored bytes + INFLATION_SLACK. Readers (Python's
    zipfile, torch's miniz) stop at the declared size, so what any member can grow to is bounded by this check."""
    archive = os.path.getsize(zf.filename) if zf.filename else None
    packed = inflated = 0
    for info in zf.infolist():
        if archive is not None and info.compress_size > archive:
            raise WeightsError(f"member {info.filename} claims {info.compress_size} bytes in a {archive}-byte "
                               "archive; the file is corrupt or truncated")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise WeightsError(f"stored member {info.filename} claims {info.file_size} bytes but holds "
                                   f"{info.compress_size}; the file is corrupt")
            continue
        packed, inflated = packed + info.compress_size, inflated + info.file_size
        if inflated > MAX_INFLATION * packed + INFLATION_SLACK:
            raise WeightsError(f"compressed members would inflate {packed} bytes to {inflated} (member "
                               f"{info.filename}); a decompression bomb, not a model archive")


def _big_endian(zf: zipfile.ZipFile, prefix: str) -> bool:
    try:
        return zf.read(f"{prefix}/byteorder").strip() == b"big"
    except KeyError:
        return False


def _state(obj: Any) -> dict:
    state = obj.state if isinstance(obj, ScriptObject) else obj
    return state if isinstance(state, dict) else {}


def _collect(obj: Any, prefix: str, out: dict[str, torch.Tensor], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    for name, value in _state(obj).items():
        if not isinstance(name, str):
            continue
        key = f"{prefix}{name}"
        if isinstance(value, torch.Tensor):
            out[key] = value
        elif isinstance(value, (ScriptObject, dict)):
            _collect(value, f"{key}.", out, seen)
