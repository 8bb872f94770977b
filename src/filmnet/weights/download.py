"""One model file over HTTP (`transfer.py`), then the checks that decide whether it may enter the cache.

`fetch` streams a source into `<file>.part` (resuming only what can be proven the same), validates it, records
its sha256 beside it and renames it into place. Any validation failure deletes the part. The registry, cache
layout and locking are `hub.py`'s; the entries `registry.py`'s.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from ..errors import WeightsError
from .registry import ModelEntry, Source
from .transfer import (
    CHUNK, SIZE_TOLERANCE, CutShort, DownloadError, StallError, mb, start_transfer, stream,
)

log = logging.getLogger(__name__)

RESUME_ATTEMPTS = 3  # per source: a transfer cut short is resumed this many times

__all__ = ["DownloadError", "StallError", "fetch", "validate_download", "sha256_file", "network_reason",
           "failure_message", "write_json", "short"]


def fetch(entry: ModelEntry, source: Source, url: str, folder: Path, progress: bool) -> Path:
    """Download `url` into `<file>.part` (resuming), validate it, record its sha256, and rename it into place."""
    import requests
    from urllib3.exceptions import HTTPError

    part = folder / f"{source.filename}.part"
    final = folder / source.filename
    transfer = start_transfer(url, part, source.size, source.pinned, entry.name, progress)
    for attempt in range(RESUME_ATTEMPTS + 1):
        try:
            if stream(transfer):
                break
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, HTTPError, CutShort) as err:
            kept = has_progress(part)
            if attempt == RESUME_ATTEMPTS or not kept:
                raise DownloadError(network_reason(err) + (f"; the partial download ({part.stat().st_size} bytes, "
                                                           f"{part}) is kept for the next pull"
                                                           if kept else "")) from None
            log.info("transfer cut short at %d bytes; resuming", part.stat().st_size)
        except requests.RequestException as err:
            raise DownloadError(network_reason(err)) from None
    else:
        raise DownloadError(f"the server kept answering at the wrong offset; gave up after {RESUME_ATTEMPTS + 1} tries")
    try:
        digest = validate_download(entry, source, part)
    except Exception as err:  # noqa: BLE001 - whatever fails, the part is not kept
        transfer.discard()
        if isinstance(err, WeightsError):
            raise
        raise WeightsError(f"refused: validation failed ({type(err).__name__}: {short(str(err))})") from None
    write_json(final.with_name(final.name + ".json"), {"name": entry.name, "file": source.filename, "url": url,
                                      "size": part.stat().st_size, "sha256": digest,
                                      "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    os.replace(part, final)
    transfer.record.unlink(missing_ok=True)
    return final


def validate_download(entry: ModelEntry, source: Source, path: Path) -> str:
    """The sha256 of a downloaded file that passes every check; WeightsError (refused) otherwise.

    A pinned source: exactly its size and sha256 (the final word). An unpinned one: size within SIZE_TOLERANCE,
    a weights format filmnet reads without running code, every official tensor of the entry's config present with
    its official shape and finite values."""
    size = path.stat().st_size
    if source.pinned:
        if source.size and size != source.size:
            raise WeightsError(f"refused: {size} bytes, the pinned file is {source.size} bytes "
                               f"({_describe_content(path)})")
        digest = sha256_file(path)
        if digest != source.sha256.lower():
            raise WeightsError(f"refused: sha256 {digest} does not match the pinned {source.sha256}")
        return digest
    if source.size and abs(size - source.size) > SIZE_TOLERANCE * source.size:
        raise WeightsError(f"refused: {mb(size)} is not near the expected {mb(source.size)} "
                           f"({_describe_content(path)})")
    _check_tensors(entry, path)
    return sha256_file(path)


def _check_tensors(entry: ModelEntry, path: Path) -> None:
    import torch

    from ..model.config import get_config
    from ..model.film import FILM
    from .loader import read_weights

    try:
        loaded = read_weights(path)
    except WeightsError as err:
        reason = str(err).replace(f"{path}: ", "")
        raise WeightsError(f"refused: not a readable weights file ({short(reason)})") from None
    with torch.device("meta"):
        model = FILM(get_config(entry.config))
    official, state = model.state_dict(), loaded.state
    missing = [k for k in official if k not in state]
    unexpected = [k for k in state if k not in official]
    wrong = [f"{k} is {list(state[k].shape)}, official {list(v.shape)}"
             for k, v in official.items() if k in state and state[k].shape != v.shape]
    problems = ([f"{len(missing)} missing keys (first: {missing[0]})"] if missing else []) + (
        [f"{len(unexpected)} unexpected keys (first: {unexpected[0]})"] if unexpected else []) + (
        [f"{len(wrong)} with a wrong shape (first: {wrong[0]})"] if wrong else [])
    if problems:
        raise WeightsError(f"refused: not the official {entry.name} tensors: " + "; ".join(problems))
    bad = next((k for k, v in loaded.state.items() if not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise WeightsError(f"refused: tensor {bad} has non-finite values")


def network_reason(err: BaseException) -> str:
    """A short phrase for a network failure: what failed, without the library's internals."""
    import requests

    text = str(err).lower()
    if isinstance(err, requests.exceptions.ProxyError):
        return "the proxy refused the connection"
    if "name resolution" in text or "name or service not known" in text or "nodename nor servname" in text \
            or "getaddrinfo" in text:
        return "the host name could not be resolved (no network?)"
    if "refused" in text:
        return "the connection was refused"
    if isinstance(err, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(err, requests.Timeout) or "timed out" in text:
        return "the connection timed out"
    if "unreachable" in text:
        return "the network is unreachable"
    if isinstance(err, (CutShort, requests.exceptions.ChunkedEncodingError)) or "incompleteread" in text:
        return "the transfer was cut short"
    return f"network error ({type(err).__name__})"


def failure_message(entry: ModelEntry, failures: list[tuple[str, BaseException]]) -> str:
    """One line for a pull where no source worked: each host and what failed, then what to do offline.

    Shared by the CLI and the web page."""
    from urllib.parse import urlsplit

    parts = [f"{urlsplit(url).netloc or url}: {short(str(err), 160)}" for url, err in failures]
    return (f"could not download {entry.name} ({'; '.join(parts) or 'no sources'}). Offline, set "
            f"FILMNET_MIRROR=URL to a folder holding {' or '.join(s.filename for s in entry.sources)}, or pass a "
            "downloaded file with --weights FILE (other formats: `filmnet convert FILE -o model.safetensors`)")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def has_progress(part: Path) -> bool:
    return part.exists() and part.stat().st_size > 0


def write_json(path: Path, data: dict) -> None:
    """`data` as JSON at `path` (its folder made if missing), written atomically (`io.atomic`)."""
    from ..io.atomic import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


def _describe_content(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(512).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "an HTML page, not weights"
    return "a truncated or different file"


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
