"""The web page's folders: one temporary root per server, named after its process, holding per-session job folders.

A server removes its root at exit; a killed one (even by SIGKILL) leaves it, with its uploads, and the next server
removes it (`sweep_dead_roots`, by the pid and start time in the name, as `io.atomic` does for temporaries).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path


SERVER_PREFIX = "filmnet-serve-"
_SERVER_ROOT = re.compile(r"^filmnet-serve-(\d+)\.(\d+)-")  # filmnet-serve-{pid}.{start time}-{random}
LEGACY_ROOT_MAX_AGE_S = 6 * 3600  # a root named without its owner (older filmnet): removed when this old


def new_server_root(parent: str | os.PathLike | None = None) -> Path:
    """A fresh temporary root for one server, named after its process (pid and start time), after removing the
    roots of servers that no longer run (killed, even by SIGKILL, with their uploads inside)."""
    from ..io.owner import start_time

    parent = Path(parent or tempfile.gettempdir())
    sweep_dead_roots(parent)
    return Path(tempfile.mkdtemp(prefix=f"{SERVER_PREFIX}{os.getpid()}.{start_time(os.getpid()) or 0}-",
                                 dir=parent))


def sweep_dead_roots(parent: str | os.PathLike) -> list[Path]:
    """Remove the server roots in `parent` whose server is gone; returns them."""
    from ..io.owner import alive, me

    removed = []
    try:
        entries = [p for p in Path(parent).iterdir() if p.name.startswith(SERVER_PREFIX)]
    except OSError:
        return removed
    for path in entries:
        try:
            if path.is_symlink() or not path.is_dir():
                continue
            match = _SERVER_ROOT.match(path.name)
            if match:
                start = match.group(2) if match.group(2) != "0" else None
                dead = not alive(dict(me(), pid=int(match.group(1)), start=start))
            else:
                dead = time.time() - path.stat().st_mtime > LEGACY_ROOT_MAX_AGE_S
        except OSError:
            continue
        if dead:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed



class SessionFolders:
    """Per-session temporary folders under one root: `root/<session>/<job>/`. Each session keeps only its latest
    `keep` jobs; `close(session)` removes a session's folder, `close_all()` the root."""

    def __init__(self, root: str | os.PathLike, *, keep: int = 2):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._lock = threading.Lock()

    def session(self, session_id: str | None) -> Path:
        name = re.sub(r"[^A-Za-z0-9_-]", "", session_id or "") or "anonymous"
        path = self.root / "sessions" / name[:64]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_job(self, session_id: str | None) -> Path:
        """A fresh, empty folder for one request; older jobs of the session beyond `keep` are removed."""
        with self._lock:
            home = self.session(session_id)
            jobs = sorted((p for p in home.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
            for old in jobs[: max(0, len(jobs) - self.keep + 1)]:
                shutil.rmtree(old, ignore_errors=True)
            return Path(tempfile.mkdtemp(prefix="job-", dir=home))

    def close(self, session_id: str | None) -> None:
        name = re.sub(r"[^A-Za-z0-9_-]", "", session_id or "") or "anonymous"
        shutil.rmtree(self.root / "sessions" / name[:64], ignore_errors=True)

    def prune(self, max_age_s: float) -> int:
        """Remove session folders untouched for `max_age_s` seconds (tabs closed without an unload event)."""
        base = self.root / "sessions"
        if not base.is_dir():
            return 0
        now, removed = time.time(), 0
        for path in base.iterdir():
            if now - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    def close_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
