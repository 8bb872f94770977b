"""Interpolator with tiling: forced tiles, memory budgets (explicit, "auto", None), tiled --multi/--exp sequences."""
import subprocess
import sys

import numpy as np
import pytest
import torch

import filmnet
from filmnet.errors import InputError
from filmnet.inference import Interpolator, Tiling, interpolate_tiled, memory
from filmnet.inference.tiling import count_tiles, interpolate_tiled_times
from helpers import frames, tiny_model

RSS = 300 * 2**20  # stand-in for this process's RSS, so budgets in these tests are deterministic




def tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None]


def hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture
def fixed_rss(monkeypatch):
    monkeypatch.setattr(memory, "process_rss", lambda: RSS)


def untiled_need(h: int, w: int, fraction: float) -> int:
    """A budget leaving room for `fraction` of the untiled pass's activations, on top of everything else."""
    per_pixel = memory.RSS_FACTOR * memory.activation_bytes_per_pixel(filmnet.CONFIGS["film_tiny"], "fp32")
    padded = (h + -h % 64) * (w + -w % 64)
    fixed = RSS + memory.RUNTIME_BYTES + memory.FRAME_BYTES_PER_PIXEL * h * w
    return int(fixed + fraction * per_pixel * padded)


def test_forced_tile_runs_interpolate_tiled(model):
    a, b = frames(2, 200, 260)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", tile=(128, 128), overlap=64)
    assert interp.tiling_for(200, 260) == Tiling((128, 128), 64)
    assert count_tiles(200, 260, (128, 128), 64) > 4
    out = interp.interpolate(a, b, 0.3)
    assert interp.last_tiling == Tiling((128, 128), 64)
    assert out.shape == (200, 260, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    expected = interpolate_tiled(model, tensor(a), tensor(b), 0.3, tile=(128, 128), overlap=64)
    np.testing.assert_array_equal(out, hwc(expected))
    untiled = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None).interpolate(a, b, 0.3)
    assert not np.array_equal(out, untiled)  # tiles see less context; the tiled path really ran


@pytest.mark.parametrize("tile", [(256, 320), (512, 512)])
def test_covering_tile_equals_untiled_exactly(model, tile):
    a, b = frames(2, 200, 260)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", tile=tile, overlap=64)
    assert interp.tiling_for(200, 260) is None
    out = interp.interpolate(a, b, 0.7)
    assert interp.last_tiling is None
    np.testing.assert_array_equal(out, Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None).interpolate(a, b, 0.7))
    one_tile = interpolate_tiled(model, tensor(a), tensor(b), 0.7, tile=tile, overlap=64)
    np.testing.assert_array_equal(out, hwc(one_tile))


def test_small_budget_tiles(model, fixed_rss):
    a, b = frames(2, 200, 260)
    budget = untiled_need(200, 260, 0.5)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=f"{budget // 1024}KiB", overlap=64)
    assert interp.max_memory == budget // 1024 * 1024
    tiling = interp.tiling_for(200, 260)
    assert isinstance(tiling, Tiling) and tiling.overlap == 64
    th, tw = tiling.tile
    assert th * tw <= 0.5 * 256 * 320 and count_tiles(200, 260, tiling.tile, 64) > 1
    out = interp.interpolate(a, b)
    assert out.shape == (200, 260, 3) and interp.last_tiling == tiling
    expected = interpolate_tiled(model, tensor(a), tensor(b), 0.5, tile=tiling.tile, overlap=64)
    np.testing.assert_array_equal(out, hwc(expected))


def test_budget_that_fits_stays_untiled(model, fixed_rss):
    a, b = frames(2, 200, 260)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=untiled_need(200, 260, 1.1))
    assert interp.tiling_for(200, 260) is None
    untiled = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    np.testing.assert_array_equal(interp.interpolate(a, b), untiled.interpolate(a, b))


def test_dis_flows_count_in_the_budget(model, fixed_rss):
    from filmnet.flows.dis import DIS_PEAK_BYTES_PER_PIXEL

    pytest.importorskip("cv2")
    budget = untiled_need(200, 260, 1.0) + DIS_PEAK_BYTES_PER_PIXEL * 200 * 260 // 2
    assert Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=budget, flow="model").tiling_for(200, 260) is None
    for flow in ("dis", "hybrid"):
        tight = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=budget, flow=flow, overlap=64)
        assert tight.tiling_for(200, 260) is not None
    roomy = budget + DIS_PEAK_BYTES_PER_PIXEL * 200 * 260
    assert Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=roomy, flow="dis").tiling_for(200, 260) is None


def test_extra_outputs_need_smaller_tiles(model, fixed_rss):
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=untiled_need(200, 260, 1.1), overlap=64)
    assert interp.tiling_for(200, 260, outputs=1) is None
    many = interp.tiling_for(200, 260, outputs=20)  # 19 extra full-frame buffers of 12 bytes per pixel
    assert many is not None and many.tile[0] * many.tile[1] < 256 * 320


def test_impossible_budget_raises_clear_error(model, fixed_rss):
    a, b = frames(2, 200, 260)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory="1MB")
    with pytest.raises(InputError, match="--max-memory"):
        interp.tiling_for(200, 260)
    with pytest.raises(InputError, match="--max-memory"):
        interp.interpolate(a, b)


def test_auto_budget_is_a_share_of_free_memory(model, fixed_rss, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device: 0)
    with pytest.raises(InputError, match="--max-memory"):
        Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros").tiling_for(200, 260)
    free = int((untiled_need(200, 260, 0.5) - RSS) / 0.8)
    monkeypatch.setattr(memory, "available_memory", lambda device: free)
    assert isinstance(Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory="AUTO").tiling_for(200, 260), Tiling)
    monkeypatch.setattr(memory, "available_memory", lambda device: 64 * 2**30)
    assert Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros").tiling_for(200, 260) is None


def test_decision_is_kept_per_size(model, monkeypatch):
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory="64GB")
    assert interp.tiling_for(200, 260) is None
    monkeypatch.setattr(memory, "choose_tiling", lambda *args, **kwargs: pytest.fail("decided twice"))
    assert interp.tiling_for(200, 260) is None


def test_max_memory_none_never_tiles(model, monkeypatch):
    monkeypatch.setattr(memory, "choose_tiling", lambda *args, **kwargs: pytest.fail("budget consulted"))
    monkeypatch.setattr(memory, "available_memory", lambda device: 0)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    assert interp.tiling_for(200, 260) is None and interp.tiling_for(100_000, 100_000) is None
    a, b = frames(2, 70, 90)
    assert interp.interpolate(a, b).shape == (70, 90, 3) and interp.last_tiling is None


@pytest.mark.parametrize("n, multi", [(2, 4), (3, 3), (2, 1)])
def test_tiled_multi_sequence(model, n, multi):
    inputs = frames(n, 130, 190, seed=5)
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", tile=(128, 128), overlap=64)
    out = interp.sequence(inputs, multi=multi)
    assert interp.last_tiling == Tiling((128, 128), 64)
    assert len(out) == (n - 1) * multi + 1
    for i, frame in enumerate(inputs):
        np.testing.assert_array_equal(out[i * multi], frame)
    times = [k / multi for k in range(1, multi)]
    for i in range(n - 1):
        if not times:
            continue
        want = interpolate_tiled_times(model, tensor(inputs[i]), tensor(inputs[i + 1]), times, tile=(128, 128),
                                       overlap=64)
        for k, image in enumerate(want, start=1):
            np.testing.assert_array_equal(out[i * multi + k], hwc(image))


def test_tiled_exp_sequence_feeds_back_unclipped_midpoints(model):
    a, b = frames(2, 130, 190, seed=6)
    with torch.no_grad():
        model.fuse.output_conv.bias.fill_(0.98)  # push part of the midpoint above 1, so clipping would show
    try:
        interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", tile=(128, 128), overlap=64)
        out = interp.sequence([a, b], exp=2)

        def tiled(x0, x1):
            return interpolate_tiled(model, x0, x1, 0.5, tile=(128, 128), overlap=64)

        mid = tiled(tensor(a), tensor(b))
        q1, q3 = tiled(tensor(a), mid), tiled(mid, tensor(b))
        clipped = torch.from_numpy(hwc(mid)).permute(2, 0, 1)[None]
        q1_from_clipped = tiled(tensor(a), clipped)
    finally:
        with torch.no_grad():
            model.fuse.output_conv.bias.fill_(0.5)
    assert (mid > 1).any() and not torch.equal(q1, q1_from_clipped)
    assert len(out) == 5
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[4], b)
    for got, want in zip(out[1:4], (q1, mid, q3)):
        np.testing.assert_array_equal(got, hwc(want))


@pytest.mark.parametrize("kwargs, match", [
    ({"tile": (100, 128)}, "multiples of 64"), ({"tile": (128,)}, "two positive"), ({"tile": (0, 128)}, "two"),
    ({"tile": (128, 128), "overlap": 128}, "larger than --tile-overlap"), ({"overlap": 50}, "--tile-overlap"),
    ({"overlap": -64}, "--tile-overlap"), ({"max_memory": "lots"}, "memory size"),
    ({"max_memory": 0}, "--max-memory"), ({"max_memory": 1.5}, "max_memory"),
])
def test_bad_tiling_options_are_refused(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", **kwargs)


def test_import_is_cheap_and_reexports():
    code = ("import sys\nfrom filmnet.inference import Interpolator, choose_tiling, interpolate_tiled, parse_memory\n"
            "assert parse_memory('2KiB') == 2048\n"
            "print(sorted(m for m in ('psutil', 'cv2', 'av') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
