"""Atomic output: write beside the target under a hidden temporary name, then `os.replace` it into place.

A failed write removes the temporary and leaves any existing target untouched. Temporaries are created with
the mode a plain `open`/`mkdir` would give (0o666/0o777 less the umask), not tempfile's 0o600/0o700.
Standard library only: training code imports this.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

_TRIES = 100


def make_temp(path: str | os.PathLike, *, suffix: str = ".part", directory: bool = False) -> Path:
    """Create an empty hidden file (or folder) `.{name}.XXXXXXXX{suffix}` in `path`'s folder."""
    path = Path(path)
    for _ in range(_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
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
