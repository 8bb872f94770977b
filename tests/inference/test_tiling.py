"""Tiled inference (layout, blending, exact reassembly) and the memory budget that picks the tiling."""
import pytest
import torch

import filmnet
from filmnet.errors import InputError
from filmnet.inference import memory
from filmnet.inference.padding import Padder
from filmnet.model import Encoded, FILMOutput
from filmnet.inference.pair import PairRunner
from filmnet.inference.tiling import blend_ramp, count_tiles, interpolate_tiled, interpolate_tiled_times, tile_spans


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return filmnet.FILM("film_tiny").eval()


def _pair(h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)


def _untiled(model, x0, x1, t=0.5):
    padder = Padder(x0.shape[-2], x0.shape[-1], 64)
    with torch.inference_mode():
        return padder.unpad(model(padder.pad(x0), padder.pad(x1), t).image)


@pytest.mark.parametrize("length, tile, overlap", [(1088, 576, 128), (1920, 640, 128), (2176, 1152, 192),
                                                   (640, 256, 0), (704, 192, 64), (128, 256, 64), (768, 704, 128)])
def test_spans_cover_aligned_with_min_overlap(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0].start == 0 and spans[-1].start + spans[-1].size == length
    for a, b in zip(spans, spans[1:]):
        assert b.start % 64 == 0 and a.size == b.size == tile
        assert a.start < b.start and a.start + a.size - b.start >= overlap
        assert a.overlap_after == b.overlap_before == a.start + a.size - b.start


def test_spans_reject_bad_sizes():
    with pytest.raises(InputError, match="multiples of 64"):
        tile_spans(1088, 500, 128)
    with pytest.raises(InputError, match="overlap"):
        tile_spans(1088, 256, 256)


def _weight_sum(length: int, tile: int, overlap: int) -> torch.Tensor:
    total = torch.zeros(length, dtype=torch.float64)
    for span in tile_spans(length, tile, overlap):
        ramp = blend_ramp(span, torch.float64)
        assert ramp.min() >= 0 and ramp.max() <= 1
        total[span.start : span.start + span.size] += ramp
    return total


@pytest.mark.parametrize("length, tile, overlap", [(1088, 576, 128), (1920, 640, 192), (704, 192, 64),
                                                   (2176, 1152, 128), (640, 256, 0)])
def test_blend_weights_are_a_partition_of_unity(length, tile, overlap):
    total = _weight_sum(length, tile, overlap)
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-12, rtol=0)


@pytest.mark.parametrize("length, tile, overlap", [(320, 256, 128), (1088, 192, 128), (640, 256, 192)])
def test_blend_weights_never_vanish_with_dense_tiles(length, tile, overlap):
    assert _weight_sum(length, tile, overlap).min() > 0.5


def test_blend_fades_at_the_middle_of_a_wide_overlap():
    first, second = tile_spans(1088, 576, 128)[:2]  # starts 0 and 256: overlap 320, fade over [352, 480)
    ramp = blend_ramp(first, torch.float64)
    assert first.overlap_after == 320
    assert ramp[:352].eq(1).all() and ramp[480:].eq(0).all() and (ramp[352:480].diff() < 0).all()


def test_one_tile_equals_untiled_bit_for_bit(tiny):
    x0, x1 = _pair(100, 130)
    untiled = _untiled(tiny, x0, x1, 0.3)
    tiled = interpolate_tiled(tiny, x0, x1, 0.3, tile=(128, 192), overlap=64)
    assert tiled.shape == (1, 3, 100, 130) and tiled.dtype == torch.float32
    assert torch.equal(tiled, untiled)


class _Local(torch.nn.Module):
    """A per-pixel stand-in for FILM: the tiled result must equal the untiled one exactly."""

    def encode(self, x):
        return Encoded([x], [])

    def estimate_flows(self, e0, e1):
        return 0.25 * e0.images[0] * e1.images[0]

    def synthesize(self, e0, e1, flows, time):
        t = time.reshape(-1, 1, 1, 1)
        x0, x1 = e0.images[0], e1.images[0]
        return FILMOutput(x0 * (1 - t) + x1 * t + flows, x0, x1)

    def forward(self, x0, x1, time):
        e0, e1 = self.encode(x0), self.encode(x1)
        return self.synthesize(e0, e1, self.estimate_flows(e0, e1), torch.as_tensor(time).reshape(-1))


@pytest.mark.parametrize("tile, overlap", [((128, 128), 64), ((192, 256), 128), ((128, 192), 0)])
def test_tiles_reassemble_a_local_function_exactly(tile, overlap):
    x0, x1 = _pair(300, 430, seed=2)
    local = _Local()
    expected = _untiled(local, x0, x1, 0.25)
    assert count_tiles(300, 430, tile, overlap) > 4
    tiled = interpolate_tiled(local, x0, x1, 0.25, tile=tile, overlap=overlap)
    torch.testing.assert_close(tiled, expected, atol=1e-6, rtol=0)


def test_several_times_share_one_pass_per_tile(tiny):
    x0, x1 = _pair(100, 200, seed=4)
    images = interpolate_tiled_times(tiny, x0, x1, [0.25, 0.75], tile=(128, 128), overlap=64)
    for t, image in zip((0.25, 0.75), images):
        assert torch.equal(image, interpolate_tiled(tiny, x0, x1, t, tile=(128, 128), overlap=64))
    one = interpolate_tiled_times(tiny, x0, x1, [0.3], tile=(128, 256), overlap=64)[0]
    assert torch.equal(one, _untiled(tiny, x0, x1, 0.3))


def test_tiled_film_bf16_channels_last_runs(tiny):
    x0, x1 = _pair(130, 250, seed=3)
    model = filmnet.FILM("film_tiny").eval()
    model.load_state_dict(tiny.state_dict())
    model = model.to(memory_format=torch.channels_last)
    runner = PairRunner(model, autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16), channels_last=True)
    tiled = interpolate_tiled(runner, x0, x1, 0.5, tile=(128, 128), overlap=64)
    reference = _untiled(tiny, x0, x1)
    assert tiled.shape == reference.shape and torch.isfinite(tiled).all()
    # A tiny random model's tiles see different context, so only a loose closeness is expected here.
    assert (tiled - reference).abs().mean() < 0.5 * reference.abs().mean()


@pytest.mark.parametrize("text, expected", [("8GB", 8 * 10**9), ("512MiB", 512 * 2**20), ("1.5 GiB", 3 * 2**29),
                                            ("3000000", 3_000_000), ("2g", 2 * 10**9), ("64kb", 64_000)])
def test_parse_memory(text, expected):
    assert memory.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "8 XB", "-1GB", "8i"])
def test_parse_memory_refuses_garbage(text):
    with pytest.raises(InputError, match="memory size"):
        memory.parse_memory(text)


def test_available_memory_is_free_ram_capped_by_the_cgroup(monkeypatch):
    import os

    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert 0 < memory.available_memory("cpu") <= total
    monkeypatch.setattr(memory, "_cgroup_free", lambda: 12345)
    assert memory.available_memory("cpu") == 12345
    monkeypatch.setattr(memory, "_cgroup_free", lambda: None)
    assert 12345 < memory.available_memory("cpu") <= total


@pytest.mark.slow
def test_trace_matches_real_tensors_and_scales_with_pixels(tiny):
    """The meta-device trace equals the same tracker run on real CPU tensors, and grows with pixel count."""
    cfg = tiny.config
    real = memory._LiveBytes(None)
    x0, x1 = _pair(128, 192)
    with torch.inference_mode(), real:
        tiny(x0, x1)
    assert memory.trace_peak_bytes(cfg, 128, 192) == real.peak
    assert memory.trace_peak_bytes(cfg, 256, 384) == pytest.approx(4 * real.peak, rel=0.02)
    bf16 = memory._LiveBytes(None)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16), bf16:
        tiny(x0, x1)
    emulated = memory.trace_peak_bytes(cfg, 128, 192, "bf16")
    assert emulated == pytest.approx(bf16.peak, rel=0.05) and emulated < real.peak


def test_full_model_estimate_is_gigabytes_at_1080p():
    per_pixel = memory.activation_bytes_per_pixel(filmnet.CONFIGS["film_net"], "fp32")
    assert 3000 < per_pixel < 8000  # hand count: ~1200 live fp32 values per pixel (features, aligned pyramid)
    assert memory.estimate_peak_bytes(filmnet.CONFIGS["film_net"], 1080, 1920) > 8 * 10**9


def test_choose_tiling_fits_budget():
    cfg = filmnet.CONFIGS["film_net"]
    assert memory.choose_tiling(256, 256, cfg, "fp32", 64 * 10**9, base_bytes=0) is None
    budget = 3 * 10**9
    tiling = memory.choose_tiling(1080, 1920, cfg, "fp32", budget, base_bytes=400 * 10**6)
    assert tiling is not None and tiling.overlap == memory.DEFAULT_OVERLAP
    th, tw = tiling.tile
    assert th % 64 == 0 and tw % 64 == 0 and th > tiling.overlap and tw > tiling.overlap
    peak = 400 * 10**6 + memory.estimate_peak_bytes(cfg, th, tw) + memory.FRAME_BYTES_PER_PIXEL * 1080 * 1920
    assert peak <= budget
    bigger = memory.choose_tiling(1080, 1920, cfg, "fp32", 2 * budget, base_bytes=400 * 10**6)
    assert bigger is None or bigger.tile[0] * bigger.tile[1] > th * tw


def test_choose_tiling_refuses_impossible_budget():
    with pytest.raises(InputError, match="max-memory"):
        memory.choose_tiling(2160, 3840, filmnet.CONFIGS["film_net"], "fp32", 10**9, base_bytes=900 * 10**6)
