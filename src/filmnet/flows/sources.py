"""The `FlowSource` interface: where a pair's flows come from, for the pair runner (`inference.pair`).

- `OwnFlows` ("model"): FILM's flow estimator.
- `DisFlows` ("dis"): OpenCV DIS flows of the whole frame into FILM's fusion, with an optional warp mix.
- `HybridFlows` ("hybrid"): DIS, or per pair with large motion the model's own flows where they align better.

`pair_flows` gives a pair's flows from its (whole-frame) encodings: the model's own (`own()`, untiled or tiled by
the caller), or DIS on the whole padded frame (`frame_flows`).
`finish` turns the model's output into the image (the warp mix for DIS sources).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..model import Encoded, FILMOutput, PairFlows
from .dis import (DIS_PEAK_BYTES_PER_PIXEL, apply_warp_mix, check_warp_mix, dis_flow_fields, fusion_flows,
                  mean_motion, require_cv2, select_flows)

Padding = tuple[int, int, int, int]  # left, right, top, bottom (from a Padder)
NO_PADDING: Padding = (0, 0, 0, 0)


@dataclass(frozen=True)
class FrameFlows:
    """Full-resolution flows of a whole (padded) frame pair, (B, 2, H, W) each, and the (B,) mean motion (px)
    inside the frame."""

    forward: torch.Tensor
    backward: torch.Tensor
    motion: torch.Tensor


class FlowSource:
    """Where a pair's flows come from (see the module docstring). `name` is "model", "dis" or "hybrid"."""

    name: ClassVar[str] = "model"
    uses_dis: ClassVar[bool] = False  # needs OpenCV and whole-frame DIS memory
    warp_mix: float = 0.0  # the share applied by `finish` (0: none)

    def frame_flows(self, x0: torch.Tensor, x1: torch.Tensor, padding: Padding = NO_PADDING) -> FrameFlows | None:
        """Whole-frame work for a pair of padded (B, 3, H, W) frames (None: nothing to do)."""
        return None

    def pair_flows(self, e0: Encoded, e1: Encoded, own: Callable[[], PairFlows], levels: int,
                   padding: Padding = NO_PADDING) -> PairFlows:
        """The flows to fuse for two whole-frame encodings: `own()` gives the model's, `levels` the fusion's flow
        levels, `padding` the border."""
        return own()

    def finish(self, out: FILMOutput, flows: PairFlows, time: torch.Tensor) -> torch.Tensor:
        """The output image of a synthesized pair."""
        return out.image

    def peak_bytes(self, height: int, width: int) -> int:
        """Extra peak memory on height x width frames, beyond the model's."""
        return 0

    def describe(self) -> str:
        """For messages and names, e.g. "hybrid flows, warp mix 0.25"."""
        return f"{self.name} flows" + (f", warp mix {self.warp_mix:g}" if self.warp_mix else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(warp_mix={self.warp_mix:g})" if self.warp_mix else f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.warp_mix == other.warp_mix

    def __hash__(self) -> int:
        return hash((type(self), self.warp_mix))


class OwnFlows(FlowSource):
    """FILM's own flow estimator (no OpenCV)."""

    name = "model"


class DisFlows(FlowSource):
    """OpenCV DIS flows into FILM's fusion; on pairs with under `dis.HYBRID_MOTION` px of motion the output moves
    `warp_mix` of the way towards the time-weighted average of the two warped inputs (`dis.apply_warp_mix`)."""

    name = "dis"
    uses_dis = True

    def __init__(self, warp_mix: float = 0.0):
        require_cv2()  # fail now, not at the first frame
        self.warp_mix = check_warp_mix(warp_mix)

    def frame_flows(self, x0: torch.Tensor, x1: torch.Tensor, padding: Padding = NO_PADDING) -> FrameFlows:
        forward, backward = dis_flow_fields(x0, x1, padding)
        return FrameFlows(forward, backward, mean_motion(forward, padding))

    def pair_flows(self, e0: Encoded, e1: Encoded, own: Callable[[], PairFlows], levels: int,
                   padding: Padding = NO_PADDING) -> PairFlows:
        frame = self.frame_flows(e0.images[0], e1.images[0], padding)
        return fusion_flows(frame.forward, frame.backward, levels, motion=frame.motion)

    def finish(self, out: FILMOutput, flows: PairFlows, time: torch.Tensor) -> torch.Tensor:
        return apply_warp_mix(out, flows, time, self.warp_mix)

    def peak_bytes(self, height: int, width: int) -> int:
        return DIS_PEAK_BYTES_PER_PIXEL * height * width  # whole-frame DIS, also when tiled


class HybridFlows(DisFlows):
    """DIS flows; per pair with at least `dis.HYBRID_MOTION` px of mean motion, the model's own flows where its
    two warped inputs agree better (`dis.select_flows`, measured inside `padding`)."""

    name = "hybrid"

    def pair_flows(self, e0: Encoded, e1: Encoded, own: Callable[[], PairFlows], levels: int,
                   padding: Padding = NO_PADDING) -> PairFlows:
        dis = super().pair_flows(e0, e1, own, levels, padding)
        return select_flows(e0.images[0], e1.images[0], dis, own, padding)
