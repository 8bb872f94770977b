"""Compute precision, for inference and training alike: names, "auto", autocast and the memory format.

`resolve_precision(name, device)` gives the name ("fp32", "bf16", "fp16") inference runs at; training asks
`autocast_dtype(name, device, training=True)` (which prefers bf16's range on CUDA). `cpu_supports_bf16` decides
"auto" on CPUs; FILMNET_CPU_BF16=1 or 0 overrides it (to run the tests both ways).
"""
from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, ContextManager

from .errors import InputError

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # standard library only at import: the CLI's options name them


def dtype_of(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision ("fp32": None)."""
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
CPU_BF16_ENV = "FILMNET_CPU_BF16"  # "1"/"0" overrides the detection (tests run the suite both ways)


def cpu_supports_bf16() -> bool:
    """True if this CPU has native bf16 math (AVX512-BF16 or AMX), where bf16 autocast pays off.
    FILMNET_CPU_BF16=1 or 0 overrides the detection."""
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise InputError(f"{CPU_BF16_ENV} must be 0 or 1, not {forced!r}")
    import torch

    caps = getattr(torch.cpu, "get_capabilities", None)
    if caps is not None:
        info = caps()
        return bool(info.get("avx512_bf16") or info.get("amx_bf16"))
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device) -> str:
    """Map "auto" to fp16 on CUDA, bf16 on a bf16-capable CPU, else fp32; validate the others."""
    if check_precision(precision) != "auto":
        return precision
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_supports_bf16():
        return "bf16"
    return "fp32"


def autocast_dtype(precision: str, device: torch.device, *, training: bool = False) -> torch.dtype | None:
    """The autocast dtype of `precision` on `device`; None means plain fp32. Training refuses fp16 off CUDA and
    resolves "auto" on CUDA to bf16 where supported (its range), else fp16."""
    if training and check_precision(precision) == "fp16" and device.type != "cuda":
        raise InputError("precision fp16 needs CUDA; use bf16 or fp32 on CPU")
    if training and precision == "auto" and device.type == "cuda":
        import torch

        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dtype_of(resolve_precision(precision, device))


def autocast_context(device: torch.device, precision: str) -> ContextManager:
    """torch.autocast for bf16/fp16 on `device`; a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=dtype_of(precision))


def use_channels_last(device: torch.device, precision: str) -> bool:
    """channels_last only where it measured faster: CPU bf16/fp16 (oneDNN). On CUDA (H200) and CPU fp32,
    NCHW was faster (1080p fp16 on H200: 74 ms NCHW vs 100 ms channels_last for the model alone)."""
    return device.type == "cpu" and precision != "fp32"
