"""Atomic output: write beside the target under a hidden temporary name, then `os.replace` it into place.

A failed write removes the temporary and leaves any existing target untouched. Temporaries are created with
the mode a plain `open`/`mkdir` would give (0o666/0o777 less the umask), not tempfile's 0o600/0o700.
Standard library only: training code imports this.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

_TRIES = 100


# `.{name}.{pid}-{8 hex}{suffix}` (suffix .part, .part.mp4, .old, ...); older versions wrote no pid.
TEMP_NAME = re.compile(r"^\..+\.(?:(?P<pid>\d+)-)?[0-9a-f]{8}(?:\.part(?:\.[A-Za-z0-9]+)?|\.old)$")
UNOWNED_STALE_AFTER_S = 3600  # a temporary without a pid (an older filmnet) is stale after an hour
_swept: set[str] = set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Temporaries in `folder` left by runs that were killed: named as `make_temp` names them, and owned by a
    process that no longer runs (or, with no owner in the name, older than an hour)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    now = time.time()
    for entry in entries:
        match = TEMP_NAME.match(entry.name)
        if not match:
            continue
        pid = match.group("pid")
        try:
            stale = (not _alive(int(pid))) if pid else now - entry.stat(follow_symlinks=False).st_mtime > \
                UNOWNED_STALE_AFTER_S
        except OSError:
            continue
        if stale:
            found.append(Path(entry.path))
    return found


def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove what `stale_temps` finds (once per folder and process); returns the removed paths."""
    key = os.path.realpath(folder)
    if key in _swept:
        return []
    _swept.add(key)
    removed = stale_temps(folder)
    for tmp in removed:
        discard(tmp)
    return removed


def make_temp(path: str | os.PathLike, *, suffix: str = ".part", directory: bool = False) -> Path:
    """Create an empty hidden file (or folder) `.{name}.{pid}-XXXXXXXX{suffix}` in `path`'s folder.

    The first time a process writes into a folder, temporaries of killed runs there are removed (`sweep_stale`).
    """
    path = Path(path)
    sweep_stale(path.parent)
    for _ in range(_TRIES):
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def discard(tmp: Path) -> None:
    """Remove a temporary file or folder, if it is there."""
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


def commit(tmp: Path, target: Path, *, replace_folder: bool = False) -> None:
    """Move `tmp` onto `target`. With `replace_folder`, an existing folder at `target` is swapped out, then deleted."""
    if not (replace_folder and target.is_dir() and not target.is_symlink()):
        os.replace(tmp, target)
        return
    old = make_temp(target, suffix=".old", directory=True)
    os.replace(target, old / "x")
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_target(
    path: str | os.PathLike, *, suffix: str = ".part", directory: bool = False, replace_folder: bool = False,
) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success move it onto `path`, on any exception remove it.

    Args:
      path: the final output; its folder must exist.
      suffix: end of the temporary name (keep the real extension last if a writer infers the format from it).
      directory: the temporary is a folder rather than a file.
      replace_folder: an existing folder at `path` may be replaced (the caller checked that it may go).
    """
    path = Path(path)
    tmp = make_temp(path, suffix=suffix, directory=directory)
    try:
        yield tmp
        commit(tmp, path, replace_folder=replace_folder)
    except BaseException:
        discard(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return path
