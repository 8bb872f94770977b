"""Pyramid depth at run time (issue 22): parity at 7 levels, deeper pyramids on the same tensors, the "auto" probe,
and one-line errors for bad depths. All comparisons in fp32."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import filmnet
from filmnet.cli import main
from filmnet.errors import InputError
from filmnet.inference import Interpolator, Padder, PairRunner
from filmnet.inference.depth import auto_levels, parse_pyramid_levels, resolve_levels
from filmnet.model import film as film_module
from filmnet.model.flow_estimator import flow_pyramid_synthesis
from filmnet.model.ops import image_pyramid

from helpers import tiny_model

H, W = 150, 200  # padded to 192x256: up to 8 levels


def frames(seed: int = 0, h: int = H, w: int = W) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = F.avg_pool2d(torch.rand(1, 3, h + 8, w + 8, generator=g), 5, 1)  # some spatial structure
    return base[..., 2 : 2 + h, 4 : 4 + w].contiguous(), base[..., : h, : w].contiguous()


def old_recipe(model: filmnet.FILM, x0: torch.Tensor, x1: torch.Tensor, t: float) -> torch.Tensor:
    """The pre-depth code path, composed from the modules: centred zero padding to 64, a 7-level pyramid."""
    padder = Padder(*x0.shape[-2:], 64)
    e = []
    for x in (padder.pad(x0), padder.pad(x1)):
        images = image_pyramid(x, model.config.pyramid_levels)
        e.append(film_module.Encoded(images, model.extract(images)))
    fwd = model.predict_flow(e[0].features, e[1].features)
    bwd = model.predict_flow(e[1].features, e[0].features)
    n = model.config.fusion_pyramid_levels
    flows = film_module.PairFlows(fwd, bwd, flow_pyramid_synthesis(fwd)[:n], flow_pyramid_synthesis(bwd)[:n])
    with torch.no_grad():
        out = model.synthesize(e[0], e[1], flows, torch.full((1,), t))
    return padder.unpad(out.image)


@torch.no_grad()
def test_seven_levels_with_zero_padding_are_bit_identical_to_the_old_path():
    model = tiny_model()
    x0, x1 = frames()
    want = old_recipe(model, x0, x1, 0.3)
    runner = PairRunner(model, levels=7, padding_mode="zeros").sized(H, W, 64)
    assert torch.equal(runner.run(x0, x1, [0.3])[0], want)
    default = PairRunner(model).sized(H, W, 64)  # levels None = the config's depth
    assert torch.equal(default.run(x0, x1, [0.3])[0], want)
    padder = Padder(H, W, 64)
    assert torch.equal(padder.unpad(model(padder.pad(x0), padder.pad(x1), 0.3, levels=7).image), want)
    interp = Interpolator(model, precision="fp32", flow="model", max_memory=None, pyramid_levels=7, padding="zeros")
    got = interp.interpolate(x0[0].permute(1, 2, 0).numpy(), x1[0].permute(1, 2, 0).numpy(), 0.3)
    np.testing.assert_array_equal(got, want[0].clamp(0, 1).permute(1, 2, 0).numpy())


@torch.no_grad()
def test_deeper_pyramids_run_on_the_same_tensors():
    model = tiny_model()
    before = {k: (v.shape, v.clone()) for k, v in model.state_dict().items()}
    x0, x1 = (F.pad(x, (28, 28, 21, 21)) for x in frames())  # 192x256
    out7, out8 = model(x0, x1, 0.5), model(x0, x1, 0.5, levels=8)
    assert len(out7.forward_residual_flows) == 7 and len(out8.forward_residual_flows) == 8
    assert out8.forward_residual_flows[-1].shape[-2:] == (1, 2)
    assert len(out8.forward_flows) == model.config.fusion_pyramid_levels
    assert not torch.equal(out7.image, out8.image)
    assert torch.isfinite(out8.image).all()
    shallow = model(x0, x1, 0.5, levels=5)
    assert len(shallow.forward_residual_flows) == 5 and torch.isfinite(shallow.image).all()
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], v) and after[k].shape == s for k, (s, v) in before.items())


@torch.no_grad()
def test_auto_probe_keeps_seven_levels_or_continues_the_deep_pyramid_exactly(monkeypatch):
    model = tiny_model()
    h, w = 260, 300  # padded to 320x320: "auto" encodes 8 levels (the coarsest 2x2)
    x0, x1 = frames(1, h, w)
    auto = PairRunner(model, levels="auto", padding_mode="zeros").sized(h, w, 64)
    assert auto.depth_for(320, 320) == 8 and auto.shallow_levels == 7
    seven = PairRunner(model, levels=7, padding_mode="zeros").sized(h, w, 64).run(x0, x1, [0.5])[0]
    eight = PairRunner(model, levels=8, padding_mode="zeros").sized(h, w, 64).run(x0, x1, [0.5])[0]
    assert not torch.equal(seven, eight)
    monkeypatch.setattr(film_module, "DEEP_MOTION_PX", float("inf"))  # the probe sees no large motion
    assert torch.equal(auto.run(x0, x1, [0.5])[0], seven)
    monkeypatch.setattr(film_module, "DEEP_MOTION_PX", 0.0)  # every pair needs the deep pyramid
    assert torch.equal(auto.run(x0, x1, [0.5])[0], eight)


def test_auto_depth_follows_the_frame_size():
    cfg = filmnet.CONFIGS["film_lite"]
    assert auto_levels(cfg, 64, 64) == 7 and auto_levels(cfg, 256, 448) == 8
    assert auto_levels(cfg, 640, 1024) == 9 and auto_levels(cfg, 1088, 1920) == 10
    assert auto_levels(cfg, 2176, 3840) == 11
    assert resolve_levels(None, cfg, 640, 1024) == 7 and resolve_levels("auto", cfg, 640, 1024) == 9


@pytest.mark.parametrize("text,want", [("auto", "auto"), (" AUTO ", "auto"), ("7", 7), ("12", 12), (9, 9)])
def test_parse_pyramid_levels(text, want):
    assert parse_pyramid_levels(text) == want


@pytest.mark.parametrize("text", ["seven", "7.5", "", "0", "-3", "auto7"])
def test_parse_pyramid_levels_refuses_bad_text_in_one_line(text):
    with pytest.raises(InputError) as err:
        parse_pyramid_levels(text)
    assert "\n" not in str(err.value) and "--pyramid-levels" in str(err.value)


@pytest.mark.parametrize("levels,fragment", [(9, "use 5..8"), (4, "use 5..8"), (30, "use 5..8")])
def test_depths_outside_the_range_are_one_line_errors(levels, fragment):
    runner = PairRunner(tiny_model(), levels=levels)
    with pytest.raises(InputError) as err:
        runner.sized(H, W, 64)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="use 5..8"):
        runner.encode(F.pad(frames()[0], (28, 28, 21, 21)))
    with pytest.raises(InputError, match="pyramid_levels"):
        Interpolator(tiny_model(), precision="fp32", pyramid_levels=7.0)


def _images(folder, size=(150, 200)) -> list:
    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"in{k}.png")
        paths.append(folder / f"in{k}.png")
    return paths


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from filmnet.weights import save_model

    return save_model(tiny_model(), tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.mark.parametrize("value,code,fragment", [("nine", 1, "whole number"), ("0", 1, "positive"),  # checked with the model options
                                                 ("9", 1, "use 5..8"), ("4", 1, "use 5..8")])
def test_cli_refuses_bad_pyramid_levels_in_one_line(tmp_path, capsys, weights, value, code, fragment):
    inputs = _images(tmp_path)
    out = tmp_path / "out"
    got = main(["interpolate", *map(str, inputs), "-o", str(out), "--weights", str(weights), "--precision", "fp32",
                "--flow", "model", "--pyramid-levels", value])
    err = capsys.readouterr().err
    assert got == code and fragment in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_pyramid_levels_runs(tmp_path, capsys, weights):
    inputs = _images(tmp_path)
    outs = {}
    for value in ("8", "auto"):
        out = tmp_path / f"out{value}"
        assert main(["interpolate", *map(str, inputs), "-o", str(out), "--weights", str(weights), "--precision",
                     "fp32", "--flow", "model", "--multi", "2", "--pyramid-levels", value]) == 0
        outs[value] = np.asarray(Image.open(out / "000001.png"))
    assert outs["8"].shape == outs["auto"].shape == (150, 200, 3)
    assert "error" not in capsys.readouterr().err
