"""Parity with the official TF FILM: the tiny SavedModel, loaded through our reader, vs TF's golden outputs.

Fixtures are NHWC; our model is NCHW. Tolerances follow the fixture README (atol 1e-4 model, 1e-5 ops).
"""
import copy
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import filmnet
from filmnet.model import ops
from filmnet.weights.savedmodel import savedmodel_state_dict

MODEL_ATOL, OPS_ATOL = 1e-4, 1e-5
SOURCES = ["saved_model", "snappy_index"]
CASES = ["case_a", "case_b", "case_c"]
OUTPUT_KEYS = (
    ["image", "x0_warped", "x1_warped"]
    + [f"{d}_flow_pyramid/{level}" for d in ("forward", "backward") for level in range(5)]
    + [f"{d}_residual_flow_pyramid/{level}" for d in ("forward", "backward") for level in range(7)]
)
INPUT_KEYS = {"x0", "x1", "time"}


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


@functools.cache
def load_model(fixtures: Path, source: str) -> filmnet.FILM:
    """film_tiny with weights read by our SavedModel reader (uncompressed or Snappy index)."""
    tiny = fixtures / "tiny"
    with tempfile.TemporaryDirectory() as tmp:
        path = tiny / "saved_model"
        if source == "snappy_index":
            path = Path(tmp) / "variables"
            path.mkdir()
            shutil.copy(tiny / "variables_snappy" / "variables.index", path / "variables.index")
            shutil.copy(tiny / "saved_model" / "variables" / "variables.data-00000-of-00001", path)
        state = savedmodel_state_dict(path)
    model = filmnet.FILM(filmnet.CONFIGS["film_tiny"]).eval()
    model.load_state_dict(state, strict=True)
    return model


def run(model: filmnet.FILM, fixture: np.lib.npyio.NpzFile, case: str) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model(nchw(fixture[f"{case}/x0"]), nchw(fixture[f"{case}/x1"]), torch.from_numpy(fixture[f"{case}/time"]))
    flat = {}
    for key, value in out.to_dict().items():
        for level, v in enumerate(value) if isinstance(value, list) else [(None, value)]:
            flat[key if level is None else f"{key}/{level}"] = nhwc(v)
    return flat


@functools.cache
def outputs(fixtures: Path, source: str, npz: str, case: str) -> tuple[dict, dict]:
    fixture = np.load(fixtures / "tiny" / npz)
    expected = {k.split("/", 1)[1]: fixture[k] for k in fixture.files if k.startswith(f"{case}/")}
    return run(load_model(fixtures, source), fixture, case), expected


@pytest.mark.parametrize("case", CASES)
def test_fixture_holds_exactly_the_checked_keys(fixtures_dir, case):
    _, expected = outputs(fixtures_dir, "saved_model", "cases.npz", case)
    assert set(expected) - INPUT_KEYS == set(OUTPUT_KEYS)


@pytest.mark.parametrize("key", OUTPUT_KEYS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("source", SOURCES)
def test_model_matches_tf(fixtures_dir, source, case, key):
    got, expected = outputs(fixtures_dir, source, "cases.npz", case)
    assert got[key].shape == expected[key].shape
    np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=MODEL_ATOL)


@pytest.mark.parametrize("key", ["image", "x0_warped", "x1_warped"])
@pytest.mark.parametrize("source", SOURCES)
def test_model_matches_released_graph_time(fixtures_dir, source, key):
    got, expected = outputs(fixtures_dir, source, "cases_time.npz", "case_t")
    np.testing.assert_array_equal(expected["time"][:, 0], np.float32([0.25, 0.5, 0.8]))
    assert got[key].shape == expected[key].shape
    np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=MODEL_ATOL)


def test_perturbed_weight_breaks_parity(fixtures_dir):
    """The tolerance is tight enough to catch a small weight error deep in the network."""
    model = copy.deepcopy(load_model(fixtures_dir, "saved_model"))
    with torch.no_grad():
        model.extract.extract_sublevels.convs[1][0][0].weight[0, 0, 1, 1] += 0.05
    fixture = np.load(fixtures_dir / "tiny" / "cases.npz")
    got = run(model, fixture, "case_a")
    assert np.abs(got["image"] - fixture["case_a/image"]).max() > 10 * MODEL_ATOL


# ------------------------------------------------------------------ single ops (ops.npz)
def conv(x: torch.Tensor, kernel: np.ndarray, bias: np.ndarray, activation: bool) -> torch.Tensor:
    layer = ops.Conv2d(kernel.shape[2], kernel.shape[3], kernel.shape[0], activation=activation)
    with torch.no_grad():
        layer[0].weight.copy_(torch.from_numpy(kernel).permute(3, 2, 0, 1))
        layer[0].bias.copy_(torch.from_numpy(bias))
        return layer(x)


def run_op(name: str, d) -> torch.Tensor:
    g = lambda k: d[f"{name}/{k}"]  # noqa: E731
    if name.startswith("warp"):
        return ops.warp(nchw(g("image")), nchw(g("flow")))
    if name.startswith("conv"):
        return conv(nchw(g("x")), g("kernel"), g("bias"), activation=name.endswith("lrelu"))
    if name.startswith("resize_nearest"):
        return ops.resize_nearest(nchw(g("x")), tuple(int(s) for s in g("size")))
    if name.startswith("resize_bilinear"):  # upsample_flow doubles the values before resizing
        return ops.upsample_flow(nchw(g("x")), tuple(int(s) for s in g("size"))) / 2
    if name == "avgpool2x2_valid":
        return ops.avg_pool(nchw(g("x")))
    raise KeyError(name)


OPS = ["warp", "warp_features", "conv2x2_same", "conv2x2_same_even", "conv3x3_same_lrelu", "resize_nearest_odd",
       "resize_nearest_odd2", "resize_nearest_2x", "resize_bilinear_odd", "resize_bilinear_1to3",
       "resize_bilinear_2x", "avgpool2x2_valid"]


def test_ops_fixture_holds_exactly_the_checked_ops(fixtures_dir):
    assert {k.split("/")[0] for k in np.load(fixtures_dir / "ops.npz").files} == set(OPS)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("name", ["warp", "warp_features"])
def test_warp_matches_tf_in_both_layouts(fixtures_dir, name, layout):
    """The warp has two code paths (grid_sample for NCHW, a gather for channels_last); both must match TF."""
    d = np.load(fixtures_dir / "ops.npz")
    fmt = torch.contiguous_format if layout == "nchw" else torch.channels_last
    image = nchw(d[f"{name}/image"]).contiguous(memory_format=fmt)
    flow = nchw(d[f"{name}/flow"]).contiguous()
    with torch.no_grad():
        got = nhwc(ops.warp(image, flow).contiguous())
    np.testing.assert_allclose(got, d[f"{name}/out"], rtol=0, atol=OPS_ATOL)


@pytest.mark.parametrize("name", OPS)
def test_op_matches_tf(fixtures_dir, name):
    d = np.load(fixtures_dir / "ops.npz")
    with torch.no_grad():
        got = nhwc(run_op(name, d))
    assert got.shape == d[f"{name}/out"].shape
    np.testing.assert_allclose(got, d[f"{name}/out"], rtol=0, atol=OPS_ATOL)
