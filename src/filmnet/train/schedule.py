"""Step schedules: piecewise-constant loss weights and the staircase learning-rate decay (film_spec.md §3).

`step` is the number of optimizer updates already applied (TF's `optimizer.iterations`), so the first update
uses step 0.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

VGG_STYLE_BOUNDARY = 1_500_000


@dataclass(frozen=True)
class PiecewiseConstant:
    """TF PiecewiseConstantDecay: values[0] while step <= boundaries[0], values[i] after boundaries[i-1]."""

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError("PiecewiseConstant needs exactly one more value than boundaries")
        if list(self.boundaries) != sorted(self.boundaries):
            raise ValueError("PiecewiseConstant boundaries must be increasing")

    def __call__(self, step: int) -> float:
        return self.values[bisect_left(self.boundaries, step)]


def constant(value: float) -> PiecewiseConstant:
    return PiecewiseConstant((), (value,))


# Loss weights of the released models: film_net-{L1,VGG,Style}.gin.
LOSS_SCHEDULES: dict[str, dict[str, PiecewiseConstant]] = {
    "L1": {"l1": constant(1.0)},
    "VGG": {"l1": constant(1.0), "vgg": PiecewiseConstant((VGG_STYLE_BOUNDARY,), (1.0, 0.25))},
    "Style": {
        "l1": constant(1.0),
        "vgg": PiecewiseConstant((VGG_STYLE_BOUNDARY,), (1.0, 0.25)),
        "style": PiecewiseConstant((VGG_STYLE_BOUNDARY,), (0.0, 40.0)),
    },
}


def staircase_decay(step: int, decay_steps: int, decay_rate: float) -> float:
    """Multiplier of the base LR: decay_rate ** floor(step / decay_steps) (Keras ExponentialDecay, staircase)."""
    return decay_rate ** (step // decay_steps)
