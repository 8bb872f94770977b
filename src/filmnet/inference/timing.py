"""Exact output timing for video retiming: rates as `Fraction`s, output frame times, and their (pair, t).

Pure and torch-free. `plan_retime` turns `--multi/--exp/--fps/--slowmo` into a `RetimePlan`; `schedule_pair`
lists the output frames that fall between two input frames and where each sits between them (t in [0, 1)).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from ..bounds import check, check_int
from ..errors import InputError
from ..frame_spec import FrameSpec
from ..io.media import parse_fps


def format_number(value: Fraction | float, digits: int = 3) -> str:
    """`60` -> "60", `60000/1001` -> "59.94", `24000/1001` -> "23.976": rounded, trailing zeros dropped."""
    text = f"{float(value):.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class RetimePlan:
    """How to retime: sample the source every 1/sample_rate s, write at output_rate, stretch duration by stretch.

    `factor` is the frame-count multiplier used in default names (`{stem}_{factor}X_{fps}fps`).
    """

    sample_rate: Fraction
    output_rate: Fraction
    stretch: Fraction
    factor: Fraction

    def __post_init__(self) -> None:
        """No plan samples or writes above `MAX_RATE` (no encoder time base or player goes there)."""
        from ..io.limits import MAX_RATE

        fastest = max(self.sample_rate, self.output_rate)
        if fastest > MAX_RATE:
            raise InputError(f"this retime needs {format_number(fastest)} fps, over the limit of {MAX_RATE:g} fps "
                             "for any rate in or out; use a smaller factor")

    @property
    def label(self) -> str:
        return f"{format_number(self.factor, 2)}X_{format_number(self.output_rate)}fps"


def plan_retime(
    input_rate: Fraction,
    *,
    multi: int | None = None,
    exp: int | None = None,
    fps: str | Fraction | None = None,
    slowmo: int | None = None,
) -> RetimePlan:
    """Exactly one of multi (N x frames and fps), exp (multi = 2**exp), fps (exact target) or slowmo (N x duration).

    Args:
        input_rate: the input's (average) frame rate.
    Returns:
        The `RetimePlan`; all rates exact.
    """
    given = [name for name, v in (("multi", multi), ("exp", exp), ("fps", fps), ("slowmo", slowmo)) if v is not None]
    if len(given) != 1:
        raise InputError(f"give exactly one of --multi, --exp, --fps, --slowmo (got {', '.join(given) or 'none'})")
    if exp is not None:
        multi = FrameSpec(exp=check("plan_exp", int(exp))).factor
    if multi is not None:
        check_int("plan_multi", multi)
        return RetimePlan(input_rate * multi, input_rate * multi, Fraction(1), Fraction(multi))
    if slowmo is not None:
        check_int("plan_slowmo", slowmo)
        return RetimePlan(input_rate * slowmo, input_rate, Fraction(slowmo), Fraction(slowmo))
    from ..bounds import MAX_FRAMES_PER_INPUT_FRAME

    target = parse_fps(fps, max_fps=None)  # high-speed sources: the ratio is what is bounded
    if target / input_rate > MAX_FRAMES_PER_INPUT_FRAME:
        raise InputError(f"--fps {fps} is {float(target / input_rate):.4g} x the input's {format_number(input_rate)} "
                         f"fps; at most {MAX_FRAMES_PER_INPUT_FRAME} x in one pass (each input frame would need more "
                         "new frames than any playback shows; run twice for more)")
    return RetimePlan(target, target, Fraction(1), target / input_rate)


@dataclass(frozen=True)
class OutputFrame:
    """Output frame `index` at source time `time` (s), sitting at `t` in [0, 1) between its two input frames."""

    index: int
    time: Fraction
    t: Fraction


def first_index_at_or_after(start: Fraction, rate: Fraction, time: Fraction) -> int:
    """Smallest k with start + k / rate >= time (k >= 0)."""
    return max(0, math.ceil((time - start) * rate))


def schedule_pair(start: Fraction, rate: Fraction, time0: Fraction, time1: Fraction) -> Iterator[OutputFrame]:
    """Output frames with source time in [time0, time1), sampling `start + k / rate`.

    Args:
        start: source time of output frame 0 (the first input frame's time).
        rate: sample rate in the source clock (`RetimePlan.sample_rate`).
        time0, time1: times of two consecutive input frames, time0 < time1 (time1 may be the stream end).
    Returns:
        `OutputFrame`s in order; t = (time - time0) / (time1 - time0), exactly 0 when a frame lands on time0.
    """
    if time1 <= time0:
        raise ValueError(f"input times must increase: {time0} then {time1}")
    k = first_index_at_or_after(start, rate, time0)
    while (time := start + Fraction(k) / rate) < time1:
        yield OutputFrame(k, time, (time - time0) / (time1 - time0))
        k += 1


@dataclass(frozen=True)
class PairSchedule:
    """`schedule_pair` as a lazy sequence: `len()` is O(1) and iterating generates the frames one by one, so a long
    pair (a held tail, a variable-rate gap) never builds a list."""

    start: Fraction
    rate: Fraction
    time0: Fraction
    time1: Fraction

    def __iter__(self) -> Iterator[OutputFrame]:
        return schedule_pair(self.start, self.rate, self.time0, self.time1)

    def __len__(self) -> int:
        first = first_index_at_or_after(self.start, self.rate, self.time0)
        return max(0, count_frames(self.start, self.rate, self.time1) - first)


def count_frames(start: Fraction, rate: Fraction, end: Fraction) -> int:
    """Number of output frames with source time in [start, end)."""
    return first_index_at_or_after(start, rate, end)


def max_new_frames_per_pair(plan: RetimePlan, input_rate: Fraction) -> int:
    """Most output frames FILM makes between two inputs `1 / input_rate` apart (frames on an input are copies)."""
    ratio = plan.sample_rate / input_rate
    if ratio.denominator == 1:  # every ratio-th output frame lands on an input
        return max(1, ratio.numerator - 1)
    return math.ceil(ratio)
