"""One model file over HTTP: a resumable, size-capped transfer into `<file>.part`, then the checks that decide
whether it may enter the cache. The registry, cache layout and locking are `hub.py`'s.

HTTP goes through `requests` (timeouts, redirects, streaming, proxies from the environment).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError

if TYPE_CHECKING:
    from .hub import ModelEntry, Source

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
SIZE_TOLERANCE = 0.15  # a download must be within 15% of the expected size
RESUME_ATTEMPTS = 3  # per source: a transfer cut short is resumed this many times
CHUNK = 1 << 16  # bytes per read: a broken transfer loses at most this much of what arrived


class DownloadError(WeightsError):
    """No source of a model could be fetched and validated (or the network is off)."""


def fetch(entry: ModelEntry, source: Source, url: str, folder: Path, progress: bool) -> Path:
    """Download `url` into `<file>.part` (resuming), validate it, record its sha256, and rename it into place."""
    import requests

    part = folder / f"{source.filename}.part"
    final = folder / source.filename
    for attempt in range(RESUME_ATTEMPTS + 1):
        try:
            if _stream(entry, source, url, part, progress):
                break
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            if attempt == RESUME_ATTEMPTS or not has_progress(part):
                raise DownloadError(f"network error ({type(err).__name__}: {short(str(err))})"
                                    + (f"; the partial download {part} is kept and resumes on the next pull"
                                       if has_progress(part) else "")) from None
            log.info("transfer cut short at %d bytes; resuming", part.stat().st_size)
            continue
        except requests.RequestException as err:
            raise DownloadError(f"{type(err).__name__}: {short(str(err))}") from None
    else:
        raise DownloadError(f"the server kept answering at the wrong offset; gave up after {RESUME_ATTEMPTS + 1} tries")
    try:
        digest = validate_download(entry, source, part)
    except WeightsError:
        part.unlink(missing_ok=True)
        raise
    write_json(final.with_name(final.name + ".json"), {"name": entry.name, "file": source.filename, "url": url,
                                      "size": part.stat().st_size, "sha256": digest,
                                      "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    os.replace(part, final)
    return final


def _stream(entry: ModelEntry, source: Source, url: str, part: Path, progress: bool) -> bool:
    """One GET of `url` appended to `part` (Range from its current size). True when the whole body arrived."""
    import requests
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), headers=headers) as response:
        if response.status_code == 416 and have:  # nothing past the part: it is whole (validation decides)
            return True
        if response.status_code >= 400:
            raise DownloadError(f"HTTP {response.status_code} {response.reason or ''}".strip())
        if response.status_code != 206:
            have = 0  # the server ignored Range: rewrite from the start
        elif _range_start(response.headers.get("Content-Range", "")) != have:
            part.unlink()  # resumed somewhere else: start over
            return False
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        limit = int((source.size or 0) * (1 + SIZE_TOLERANCE)) or None
        if total and limit and total > limit:
            raise DownloadError(f"the server announces {_mb(total)}, far above the expected {_mb(source.size)}")
        if progress:
            print(f"downloading {entry.name}: {_mb(total or source.size)} from {url}"
                  + (f" (resuming at {_mb(have)})" if have else ""), file=sys.stderr, flush=True)
        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=entry.name,
                   disable=not progress, file=sys.stderr, leave=True)
        with bar, open(part, "ab" if have else "wb") as f:
            for chunk in response.iter_content(CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
                if limit and f.tell() > limit:
                    f.close()
                    part.unlink()
                    raise DownloadError(f"the download exceeds the expected {_mb(source.size)}")
    size = part.stat().st_size
    if total is not None and size < total:
        raise requests.ConnectionError(f"transfer cut short at {size} of {total} bytes")
    return True


def _range_start(content_range: str) -> int | None:
    """START of a `Content-Range: bytes START-END/TOTAL` header."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def validate_download(entry: ModelEntry, source: Source, path: Path) -> str:
    """The sha256 of a downloaded file that passes every check; WeightsError (refused) otherwise.

    Checks: size within SIZE_TOLERANCE of the expected one; a weights format filmnet reads without running code;
    every official tensor of the entry's config present with its official shape and finite values; the pinned
    sha256 when known."""
    import torch

    from ..model.config import get_config
    from ..model.film import FILM
    from .loader import read_weights

    size = path.stat().st_size
    if source.size and abs(size - source.size) > SIZE_TOLERANCE * source.size:
        raise WeightsError(f"refused: {_mb(size)} is not near the expected {_mb(source.size)} "
                           f"({_describe_content(path)})")
    digest = sha256_file(path)
    if source.sha256 and digest != source.sha256.lower():
        raise WeightsError(f"refused: sha256 {digest} does not match the pinned {source.sha256}")
    try:
        loaded = read_weights(path)
    except WeightsError as err:
        raise WeightsError(f"refused: not a readable weights file ({short(str(err))})") from None
    config = get_config(entry.config)
    with torch.device("meta"):
        model = FILM(config)
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
    return digest


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


def _mb(n: int | None) -> str:
    return "unknown size" if not n else f"{n / 1e6:.1f} MB"


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
