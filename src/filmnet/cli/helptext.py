"""What `--help` shows: plain metavars (N, FPS, PATH, ...) instead of Python types, and each bounded option's range.

`tidy(command)` walks the command tree Typer built; `main()` calls it before parsing, so every command's help
reads the same way. Options that already show their range (Typer's min/max) keep it.
"""
from __future__ import annotations

from pathlib import Path
from typing import get_args

METAVARS = {  # by option name, where the type alone says too little
    "--fps": "FPS", "--in-fps": "FPS", "--model": "NAME", "--device": "DEVICE", "--tile": "HxW",
    "--max-memory": "SIZE", "--codec": "NAME", "--pix-fmt": "FORMAT", "--host": "ADDRESS", "--root-path": "PREFIX",
    "--ray-address": "ADDRESS", "--pyramid-levels": "auto|N", "--config": "FILE", "--json": "FILE",
    "--csv": "FILE", "--report": "FILE",
}
ARGUMENTS = {"inputs": "INPUT", "src": "SRC"}  # positional names as the usage line shows them
KINDS = {int: "N", float: "X", str: "TEXT", Path: "PATH"}


def metavar_of(param) -> str | None:
    """The metavar `param` should show (None: a flag, or leave Typer's)."""
    if getattr(param, "is_flag", False):
        return None
    for opt in param.opts:
        if opt in METAVARS:
            return METAVARS[opt]
    desc = param.type_descriptor
    if param.param_type_name == "argument":
        return ARGUMENTS.get(param.name, (param.name or "arg").upper())
    if desc.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices or ()) + "]"
    kind = get_args(desc.annotation)[0] if desc.is_list and get_args(desc.annotation) else desc.annotation
    if desc.is_path or kind is Path:
        return "PATH"
    return KINDS.get(kind, "TEXT")


def range_note(param) -> str | None:
    """"[LOW..HIGH]" for an option checked by `bounds.option` (its callback carries the bound)."""
    bound = getattr(param.callback, "bound", None)
    if bound is None:
        return None
    low, high = (int(v) if float(v).is_integer() else v for v in (bound.low, bound.high))
    return f"[{low}..{high}]"


def _plain_argument(param) -> None:
    """A positional argument shown as `INPUT...` / `SRC` (Typer writes `{inputs}...` and repeats the type)."""
    name = param.metavar + ("..." if param.nargs != 1 else "")
    usage = name if param.required else f"[{name}]"
    param._usage_display_name = lambda: usage  # instance attributes: Typer asks these for the usage and help
    param._rich_display_name = lambda: name
    param.display_type_rich = lambda ctx=None: None


def tidy(command):
    """Set plain metavars and range notes on every parameter of `command` and its subcommands (in place)."""
    for sub in getattr(command, "commands", {}).values():
        tidy(sub)
    for param in command.params:
        if param.metavar is None and (metavar := metavar_of(param)) is not None:
            param.metavar = metavar
            if param.param_type_name == "argument":
                _plain_argument(param)
        note = range_note(param)
        if note and note not in (param.help or ""):
            param.help = f"{param.help or ''}  {note}".strip()
    return command
