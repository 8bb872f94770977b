"""Load FILM weights from any supported file into a ready model, and convert files to native safetensors.

Data flow: `detect_format` (by content) -> a reader returning a state_dict (+ config if stored) ->
`normalize_keys` -> config (explicit > stored > `infer_config`) -> strict shape check on a meta-device
model -> materialise, load, cast, eval. See `weights_formats.md` for every format and key naming.
"""
from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import WeightsError
from ..model.config import FILMConfig, get_config
from ..model.film import FILM
from . import keys as keynames
from .infer import infer_config
from .native import NATIVE_FORMAT, config_from_metadata, read_header, read_safetensors, save_model
from .registry import is_model_name
from .torchscript import archive_prefix, is_torchscript, read_torchscript, refuse_bombs

log = logging.getLogger(__name__)

FORMATS = {
    "savedmodel": "official TensorFlow SavedModel folder (saved_model.pb + variables/), or its variables.index",
    "torchscript": "TorchScript .pt archive (dajes/frame-interpolation-pytorch v1.0.0 or v1.0.2+, fp16/fp32)",
    "torch": "PyTorch state_dict saved with torch.save (zip format, loaded with weights_only=True)",
    NATIVE_FORMAT: "filmnet .safetensors with the config in its metadata (`filmnet convert` output)",
    "comfyui": "ComfyUI film_net_fp16.safetensors (`.conv.` key naming)",
    "safetensors": "plain safetensors state_dict in filmnet/dajes key naming (config inferred from shapes)",
}
_INDEX_MAGIC = bytes.fromhex("57fb808b247547db")  # LevelDB table footer magic 0xdb4775248b80fb57, LE


@dataclass
class LoadedWeights:
    """A state_dict in our key naming, plus what the file said about itself."""

    state: dict[str, torch.Tensor]
    format: str
    naming: str = keynames.FILMNET
    config: FILMConfig | None = None
    pyramid_levels: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def detect_format(path: str | Path) -> str:
    """One of FORMATS' keys, decided from the content (zip magic, safetensors header, SavedModel layout)."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"weights not found: {path}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "variables" / "variables.index").is_file() \
                or (path / "variables.index").is_file():
            return "savedmodel"
        raise WeightsError(f"{path} is a folder but not a SavedModel (no saved_model.pb or variables/). {_accepted()}")
    if path.name == "saved_model.pb" or _is_tf_index(path):
        return "savedmodel"
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04" or zipfile.is_zipfile(path):
        with _open_zip(path) as zf:
            if is_torchscript(zf):
                return "torchscript"
            if archive_prefix(zf) is not None:
                return "torch"
        raise WeightsError(f"{path}: a zip archive but not a PyTorch/TorchScript file. {_accepted()}")
    header = read_header(path)
    if header is not None:
        meta = header.get("__metadata__") or {}
        if meta.get("format") == NATIVE_FORMAT:
            return NATIVE_FORMAT
        naming = keynames.detect_naming([k for k in header if k != "__metadata__"])
        return "comfyui" if naming == keynames.COMFYUI else "safetensors"
    raise WeightsError(f"{path}: unknown weights format. {_accepted()}")


def read_weights(path: str | Path, *, config: FILMConfig | None = None, verify_checksums: bool = True) -> LoadedWeights:
    """The state_dict (our naming) and stored config/metadata of a weights file of any supported format."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "savedmodel":
        return LoadedWeights(_read_savedmodel(path, config, verify_checksums), fmt)
    if fmt == "torchscript":
        state, scalars = read_torchscript(path)
        pyramid = scalars.get("pyramid_levels")
        return _normalized(state, fmt, pyramid_levels=pyramid if isinstance(pyramid, int) else None)
    if fmt == "torch":
        return _normalized(_read_torch_zip(path), fmt)
    state, meta = read_safetensors(path)
    stored = config_from_metadata(meta, path)
    pyramid = meta.get("pyramid_levels")
    return _normalized(state, fmt, stored, int(pyramid) if pyramid and pyramid.isdigit() else None, meta)


def load_model(
    source: str | Path | Mapping[str, torch.Tensor],
    *,
    config: FILMConfig | str | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    verify_checksums: bool = True,
) -> FILM:
    """A FILM in eval mode with weights from `source`.

    Args:
        source: weights file/folder of any format in FORMATS, or a state_dict. Paths only: a model name (or None,
            the default model) becomes a path in `weights.hub` (`hub.model_path("film_net")`,
            `hub.resolve_weights(None)`).
        config: architecture; None means the file's stored config, else inferred from the shapes.
        device, dtype: where and in which precision the model lives.
        verify_checksums: check the SavedModel's per-tensor CRC32C.
    Returns:
        The model, on `device` in `dtype`, in eval mode.
    """
    cfg = get_config(config) if isinstance(config, str) else config
    if isinstance(source, Mapping):
        loaded = _normalized(dict(source), "state_dict")
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).exists() and is_model_name(source):
            raise WeightsError(f"{source!r} is a model name, not a file: load_model takes paths; use "
                               f"load_model(filmnet.weights.hub.model_path({str(source)!r}))")
        loaded = read_weights(source, config=cfg, verify_checksums=verify_checksums)
    else:
        raise WeightsError(f"load_model takes a weights path or a state_dict, not {type(source).__name__}; for "
                           "the default model use load_model(filmnet.weights.hub.resolve_weights(None))")
    cfg = cfg or loaded.config or infer_config(loaded.state, pyramid_levels=loaded.pyramid_levels)
    return build_model(cfg, loaded.state, device=device, dtype=dtype)


def build_model(
    config: FILMConfig, state: Mapping[str, torch.Tensor], *, device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> FILM:
    """FILM(config) loaded strictly from `state` (our naming), cast to `dtype`, on `device`, in eval mode."""
    with torch.device("meta"):
        model = FILM(config)
    check_state_dict(model, state, config)
    check_finite(state)
    model = model.to_empty(device=device).to(dtype)  # FILM has no buffers: every tensor comes from `state`
    model.load_state_dict(state, strict=True)
    return model.eval()


def check_finite(state: Mapping[str, torch.Tensor]) -> None:
    """Raise WeightsError naming the first floating-point tensor that holds NaN or Inf."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            kinds = " and ".join(k for k, f in (("NaN", torch.isnan), ("Inf", torch.isinf)) if bool(f(tensor).any()))
            raise WeightsError(f"weights tensor {name} holds {kinds} ({bad} of {tensor.numel()} values); the file is "
                               "damaged or comes from a diverged training run")


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], config: FILMConfig) -> None:
    """Raise WeightsError naming missing/unexpected keys and the first tensor whose shape differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatch = next(
        (f"{k}: file {list(state[k].shape)} vs model {list(v.shape)}"
         for k, v in expected.items() if k in state and state[k].shape != v.shape),
        None,
    )
    if not (missing or unexpected or mismatch):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:3])})")
    if mismatch:
        problems.append(f"first shape mismatch: {mismatch}")
    raise WeightsError(
        f"weights do not fit the FILM architecture {config}: " + "; ".join(problems)
        + ". Pass the matching config=..., or check that the file is a FILM model."
    )


def convert(
    src: str | Path, dst: str | Path, *, config: FILMConfig | str | None = None, verify_checksums: bool = True,
    overwrite: bool = False, dtype: torch.dtype = torch.float32,
) -> Path:
    """Convert weights of any supported format to native filmnet safetensors (written atomically).

    Args:
        src: input weights (see FORMATS).
        dst: output `.safetensors`; must differ from `src` and not exist unless `overwrite`.
        config, verify_checksums: as in `load_model`.
        dtype: precision stored in `dst`.
    Returns:
        `dst` as a Path.
    """
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise WeightsError(f"weights not found: {src}")
    if _same_or_inside(dst, src):
        raise WeightsError(f"refusing to write {dst}: it is the input {src} (choose another output path)")
    if dst.exists() and not overwrite:
        raise WeightsError(f"{dst} already exists; pass --force (Python: overwrite=True) to replace it")
    from ..io.guard import refuse_input_overwrite

    refuse_input_overwrite(dst, [src])  # symlinks, hard links, an output folder holding the input
    fmt = detect_format(src)
    model = load_model(src, config=config, dtype=dtype, verify_checksums=verify_checksums)
    save_model(model, dst, metadata={"source_format": fmt, "source_name": src.name})
    log.info("converted %s (%s) -> %s", src, fmt, dst)
    return dst


def _normalized(
    state: dict[str, torch.Tensor], fmt: str, config: FILMConfig | None = None, pyramid_levels: int | None = None,
    metadata: dict[str, str] | None = None,
) -> LoadedWeights:
    state, naming = keynames.normalize_keys(state)
    return LoadedWeights(state, fmt, naming, config, pyramid_levels, metadata or {})


def _read_savedmodel(path: Path, config: FILMConfig | None, verify_checksums: bool) -> dict[str, torch.Tensor]:
    from .savedmodel import savedmodel_state_dict

    if path.name == "saved_model.pb":
        path = path.parent
    levels = {} if config is None else {
        "specialized_levels": config.specialized_levels, "fusion_pyramid_levels": config.fusion_pyramid_levels,
    }
    return savedmodel_state_dict(path, verify_checksums=verify_checksums, **levels)


def _read_torch_zip(path: Path) -> dict[str, torch.Tensor]:
    with _open_zip(path):
        pass  # sizes checked from the central directory before torch inflates anything
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses anything but tensors and containers
        reason = " ".join(str(e).split())
        reason = reason if len(reason) <= 200 else reason[:197] + "..."
        raise WeightsError(f"{path}: cannot read as a PyTorch state_dict safely ({type(e).__name__}: {reason})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a state_dict (a mapping of tensors), got {type(obj).__name__}")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _is_tf_index(path: Path) -> bool:
    if path.stat().st_size < 48:
        return False
    with open(path, "rb") as f:
        f.seek(-8, os.SEEK_END)
        return f.read(8) == _INDEX_MAGIC


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise WeightsError(f"{path}: corrupt or truncated zip archive ({e})") from None
    try:
        refuse_bombs(zf)
    except WeightsError as e:
        zf.close()
        raise WeightsError(f"{path}: {e}") from None
    return zf


def _same_or_inside(dst: Path, src: Path) -> bool:
    d, s = dst.resolve(), src.resolve()
    return d == s or (s.is_dir() and s in d.parents) or (d.exists() and os.path.samefile(d, s))


def _accepted() -> str:
    return "Accepted formats: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items())
