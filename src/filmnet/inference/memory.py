"""Memory budget for inference: estimate FILM's peak activation memory, read what is free, pick a tiling.

The estimate traces one forward pass on the meta device (no data, no compute) and records the peak bytes of
live tensor storages, so it follows the real architecture and config. Measured peak RSS adds allocator and
oneDNN workspace overhead on top; `RSS_FACTOR` covers it (benchmarks/speed.py prints measured vs estimated).
"""
from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..errors import InputError
from ..model import FILM, FILMConfig
from .live_bytes import live_bytes_tracker
from .tiled_memory import TiledRates, tiled_rates
from .tiling import ALIGN, count_tiles, frame_grid

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = 0  # tiles are exact (whole-frame pyramids), so they need no overlap
RSS_FACTOR = 1.4  # measured peak RSS growth per pixel / traced live-tensor peak was 1.12-1.37 (docs/PERFORMANCE.md)
RUNTIME_BYTES = 160 * 2**20  # first-forward growth not proportional to pixels (oneDNN kernels, pools): 60-130 MB
FRAME_BYTES_PER_PIXEL = 128  # full-frame buffers around tiles: inputs, padded copies, accumulators, HWC arrays
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?i?)b?\s*$", re.IGNORECASE)


class Tiling(NamedTuple):
    tile: tuple[int, int]
    overlap: int


def parse_memory(text: str | int) -> int:
    """Bytes from "8GB" (10^9), "512MiB" (2^20), "1.5g", "3000000": SI for k/M/G/T(B), binary for KiB/MiB/GiB/TiB."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match or match.group(2).lower() == "i":
        raise InputError(f"cannot read memory size {text!r}; use e.g. 8GB, 512MiB or a number of bytes")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def available_memory(device: torch.device | str = "cpu") -> int:
    """Bytes free for a new allocation now: CUDA free memory, or available RAM (within a cgroup limit if set)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        free = int(psutil.virtual_memory().available)
    except ImportError:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = _cgroup_free()
    return min(free, limit) if limit is not None else free


def _cgroup_free() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def process_rss() -> int:
    """Resident set size of this process in bytes (0 if psutil is missing)."""
    try:
        import psutil
    except ImportError:
        return 0
    return int(psutil.Process().memory_info().rss)


@functools.lru_cache(maxsize=32)
def activation_bytes_per_pixel(config: FILMConfig, precision: str = "fp32") -> float:
    """Peak bytes of live tensors per input pixel for one FILM forward pass (batch 1, traced on meta)."""
    side = 8 * config.min_size  # the live set scales with pixels; any size >= min_size traces the same ratio
    return trace_peak_bytes(config, side, side, precision) / side**2


def trace_peak_bytes(config: FILMConfig, height: int, width: int, precision: str = "fp32") -> int:
    """Peak bytes of tensor storages alive during `FILM(config)(x0, x1)` on (1, 3, height, width) inputs.

    Inputs and parameters are not counted. "bf16"/"fp16" emulate autocast: conv inputs and weights are cast
    (weights once, as autocast caches them) and convs return the low precision.
    """
    with torch.device("meta"):
        model = FILM(config).eval()
        x0, x1 = torch.empty(1, 3, height, width), torch.empty(1, 3, height, width)
    tracker = live_bytes_tracker(precision)
    with torch.inference_mode(), tracker:
        model(x0, x1)
    return tracker.peak


def estimate_peak_bytes(config: FILMConfig, height: int, width: int, precision: str = "fp32", batch: int = 1) -> int:
    """Estimated peak RSS growth (bytes) of one untiled forward pass on frames padded to a multiple of 64."""
    pixels = _padded(height) * _padded(width)
    return int(RUNTIME_BYTES + RSS_FACTOR * activation_bytes_per_pixel(config, precision) * pixels * batch)


def choose_tiling(
    height: int,
    width: int,
    config: FILMConfig,
    precision: str,
    max_memory_bytes: int,
    *,
    base_bytes: int | None = None,
    batch: int = 1,
    levels: int | None = None,
) -> Tiling | None:
    """None if the untiled pass fits `max_memory_bytes`, else the cheapest tiling that fits.

    Tiled, the whole-frame pyramids and flows stay in memory and only the fine levels' convs run per tile
    (`tiling.TiledRunner`); their costs come from `tiled_memory.tiled_rates`.

    Args:
      height, width: unpadded frame size.
      max_memory_bytes: budget for the whole process's peak (runtime, weights, frames and activations).
      base_bytes: memory already in use (default: this process's RSS now, which includes the loaded model);
        `RUNTIME_BYTES` is added for the first forward pass's fixed growth.
      levels: the pyramid depth resolved for the padded frame (`PairRunner.padded_depth`; None: the config's).
    Returns:
      None, or `Tiling(tile=(th, tw), DEFAULT_OVERLAP)` with the fewest computed pixels (halos included; tiles
      are exact and do not overlap).
    Raises:
      InputError: when even the smallest tile does not fit.
    """
    base = (process_rss() if base_bytes is None else base_bytes) + RUNTIME_BYTES
    budget = max_memory_bytes - base - FRAME_BYTES_PER_PIXEL * height * width * batch
    per_pixel = RSS_FACTOR * activation_bytes_per_pixel(config, precision) * batch
    hp, wp = _padded(height), _padded(width)
    if hp * wp * per_pixel <= budget:
        return None
    rates = tiled_rates(config, precision, levels)
    best = _cheapest_tile(hp, wp, rates, budget / RSS_FACTOR / batch)
    if best is None:
        need = base + FRAME_BYTES_PER_PIXEL * height * width * batch + RSS_FACTOR * rates.bytes(hp, wp, (ALIGN, ALIGN),
                                                                                                 batch)
        raise InputError(
            f"a {width}x{height} frame needs about {need / 2**30:.2f} GiB even in {ALIGN}x{ALIGN} tiles, more than "
            f"the {max_memory_bytes / 2**30:.2f} GiB allowed; raise --max-memory, use --precision bf16/fp16, "
            "or a smaller model"
        )
    log.info("tiling %dx%d into tiles of up to %dx%d", width, height, best[1], best[0])
    return Tiling(best, DEFAULT_OVERLAP)


def estimate_tiled_bytes(config: FILMConfig, height: int, width: int, tile: tuple[int, int],
                         precision: str = "fp32", batch: int = 1, levels: int | None = None) -> int:
    """Estimated peak RSS growth (bytes) of one tiled pair on (unpadded) height x width frames at pyramid
    depth `levels` (None: the config's)."""
    rates = tiled_rates(config, precision, levels)
    return int(RUNTIME_BYTES + RSS_FACTOR * rates.bytes(_padded(height), _padded(width), tile, batch))


def _cheapest_tile(hp: int, wp: int, rates: TiledRates, max_bytes: float) -> tuple[int, int] | None:
    """The (th, tw) whose tiled pass fits `max_bytes` live bytes with the fewest computed (haloed) pixels."""
    best, best_key = None, None
    for th in range(ALIGN, hp + 1, ALIGN):
        for tw in range(ALIGN, wp + 1, ALIGN):
            if rates.bytes(hp, wp, (th, tw)) > max_bytes:
                continue
            grid = frame_grid(hp, wp, (th, tw))
            computed = sum((min(b - a + 2 * rates.halo, hp)) for a, b in zip(grid.rows, grid.rows[1:])) * sum(
                (min(b - a + 2 * rates.halo, wp)) for a, b in zip(grid.cols, grid.cols[1:]))
            key = (computed, grid.count)
            if best_key is None or key < best_key:
                best, best_key = (th, tw), key
    return best


def _padded(n: int) -> int:
    return n + (-n % ALIGN)


def describe(tiling: Tiling | None, height: int, width: int) -> str:
    """One line for logs: "untiled" or "12 tiles of up to 576x640 (WxH), whole-frame pyramids"."""
    if tiling is None:
        return "untiled"
    n = count_tiles(height, width, tiling.tile)
    return f"{n} tiles of up to {tiling.tile[1]}x{tiling.tile[0]} (WxH), whole-frame pyramids"


__all__ = [
    "DEFAULT_OVERLAP", "Tiling", "activation_bytes_per_pixel", "available_memory", "choose_tiling", "describe",
    "estimate_peak_bytes", "estimate_tiled_bytes", "live_bytes_tracker", "parse_memory", "process_rss",
    "trace_peak_bytes",
]


def tune_allocator() -> bool:
    """Keep large freed blocks in glibc's heap instead of returning them to the OS after every op.

    FILM allocates and frees many large activations per frame; by default glibc unmaps each one and page-faults
    it back in on the next use (~400k faults per film_lite 640x360 forward). Raising the mmap and trim thresholds
    removed ~60% of the faults and ~5% of the time at the same peak RSS (measured here). Process-wide, so only the
    CLI calls it. Returns False where glibc's mallopt is unavailable.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, (1 << 31) - 1))


@dataclass(frozen=True)
class TilingOptions:
    """When and how frames run as tiles; shared by the CLI (`--max-memory`, `--tile`, `--tile-overlap`) and the API.

    Args:
      max_memory: peak memory budget of the whole process (or of the GPU's allocations on CUDA): "auto" (what is
        in use now plus 80% of what is free), bytes as an int or a string like "8GB" / "512MiB", or None (never
        tile unless `tile` is given). Frames whose untiled pass does not fit are tiled.
      tile: (height, width) forced tile size, multiples of 64 in the padded frame; overrides `max_memory`.
      overlap: unused (tiles see the whole frame and are exact); kept for compatibility, a multiple of 64.
    """

    max_memory: int | str | None = "auto"
    tile: tuple[int, int] | None = None
    overlap: int = DEFAULT_OVERLAP

    @classmethod
    def from_text(cls, max_memory: str = "auto", tile: str | None = None, overlap: int | None = None) -> TilingOptions:
        """From the CLI's words: --max-memory (auto, none or a size), --tile HxW and --tile-overlap, bounded
        (`filmnet.bounds`)."""
        from dataclasses import replace

        from ..bounds import check
        from ..errors import InputError

        word = max_memory.strip().lower()
        if word in ("none", "auto"):
            options = cls(max_memory=None if word == "none" else "auto")
        else:  # parsed here, once: `checked()` then sees bytes
            options = cls(max_memory=check("max_memory", parse_memory(max_memory)))
        if tile is not None:
            try:
                h, w = (int(v) for v in tile.lower().split("x"))
            except ValueError:
                raise InputError(f"--tile must look like 512x512 (HxW), got {tile!r}") from None
            for side in (h, w):
                check("tile", side)
            options = replace(options, tile=(h, w))
        return options if overlap is None else replace(options, overlap=overlap)

    def checked(self, align: int = ALIGN) -> TilingOptions:
        """These options validated, with `max_memory` as bytes, "auto" or None (InputError if invalid)."""
        overlap = _check_overlap(self.overlap, align)
        return TilingOptions(_check_max_memory(self.max_memory), _check_tile(self.tile, overlap, align), overlap)


def _check_max_memory(max_memory: int | str | None) -> int | str | None:
    if max_memory is None:
        return None
    if isinstance(max_memory, str) and max_memory.strip().lower() == "auto":
        return "auto"
    if isinstance(max_memory, bool) or not isinstance(max_memory, (int, str)):
        raise InputError(f"max_memory must be 'auto', None, bytes or a size like '8GB', got {max_memory!r}")
    size = parse_memory(max_memory)
    if size <= 0:
        raise InputError(f"--max-memory must be positive, got {max_memory!r}")
    return size


def _check_overlap(overlap: int, align: int) -> int:
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0 or overlap % align:
        raise InputError(f"--tile-overlap must be a non-negative multiple of {align}, got {overlap!r}")
    return overlap


def _check_tile(tile: tuple[int, int] | None, overlap: int, align: int) -> tuple[int, int] | None:
    if tile is None:
        return None
    sizes = tuple(tile)
    if len(sizes) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise InputError(f"--tile must be two positive integers (height, width), got {tile!r}")
    if any(n % align for n in sizes):
        raise InputError(f"--tile sizes must be multiples of {align}, got {sizes[0]}x{sizes[1]} (HxW)")
    if min(sizes) <= overlap:
        raise InputError(f"--tile {sizes[0]}x{sizes[1]} (HxW) must be larger than --tile-overlap {overlap}")
    return sizes
