"""One HTTP transfer into `<file>.part`: stall rule, overall deadline, size cap, and provable resumption.

Rules (docs/RELIABILITY.md "Downloads"):
- Stall: a transfer is abandoned when fewer than `min_rate * stall_s` bytes arrive in a `stall_s` window (a silent
  socket for `stall_s` counts too). Defaults: 10 kB/s over 20 s, so a stall is found within 2 x 20 s.
- Deadline: a source's transfers (resumes included) end by `deadline_s + expected size / deadline_rate`
  (defaults 60 s + size / 20 kB/s: 58 min for film_net's 68.9 MB).
- Resume: a `.part` is continued only with `If-Range` carrying the validator (strong ETag, else Last-Modified) of
  the response that started it, stored in `<file>.part.json` with the URL and total size. Anything else (no
  record, another URL, no validator, a 200, another total or validator, a wrong Content-Range) starts over.
Settings come from the environment (FILMNET_DOWNLOAD_STALL_S, FILMNET_DOWNLOAD_MIN_RATE, FILMNET_DOWNLOAD_DEADLINE_S,
FILMNET_DOWNLOAD_DEADLINE_RATE) so tests can shorten them.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError

CONNECT_TIMEOUT_S = 5.0
SIZE_TOLERANCE = 0.15  # an unpinned download must be within 15% of the expected size
CHUNK = 1 << 16  # most bytes per read


class DownloadError(WeightsError):
    """No source of a model could be fetched and validated (or the network is off)."""


class StallError(DownloadError):
    """A transfer fell below the minimum rate for the stall window, or passed its overall deadline."""


class CutShort(Exception):
    """The body ended before its announced length (worth a resume)."""


@dataclass(frozen=True)
class TransferLimits:
    stall_s: float = 20.0
    min_rate: float = 10_000.0  # bytes per second, averaged over stall_s
    deadline_s: float = 60.0
    deadline_rate: float = 20_000.0  # bytes per second the overall deadline allows for the expected size

    @classmethod
    def from_env(cls) -> TransferLimits:
        names = {"stall_s": "FILMNET_DOWNLOAD_STALL_S", "min_rate": "FILMNET_DOWNLOAD_MIN_RATE",
                 "deadline_s": "FILMNET_DOWNLOAD_DEADLINE_S", "deadline_rate": "FILMNET_DOWNLOAD_DEADLINE_RATE"}
        values = {}
        for field, env in names.items():
            text = os.environ.get(env, "").strip()
            if text:
                try:
                    values[field] = float(text)
                except ValueError:
                    raise DownloadError(f"{env}={text!r} is not a number") from None
                if not 0 < values[field] < 1e9:
                    raise DownloadError(f"{env}={text!r} must be above 0 and below 1e9")
        return cls(**values)

    def deadline(self, size: int | None) -> float:
        """Seconds a source may take in all, for a file of `size` bytes."""
        return self.deadline_s + (size or 0) / self.deadline_rate


@dataclass
class Transfer:
    """What one source's transfer needs: where from, where to, what is expected, and its clock."""

    url: str
    part: Path
    size: int | None
    pinned: bool
    limits: TransferLimits
    ends_at: float  # time.monotonic() deadline
    label: str = ""
    progress: bool = False

    @property
    def record(self) -> Path:
        return self.part.with_name(self.part.name + ".json")

    @property
    def limit(self) -> int | None:
        if not self.size:
            return None
        return self.size if self.pinned else int(self.size * (1 + SIZE_TOLERANCE))

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)


def start_transfer(url: str, part: Path, size: int | None, pinned: bool, label: str,
                   progress: bool = False) -> Transfer:
    """A Transfer whose overall deadline starts now (`TransferLimits.from_env`)."""
    limits = TransferLimits.from_env()
    return Transfer(url, part, size, pinned, limits, time.monotonic() + limits.deadline(size), label, progress)


def stream(t: Transfer) -> bool:
    """One GET appended to `t.part` when its resume is provable, else from zero. True when the whole body arrived;
    False to try again at once (the server answered at another offset). Raises CutShort, StallError,
    DownloadError, and requests/urllib3 network errors."""
    import requests

    have, headers = _resume_point(t)
    if have is None:
        return True  # the part is whole: validation decides
    timeout = (CONNECT_TIMEOUT_S, t.limits.stall_s)
    try:
        response = requests.get(t.url, stream=True, timeout=timeout, headers=headers)
    except requests.ConnectTimeout:
        raise  # a network error (the host is unreachable), not a stall
    except requests.Timeout:
        raise StallError(f"no answer from the server within {t.limits.stall_s:g} s") from None
    with response:
        return _receive(t, response, have)


def _resume_point(t: Transfer) -> tuple[int | None, dict]:
    """(bytes kept, request headers); (None, {}) when the part already holds the recorded total."""
    base = {"Accept-Encoding": "identity"}
    have = t.part.stat().st_size if t.part.exists() else 0
    if not have:
        return 0, base
    try:
        rec = json.loads(t.record.read_text())
        total, validator = int(rec["total"]), rec.get("etag") or rec.get("last_modified")
        same = rec.get("url") == t.url and validator and isinstance(validator, str)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        same, total, validator = False, 0, None
    if not same or have > total:
        t.discard()  # nothing proves the kept bytes belong to this file
        return 0, base
    if have == total:
        return None, {}
    return have, {**base, "Range": f"bytes={have}-", "If-Range": validator}


def _validators(response) -> dict:
    etag = response.headers.get("ETag", "")
    return {"etag": etag if etag and not etag.startswith("W/") else None,  # If-Range needs a strong ETag
            "last_modified": response.headers.get("Last-Modified") or None}


def _receive(t: Transfer, response, have: int) -> bool:
    if response.status_code >= 400:
        if response.status_code == 416 and have:
            t.discard()  # the kept prefix is longer than the file now served
            return False
        raise DownloadError(f"HTTP {response.status_code} {response.reason or ''}".strip())
    if response.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
        raise DownloadError(f"the server sent the file {response.headers['Content-Encoding']}-encoded; expected "
                            "the file itself")
    length = response.headers.get("Content-Length")
    body = int(length) if length and length.isdigit() else None
    if response.status_code == 206:
        if not _resumable(t, response, have, body):
            t.discard()
            return False
        total = have + body if body is not None else None
    else:
        have, total = 0, body  # a full answer: the file changed, or the server ignores Range
        _check_announced(t, total)
        t.record.write_text(json.dumps({"url": t.url, "total": total, **_validators(response)}))
    _copy(t, response, have, total)
    size = t.part.stat().st_size
    if total is not None and size < total:
        raise CutShort(f"transfer cut short at {size} of {total} bytes")
    return True


def _resumable(t: Transfer, response, have: int, body: int | None) -> bool:
    """A 206 continues the part only at its offset, with the recorded total and validator."""
    try:
        rec = json.loads(t.record.read_text())
    except (OSError, ValueError, RecursionError):
        return False
    spec = response.headers.get("Content-Range", "")
    try:
        span, total = spec.split()[1].split("/")
        start, end = (int(v) for v in span.split("-"))
        total = int(total)
    except (IndexError, ValueError):
        return False
    seen = _validators(response)
    agree = all(seen[k] in (None, rec.get(k)) for k in seen) and any(seen.values())
    return start == have and total == rec.get("total") and (body is None or body == end - start + 1) and agree


def _check_announced(t: Transfer, total: int | None) -> None:
    if total is None or t.limit is None:
        return
    if t.pinned and total != t.size:
        raise DownloadError(f"the server announces {total} bytes; the pinned file is {t.size} bytes")
    if total > t.limit:
        raise DownloadError(f"the server announces {mb(total)}, far above the expected {mb(t.size)}")


def _copy(t: Transfer, response, have: int, total: int | None) -> None:
    """Append the body to the part, enforcing the size cap, the stall rule and the deadline."""
    from tqdm import tqdm

    if t.progress:
        print(f"downloading {t.label}: {mb(total or t.size)} from {t.url}"
              + (f" (resuming at {mb(have)})" if have else ""), file=sys.stderr, flush=True)
    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=t.label,
               disable=not t.progress, file=sys.stderr, leave=True)
    window_start, window_bytes = time.monotonic(), 0
    with bar, open(t.part, "ab" if have else "wb") as f:
        while True:
            chunk = _read(t, response)
            if not chunk:
                break
            f.write(chunk)
            bar.update(len(chunk))
            window_bytes += len(chunk)
            if t.limit and f.tell() > t.limit:
                f.close()
                t.discard()
                raise DownloadError(f"the download exceeds the expected {mb(t.size)}")
            now = time.monotonic()
            if now > t.ends_at:
                raise StallError(f"the download passed its deadline of {t.limits.deadline(t.size):.0f} s")
            if now - window_start >= t.limits.stall_s:
                if window_bytes < t.limits.min_rate * (now - window_start):
                    raise StallError(_stall_text(t, window_bytes, now - window_start))
                window_start, window_bytes = now, 0


def _read(t: Transfer, response) -> bytes:
    """Up to CHUNK bytes as soon as any arrive; a socket silent for stall_s is a stall."""
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    try:
        return response.raw.read1(CHUNK, decode_content=False)
    except ReadTimeoutError:
        raise StallError(_stall_text(t, 0, t.limits.stall_s)) from None
    except ProtocolError as err:
        raise CutShort(str(err)) from None


def _stall_text(t: Transfer, got: int, seconds: float) -> str:
    return (f"the transfer stalled: {got} bytes in {seconds:.0f} s, below the minimum of "
            f"{t.limits.min_rate / 1000:g} kB/s")


def mb(n: int | None) -> str:
    return "unknown size" if not n else f"{n / 1e6:.1f} MB"
