"""Which new frames go between two inputs: `FrameSpec` (exp: recursive midpoints, or multi: t = k/N).

It owns the per-pair count, the total count and the times, checked against the ranges of `filmnet.bounds` for
where it is used (the Python API, `filmnet interpolate`, video retiming). Standard library only.
"""
from __future__ import annotations

from dataclasses import dataclass

from .bounds import check_int
from .errors import InputError

SCOPES = {"api": ("api_exp", "api_multi"), "cli": ("exp", "multi"), "video": ("video_exp", "video_multi"),
          "plan": ("plan_exp", "plan_multi"), "demo": ("demo_exp", "multi")}


@dataclass(frozen=True)
class FrameSpec:
    """exp T: 2^T - 1 new frames per pair (official recursive midpoints); multi N: N - 1 new frames at t = k/N."""

    exp: int | None = None
    multi: int | None = None

    @classmethod
    def of(cls, exp: int | None = None, multi: int | None = None, *, scope: str = "api") -> FrameSpec:
        """Exactly one of `exp` / `multi`, within the bounds of `scope` (`SCOPES`), else `InputError`."""
        if (exp is None) == (multi is None):
            raise InputError("give exactly one of exp (recursive midpoints) or multi (frames per pair)")
        exp_bound, multi_bound = SCOPES[scope]
        return cls(exp=check_int(exp_bound, exp), multi=check_int(multi_bound, multi))

    @property
    def factor(self) -> int:
        """Frames per input interval, the left input included (2^T or N)."""
        return 2 ** int(self.exp) if self.exp is not None else int(self.multi)

    @property
    def per_pair(self) -> int:
        """New frames between two inputs."""
        return self.factor - 1

    def total(self, inputs: int, mode: str = "plain") -> int:
        """All frames of `inputs` inputs, inputs included: "plain" (n - 1) * P + 1; "loop" n * P (the last pair
        wraps to the first input, which is not repeated); "pingpong" 2 * (n - 1) * P (`inference/loops.py`)."""
        if mode == "loop":
            return inputs * self.factor
        if mode == "pingpong":
            return 2 * (inputs - 1) * self.factor
        if mode != "plain":
            raise InputError(f"unknown sequence mode {mode!r}; choose one of plain, loop, pingpong")
        return (inputs - 1) * self.factor + 1

    def times(self) -> list[float]:
        """The times of the new frames of a pair, in order (k / factor)."""
        return [k / self.factor for k in range(1, self.factor)]

    @property
    def label(self) -> str:
        return f"{self.factor}X"
