"""Interpolator: device, precision, padding, crop and clip around the FILM model, for pairs and sequences.

Frames go in as HxWx3 arrays (uint8, uint16 or float in [0, 1]) or (3, H, W)/(1, 3, H, W) tensors and come out
as HxWx3 float32 in [0, 1]. Inputs are zero-padded (centred) to a multiple of 64 like the official tools and
cropped back. `--exp` follows the official recursive midpoints (film_spec.md §4.3); `--multi` uses t = k/N
directly, as the released graph allows (§1.2), computing each pair's features and flows once.

Each pair runs through the pair runner (`pair.PairRunner`: pad -> encode -> flows -> synthesize -> crop) with the
interpolator's flow source (`filmnet.flows`). Frames over the memory budget (`memory.choose_tiling`) or with a
forced tile size run tile by tile on whole-frame pyramids (`tiling.TiledRunner`), equal to the untiled result.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import ContextManager, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..flows import FlowSource, flow_source_for
from ..frame_spec import FrameSpec
from ..model import FILM
from ..precision import autocast_context, resolve_precision, use_channels_last
from . import memory
from .memory import Tiling, TilingOptions
from .depth import check_pyramid_levels
from .padding import DEFAULT_PADDING, check_padding_mode
from .pair import PairRunner
from .tiling import TiledRunner, count_tiles, tiled_runner

log = logging.getLogger(__name__)

AUTO_MEMORY_FRACTION = 0.8  # max_memory="auto": use at most this share of the memory free now
OUTPUT_BYTES_PER_PIXEL = 12  # one full-frame float32 RGB output kept per extra time of a pair


def resolve_device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda requested but no CUDA GPU is available; use --device cpu")
    return device


def _resolve_weights(weights):
    """None -> the default model's file; a model name (not an existing path) -> its cached file."""
    from ..weights.hub import resolve_weights

    return resolve_weights(weights)


def _load_weights(weights: str | os.PathLike | nn.Module | None, device: torch.device) -> nn.Module:
    if isinstance(weights, nn.Module):
        return weights.to(device)
    from ..weights import load_model  # lazy: weights is a sibling package that may pull in heavy readers

    return load_model(weights, device=device)


class Interpolator:
    """Runs FILM on frames: padding, precision, device, clipping, flow source and tiling.

    Args:
      weights: None (the default model: film_net from the cache or fetched once, else the bundled film_lite
        with a note), a model name (`filmnet models`), a weights file/folder path (an existing path always means
        the file), or a FILM module (used as is, moved to `device`).
      device: "cpu", "cuda", "cuda:N" or a torch.device.
      precision: "auto" (the default, as on the CLI; see `resolve_precision`), "fp32", "bf16" or "fp16".
      flow: where the flows come from (`filmnet.flows`): "model" (FILM's estimator), "dis" (OpenCV DIS flows into
        FILM's fusion; needs the `dis` extra), "hybrid" (per pair, DIS or, for large motion, the model's flows if
        they align the inputs better), "auto" (what the weights file recommends; the bundled film_lite asks for
        "hybrid", and without OpenCV gets the model's own flows with a note), or a `FlowSource`. The source is
        `self.flow_source`, its name `self.flow`.
      warp_mix: for DIS sources, on pairs with under `flows.HYBRID_MOTION` px of mean motion, move the output this
        share of the way towards the time-weighted average of the two warped inputs; None: what the weights file
        recommends, else 0. The share applied is `self.warp_mix` (0 for the model's own flows).
      tiling: a `TilingOptions` (max_memory, tile, overlap); default: max_memory "auto", no forced tile.
      pyramid_levels: "auto" (per frame size, `depth.auto_levels`), an int depth, or None (the config's 7).
      padding: "reflect" (mirrored), "replicate" (edge pixels) or "zeros" (the official tools'; `padding.Padder`).
      **tiling_options: `max_memory=`, `tile=`, `overlap=` as keywords, instead of `tiling`.
    """

    def __init__(self, weights: str | os.PathLike | nn.Module | None = None, device: str | torch.device = "cpu",
                 precision: str = "auto", *, flow: str | FlowSource = "auto", warp_mix: float | None = None,
                 tiling: TilingOptions | None = None, pyramid_levels: int | str | None = "auto",
                 padding: str = DEFAULT_PADDING, **tiling_options):
        self.device = resolve_device(device)
        weights = _resolve_weights(weights)
        self.weights_path = weights if isinstance(weights, (str, os.PathLike)) else None  # the file in use
        self.flow_source = flow_source_for(weights, flow, warp_mix)
        self.precision = resolve_precision(precision, self.device)
        self.model: FILM = _load_weights(weights, self.device).eval()
        self.channels_last = use_channels_last(self.device, self.precision)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.align = max(64, self.model.config.min_size)
        self.tiling_options = _tiling_options(tiling, tiling_options).checked(self.align)
        self.runner = PairRunner(self.model, self.flow_source, autocast=self.autocast,
                                 channels_last=self.channels_last, levels=check_pyramid_levels(pyramid_levels),
                                 padding_mode=check_padding_mode(padding))
        self.last_tiling: Tiling | None = None  # the tiling of the latest interpolate/sequence call
        self._tilings: dict[tuple[int, int, int], Tiling | None] = {}

    @property
    def flow(self) -> str:
        """The flow source's name: "model", "dis" or "hybrid"."""
        return self.flow_source.name

    @property
    def warp_mix(self) -> float:
        return self.flow_source.warp_mix

    @property
    def max_memory(self) -> int | str | None:
        return self.tiling_options.max_memory

    @property
    def tile(self) -> tuple[int, int] | None:
        return self.tiling_options.tile

    @property
    def overlap(self) -> int:
        return self.tiling_options.overlap

    def tiling_for(self, height: int, width: int, *, outputs: int = 1) -> Tiling | None:
        """The tiling used for height x width frames, or None for an untiled pass.

        Decided once per size (and `outputs`) for this interpolator's lifetime, so repeated calls run alike.

        Args:
          outputs: frames produced per pass (`multi` N gives N - 1); each extra one holds a full-frame buffer.
        Raises:
          InputError: when even the smallest tile does not fit `max_memory`.
        """
        key = (int(height), int(width), int(outputs))
        if key not in self._tilings:
            tiling = self._choose_tiling(*key)
            log.info("%dx%d frames: %s", width, height, memory.describe(tiling, height, width))
            self._tilings[key] = tiling
        return self._tilings[key]

    def _choose_tiling(self, height: int, width: int, outputs: int) -> Tiling | None:
        if self.tile is not None:
            tiling = Tiling(self.tile, self.overlap)
            return tiling if count_tiles(height, width, self.tile, self.align) > 1 else None
        if self.max_memory is None:
            return None
        base = (self._memory_in_use() + OUTPUT_BYTES_PER_PIXEL * height * width * max(0, outputs - 1)
                + self.flow_source.peak_bytes(height, width))
        budget = self.max_memory
        if budget == "auto":
            budget = base + int(AUTO_MEMORY_FRACTION * self._memory_free())
        levels = self.runner.sized(height, width, self.align).padded_depth()
        tiling = memory.choose_tiling(height, width, self.model.config, self.precision, budget, base_bytes=base,
                                      levels=levels)
        return None if tiling is None else tiling._replace(overlap=self.overlap)  # overlap: kept, unused

    def _memory_in_use(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.memory_allocated(self.device)
        return memory.process_rss()

    def _memory_free(self) -> int:
        free = memory.available_memory(self.device)
        if self.device.type == "cuda":  # blocks cached by PyTorch's allocator are free to reuse
            free += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return free

    def autocast(self) -> ContextManager:
        """Context manager for the model's mixed precision on this device (no-op for fp32)."""
        return autocast_context(self.device, self.precision)

    def to_tensor(self, frame: np.ndarray | torch.Tensor) -> torch.Tensor:
        """HxWx3 array (uint8/uint16/float) or (3|4,H,W)/(1,3|4,H,W) tensor -> (1, 3|4, H, W) float32 on device."""
        if isinstance(frame, torch.Tensor):
            x = frame if frame.ndim == 4 else frame.unsqueeze(0)
            if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] not in (3, 4):  # hook (alpha): RGBA tensors
                raise InputError(f"expected a (3, H, W) or (1, 3, H, W) tensor, got {tuple(frame.shape)}")
            if not x.is_floating_point():
                x = x.float() / (65535.0 if x.dtype == getattr(torch, "uint16", None) else 255.0)
            return x.to(self.device, torch.float32)
        from ..io.images import as_rgb_array

        # Upload in the source dtype and convert on the device: 4x less transfer for uint8, no CPU transpose.
        a = as_rgb_array(frame)
        scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(a.dtype)
        if a.dtype == np.uint16 and getattr(torch, "uint16", None) is None:
            a = a.astype(np.int32)
        a = np.ascontiguousarray(a) if a.flags.writeable else np.array(a)  # np.asarray(PIL image) is read-only
        x = torch.from_numpy(a).to(self.device).permute(2, 0, 1).unsqueeze(0).float()
        if scale is not None:
            return (x / scale).contiguous()
        if not torch.isfinite(x).all():
            raise InputError("image array contains NaN or infinite values")
        return x.clamp(0.0, 1.0).contiguous()

    @staticmethod
    def to_numpy(x: torch.Tensor) -> np.ndarray:
        """(1, 3, H, W) or (3, H, W) tensor -> HxWx3 float32 numpy array clipped to [0, 1]."""
        x = x.detach()
        x = x[0] if x.ndim == 4 else x
        return x.float().clamp(0.0, 1.0).permute(1, 2, 0).contiguous().cpu().numpy()

    def interpolate(self, frame0: np.ndarray | torch.Tensor, frame1: np.ndarray | torch.Tensor,
                    t: float = 0.5) -> np.ndarray:
        """The frame at time `t` in [0, 1] between two frames of the same size.

        Returns:
          (H, W, 3) float32 in [0, 1].
        """
        x0, x1 = self.to_tensor(frame0), self.to_tensor(frame1)
        _check_same_size(x0, x1, 1)
        t = _check_t(t)
        prepare, frames_at = self._pair_runner(x0, outputs=1)
        return self.to_numpy(next(iter(frames_at(prepare(x0), prepare(x1), [t]))))

    def sequence(self, frames: Iterable, *, exp: int | None = None, multi: int | None = None,
                 progress: bool = False) -> list[np.ndarray]:
        """All frames of `iter_sequence` as a list (inputs included, in time order)."""
        return list(self.iter_sequence(frames, exp=exp, multi=multi, progress=progress))

    def iter_sequence(self, frames: Iterable, *, exp: int | None = None, multi: int | None = None,
                      progress: bool = False, n_inputs: int | None = None) -> Iterator[np.ndarray]:
        """Yield n inputs with new frames between each consecutive pair, one frame at a time.

        Args:
          frames: iterable of n >= 2 frames of one size (read lazily if it is a generator).
          exp: T recursive midpoint levels, (n-1)*2^T + 1 frames (official `times_to_interpolate`).
          multi: N, giving N-1 frames at t = k/N per pair, (n-1)*N + 1 frames.
          progress: show a tqdm bar counting new frames.
          n_inputs: n, for the progress total when `frames` has no len() (e.g. a generator reading files).
        Yields:
          (H, W, 3) float32 frames in [0, 1].
        """
        spec = FrameSpec.of(exp, multi)  # validate now, not at the first next()
        n_inputs = len(frames) if hasattr(frames, "__len__") else n_inputs
        total = (n_inputs - 1) * spec.per_pair if n_inputs else None
        return self._iter_with_progress(iter(frames), spec, total, progress)

    def _iter_with_progress(self, frames: Iterator, spec: FrameSpec, total: int | None,
                            progress: bool) -> Iterator[np.ndarray]:
        bar = _progress_bar(total, progress)
        try:
            yield from self._iter_pairs(frames, spec, bar)
        finally:
            bar.close()

    def _iter_pairs(self, frames: Iterator, spec: FrameSpec, bar) -> Iterator[np.ndarray]:
        first = next(frames, None)
        if first is None:
            raise InputError("need at least 2 frames, got 0")
        x0 = self.to_tensor(first)
        exp = spec.exp
        prepare, frames_at = self._pair_runner(x0, outputs=1 if exp is not None else spec.per_pair)
        s0, count = prepare(x0), 1
        yield self.to_numpy(x0)
        for frame in frames:
            x1 = self.to_tensor(frame)
            count += 1
            _check_same_size(x0, x1, count - 1)
            s1 = prepare(x1)
            if exp is not None:
                new = self._recurse(s0, s1, exp, prepare, frames_at)
            else:
                new = frames_at(s0, s1, spec.times())
            for y in new:
                bar.update(1)
                yield self.to_numpy(y)
            yield self.to_numpy(x1)
            s0 = s1
        if count < 2:
            raise InputError(f"need at least 2 frames, got {count}")

    def _recurse(self, s0, s1, depth: int, prepare: Callable, frames_at: Callable) -> Iterator[torch.Tensor]:
        """Official recursive midpoints: the unclipped mid frame is cropped, re-padded and reused as an input."""
        if depth == 0:
            return
        mid = next(iter(frames_at(s0, s1, [0.5])))
        s_mid = prepare(mid)
        yield from self._recurse(s0, s_mid, depth - 1, prepare, frames_at)
        yield mid
        yield from self._recurse(s_mid, s1, depth - 1, prepare, frames_at)

    def _pair_runner(self, x: torch.Tensor, outputs: int) -> tuple[Callable, Callable]:
        return self.pair_stage(*x.shape[-2:], outputs=outputs)

    def pair_stage(self, height: int, width: int, *, outputs: int = 1) -> tuple[Callable, Callable]:
        """The one pair loop's two steps for height x width (1, 3, H, W) frames, as sequences and video retiming
        run them: `prepare(x)` is a frame's encoding, computed once and reused for both pairs it belongs to, and
        `frames_at(s0, s1, times)` yields a pair's cropped, unclipped frames at `times` (flows once per pair),
        untiled or tile by tile on whole-frame pyramids (`pair_runner`)."""
        tiling = self.last_tiling = self.tiling_for(height, width, outputs=outputs)
        runner = self.pair_runner(height, width, tiling)
        return runner.encode, runner.frames

    def pair_runner(self, height: int, width: int, tiling: Tiling | None = None) -> PairRunner | TiledRunner:
        """The pair runner for height x width frames (padded to this interpolator's alignment): untiled, or in
        `tiling`'s tiles (`tiling.TiledRunner`: the same encode/flows/synthesize/frames, equal results)."""
        if tiling is None:
            return self.runner.sized(height, width, self.align)
        return tiled_runner(self.runner, height, width, tiling.tile, self.align)


def _tiling_options(tiling: TilingOptions | None, options: dict) -> TilingOptions:
    unknown = set(options) - {"max_memory", "tile", "overlap"}
    if unknown:
        raise TypeError(f"Interpolator() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    if tiling is not None and options:
        raise TypeError("Interpolator(): pass tiling=TilingOptions(...) or max_memory/tile/overlap, not both")
    return tiling if tiling is not None else TilingOptions(**options)


def _check_t(t: float) -> float:
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise InputError(f"t must be in [0, 1], got {t}")
    return t


def _check_same_size(x0: torch.Tensor, x1: torch.Tensor, index: int) -> None:
    if x0.shape != x1.shape:
        (h0, w0), (h1, w1) = x0.shape[-2:], x1.shape[-2:]
        raise InputError(f"frame {index} is {w1}x{h1} but frame 0 is {w0}x{h0} (WxH); "
                         "resize the frames to one size (CLI: --resize)")


def _progress_bar(total: int | None, enabled: bool):
    from .progress import WarmupBar

    return WarmupBar(total=total, disable=not enabled, unit="frame", desc="interpolating", leave=False)
