"""The pair runner: pad -> encode -> flows -> synthesize(times) -> crop, the one recipe behind `Interpolator`,
tiling (`tiling.TiledRunner` wraps a sized runner), video retiming and eval's native-size path.

A frame is encoded once (`encode`) and its `Encoded` reused for both pairs it belongs to. The flows of a pair come
from its `FlowSource` (`filmnet.flows`) and are computed once for all its times.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import ContextManager

import torch

from ..flows import FlowSource, OwnFlows
from ..model import FILM, Encoded, PairFlows
from . import alpha as alpha_carry
from .depth import AUTO, resolve_levels
from .padding import Padder

NO_PADDING = (0, 0, 0, 0)


@dataclass(frozen=True)
class PairRunner:
    """FILM on pairs of (B, 3, H, W) float32 frames, in one precision and memory format.

    Args:
      model: the FILM module (in `channels_last` format when that is set).
      source: where the flows come from (default: the model's own).
      padder: pads inputs and crops outputs; None uses frames as given (eval's native size).
      autocast: a factory for the precision context (e.g. `Interpolator.autocast`); None: none.
      channels_last: feed the model channels_last tensors.
      levels: pyramid depth: an int, None (the config's), or "auto": encode as deep as the padded frame size
        suggests (`depth.auto_levels`) and, per pair, keep the config's depth unless the deep levels see large
        motion (`FILM.estimate_flows(shallow=...)`).
      padding_mode: how `sized` pads: "zeros" (official), "replicate" or "reflect" (`padding.Padder`).
    """

    model: FILM
    source: FlowSource = OwnFlows()
    padder: Padder | None = None
    autocast: Callable[[], ContextManager] | None = None
    channels_last: bool = False
    levels: int | str | None = None
    padding_mode: str = "zeros"

    def sized(self, height: int, width: int, align: int) -> PairRunner:
        """This runner for height x width frames, padded to multiples of `align` (its depth checked for the
        padded size)."""
        padder = Padder(height, width, align, self.padding_mode)
        runner = replace(self, padder=padder)
        runner.padded_depth()  # fail early on a depth out of range for the padded size
        return runner

    def depth_for(self, height: int, width: int) -> int:
        """The pyramid depth `encode` uses on padded height x width frames (InputError if out of range)."""
        return resolve_levels(self.levels, self.model.config, height, width)

    def padded_depth(self) -> int | None:
        """The depth `encode` resolves for this sized runner's padded frames (None: no depth set, the config's)."""
        if self.levels is None:
            return None
        p = self.padder
        return self.depth_for(p.height + sum(p.padding[2:]), p.width + sum(p.padding[:2]))

    @property
    def shallow_levels(self) -> int | None:
        """For "auto": the depth a pair falls back to when its deep levels see little motion; else None."""
        return self.model.config.pyramid_levels if self.levels == AUTO else None

    @property
    def padding(self) -> tuple[int, int, int, int]:
        return NO_PADDING if self.padder is None else self.padder.padding

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.padder is None else alpha_carry.pad(self.padder, x)  # hook (alpha): edge-padded alpha

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.padder is None else self.padder.unpad(y)

    def context(self) -> ContextManager:
        """The precision context the model runs under (autocast, or none)."""
        return contextlib.nullcontext() if self.autocast is None else self.autocast()

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> Encoded:
        """Pad (B, 3, H, W) frames and compute their image and feature pyramids. (B, 4, H, W) frames carry their
        alpha beside the pyramids (`alpha.split`), and `synthesize` returns RGBA."""
        x, alpha = alpha_carry.split(self.pad(x))  # hook (alpha): RGB to the model, alpha kept aside
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.context():
            if self.levels is None:  # the config's depth
                return alpha_carry.with_alpha(self.model.encode(x), alpha)
            return alpha_carry.with_alpha(self.model.encode(x, self.depth_for(*x.shape[-2:])), alpha)

    @torch.inference_mode()
    def flows(self, e0: Encoded, e1: Encoded, padding: tuple[int, int, int, int] | None = None) -> PairFlows:
        """The pair's flows (independent of t) from the runner's source. `padding`: their border (default: this
        runner's)."""
        def own() -> PairFlows:
            with self.context():
                shallow = self.shallow_levels
                return self.model.estimate_flows(e0, e1) if shallow is None else \
                    self.model.estimate_flows(e0, e1, shallow)

        padding = self.padding if padding is None else padding
        levels = self.model.config.fusion_pyramid_levels if self.source.uses_dis else 0
        return self.source.pair_flows(e0, e1, own, levels, padding)

    @torch.inference_mode()
    def synthesize(self, e0: Encoded, e1: Encoded, flows: PairFlows, t: float | torch.Tensor) -> torch.Tensor:
        """The padded frames at time t (scalar or (B,)) as float32, unclipped and uncropped; RGBA when the frames
        were encoded with alpha (the alpha warped with the flows the fusion used, `alpha.attach`)."""
        x = e0.images[0]
        time = torch.as_tensor(t, dtype=torch.float32, device=x.device).reshape(-1)
        time = time.expand(x.shape[0]) if time.numel() == 1 else time
        with self.context():
            out = self.model.synthesize(e0, e1, flows, time)
            image = self.source.finish(out, flows, time).float()
        return alpha_carry.attach(image, out, e0, e1, time)  # hook (alpha)

    def frames(self, e0: Encoded, e1: Encoded, times: Sequence[float | torch.Tensor]) -> Iterator[torch.Tensor]:
        """The cropped, unclipped frames at `times` between two encoded frames; flows computed once."""
        if not times:
            return
        flows = self.flows(e0, e1)
        for t in times:
            yield self.crop(self.synthesize(e0, e1, flows, t))

    def run(self, x0: torch.Tensor, x1: torch.Tensor, times: Sequence[float | torch.Tensor]) -> list[torch.Tensor]:
        """`frames` of two unencoded frames."""
        return list(self.frames(self.encode(x0), self.encode(x1), times))
