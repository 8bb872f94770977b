"""Never write over an input: one rule for every command's outputs, checked on resolved paths.

An output is refused when, after resolving symlinks, it is one of the inputs (or the same file through a hard
link), lies inside an input folder, or is a folder that holds an input. An output that exists is refused unless
the caller passes `force` (the `--force` flag), with the same message everywhere.
Standard library only.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputError


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def input_conflict(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None]) -> str | None:
    """Why writing `output` could change one of `inputs` (None when it cannot)."""
    out = _resolved(output)
    for src in inputs:
        if src is None:
            continue
        real = _resolved(src)
        if out == real or _same_file(out, real):
            return f"it is also an input ({src})"
        if real.is_dir() and real in out.parents:
            return f"it is inside the input folder {src}"
        if out in real.parents:
            return f"the input {src} is inside it"
    return None


def refuse_input_overwrite(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], *,
                           what: str = "output") -> None:
    """Raise `InputError` when writing `output` could change one of `inputs`."""
    reason = input_conflict(output, list(inputs))
    if reason is not None:
        raise InputError(f"refusing to write {what} {output}: {reason}; choose another path (inputs are never "
                         "overwritten, not even with --force)")


def refuse_existing(output: str | os.PathLike, force: bool, *, what: str = "output") -> None:
    """Raise `InputError` when `output` exists (or is a dangling symlink) and `force` is not set."""
    path = Path(output)
    if not force and (path.exists() or path.is_symlink()):
        raise InputError(f"{what} {output} already exists; pass --force to overwrite it")


def check_new_output(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), *,
                     force: bool = False, what: str = "output") -> Path:
    """Both rules: not an input (resolved, symlinks, folders) and not existing unless `force`; returns the path."""
    refuse_input_overwrite(output, inputs, what=what)
    refuse_existing(output, force, what=what)
    return Path(output)
