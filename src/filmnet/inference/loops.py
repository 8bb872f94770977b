"""Seamless loops and ping-pong for image sequences (`filmnet interpolate --loop/--pingpong`, the web page).

With n inputs and P = 2^exp (or multi) output frames per pair (counting the pair's first input):

- plain: the n - 1 pairs, then the last input: (n - 1) * P + 1 frames; frame j sits at input position j / P.
- loop: the n pairs f0->f1, ..., f(n-1)->f0; the closing f0 is left out, since playback wraps to frame 0:
  n * P frames at positions j / P, j = 0 .. nP - 1. The frames across the wrap are interpolated, not repeated.
- pingpong: the plain frames forward (M + 1 = (n - 1) * P + 1 of them), then the same frames backwards without the
  two turning frames (the last input and the first): 2 * (n - 1) * P frames, positions j / P for j <= M and
  (2M - j) / P after. The backward half reuses the forward frames (held in memory), so the turn is symmetric.

`filmnet video --loop` uses `wrap_note` and `RetimeOptions.loop` (inference/video.py): the held tail after the
last frame becomes an interpolation from the last frame into the first, at the clip's rate.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import numpy as np

from ..errors import InputError

MODES = ("plain", "loop", "pingpong")


def loop_mode(loop: bool = False, pingpong: bool = False) -> str:
    """"plain", "loop" or "pingpong" from the two flags, which exclude each other."""
    if loop and pingpong:
        raise InputError("--loop and --pingpong exclude each other; give one of them")
    return "loop" if loop else "pingpong" if pingpong else "plain"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"unknown sequence mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def count_frames(n_inputs: int, per_pair: int, mode: str = "plain") -> int:
    """Output frames for `n_inputs` inputs and `per_pair` frames per pair (2^exp or multi), see the module doc."""
    from ..frame_spec import FrameSpec

    return FrameSpec(multi=per_pair).total(n_inputs, check_mode(mode))


def positions(n_inputs: int, per_pair: int, mode: str = "plain") -> list[Fraction]:
    """Each output frame's position in input frames (k: input k exactly; 2.5: halfway from input 2 to the next,
    which is input 0 on a loop's last pair)."""
    forward = [Fraction(j, per_pair) for j in range((n_inputs - 1) * per_pair + 1)]
    if check_mode(mode) == "loop":
        return [Fraction(j, per_pair) for j in range(n_inputs * per_pair)]
    if mode == "pingpong":
        return forward + forward[-2:0:-1]
    return forward


def sequence_inputs(frames: Iterable[np.ndarray], mode: str) -> Iterator[np.ndarray]:
    """The frames to interpolate between: the inputs, and for a loop the first input again at the end."""
    first = None
    for frame in frames:
        first = frame if first is None else first
        yield frame
    if mode == "loop" and first is not None:
        yield first


def arrange(made: Iterable[np.ndarray], mode: str) -> Iterator[np.ndarray]:
    """Output order from the interpolated sequence: a loop drops its closing repeat of the first input; ping-pong
    plays the frames forward, then backward without the turning frames."""
    if mode == "plain":
        yield from made
        return
    if mode == "loop":
        previous = None
        for frame in made:
            if previous is not None:
                yield previous
            previous = frame
        return
    kept = []
    for frame in made:
        kept.append(frame)
        yield frame
    yield from kept[-2:0:-1]


def iter_sequence(interpolator, pixels: Iterable[np.ndarray], *, mode: str = "plain", exp: int | None = None,
                  multi: int | None = None, progress: bool = False,
                  n_inputs: int | None = None) -> Iterator[np.ndarray]:
    """`frames.iter_pixel_sequence` as a plain sequence, a seamless loop or a ping-pong (`count_frames` frames)."""
    from .frames import iter_pixel_sequence

    check_mode(mode)
    total = None if n_inputs is None else n_inputs + (mode == "loop")
    made = iter_pixel_sequence(interpolator, sequence_inputs(pixels, mode), exp=exp, multi=multi,
                               progress=progress, n_inputs=total)
    return arrange(made, mode)


def job_key(key: str, loop: bool) -> str:
    """A retime job's resume key, told apart when it loops (keys of other jobs stay as they were)."""
    return f"{key}-loop" if loop else key


def wrap_note(new_frames: int, has_audio: bool, held: bool = False) -> str:
    """One line for `filmnet video --loop`: what the wrap did, and the audio."""
    audio = "; audio unchanged (no time is added; not looped or cross-faded)" if has_audio else ""
    if new_frames == 0:
        return "--loop: no output frame falls between the last frame and the first at this rate; nothing added" + audio
    if held:
        return ("--loop: the last and first frames differ like a scene cut, so the wrap is held, not interpolated "
                "(a higher --scene-threshold interpolates it)" + audio)
    return (f"--loop: {new_frames} frames interpolated from the last frame into the first (in the last frame's "
            "slot), so the clip loops seamlessly; duration unchanged" + audio)
