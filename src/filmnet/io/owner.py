"""Which process owns a folder: a small JSON record (host, pid, process start time) and whether its owner still runs.

A pid alone can be reused after its process died; with the start time (Linux: /proc/PID/stat) a record names one
process for good. A record from another host cannot be checked here and counts as alive. Standard library only.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from ..errors import InputError
from .atomic import write_text_atomic


def start_time(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), or None when unknown."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, TypeError):
        return True
    return True


def me() -> dict:
    """This process's owner record."""
    return dict(host=socket.gethostname(), pid=os.getpid(), start=start_time(os.getpid()))


def alive(record: dict) -> bool:
    """Whether the process a record names still runs (records from another host: assumed to)."""
    if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
        return False
    if record.get("host") != socket.gethostname():
        return True
    if not pid_alive(record["pid"]):
        return False
    now = start_time(record["pid"])
    return record.get("start") is None or now is None or now == record["start"]


def read(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError):
        return None


def claim(path: Path, what: str) -> None:
    """Take the lock file `path` for this process, or `InputError` when a live process of `what` holds it. A dead
    owner's lock (killed, crashed) is taken over."""
    path = Path(path)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            owner = read(path)
            if owner is not None and owner != me() and alive(owner):
                raise InputError(f"{path.parent} is in use by another {what} (pid {owner.get('pid')} on "
                                 f"{owner.get('host')}); wait for it to finish, or stop it (if it is gone, delete "
                                 f"{path})") from None
            write_text_atomic(path, json.dumps(me()))  # a dead owner: ours now
        else:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(me()))
        if read(path) == me():
            return
    raise InputError(f"{path.parent} is being taken by another {what} at the same time; try again")


def release(path: Path) -> None:
    """Remove the lock file `path` if this process holds it."""
    if read(path) == me():
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def held(path: Path, what: str):
    """`claim` the lock file `path` for the block, `release` it after."""
    claim(path, what)
    try:
        yield path
    finally:
        release(path)
