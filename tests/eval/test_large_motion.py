"""Geometry of benchmarks/large_motion_pairs.py: exact truths for pans, zooms and moving objects, and its layout."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from filmnet.errors import InputError
from filmnet.eval import load_eval_triplets
from filmnet.io.media.images import read_image

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses look their module up; large_motion imports the pairs
    spec.loader.exec_module(module)
    return sys.modules[name]


lm = _load("large_motion_pairs")
bench = _load("large_motion")


def _random(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("motion", [2, 16, 64])
def test_pan_truth_is_the_window_shifted_by_half(motion):
    canvas = _random((20, 100 + 64, 3))
    i0, i1, gt = lm.pan(canvas, 100, motion)
    x0 = (canvas.shape[1] - 100 - motion) // 2
    np.testing.assert_array_equal(i0, canvas[:, x0:x0 + 100])
    np.testing.assert_array_equal(i1, canvas[:, x0 + motion:x0 + motion + 100])
    np.testing.assert_array_equal(gt, canvas[:, x0 + motion // 2:x0 + motion // 2 + 100])
    half = motion // 2  # content moves left: truth column x is I0's column x + D/2 and I1's column x - D/2
    np.testing.assert_array_equal(gt[:, :-half], i0[:, half:])
    np.testing.assert_array_equal(gt[:, half:], i1[:, :-half])


def test_pan_refuses_odd_or_too_large_motion():
    canvas = _random((8, 40, 3))
    with pytest.raises(ValueError):
        lm.pan(canvas, 20, 3)
    with pytest.raises(ValueError):
        lm.pan(canvas, 20, 22)


def test_pasted_object_truth_is_at_the_middle_position():
    background = _random((30, 80, 3), seed=1)
    patch = _random((10, 16, 3), seed=2)
    mask = lm.ellipse_mask(10, 16)
    i0, i1, gt = lm.paste_object(background, patch, mask, 20)
    top, left = 10, 32
    for frame, dx in ((i0, -10), (i1, 10), (gt, 0)):
        region = frame[top:top + 10, left + dx:left + dx + 16]
        np.testing.assert_array_equal(region[mask], patch[mask])
        np.testing.assert_array_equal(region[~mask], background[top:top + 10, left + dx:left + dx + 16][~mask])
        outside = np.ones(background.shape[:2], bool)
        outside[top:top + 10, left + dx:left + dx + 16] = False
        np.testing.assert_array_equal(frame[outside], background[outside])
    assert mask[5, 8] and not mask[0, 0]


@pytest.mark.parametrize("middle", ["arith", "geom"])
@pytest.mark.parametrize("motion", [16, 128, 512])
def test_zoom_moves_the_corner_by_the_motion(middle, motion):
    height, width = 540, 960
    s0, s1, mid = lm.zoom_scales(height, width, motion, middle)
    corner = math.hypot(height, width) / 2  # seen at `mid` in the truth, it is at corner * s / mid in a frame
    assert corner * (s1 - s0) / mid == pytest.approx(motion)
    assert mid == pytest.approx((s0 + s1) / 2 if middle == "arith" else math.sqrt(s0 * s1))


def test_zoom_view_at_scale_one_is_the_base_and_zooms_about_the_centre():
    base = _random((32, 48, 3), seed=3)
    np.testing.assert_array_equal(lm.zoom_view(base, 32, 48, 1.0), base)
    flat = np.zeros((32, 48, 3), np.uint8)
    flat[14:18, 22:26] = 255  # a bright square at the centre stays centred and doubles in size
    zoomed = lm.zoom_view(flat, 32, 48, 2.0)
    assert zoomed[16, 24].min() > 200 and zoomed[9, 24].max() == 0 and zoomed[16, 15].max() == 0
    assert min(zoomed[13, 24].min(), zoomed[18, 24].min(), zoomed[16, 21].min(), zoomed[16, 26].min()) > 200


def test_written_layout_is_read_back_by_filmnet_eval(tmp_path):
    pairs = []
    for kind, motion in (("pan", 16), ("object", 32)):
        i0, i1, gt = _random((24, 40, 3), 4), _random((24, 40, 3), 5), _random((24, 40, 3), 6)
        pairs.append(lm.Pair(kind, "540p", motion, i0, i1, gt, 1.0, "test"))
    out = lm.write_pairs(pairs, tmp_path / "bench")
    triplets = load_eval_triplets(out)
    assert [t.name for t in triplets] == ["object/540p/d032", "pan/540p/d016"]
    by_name = {p.name: p for p in pairs}
    for t in triplets:
        pair = by_name[t.name]
        for path, image in ((t.frame0_path, pair.frame0), (t.frame1_path, pair.frame1), (t.gt_path, pair.truth)):
            np.testing.assert_array_equal(np.round(read_image(path) * 255).astype(np.uint8), image)
    with pytest.raises(InputError, match="already exists"):
        lm.write_pairs(pairs[:1], out)
    lm.write_pairs(pairs[:1], out, force=True)
    assert [t.name for t in load_eval_triplets(out)] == ["pan/540p/d016"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_scenes_are_training_side_only():
    for rel, _ in lm.SCENES.values():
        assert rel.split("/")[0] in ("train_video", "real_videos", "basketballpass_sequence", "vimeo_septuplet")


def test_real_pan_truth_is_an_exact_crop(data_dir):
    pair = lm.build_pair("pan", "540p", 64, data_dir)
    assert pair.frame0.shape == pair.truth.shape == (540, 960, 3)
    np.testing.assert_array_equal(pair.truth[:, :-32], pair.frame0[:, 32:])
    np.testing.assert_array_equal(pair.truth[:, 32:], pair.frame1[:, :-32])
    assert pair.scale == pytest.approx((960 + lm.MAX_MOTION) / 1280)
    assert pair.common == (0, 540, 32, 960 - 32)


def test_common_view_of_a_zoom_is_what_the_more_magnified_input_shows():
    top, bottom, left, right = lm.common_view("zoom", 540, 960, 128)
    _, s1, mid = lm.zoom_scales(540, 960, 128)
    assert (right - left) / 960 == pytest.approx(mid / s1, abs=2 / 960)
    assert (bottom - top) / 540 == pytest.approx(mid / s1, abs=2 / 540)
    assert (top + bottom, left + right) == (540, 960)  # centred
    assert lm.common_view("object", 540, 960, 128) == (0, 540, 0, 960)


def test_cli_writes_real_triplets_that_filmnet_eval_reads(tmp_path, data_dir, capsys):
    out = tmp_path / "pairs"
    assert bench.main(["--sizes", "540p", "--kinds", "pan", "object", "--motions", "16", "--write", str(out),
                       "--no-run", "--shared", str(data_dir.parent)]) == 0
    triplets = load_eval_triplets(out)
    assert [t.name for t in triplets] == ["object/540p/d016", "pan/540p/d016"]
    pan_gt = read_image(triplets[1].gt_path)
    assert pan_gt.shape == (540, 960, 3)
    np.testing.assert_array_equal(pan_gt[:, :-8], read_image(triplets[1].frame0_path)[:, 8:])
    assert "filmnet eval" in capsys.readouterr().out


def _rows():
    rows = []
    for motion, psnr in ((32, 40.0), (256, 20.5)):
        for model, depth, tiling in (("blend", "-", "-"), ("film_lite", "7", "untiled"), ("film_lite", "7", "tiled")):
            rows.append(dict(model=model, size="540p", kind="pan", motion=motion, depth=depth, tiling=tiling,
                             psnr=psnr - (model == "blend") * 10, ssim=0.9, seconds=1.0, note=""))
    rows[-1]["psnr"] = rows[-1]["ssim"] = None  # a failed run
    rows[1]["psnr_common"] = 41.5
    return rows


def test_tables_have_one_row_per_depth_and_tiling_and_one_column_per_motion():
    text = bench.format_tables(_rows())
    assert "| model | depth | tiling | 32 px | 256 px |" in text
    assert "| film_lite | 7 | untiled | 40.00 / 0.900 [41.50] | 20.50 / 0.900 |" in text
    assert "| blend | - | - | 30.00 / 0.900 | 10.50 / 0.900 |" in text
    assert "| film_lite | 7 | tiled | 40.00 / 0.900 | error |" in text


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    bench.plot(_rows(), str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if it were not installed
    with pytest.raises(SystemExit, match="pip install matplotlib"):
        bench.main(["--from-json", str(tmp_path / "missing.json"), "--plot", str(tmp_path / "p.png")])
    assert not (tmp_path / "p.png").exists()


class _FakeInterpolator:
    """Returns a fixed frame, or raises like a depth too deep for the frame."""

    def __init__(self, out=None):
        self.out = out

    def interpolate(self, frame0, frame1, t):
        if self.out is None:
            raise ValueError("pyramid_levels 9 is too deep for 40x24\nsecond line")
        return self.out


def test_measure_scores_the_8bit_prediction_and_reports_errors_in_one_line(capsys):
    canvas = _random((24, 40 + 16, 3), seed=7)
    pair = lm.Pair("pan", "540p", 16, *lm.pan(canvas, 40, 16), 1.0, "test", common=(0, 24, 8, 32))
    wrong = pair.truth.astype(np.float32) / 255.0
    wrong[:, :8] = 0.0  # wrong only outside the part both inputs show
    row = bench._measure(_FakeInterpolator(wrong), pair, "fake", "7", "untiled")
    assert math.isinf(row["psnr_common"]) and 5 < row["psnr"] < 40 and row["ssim"] < 1
    assert (row["model"], row["depth"], row["tiling"], row["motion"]) == ("fake", "7", "untiled", 16)
    failed = bench._measure(_FakeInterpolator(), pair, "fake", "9", "tiled")
    assert failed["psnr"] is None and failed["note"] == "ValueError: pyramid_levels 9 is too deep for 40x24"
    assert "fake" in capsys.readouterr().out
