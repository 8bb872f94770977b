"""Pyramid depth at run time (issue 22): `parse_pyramid_levels` for the CLI, `resolve_levels` for the runners.

FILM's feature extractor and its coarse flow predictor share weights across levels, so the same weights run a
deeper pyramid than the config's 7 levels, and a large motion becomes a small one at the coarsest level. Depths run
from `config.min_pyramid_levels` (the fusion's levels, 5 for the released models) up to the deepest whose
coarsest level (floor 2x2 pooling of the frame padded to 64) still has a pixel. Frames are not padded further for
deeper levels: coarse levels round their sizes down (research/pyramid_depth.py measured no loss against padding to
2^(L-1), which costs up to 2x the pixels).

"auto" (the default) picks the depth from the frame size: the deepest pyramid whose coarsest level keeps at least
AUTO_COARSEST_PX pixels on the frame's short side, and never fewer than the config's levels (research/pyramid_depth.py).
"""
from __future__ import annotations

from ..errors import InputError
from ..model.config import FILMConfig
from ..model.film import check_levels, max_levels_for

AUTO = "auto"
AUTO_COARSEST_PX = 2  # "auto": the coarsest level keeps at least this many pixels on the short side

def parse_pyramid_levels(text: str | int) -> int | str:
    """`--pyramid-levels` text -> "auto" or an int (range checked later against the model and frame size)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _positive(text, text)
    value = str(text).strip().lower()
    if value == AUTO:
        return AUTO
    try:
        number = int(value, 10)
    except ValueError:
        raise InputError(f"--pyramid-levels must be auto or a whole number of levels, not {text!r}") from None
    return _positive(number, text)


def _positive(number: int, text) -> int:
    if number < 1:
        raise InputError(f"--pyramid-levels must be auto or a positive number of levels, not {text!r}")
    return number


def check_pyramid_levels(levels: int | str | None) -> int | str | None:
    """An API value: None, "auto" or an int (text is parsed)."""
    if levels is None or levels == AUTO:
        return levels
    if isinstance(levels, str):
        return parse_pyramid_levels(levels)
    if isinstance(levels, bool) or not isinstance(levels, int):
        raise InputError(f"pyramid_levels must be 'auto' or an integer, got {levels!r}")
    return _positive(levels, levels)


def auto_levels(config: FILMConfig, height: int, width: int) -> int:
    """The "auto" depth for (padded) height x width frames."""
    deepest = max_levels_for(height // AUTO_COARSEST_PX, width // AUTO_COARSEST_PX)
    return max(config.pyramid_levels, min(deepest, max_levels_for(height, width)))


def resolve_levels(levels: int | str | None, config: FILMConfig, height: int, width: int) -> int:
    """The depth to run on (padded) height x width frames: None -> the config's, "auto" -> `auto_levels`, an int
    checked against [config.min_pyramid_levels, deepest for the size] (InputError naming the range)."""
    levels = check_pyramid_levels(levels)
    if levels == AUTO:
        levels = auto_levels(config, height, width)
    return check_levels(config, levels, height, width)
