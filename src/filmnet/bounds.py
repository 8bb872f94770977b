"""Bounds of every numeric option, each with the reason a value outside them is refused.

`check(name, value)` raises `InputError`; `option(name)` is a Typer callback that does the same at parse time
(so the CLI error names the flag, the range and the reason). Standard library only (typer imported lazily).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Bound:
    flag: str
    low: float
    high: float
    reason: str


BOUNDS = {
    "exp": Bound("--exp", 1, 10, "at least one midpoint; 2^10-1 = 1023 new frames per pair is more than "
                 "any playback can show, and each step doubles the work"),
    "multi": Bound("--multi", 2, 1024, "at least one new frame per pair; 1023 is more than any playback can show"),
    "video_exp": Bound("--exp", 1, 6, "x2 is the least that adds frames; x64 is the most one pass of video retiming "
                       "makes (run twice for more)"),
    "video_multi": Bound("--multi", 2, 64, "x2 is the least that adds frames; x64 is the most one pass of video "
                         "retiming makes (run twice for more)"),
    "slowmo": Bound("--slowmo", 2, 64, "x2 is the least that slows down; x64 is the most one pass of video retiming "
                    "makes (run twice for more)"),
    "demo_exp": Bound("--exp", 1, 6, "at least one midpoint; 2^6 = 64 steps already look smooth"),
    "api_exp": Bound("exp", 0, 16, "0 gives the inputs back; 2^16 - 1 new frames per pair is beyond any use"),
    "api_multi": Bound("multi", 1, 1024, "1 gives the inputs back; 1023 new frames per pair is more than any "
                       "playback can show"),
    "plan_exp": Bound("--exp", 0, 8, "x256 is the most frames per input frame of one retiming plan"),
    "plan_multi": Bound("--multi", 1, 256, "x256 is the most frames per input frame of one retiming plan"),
    "plan_slowmo": Bound("--slowmo", 1, 256, "x256 is the most frames per input frame of one retiming plan"),
    "warp_mix": Bound("--warp-mix", 0.0, 1.0, "a share of the way towards the average of the warped inputs"),
    "scene_threshold": Bound("--scene-threshold", 0.0, 2.0, "scene-cut scores run from 0 (the same frame) to 2"),
    "crf": Bound("--crf", 0, 63, "the widest encoder quality scale (x264/x265 take 0-51, VP9/AV1 0-63)"),
    "tile": Bound("--tile", 64, 16384, "tiles are multiples of 64 (FILM's six halvings) and larger than "
                  "16384 px is not tiling"),
    "tile_overlap": Bound("--tile-overlap", 0, 2048, "a multiple of 64; overlap beyond 2048 px only repeats work"),
    "max_memory": Bound("--max-memory", 64 * 2**20, 2**50, "below 64 MiB not even the smallest FILM tile fits; 1 PiB is beyond any machine"),
    "steps": Bound("--steps", 1, 10**9, "at least one step; a billion steps is centuries of training"),
    "batch_size": Bound("--batch-size", 1, 4096, "at least one crop; a batch beyond 4096 crops fits in no accelerator"),
    "crop": Bound("--crop", 64, 4096, "crops below 64 px are smaller than FILM's coarsest level; beyond 4096 px "
                  "is not a crop"),
}
MAX_FRAMES_PER_INPUT_FRAME = 256  # --fps / the input rate (the video plan's ratio)


def describe(name: str, value) -> str:
    b = BOUNDS[name]
    low, high = (f"{v:g}" if isinstance(v, float) else str(v) for v in (b.low, b.high))
    return f"{b.flag} must be in {low}..{high}, got {value}: {b.reason}"


def check(name: str, value):
    """`value` unchanged when within `BOUNDS[name]` (None passes), else `InputError` with the reason."""
    from .errors import InputError

    if value is None:
        return value
    b = BOUNDS[name]
    if not b.low <= value <= b.high:
        raise InputError(describe(name, value))
    return value


def check_int(name: str, value):
    """`check` for a count: also refuses booleans and non-integers (None passes)."""
    from .errors import InputError

    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or int(value) != value:
        raise InputError(f"{BOUNDS[name].flag} must be an integer, got {value!r}")
    return check(name, value)


def limits(name: str) -> dict:
    """`BOUNDS[name]` as Typer's min/max keywords (for options whose help shows the range)."""
    return dict(min=BOUNDS[name].low, max=BOUNDS[name].high)


def option(name: str) -> Callable:
    """Typer callback checking `BOUNDS[name]` at parse time (a usage error naming the reason)."""

    def callback(value):
        import typer

        if value is not None and not BOUNDS[name].low <= value <= BOUNDS[name].high:
            raise typer.BadParameter(describe(name, value).split(" ", 1)[1])
        return value

    callback.bound = BOUNDS[name]  # --help shows the range (cli/helptext.py)
    return callback
