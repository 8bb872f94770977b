"""The named models: entries, their download sources (with pins), and the bundled files.

The bottom of the weights layers: it imports nothing from `hub`, `download` or `loader`. `hub.py` turns a name
into a local path with these entries; `download.py` fetches and validates one source.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import WeightsError

DEFAULT_MODEL = "film_net"
FALLBACK_MODEL = "film_lite"
DEFAULT_WEIGHTS = "film_lite.safetensors"  # the bundled file under filmnet/assets


@dataclass(frozen=True)
class Source:
    """One place a model file can be fetched from: its URL, expected size in bytes, and sha256 pin.

    A source with `sha256` is pinned: its download must have exactly `size` bytes (when given) and that sha256.
    An unpinned source is accepted by size near `size` and the official tensor shapes (`download.validate`)."""

    url: str
    size: int | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return urlsplit(self.url).path.rsplit("/", 1)[-1]

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True)
class ModelEntry:
    """A named model; `sources` are tried in order, `bundled` names a file shipped in filmnet/assets."""

    name: str
    description: str
    config: str
    sources: tuple[Source, ...] = ()
    license: str = ""
    aliases: tuple[str, ...] = ()
    bundled: str | None = None

    @property
    def size(self) -> int | None:
        """The first source's expected size."""
        return self.sources[0].size if self.sources else None

    @property
    def sha256(self) -> str | None:
        """The first source's pinned sha256 (None: accepted by shape checks, hash recorded on first download)."""
        return self.sources[0].sha256 if self.sources else None


MODELS: "OrderedDict[str, ModelEntry]" = OrderedDict()
ALIASES: dict[str, str] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add `entry` to MODELS (names and aliases must be new)."""
    for key in (entry.name, *entry.aliases):
        if key in MODELS or key in ALIASES:
            raise ValueError(f"model name {key!r} is already registered")
    MODELS[entry.name] = entry
    ALIASES.update({alias: entry.name for alias in entry.aliases})
    return entry


def unregister_model(name: str) -> ModelEntry:
    entry = MODELS.pop(name)
    for alias in entry.aliases:
        ALIASES.pop(alias, None)
    return entry


FILM_NET_PARAMS = 34_436_667  # tensors of the official film_net (Style/L1/VGG share the architecture)
FILM_NET_FP16_SIZE = 68_882_302  # 82 fp16 tensors in ComfyUI naming, no metadata
FILM_NET_FP16_SHA256 = "f226e51375dc839d4b40e5c3d63da560dd1ea1c962364ec78f5adf2d05db05c0"
FILM_NET_REVISION = "219da3c9d8c357ceaf457fc1d5932c6e861b8dee"

register_model(ModelEntry(
    name="film_net",
    description="FILM Style weights (Reda et al. 2022), the official release: sharp frames under large motion",
    config="film_net",
    sources=(
        Source(f"https://huggingface.co/Comfy-Org/frame_interpolation/resolve/{FILM_NET_REVISION}"
               "/frame_interpolation/film_net_fp16.safetensors", size=FILM_NET_FP16_SIZE, sha256=FILM_NET_FP16_SHA256),
        Source("https://github.com/dajes/frame-interpolation-pytorch/releases/download/v1.0.2/film_net_fp32.pt",
               size=4 * FILM_NET_PARAMS),
    ),
    license="MIT + Apache-2.0",
    aliases=("film_net-style",),
))
register_model(ModelEntry(
    name="film_lite",
    description="bundled CPU-friendly FILM (a quarter of the channels), trained by this project; the offline fallback",
    config="film_lite",
    license="Apache-2.0",
    bundled=DEFAULT_WEIGHTS,
))


def resolve_name(name: str) -> ModelEntry:
    """The entry for a model name or alias; WeightsError listing the known names otherwise."""
    key = ALIASES.get(name, name)
    if key not in MODELS:
        known = ", ".join(MODELS)
        raise WeightsError(f"unknown model {name!r}; known models: {known} (see `filmnet models`)")
    return MODELS[key]


def is_model_name(name: object) -> bool:
    return isinstance(name, str) and (name in MODELS or name in ALIASES)


def source_urls(entry: ModelEntry) -> list[tuple[Source, str]]:
    """(source, URL to fetch) in order; FILMNET_MIRROR replaces each URL by MIRROR/<file name> (pins still apply)."""
    mirror = os.environ.get("FILMNET_MIRROR", "").strip()
    return [(s, f"{mirror.rstrip('/')}/{s.filename}" if mirror else s.url) for s in entry.sources]


def bundled_file(name: str | None = None):
    """The bundled weights file `name` (default: film_lite) as a Traversable; WeightsError explaining how to get
    weights if it is not installed."""
    name = name or DEFAULT_WEIGHTS
    path = resources.files("filmnet") / "assets" / name
    if not path.is_file():
        raise WeightsError(
            f"no bundled default weights (filmnet/assets/{name} is not installed). Fetch the official FILM with "
            "`filmnet models pull film_net` (or `--model film_net`), or download the official "
            "FILM SavedModel (Google Drive folder linked in the FILM README: "
            "pretrained_models/film_net/{L1,Style,VGG}/saved_model), convert it with "
            "`filmnet convert path/to/saved_model -o film_net.safetensors`, and pass that file "
            "(`--weights film_net.safetensors`, or load_model('film_net.safetensors'))."
        )
    return path


def bundled_path(entry: ModelEntry) -> Path:
    return Path(str(bundled_file(entry.bundled)))
