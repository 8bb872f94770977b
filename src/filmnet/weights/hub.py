"""Named pretrained models: a registry, a verified download cache, and the default-model rule.

`model_path("film_net")` returns a local file: the cached copy (its sha256 checked against the one recorded when
it was fetched), else a fresh download from the entry's sources in order. A download streams into `<file>.part`
(resumed with HTTP Range), is validated (size near the expected one, every official tensor present with the
official shape and finite values, the pinned sha256 if any) and only then renamed into the cache. A file lock
makes concurrent pulls end with one good file.

Environment: FILMNET_HOME (cache folder; else $XDG_CACHE_HOME/filmnet, else ~/.cache/filmnet), FILMNET_OFFLINE=1
(never touch the network), FILMNET_MIRROR=URL (fetch every source from URL/<file name> instead).
The transfer and the checks before a file enters the cache are `download.py`'s (HTTP through `requests`).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import WeightsError
from .download import DownloadError, fetch, sha256_file, short, validate_download, write_json  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "film_net"
FALLBACK_MODEL = "film_lite"
FAILURE_MEMORY_S = 600.0  # after a failed default download, skip the network for this long
_FAILURE_FILE = "last-download-failure.json"


@dataclass(frozen=True)
class Source:
    """One place a model file can be fetched from: its URL, expected size in bytes, and pinned sha256 if known."""

    url: str
    size: int | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return urlsplit(self.url).path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ModelEntry:
    """A named model. `size` and `sha256` describe the first source's file (sha256 None: trust on first use)."""

    name: str
    description: str
    config: str
    sources: tuple[Source, ...] = ()
    size: int | None = None
    license: str = ""
    sha256: str | None = None
    aliases: tuple[str, ...] = ()
    bundled: str | None = None  # file name under filmnet/assets for a model shipped in the package

    def __post_init__(self) -> None:
        if not self.sources:
            return
        first = self.sources[0]
        size, sha = first.size or self.size, first.sha256 or self.sha256
        object.__setattr__(self, "sources", (Source(first.url, size, sha), *self.sources[1:]))
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "sha256", sha)


MODELS: "OrderedDict[str, ModelEntry]" = OrderedDict()
_ALIASES: dict[str, str] = {}


def register_model(entry: ModelEntry) -> ModelEntry:
    """Add `entry` to MODELS (names and aliases must be new)."""
    for key in (entry.name, *entry.aliases):
        if key in MODELS or key in _ALIASES:
            raise ValueError(f"model name {key!r} is already registered")
    MODELS[entry.name] = entry
    _ALIASES.update({alias: entry.name for alias in entry.aliases})
    return entry


def unregister_model(name: str) -> None:
    entry = MODELS.pop(name)
    for alias in entry.aliases:
        _ALIASES.pop(alias, None)


_FILM_NET_PARAMS = 34_436_667  # tensors of the official film_net (Style/L1/VGG share the architecture)

register_model(ModelEntry(
    name="film_net",
    description="FILM Style weights (Reda et al. 2022), the official release: sharp frames under large motion",
    config="film_net",
    sources=(
        Source("https://huggingface.co/Comfy-Org/frame_interpolation/resolve/219da3c9d8c357ceaf457fc1d5932c6e861b8dee"
               "/frame_interpolation/film_net_fp16.safetensors", size=2 * _FILM_NET_PARAMS),
        Source("https://github.com/dajes/frame-interpolation-pytorch/releases/download/v1.0.2/film_net_fp32.pt",
               size=4 * _FILM_NET_PARAMS),
    ),
    license="MIT + Apache-2.0",
    aliases=("film_net-style",),
))
register_model(ModelEntry(
    name="film_lite",
    description="bundled CPU-friendly FILM (a quarter of the channels), trained by this project; the offline fallback",
    config="film_lite",
    license="Apache-2.0",
    bundled="film_lite.safetensors",
))


# ------------------------------------------------------------------ names and paths


def resolve_name(name: str) -> ModelEntry:
    """The entry for a model name or alias; WeightsError listing the known names otherwise."""
    key = _ALIASES.get(name, name)
    if key not in MODELS:
        known = ", ".join(MODELS)
        raise WeightsError(f"unknown model {name!r}; known models: {known} (see `filmnet models`)")
    return MODELS[key]


def is_model_name(name: object) -> bool:
    return isinstance(name, str) and (name in MODELS or name in _ALIASES)


def cache_dir() -> Path:
    """$FILMNET_HOME, else $XDG_CACHE_HOME/filmnet, else ~/.cache/filmnet."""
    if os.environ.get("FILMNET_HOME"):
        return Path(os.environ["FILMNET_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "filmnet"
    return Path.home() / ".cache" / "filmnet"


def offline() -> bool:
    return os.environ.get("FILMNET_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def source_urls(entry: ModelEntry) -> list[tuple[Source, str]]:
    """(source, URL to fetch) in order; FILMNET_MIRROR replaces each URL by MIRROR/<file name>."""
    mirror = os.environ.get("FILMNET_MIRROR", "").strip()
    return [(s, f"{mirror.rstrip('/')}/{s.filename}" if mirror else s.url) for s in entry.sources]


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / resolve_name(name).name


def bundled_path(entry: ModelEntry) -> Path:
    from .loader import default_weights

    return Path(str(default_weights(entry.bundled)))


@dataclass
class CachedFile:
    path: Path
    record: dict = field(default_factory=dict)  # what was recorded at fetch time: sha256, size, url, fetched

    @property
    def sha256(self) -> str:
        return self.record.get("sha256", "")


def cached_file(name: str) -> CachedFile | None:
    """The cached download of `name` (first source's file first) with its recorded sha256, or None."""
    entry = resolve_name(name)
    folder = model_dir(entry.name)
    for source in entry.sources:
        path, record = folder / source.filename, _record_path(folder / source.filename)
        if path.is_file() and record.is_file():
            try:
                return CachedFile(path, json.loads(record.read_text()))
            except (OSError, ValueError):
                continue
    return None


def is_cached(name: str) -> bool:
    """True for a bundled model or a downloaded one present in the cache (its hash is checked on load)."""
    entry = resolve_name(name)
    return entry.bundled is not None or cached_file(entry.name) is not None


def model_path(name: str, *, download: bool = True, progress: bool = True) -> Path:
    """A local, verified file for model `name`: bundled, cached (sha256 checked), or downloaded now.

    Raises:
        WeightsError: unknown name, a cached file whose sha256 changed, or not cached and `download` is False.
        DownloadError: no source could be fetched and validated, or FILMNET_OFFLINE=1.
    """
    entry = resolve_name(name)
    if entry.bundled:
        return bundled_path(entry)
    cached = cached_file(entry.name)
    if cached is not None:
        return verify_cached(entry, cached)
    if not download:
        raise WeightsError(f"model {entry.name} is not downloaded yet; run `filmnet models pull {entry.name}`")
    return pull(entry.name, progress=progress)


def verify_cached(entry: ModelEntry, cached: CachedFile) -> Path:
    """`cached.path` if its sha256 still equals the recorded one (and the pinned one); WeightsError otherwise."""
    digest = sha256_file(cached.path)
    source = next((s for s in entry.sources if s.filename == cached.path.name), None)
    expected = [h for h in (cached.sha256, source.sha256 if source else None) if h]
    if not expected or any(digest != h for h in expected):
        raise WeightsError(
            f"cached {entry.name} at {cached.path} does not match its recorded sha256 "
            f"(file {digest[:16]}..., expected {(expected or ['none recorded'])[0][:16]}...): it changed since it "
            f"was fetched. Remove it with `filmnet models rm {entry.name}` and pull it again")
    return cached.path


def remove(name: str) -> list[Path]:
    """Delete the cached download of `name` (files, records and partial downloads); returns what was removed."""
    entry = resolve_name(name)
    if entry.bundled:
        raise WeightsError(f"{entry.name} is bundled with filmnet; there is nothing to remove")
    folder = model_dir(entry.name)
    removed = []
    with _lock(entry):
        for source in entry.sources:
            for path in (folder / source.filename, _record_path(folder / source.filename), _part_path(folder, source)):
                if path.exists():
                    path.unlink()
                    removed.append(path)
    return removed


# ------------------------------------------------------------------ the default model


_noted: set[str] = set()


def default_model_path(*, progress: bool = True) -> Path:
    """film_net from the cache, else downloaded now (unless offline or a download failed recently), else the
    bundled film_lite with a one-line note on stderr saying how to get film_net."""
    entry = MODELS[DEFAULT_MODEL]
    cached = cached_file(entry.name)
    if cached is not None:
        return verify_cached(entry, cached)  # a changed file is refused, never silently replaced
    if offline():
        reason = "FILMNET_OFFLINE=1"
    elif (failed := _recent_failure()) is not None:
        reason = f"a download failed {failed / 60:.0f} min ago; retrying after {FAILURE_MEMORY_S / 60:.0f} min"
    else:
        try:
            return pull(entry.name, progress=progress, report_sources=False)
        except (DownloadError, OSError) as err:  # OSError: e.g. a read-only cache folder
            _remember_failure(str(err))
            reason = "it could not be downloaded"
    _note_once(f"note: using the bundled {FALLBACK_MODEL}, not the real FILM ({DEFAULT_MODEL} is not in the cache "
               f"and {reason}); get it once with `filmnet models pull {DEFAULT_MODEL}`")
    return bundled_path(MODELS[FALLBACK_MODEL])


def resolve_weights(weights):
    """What a weights argument means: None -> the default model's file; an existing path -> that path; a model name
    (no such path) -> the model's file; anything else (a module, a state_dict, a missing path) unchanged."""
    if weights is None:
        return default_model_path()
    if isinstance(weights, (str, os.PathLike)):
        if Path(weights).exists():
            return weights
        if is_model_name(weights):
            return model_path(weights)
    return weights


def _note_once(message: str, key: str = "fallback") -> None:
    """Print `message` on stderr the first time `key` comes up in this process."""
    if key not in _noted:
        _noted.add(key)
        print(message, file=sys.stderr, flush=True)


def _failure_path() -> Path:
    return cache_dir() / _FAILURE_FILE


def _recent_failure() -> float | None:
    """Seconds since the last failed default download, if under FAILURE_MEMORY_S."""
    try:
        at = float(json.loads(_failure_path().read_text())["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    age = time.time() - at
    return age if 0 <= age < FAILURE_MEMORY_S else None


def _remember_failure(message: str) -> None:
    try:
        write_json(_failure_path(), {"time": time.time(), "error": message})
    except OSError:
        pass


def _forget_failure() -> None:
    try:
        _failure_path().unlink()
    except OSError:
        pass


# ------------------------------------------------------------------ pulling (the transfer itself: download.py)


def pull(name: str, *, progress: bool = True, force: bool = False, report_sources: bool = True) -> Path:
    """Download `name` into the cache (unless cached and verified, or `force`) and return its path.

    Sources are tried in order; with `report_sources`, each failure is one note on stderr."""
    entry = resolve_name(name)
    if entry.bundled:
        return bundled_path(entry)
    if offline():
        raise DownloadError(f"{entry.name} is not in the cache ({cache_dir()}) and FILMNET_OFFLINE=1 forbids "
                            f"downloading it; unset FILMNET_OFFLINE or set FILMNET_MIRROR to a reachable copy")
    if not entry.sources:
        raise DownloadError(f"{entry.name} has no download sources")
    folder = model_dir(entry.name)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(entry, progress):
        cached = cached_file(entry.name)
        if cached is not None and not force:
            return verify_cached(entry, cached)  # another process finished it while we waited
        if force:
            for source in entry.sources:
                for path in (folder / source.filename, _record_path(folder / source.filename)):
                    path.unlink(missing_ok=True)
        errors = []
        for source, url in source_urls(entry):
            try:
                path = fetch(entry, source, url, folder, progress)
            except (DownloadError, WeightsError) as err:
                errors.append(f"{url}: {err}")
                log.info("source failed: %s", errors[-1])
                if report_sources:
                    print(f"note: {url} failed: {short(str(err))}", file=sys.stderr, flush=True)
                continue
            _forget_failure()
            return path
    raise DownloadError(f"could not download {entry.name}: " + "; ".join(errors))


def _lock(entry: ModelEntry):
    from filelock import FileLock

    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{entry.name}.lock"))


@contextmanager
def _locked(entry: ModelEntry, progress: bool = True) -> Iterator[None]:
    """Hold the model's lock; say so once if another process holds it (it is downloading the same model)."""
    from filelock import Timeout

    lock = _lock(entry)
    try:
        lock.acquire(timeout=0.2)
    except Timeout:
        if progress:
            print(f"waiting for another filmnet process that is downloading {entry.name} ({lock.lock_file})",
                  file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _part_path(folder: Path, source: Source) -> Path:
    return folder / f"{source.filename}.part"


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")
