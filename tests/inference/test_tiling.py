"""Tiled inference (layout; tiles that see the whole frame equal the untiled result) and the memory budget."""
from importlib import resources

import pytest
import torch

import filmnet
from filmnet.errors import InputError
from filmnet.inference import memory
from filmnet.inference.live_bytes import LiveBytes
from filmnet.inference.padding import Padder
from filmnet.inference.pair import PairRunner
from filmnet.inference.tiling import count_tiles, frame_grid, interpolate_tiled, interpolate_tiled_times, tile_spans


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


def test_grid_partitions_each_level():
    grid = frame_grid(320, 448, (128, 192))
    for bounds, length, tile in ((grid.rows, 320, 128), (grid.cols, 448, 192)):
        steps = [b - a for a, b in zip(bounds, bounds[1:])]
        assert bounds[0] == 0 and bounds[-1] == length and all(0 < d <= tile and d % 64 == 0 for d in steps)
    assert grid.count == (len(grid.rows) - 1) * (len(grid.cols) - 1) > 4
    for level, multiple in [(0, 1), (1, 8), (2, 8), (3, 1)]:
        size = (320 >> level, 448 >> level)
        covered = torch.zeros(size, dtype=torch.int32)
        for w in grid.windows(level, size, multiple):
            covered[w.top:w.bottom, w.left:w.right] += 1
            assert w.top % multiple == 0 and w.left % multiple == 0
        assert torch.equal(covered, torch.ones_like(covered))  # every pixel in exactly one window


def test_one_tile_equals_untiled_bit_for_bit(tiny):
    x0, x1 = _pair(100, 130)
    untiled = _untiled(tiny, x0, x1, 0.3)
    tiled = interpolate_tiled(tiny, x0, x1, 0.3, tile=(128, 192))
    assert tiled.shape == (1, 3, 100, 130) and tiled.dtype == torch.float32
    assert torch.equal(tiled, untiled)


def _moving(h: int, w: int, dy: int, dx: int, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random texture and the same texture moved by (dy, dx) plus a little noise: real large motion."""
    g = torch.Generator().manual_seed(seed)
    base = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8 + 8, w // 8 + 8, generator=g), scale_factor=8,
                                           mode="bilinear", align_corners=False)
    x0 = base[..., 16:16 + h, 16:16 + w]
    x1 = torch.roll(base, (dy, dx), (2, 3))[..., 16:16 + h, 16:16 + w] + 0.02 * torch.rand(1, 3, h, w, generator=g)
    return x0.contiguous(), x1.clamp(0, 1)


@pytest.mark.parametrize("tile, shift, times", [((64, 64), (0, 40), (0.5,)), ((128, 192), (6, 100), (0.25, 0.9)),
                                                ((192, 128), (-30, -60), (0.5,)), ((64, 256), (20, 0), (0.7,))])
def test_tiles_equal_untiled_fp32(tiny, tile, shift, times):
    """Each tile reads the whole frame's pyramids, so tiled equals untiled for any motion (not just locally)."""
    x0, x1 = _moving(300, 430, *shift)
    assert count_tiles(300, 430, tile) > 4
    tiled = interpolate_tiled_times(tiny, x0, x1, list(times), tile=tile)
    for t, image in zip(times, tiled):
        torch.testing.assert_close(image, _untiled(tiny, x0, x1, t), atol=2e-5, rtol=0)


def test_halo_is_needed(tiny, monkeypatch):
    """Without the receptive-field halo the tiles' own zero padding shows: the exactness test above can fail."""
    from filmnet.inference import tiled_synth

    x0, x1 = _moving(200, 260, 4, 30)
    monkeypatch.setattr(tiled_synth, "conv_radius", lambda module: 0)
    tiled = interpolate_tiled(tiny, x0, x1, 0.5, tile=(64, 64))
    assert (tiled - _untiled(tiny, x0, x1)).abs().max() > 1e-3


def test_several_times_share_one_pass(tiny):
    x0, x1 = _pair(100, 200, seed=4)
    images = interpolate_tiled_times(tiny, x0, x1, [0.25, 0.75], tile=(64, 128))
    for t, image in zip((0.25, 0.75), images):
        assert torch.equal(image, interpolate_tiled(tiny, x0, x1, t, tile=(64, 128)))
    one = interpolate_tiled_times(tiny, x0, x1, [0.3], tile=(128, 256))[0]
    assert torch.equal(one, _untiled(tiny, x0, x1, 0.3))


@pytest.mark.parametrize("channels_last", [False, True])
def test_tiles_equal_untiled_bf16(tiny, channels_last):
    x0, x1 = _moving(200, 330, 10, 70, seed=3)
    model = filmnet.FILM("film_tiny").eval()
    model.load_state_dict(tiny.state_dict())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    runner = PairRunner(model, autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16),
                        channels_last=channels_last)
    untiled = interpolate_tiled(runner, x0, x1, 0.4, tile=(1024, 1024))  # one tile: the plain runner
    tiled = interpolate_tiled(runner, x0, x1, 0.4, tile=(64, 128))
    assert (untiled - _untiled(tiny, x0, x1, 0.4)).abs().mean() > 1e-4  # bf16 really ran
    torch.testing.assert_close(tiled, untiled, atol=2e-2, rtol=0)
    assert (tiled - untiled).abs().mean() < 1e-4


@pytest.fixture(scope="module")
def film_lite():
    from filmnet.weights import load_model

    return load_model(str(resources.files("filmnet") / "assets" / "film_lite.safetensors")).eval()


@pytest.mark.slow
@pytest.mark.parametrize("tile, shift, t", [((64, 128), (0, 48), 0.5), ((128, 64), (12, -90), 0.3)])
def test_film_lite_tiles_equal_untiled(film_lite, tile, shift, t):
    x0, x1 = _moving(192, 320, *shift, seed=5)
    tiled = interpolate_tiled(film_lite, x0, x1, t, tile=tile)
    untiled = _untiled(film_lite, x0, x1, t)
    torch.testing.assert_close(tiled, untiled, atol=1e-4, rtol=0)
    assert (tiled.clamp(0, 1) * 255).round().sub((untiled.clamp(0, 1) * 255).round()).abs().mean() < 0.01


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
    real = LiveBytes(None)
    x0, x1 = _pair(128, 192)
    with torch.inference_mode(), real:
        tiny(x0, x1)
    assert memory.trace_peak_bytes(cfg, 128, 192) == real.peak
    assert memory.trace_peak_bytes(cfg, 256, 384) == pytest.approx(4 * real.peak, rel=0.02)
    bf16 = LiveBytes(None)
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
    budget = 8 * 10**9  # the untiled pass needs ~13 GB
    tiling = memory.choose_tiling(1080, 1920, cfg, "fp32", budget, base_bytes=400 * 10**6)
    assert tiling is not None and tiling.overlap == memory.DEFAULT_OVERLAP
    th, tw = tiling.tile
    assert th % 64 == 0 and tw % 64 == 0 and count_tiles(1080, 1920, tiling.tile) > 1
    peak = 400 * 10**6 + memory.estimate_tiled_bytes(cfg, 1080, 1920, tiling.tile)
    assert peak + memory.FRAME_BYTES_PER_PIXEL * 1080 * 1920 <= budget
    bigger = memory.choose_tiling(1080, 1920, cfg, "fp32", budget + 3 * 10**9, base_bytes=400 * 10**6)
    assert bigger is None or bigger.tile[0] * bigger.tile[1] > th * tw


def test_tiled_estimate_keeps_the_whole_frame_pyramids():
    """Tiled, the whole-frame pyramids stay: the estimate grows with the frame even for one tile size."""
    cfg = filmnet.CONFIGS["film_lite"]
    small = memory.estimate_tiled_bytes(cfg, 1080, 1920, (256, 256))
    large = memory.estimate_tiled_bytes(cfg, 2160, 3840, (256, 256))
    assert 3.5 < (large - memory.RUNTIME_BYTES) / (small - memory.RUNTIME_BYTES) < 4.1
    assert small < memory.estimate_peak_bytes(cfg, 1080, 1920)


@pytest.mark.slow
def test_tiled_trace_matches_real_tensors(tiny):
    """The meta-device trace of the tiled pass equals the same tracker run on real CPU tensors."""
    from filmnet.inference.tiled_memory import trace_tiled_peak
    from filmnet.inference.tiling import TiledRunner

    runner = TiledRunner(PairRunner(tiny), frame_grid(128, 256, (64, 128)))
    x0, x1 = _pair(128, 256)
    real = memory.live_bytes_tracker("fp32")
    with torch.inference_mode(), real:
        e0, e1 = runner.encode(x0), runner.encode(x1)
        image = runner.synthesize(e0, e1, runner.flows(e0, e1), 0.5)
        del image
    # the meta trace does not sample (grid_sample is shaped only), the real one allocates its temporaries
    assert trace_tiled_peak(tiny.config, 128, 256, (64, 128)) == pytest.approx(real.peak, rel=0.05)


def test_choose_tiling_refuses_impossible_budget():
    with pytest.raises(InputError, match="max-memory"):
        memory.choose_tiling(2160, 3840, filmnet.CONFIGS["film_net"], "fp32", 10**9, base_bytes=900 * 10**6)


@pytest.mark.parametrize("levels, size, align", [(6, (256, 384), 64), (8, (256, 384), 64), (6, (200, 328), 8)])
def test_depth_is_a_parameter(tiny, levels, size, align):
    """The tiled pass takes its pyramid depth from the caller (not the config): equal to an untiled pass of that
    depth, built here from the model's parts (the extractor and the coarse predictor are shared across levels)."""
    from filmnet.inference.tiling import TiledRunner
    from filmnet.model import Encoded
    from filmnet.model.ops import image_pyramid

    x0, x1 = _moving(*size, 8, 60, seed=7)  # 200x328: coarse levels round their sizes down (no 2^(L-1) padding)

    def encode(x):
        images = image_pyramid(x, levels)
        return Encoded(images, tiny.extract(images))

    with torch.inference_mode():
        e0, e1 = encode(x0), encode(x1)
        untiled = tiny.synthesize(e0, e1, tiny.estimate_flows(e0, e1), torch.tensor([0.5])).image
    runner = TiledRunner(PairRunner(tiny).sized(*size, align), frame_grid(*size, (128, 128), align), levels)
    t0, t1 = runner.encode(x0), runner.encode(x1)
    assert len(t0.images) == len(t0.features) == levels
    tiled = runner.synthesize(t0, t1, runner.flows(t0, t1), 0.5)
    torch.testing.assert_close(tiled, untiled, atol=2e-5, rtol=0)
