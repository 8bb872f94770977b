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
    assert count_tiles(200, 260, (128, 128)) > 1
    out = interp.interpolate(a, b, 0.3)
    assert interp.last_tiling == Tiling((128, 128), 64)
    assert out.shape == (200, 260, 3) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    expected = interpolate_tiled(model, tensor(a), tensor(b), 0.3, tile=(128, 128), overlap=64)
    np.testing.assert_array_equal(out, hwc(expected))
    untiled = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None).interpolate(a, b, 0.3)
    np.testing.assert_allclose(out, untiled, atol=1e-5, rtol=0)  # tiles see the whole frame


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
    budget = untiled_need(200, 260, 0.7)  # tiled, the whole-frame pyramids (~45% of the untiled pass) stay
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=f"{budget // 1024}KiB",
                          overlap=64)
    assert interp.max_memory == budget // 1024 * 1024
    tiling = interp.tiling_for(200, 260)
    assert isinstance(tiling, Tiling) and tiling.overlap == 64
    th, tw = tiling.tile
    assert th * tw < 256 * 320 and count_tiles(200, 260, tiling.tile) > 1
    out = interp.interpolate(a, b)
    assert out.shape == (200, 260, 3) and interp.last_tiling == tiling
    expected = interpolate_tiled(model, tensor(a), tensor(b), 0.5, tile=tiling.tile, overlap=64)
    np.testing.assert_array_equal(out, hwc(expected))
    untiled = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None).interpolate(a, b)
    np.testing.assert_allclose(out, untiled, atol=1e-5, rtol=0)


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
    free = int((untiled_need(200, 260, 0.7) - RSS) / 0.8)
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


_BUDGET_RUN = """
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
import filmnet
from filmnet.inference import Interpolator, memory
torch.manual_seed(0)
model = filmnet.FILM("film_lite").eval()
h, w = 448, 704
rng = np.random.default_rng(0)
a = rng.random((h // 8, w // 8, 3), dtype=np.float32).repeat(8, 0).repeat(8, 1)
b = np.roll(a, 90, axis=1)  # large motion: tiles must read outside themselves
base = memory.process_rss()
untiled = memory.FRAME_BYTES_PER_PIXEL * h * w + memory.estimate_peak_bytes(model.config, h, w)
budget = int(base + 0.75 * untiled)  # fixed costs weigh more at this size than at 1080p (60% there)
interp = Interpolator(model, precision="fp32", flow="model", max_memory=budget)
out = interp.interpolate(a, b)
# VmHWM: this process's own peak (ru_maxrss also counts the parent's peak, inherited through vfork + exec)
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) * 1024
whole = Interpolator(model, precision="fp32", flow="model", max_memory=None).interpolate(a, b)
print(json.dumps(dict(budget=budget, peak=peak, tiling=interp.last_tiling, diff=float(np.abs(out - whole).max()))))
"""


@pytest.mark.slow
def test_tiled_run_keeps_to_max_memory_in_a_subprocess():
    """--max-memory below the untiled need: tiled, within the budget (+5%) by peak RSS, equal to untiled.
    (benchmarks/tiled_memory.py measures 60% of the untiled peak at 1080p.)"""
    import json

    proc = subprocess.run([sys.executable, "-c", _BUDGET_RUN], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    assert row["tiling"] is not None
    assert row["peak"] <= 1.05 * row["budget"], row
    assert row["diff"] < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_tiled_equals_untiled_at_auto_depth_with_reflect_padding(model, precision, monkeypatch):
    """Default depth ("auto", deeper than the config's 7 here) and reflect padding: the tiled pass resolves the
    depth for the padded whole frame and makes the same per-pair probe decision as the untiled one, both ways."""
    from filmnet.model import film

    a, b = frames(2, 200, 260, seed=9)  # padded 256x320: "auto" encodes 8 levels, the probe may fall back to 7
    options = dict(precision=precision, pyramid_levels="auto", padding="reflect")
    tiled = Interpolator(model, tile=(128, 128), **options)
    untiled = Interpolator(model, max_memory=None, **options)
    assert tiled.pair_runner(200, 260).padded_depth() == 8 > model.config.pyramid_levels
    outs = {}
    for deep_px in (0.0, 1e9):  # the probe keeps the deep pyramid / falls back to the config's depth
        monkeypatch.setattr(film, "DEEP_MOTION_PX", deep_px)
        out, want = tiled.interpolate(a, b, 0.4), untiled.interpolate(a, b, 0.4)
        assert tiled.last_tiling == Tiling((128, 128), 0) and untiled.last_tiling is None
        if precision == "fp32":
            np.testing.assert_allclose(out, want, atol=1e-5, rtol=0)
        else:
            np.testing.assert_allclose(out, want, atol=2e-2, rtol=0)
            assert np.abs(out - want).mean() < 1e-4
        outs[deep_px] = want
    assert np.abs(outs[0.0] - outs[1e9]).mean() > 1e-3  # the two depths really differ
    if precision == "bf16":  # bf16 really ran
        fp32 = Interpolator(model, max_memory=None, precision="fp32", pyramid_levels="auto", padding="reflect")
        assert np.abs(fp32.interpolate(a, b, 0.4) - outs[1e9]).mean() > 1e-4


@pytest.mark.parametrize("levels, want", [("auto", 8), (6, 6), (None, None)])
def test_budget_uses_the_depth_of_the_padded_frame(model, fixed_rss, monkeypatch, levels, want):
    """The memory model sizes tiles for the depth the tiled pass will run (resolved on the padded whole frame)."""
    seen = {}

    def choose(*args, **kwargs):
        seen.update(kwargs)
        return None

    monkeypatch.setattr(memory, "choose_tiling", choose)
    Interpolator(model, precision="fp32", pyramid_levels=levels, max_memory="1GB").tiling_for(200, 260)
    assert seen["levels"] == want
