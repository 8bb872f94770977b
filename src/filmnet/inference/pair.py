"""The pair runner: pad -> encode -> flows -> synthesize(times) -> crop, the one recipe behind `Interpolator`,
tiling (per tile), video retiming and eval's native-size path.

A frame is encoded once (`encode`) and its `Encoded` reused for both pairs it belongs to. The flows of a pair come
from its `FlowSource` (`filmnet.flows`) and are computed once for all its times.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ContextManager

import torch

from ..flows import FlowSource, FrameFlows, OwnFlows
from ..model import FILM, Encoded, PairFlows
from .padding import Padder

NO_PADDING = (0, 0, 0, 0)


@dataclass(frozen=True)
class PairRunner:
    """FILM on pairs of (B, 3, H, W) float32 frames, in one precision and memory format.

    Args:
      model: the FILM module (in `channels_last` format when that is set).
      source: where the flows come from (default: the model's own).
      padder: pads inputs and crops outputs; None uses frames as given (already padded tiles, or eval's native
        size).
      autocast: a factory for the precision context (e.g. `Interpolator.autocast`); None: none.
      channels_last: feed the model channels_last tensors.
    """

    model: FILM
    source: FlowSource = OwnFlows()
    padder: Padder | None = None
    autocast: Callable[[], ContextManager] | None = None
    channels_last: bool = False

    def sized(self, height: int, width: int, align: int) -> PairRunner:
        """This runner for height x width frames, padded to multiples of `align`."""
        return replace(self, padder=Padder(height, width, align))

    @property
    def padding(self) -> tuple[int, int, int, int]:
        return NO_PADDING if self.padder is None else self.padder.padding

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.padder is None else self.padder.pad(x)

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.padder is None else self.padder.unpad(y)

    def context(self) -> ContextManager:
        """The precision context the model runs under (autocast, or none)."""
        return contextlib.nullcontext() if self.autocast is None else self.autocast()

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Encoded:
        """Pad (B, 3, H, W) frames and compute their image and feature pyramids."""
        x = self.pad(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.context():
            return self.model.encode(x)

    def frame_flows(self, x0: torch.Tensor, x1: torch.Tensor) -> FrameFlows | None:
        """The source's whole-frame work on two padded frames (shared by the tiles of a pair)."""
        return self.source.frame_flows(x0, x1, self.padding)

    @torch.inference_mode()
    def flows(self, e0: Encoded, e1: Encoded, frame: FrameFlows | None = None,
              padding: tuple[int, int, int, int] | None = None) -> PairFlows:
        """The pair's flows (independent of t). `frame`: `frame_flows` cropped to a tile; None computes them
        from the encoded frames. `padding`: their zero border (default: this runner's)."""
        def own() -> PairFlows:
            with self.context():
                return self.model.estimate_flows(e0, e1)

        padding = self.padding if padding is None else padding
        levels = self.model.config.fusion_pyramid_levels if self.source.uses_dis else 0
        return self.source.pair_flows(e0, e1, own, frame, levels, padding)

    @torch.inference_mode()
    def synthesize(self, e0: Encoded, e1: Encoded, flows: PairFlows, t: float | torch.Tensor) -> torch.Tensor:
        """The padded frames at time t (scalar or (B,)) as float32, unclipped and uncropped."""
        x = e0.images[0]
        time = torch.as_tensor(t, dtype=torch.float32, device=x.device).reshape(-1)
        time = time.expand(x.shape[0]) if time.numel() == 1 else time
        with self.context():
            out = self.model.synthesize(e0, e1, flows, time)
            return self.source.finish(out, flows, time).float()

    def frames(self, e0: Encoded, e1: Encoded, times: Sequence[float | torch.Tensor],
               frame: FrameFlows | None = None) -> Iterator[torch.Tensor]:
        """The cropped, unclipped frames at `times` between two encoded frames; flows computed once."""
        if not times:
            return
        flows = self.flows(e0, e1, frame)
        for t in times:
            yield self.crop(self.synthesize(e0, e1, flows, t))

    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float | torch.Tensor]) -> list[torch.Tensor]:
        """`frames` of two unencoded frames."""
        return list(self.frames(self.encode(x0), self.encode(x1), times))
