"""The fast CPU path (bf16 autocast + channels_last) against fp32 on a real frame pair.

Model: the bundled `filmnet/assets/film_lite.safetensors` when installed; otherwise seeded random `film_lite`
weights whose output conv is rescaled (x2, bias +0.95) so the image has a real image's range (mean ~0.5, std
~0.23); random init already gives flows of ~12 px at full resolution on this pair. Which one ran is in the
assertion messages. The pair is rife_demo/I0_0.png, I0_1.png (448x256, real frames, used as is).
"""
import contextlib
from importlib import resources

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import filmnet
from conftest import DATA, need_shared

PSNR_MIN_DB = 40.0


def _bf16_supported() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


needs_bf16 = pytest.mark.skipif(not _bf16_supported(), reason="this CPU has no oneDNN bf16 support (AVX512-BF16/AMX)")


def _bundled_weights():
    path = resources.files("filmnet") / "assets" / "film_lite.safetensors"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def film_lite() -> tuple[torch.nn.Module, str]:
    bundled = _bundled_weights()
    if bundled is not None:
        from filmnet.weights import load_model

        return load_model(str(bundled)).eval(), "bundled film_lite weights"
    torch.manual_seed(0)
    model = filmnet.FILM("film_lite").eval()
    with torch.no_grad():
        model.fuse.output_conv.weight.mul_(2.0)
        model.fuse.output_conv.bias.mul_(2.0).add_(0.95)
    return model, "seeded random film_lite weights (output conv rescaled)"


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    folder = need_shared(DATA / "demo_pairs" / "rife_demo")

    def load(name: str) -> torch.Tensor:
        array = np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()

    return load("I0_0.png"), load("I0_1.png")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _copy(model: torch.nn.Module) -> torch.nn.Module:
    clone = filmnet.FILM(model.config).eval()
    clone.load_state_dict(model.state_dict())
    return clone


def _run(model, x0, x1, fast: bool):
    if fast:
        model = _copy(model).to(memory_format=torch.channels_last)
        x0, x1 = (x.contiguous(memory_format=torch.channels_last) for x in (x0, x1))
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if fast else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        return model(x0, x1, 0.5)


@needs_bf16
def test_bf16_channels_last_within_40db_of_fp32(film_lite, pair):
    model, which = film_lite
    reference = _run(model, *pair, fast=False)
    image = reference.image
    inside = ((image >= 0) & (image <= 1)).float().mean().item()
    assert 0.1 < image.std().item() < 0.5 and inside > 0.9, f"fp32 output range is not image-like ({which})"
    flow = reference.forward_flows[0].abs().mean().item()
    assert flow > 1.0, f"fp32 flows are too small to exercise warping: {flow:.3f} px ({which})"
    fast = _run(model, *pair, fast=True).image.float()
    psnr = _psnr(fast, image)
    assert psnr >= PSNR_MIN_DB, f"bf16+channels_last vs fp32: {psnr:.2f} dB < {PSNR_MIN_DB} dB ({which})"


@needs_bf16
def test_interpolator_bf16_within_40db_of_fp32(film_lite, pair):
    from filmnet.inference import Interpolator

    model, which = film_lite
    frames = [x[0] for x in pair]
    slow = Interpolator(_copy(model), "cpu", "fp32").interpolate(*frames)
    fast_interp = Interpolator(_copy(model), "cpu", "bf16")
    fast = fast_interp.interpolate(*frames)
    psnr = _psnr(torch.from_numpy(fast), torch.from_numpy(slow))
    assert psnr >= PSNR_MIN_DB, f"Interpolator bf16 vs fp32: {psnr:.2f} dB < {PSNR_MIN_DB} dB ({which})"


class _GridSampleDtypes(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.dtypes: list[tuple[torch.dtype, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if "grid_sampler" in str(func):
            self.dtypes.append((args[0].dtype, args[1].dtype))
        return func(*args, **(kwargs or {}))


@needs_bf16
def test_warp_grids_and_flows_stay_fp32_under_autocast():
    """Flows reach ~100s of px at 4K; bf16 (8-bit mantissa) would quantise them to ~0.5 px, so they stay fp32."""
    torch.manual_seed(0)
    model = filmnet.FILM("film_tiny").eval()
    x0, x1 = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    recorder = _GridSampleDtypes()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), recorder:
        out = model(x0, x1, 0.5)
    assert recorder.dtypes and all(d == (torch.float32, torch.float32) for d in recorder.dtypes), recorder.dtypes
    for name in ("forward_flows", "backward_flows", "forward_residual_flows", "backward_residual_flows"):
        dtypes = {f.dtype for f in getattr(out, name)}
        assert dtypes == {torch.float32}, f"{name} is {dtypes} under bf16 autocast; accumulate flows in fp32"


class _SamplingDtypes(TorchDispatchMode):
    """Records the floating dtypes of every tensor passed to a sampling op (grid_sample or the gather warp)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, set]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if "grid_sampler" in name or "embedding_bag" in name:
            tensors = [a for a in (*args, *(kwargs or {}).values()) if isinstance(a, torch.Tensor)]
            self.calls.append((name, {t.dtype for t in tensors if t.is_floating_point()}))
        return func(*args, **(kwargs or {}))


@needs_bf16
def test_channels_last_warp_samples_in_fp32_under_autocast():
    """The channels_last path warps with a gather instead of grid_sample; it must sample in fp32 too."""
    torch.manual_seed(0)
    model = filmnet.FILM("film_tiny").eval().to(memory_format=torch.channels_last)
    x0, x1 = (torch.rand(1, 3, 64, 96).contiguous(memory_format=torch.channels_last) for _ in range(2))
    recorder = _SamplingDtypes()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), recorder:
        out = model(x0, x1, 0.5)
    assert recorder.calls, "no sampling op was recorded"
    assert all(dtypes == {torch.float32} for _, dtypes in recorder.calls), recorder.calls
    assert {f.dtype for f in out.forward_flows} == {torch.float32}


@pytest.mark.parametrize("forced, expected", [("1", "bf16"), ("0", "fp32")])
def test_cpu_bf16_detection_can_be_forced(monkeypatch, forced, expected):
    """FILMNET_CPU_BF16 decides what "auto" means on a CPU, so the suite can run both ways on one machine."""
    monkeypatch.setenv("FILMNET_CPU_BF16", forced)
    assert filmnet.inference.resolve_precision("auto", torch.device("cpu")) == expected
    assert filmnet.inference.resolve_precision("fp32", torch.device("cpu")) == "fp32"  # explicit settings win


def test_cpu_bf16_override_rejects_other_values(monkeypatch):
    monkeypatch.setenv("FILMNET_CPU_BF16", "yes")
    with pytest.raises(filmnet.errors.InputError, match="FILMNET_CPU_BF16 must be 0 or 1"):
        filmnet.inference.resolve_precision("auto", torch.device("cpu"))
