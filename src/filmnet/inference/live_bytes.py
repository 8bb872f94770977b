"""Peak bytes of live tensor storages while code runs (on the meta device: no data, no compute), for the memory
models of `memory` (untiled) and `tiled_memory` (tiled)."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..errors import InputError


def live_bytes_tracker(precision: str = "fp32") -> TorchDispatchMode:
    """A dispatch mode whose `.peak` records the peak bytes of live tensor storages created inside it;
    "bf16"/"fp16" emulate autocast (see `trace_peak_bytes`)."""
    low = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in low:
        raise InputError(f"unknown precision {precision!r} for memory estimates; use fp32, bf16 or fp16")
    return LiveBytes(low[precision])


_CONVS = (torch.ops.aten.conv2d.default, torch.ops.aten.convolution.default)
_GRID_SAMPLE = torch.ops.aten.grid_sampler_2d.default


class LiveBytes(TorchDispatchMode):
    """Records the peak total size of distinct storages created by ops and still referenced."""

    def __init__(self, conv_dtype: torch.dtype | None):
        super().__init__()
        from torch.multiprocessing.reductions import StorageWeakRef

        self._weak = StorageWeakRef
        self.conv_dtype = conv_dtype
        self.live: dict[int, tuple] = {}
        self.casts: dict[int, torch.Tensor] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.conv_dtype is not None and func in _CONVS:
            args = (self._cast(args[0]), self._cast_cached(args[1]), self._cast_cached(args[2]), *args[3:])
        if func is _GRID_SAMPLE and args[0].is_meta:  # its meta kernel is a slow Python decomposition
            image, grid = args[0], args[1]
            out = torch.empty((image.shape[0], image.shape[1], *grid.shape[1:3]), dtype=image.dtype, device="meta")
        else:
            out = func(*args, **kwargs)
        for t in tree_flatten(out)[0]:
            self._add(t)
        self.live = {k: v for k, v in self.live.items() if not v[0].expired()}
        self.peak = max(self.peak, sum(v[1] for v in self.live.values()))
        return out

    def _add(self, t) -> None:
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            self.live.setdefault(storage._cdata, (self._weak(storage), storage.nbytes()))

    def _cast(self, t):
        if t is None or t.dtype == self.conv_dtype:
            return t
        t = t.to(self.conv_dtype)
        self._add(t)
        return t

    def _cast_cached(self, t):
        if t is None:
            return t
        if id(t) not in self.casts:
            self.casts[id(t)] = self._cast(t)
        return self.casts[id(t)]
