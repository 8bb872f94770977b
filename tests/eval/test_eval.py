"""Evaluation layouts, metrics, baselines and the runner (filmnet.eval)."""
import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import need_shared
from filmnet.errors import InputError
from filmnet.eval import metrics
from filmnet.eval.baselines import blend, dis, get_baseline
from filmnet.eval.datasets import load_eval_triplets
from filmnet.eval.evaluate import evaluate, format_table


def _img(seed: int, h: int = 24, w: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _folder(root, names, seed=0):
    for k, n in enumerate(names):
        _write(root / n, _img(seed + k))


# ---------------------------------------------------------------- layouts

@pytest.mark.parametrize("names,expect", [
    (("frame10.png", "frame11.png", "frame10i11.png"), ("frame10.png", "frame11.png", "frame10i11.png")),
    (("frame_00.png", "frame_02.png", "frame_01_gt.png"), ("frame_00.png", "frame_02.png", "frame_01_gt.png")),
    (("im1.png", "im3.png", "im2.png"), ("im1.png", "im3.png", "im2.png")),
])
def test_single_folder_layouts(tmp_path, names, expect):
    for seq in ("b10", "a2", "a10"):
        _folder(tmp_path / seq, names)
    triplets = load_eval_triplets(tmp_path)
    assert [t.name for t in triplets] == ["a2", "a10", "b10"]
    t = triplets[0]
    assert (t.frame0_path.name, t.frame1_path.name, t.gt_path.name) == expect


@pytest.mark.parametrize("inputs,gts", [("other-data", "other-gt-interp"), ("input", "gt")])
def test_split_layouts(tmp_path, inputs, gts):
    for seq in ("Venus", "Dimetrodon"):
        _folder(tmp_path / inputs / seq, ("frame10.png", "frame11.png"))
        _write(tmp_path / gts / seq / "frame10i11.png", _img(9))
    _folder(tmp_path / inputs / "NoGT", ("frame10.png", "frame11.png"))
    triplets = load_eval_triplets(tmp_path)
    assert [t.name for t in triplets] == ["Dimetrodon", "Venus"]
    assert triplets[1].gt_path == tmp_path / gts / "Venus" / "frame10i11.png"


def test_vimeo_test_list(tmp_path):
    _folder(tmp_path / "sequences" / "00001" / "0001", ("im1.png", "im2.png", "im3.png"))
    (tmp_path / "tri_testlist.txt").write_text("00001/0001\n")
    assert [t.name for t in load_eval_triplets(tmp_path)] == ["00001/0001"]
    (tmp_path / "tri_testlist.txt").write_text("00001/0001\n00001/0009\n")
    with pytest.raises(InputError, match="0009"):
        load_eval_triplets(tmp_path)


def test_empty_unknown_and_missing_folders_are_refused(tmp_path):
    with pytest.raises(InputError, match="no evaluation triplets"):
        load_eval_triplets(tmp_path)
    _folder(tmp_path / "x", ("a.png", "b.png", "c.png"))
    with pytest.raises(InputError, match="Known layouts"):
        load_eval_triplets(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_eval_triplets(tmp_path / "missing")


@pytest.mark.parametrize("name,count,gt", [("middlebury_other", 6, "frame10i11.png"),
                                           ("davis_adacof", 20, "frame10i11.png"),
                                           ("ucf101_dvf", 50, "frame_01_gt.png"),
                                           ("vimeo_septuplet", 8, "im2.png")])
def test_shared_layouts(data_dir, name, count, gt):
    triplets = load_eval_triplets(need_shared(data_dir / name))
    assert len(triplets) == count
    assert all(t.gt_path.name == gt and t.frame0_path.is_file() and t.frame1_path.is_file() for t in triplets)


# ---------------------------------------------------------------- metrics

def test_psnr_8bit_quantises_both_images_first():
    gt = np.full((4, 5, 3), 0.5, np.float32)
    assert metrics.psnr_8bit(gt + 0.4 / 255, gt) == math.inf  # rounds to the same 8-bit value
    one_step = metrics.psnr_8bit(np.clip(gt + 1 / 255, 0, 1), gt)
    assert one_step == pytest.approx(20 * math.log10(255))
    assert metrics.psnr_8bit(np.full((7, 3), 2.0), np.ones((7, 3))) == math.inf  # prediction clipped to [0, 1]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float64)).permute(2, 0, 1)


def test_identical_images():
    x = _t(_img(1) / 255.0)
    assert math.isinf(metrics.psnr(x, x).item())
    assert metrics.ssim(x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert metrics.interpolation_error(x, x).item() == 0.0


def test_constant_images_by_hand():
    pred, gt = torch.full((3, 16, 16), 0.5), torch.full((3, 16, 16), 0.25)
    assert metrics.psnr(pred, gt).item() == pytest.approx(10 * math.log10(1 / 0.0625))
    c1 = 0.01**2
    # zero variance: the contrast-structure term is c2 / c2 = 1, only luminance remains
    assert metrics.ssim(pred, gt).item() == pytest.approx((2 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1))
    assert metrics.interpolation_error(pred, gt).item() == pytest.approx(math.sqrt(3) * 63.75)


def test_prediction_is_clipped():
    gt = torch.ones(3, 12, 12)
    assert math.isinf(metrics.psnr(gt * 1.5, gt).item())


def test_known_shift_psnr_and_ie_by_hand():
    a = _img(2) / 255.0
    b = np.roll(a, 1, axis=1)
    mse = np.mean((a - b) ** 2)
    assert metrics.psnr(_t(b), _t(a)).item() == pytest.approx(10 * np.log10(1 / mse), rel=1e-12)
    colour = np.sqrt(np.mean(np.sum((255 * (a - b)) ** 2, axis=-1)))
    assert metrics.interpolation_error(_t(b), _t(a)).item() == pytest.approx(colour, rel=1e-12)


def _ssim_by_hand(x: np.ndarray, y: np.ndarray) -> float:
    """Direct TF-style SSIM with the full 2-D 11x11 window, loops over VALID positions and channels."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for c in range(x.shape[2]):
        per = []
        for i in range(x.shape[0] - 10):
            for j in range(x.shape[1] - 10):
                px, py = x[i:i + 11, j:j + 11, c], y[i:i + 11, j:j + 11, c]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2
                cxy = (w * px * py).sum() - mx * my
                per.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
        vals.append(np.mean(per))
    return float(np.mean(vals))


@pytest.mark.parametrize("h,w", [(11, 11), (13, 14)])
def test_ssim_matches_hand_computation(h, w):
    x = _img(3, h, w) / 255.0
    y = np.clip(x + np.random.default_rng(4).normal(0, 0.1, x.shape), 0, 1)
    assert metrics.ssim(_t(y), _t(x)).item() == pytest.approx(_ssim_by_hand(y, x), abs=1e-12)


def test_metric_batch_shape_and_small_image_refused():
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    assert metrics.ssim(x, x.flip(0)).shape == (2,) and metrics.psnr(x, x.flip(0)).shape == (2,)
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(torch.zeros(3, 10, 20), torch.zeros(3, 10, 20))


# ---------------------------------------------------------------- baselines

def test_blend_is_the_average():
    a, b = _img(5) / 255.0, _img(6) / 255.0
    np.testing.assert_allclose(blend(a, b), (a + b) / 2, atol=1e-7)
    assert get_baseline("blend") is blend
    with pytest.raises(InputError, match="blend"):
        get_baseline("nope")


def test_dis_recovers_a_translation():
    pytest.importorskip("cv2", reason="opencv-python-headless needed for the DIS baseline")
    rng = np.random.default_rng(0)
    tex = np.kron(rng.random((30, 30, 3)), np.ones((4, 4, 1))).astype(np.float32)  # 120x120
    from PIL import ImageFilter
    tex = np.asarray(Image.fromarray((tex * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))) / 255.0
    f0, gt, f1 = tex[20:84, 20:84], tex[20:84, 24:88], tex[20:84, 28:92]  # 8 px motion, GT halfway
    pred_dis, pred_blend = dis(f0, f1), blend(f0, f1)
    inner = (slice(12, -12), slice(12, -12))
    err_dis = np.abs(pred_dis - gt)[inner].mean()
    err_blend = np.abs(pred_blend - gt)[inner].mean()
    assert err_dis < 0.02 and err_dis < err_blend / 3


# ---------------------------------------------------------------- runner

class _AverageModel:
    name = "avg_model"

    def interpolate(self, frame0, frame1, t):
        assert t == 0.5
        return (frame0 + frame1) / 2


def test_evaluate_writes_json_csv_and_matches_models(tmp_path):
    data = tmp_path / "data"
    for k, seq in enumerate(("s1", "s2")):
        for j, name in enumerate(("frame_00.png", "frame_02.png", "frame_01_gt.png")):
            _write(data / seq / name, _img(3 * k + j) // 2 * 2)  # even values: the blend has no rounding ties
    res = evaluate(data, method="blend", json_path=tmp_path / "out" / "r.json", csv_path=tmp_path / "out" / "r.csv",
                   progress=False)
    assert res.n == 2 and res.method == "blend" and res.quantize
    summary = json.loads((tmp_path / "out" / "r.json").read_text())
    assert {"n", "psnr", "ssim", "ie", "method", "data"} <= set(summary) and summary["psnr"] == pytest.approx(res.psnr)
    rows = list(csv.DictReader(open(tmp_path / "out" / "r.csv")))
    assert [r["name"] for r in rows] == ["s1", "s2"]
    assert np.mean([float(r["psnr"]) for r in rows]) == pytest.approx(res.psnr, abs=1e-5)
    # the per-triplet value equals a direct computation on the (exact) 8-bit blend
    t = load_eval_triplets(data)[0]
    f0, f1, gt = (np.asarray(Image.open(p), np.float64) / 255 for p in (t.frame0_path, t.frame1_path, t.gt_path))
    pred = (f0 + f1) / 2
    assert float(rows[0]["psnr"]) == pytest.approx(10 * np.log10(1 / np.mean((pred - gt) ** 2)), abs=1e-5)
    other = evaluate(data, model=_AverageModel(), progress=False)
    assert other.method == "avg_model" and other.psnr == pytest.approx(res.psnr, abs=1e-9)
    table = format_table([res, other])
    assert "blend" in table and "avg_model" in table and f"{res.psnr:.2f}" in table


def test_evaluate_argument_errors(tmp_path):
    _folder(tmp_path / "s", ("im1.png", "im2.png", "im3.png"))
    with pytest.raises(InputError, match="exactly one"):
        evaluate(tmp_path, progress=False)
    with pytest.raises(InputError, match="exactly one"):
        evaluate(tmp_path, model=_AverageModel(), method="blend", progress=False)


def test_blend_on_middlebury_matches_provider_stats(data_dir):
    root = need_shared(data_dir / "middlebury_other")
    with open(root / "triplet_stats.csv") as f:
        expected = np.mean([float(r["psnr_gt_vs_mean"]) for r in csv.DictReader(f)])
    res = evaluate(root, method="blend", progress=False, quantize=False)
    assert res.n == 6 and res.psnr == pytest.approx(expected, abs=0.01)  # the stats are rounded to 0.01 dB
