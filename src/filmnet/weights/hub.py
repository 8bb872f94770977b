"""Named pretrained models: a name becomes a local, verified path here, and nowhere else.

`model_path("film_net")` returns a local file: the bundled one, the cached copy (its sha256 checked against the
one recorded when it was fetched, and the pin), else a fresh download from the entry's sources in order
(`download.fetch`: transfer, validation, record). A file lock makes concurrent pulls end with one good file.
The entries and their pins are `registry.py`'s; `loader.load_model` takes paths only.

Environment: FILMNET_HOME (cache folder; else $XDG_CACHE_HOME/filmnet, else ~/.cache/filmnet), FILMNET_OFFLINE=1
(never touch the network), FILMNET_MIRROR=URL (fetch every source from URL/<file name> instead; pins still
apply), FILMNET_DOWNLOAD_* (stall and deadline settings, `transfer.py`).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WeightsError
from .download import DownloadError, StallError, failure_message, fetch, sha256_file, short, write_json
from .registry import (  # noqa: F401 (re-exported: the hub is where callers find the models)
    DEFAULT_MODEL, FALLBACK_MODEL, MODELS, ModelEntry, Source, bundled_path, is_model_name, register_model,
    resolve_name, source_urls, unregister_model,
)

log = logging.getLogger(__name__)

FAILURE_MEMORY_S = 600.0  # after a failed default download, skip the network for this long
FAILURE_FILE = "last-download-failure.json"


# ------------------------------------------------------------------ names and paths


def cache_dir() -> Path:
    """$FILMNET_HOME, else $XDG_CACHE_HOME/filmnet, else ~/.cache/filmnet."""
    if os.environ.get("FILMNET_HOME"):
        return Path(os.environ["FILMNET_HOME"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "filmnet"
    return Path.home() / ".cache" / "filmnet"


def offline() -> bool:
    return os.environ.get("FILMNET_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / resolve_name(name).name


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
            except (OSError, ValueError, RecursionError):
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
            part = _part_path(folder, source)
            for path in (folder / source.filename, _record_path(folder / source.filename), part, _record_path(part)):
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
            return pull(entry.name, progress=progress, report_sources=False, stall_ends=True)
        except (DownloadError, OSError) as err:  # OSError: e.g. a read-only cache folder
            _remember_failure(str(err))
            reason = "the download stalled" if isinstance(err, StallError) else "it could not be downloaded"
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
    return cache_dir() / FAILURE_FILE


def _recent_failure() -> float | None:
    """Seconds since the last failed default download, if under FAILURE_MEMORY_S."""
    try:
        at = float(json.loads(_failure_path().read_text())["time"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
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


def pull(name: str, *, progress: bool = True, force: bool = False, report_sources: bool = True,
         stall_ends: bool = False) -> Path:
    """Download `name` into the cache (unless cached and verified, or `force`) and return its path.

    Sources are tried in order; with `report_sources`, each failure is one note on stderr. With `stall_ends`, a
    stalled source ends the pull (StallError) instead of trying the next (the default-model path falls back at
    once). Every failure is one line (`download.failure_message`)."""
    entry = resolve_name(name)
    if entry.bundled:
        return bundled_path(entry)
    if offline():
        raise DownloadError(f"{entry.name} is not in the cache ({cache_dir()}) and FILMNET_OFFLINE=1 forbids "
                            f"downloading it; unset FILMNET_OFFLINE, set FILMNET_MIRROR to a reachable copy, or pass a "
                            "downloaded file with --weights FILE")
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
        failures: list[tuple[str, BaseException]] = []
        for source, url in source_urls(entry):
            try:
                path = fetch(entry, source, url, folder, progress)
            except (DownloadError, WeightsError) as err:
                failures.append((url, err))
                log.info("source failed: %s: %s", url, err)
                if report_sources:
                    print(f"note: {url} failed: {short(str(err))}", file=sys.stderr, flush=True)
                if stall_ends and isinstance(err, StallError):
                    raise StallError(failure_message(entry, failures)) from None
                continue
            _forget_failure()
            return path
    raise DownloadError(failure_message(entry, failures))


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
