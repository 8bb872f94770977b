"""Unexpected errors: one line for the user, the traceback in a log file, the traceback on screen with --debug.

The log folder is `$FILMNET_LOG_DIR`, else `$XDG_CACHE_HOME/filmnet/logs` (`~/.cache/filmnet/logs`), else the
system temp folder when that one cannot be written.
"""
from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
from pathlib import Path

_debug = False


def set_debug(value: bool) -> None:
    global _debug
    _debug = bool(value)


def debug_enabled() -> bool:
    """`--debug` on the command line, or FILMNET_DEBUG set to something other than 0/empty."""
    return _debug or os.environ.get("FILMNET_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def log_folder() -> Path:
    if os.environ.get("FILMNET_LOG_DIR"):
        return Path(os.environ["FILMNET_LOG_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "filmnet" / "logs"


def write_crash_log(err: BaseException) -> Path | None:
    """Write `err`'s traceback (and the command line) to a new log file; None when no folder can be written."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = f"filmnet {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(type(err), err,
                                                                                      err.__traceback__))
    for folder in (log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"filmnet-error-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def describe_unexpected(err: BaseException) -> str:
    """The one-line message for an error filmnet did not expect, after logging its traceback."""
    detail = " ".join(str(err).split())
    what = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
    if len(what) > 300:
        what = what[:297] + "..."
    log = write_crash_log(err)
    where = f"traceback written to {log}" if log else "no log file could be written"
    return f"unexpected {what} ({where}; rerun with --debug to show it)"


def print_traceback(err: BaseException) -> None:
    traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
