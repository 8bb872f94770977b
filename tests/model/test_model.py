"""The FILM module itself: configs, parameter counts, output contract, input-size rules, time handling."""
import dataclasses

import pytest
import torch

import filmnet
from filmnet.errors import InputError
from filmnet.model import FILMOutput
from helpers import plain_tiny


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_film_net_has_the_released_parameter_count():
    with torch.device("meta"):
        model = filmnet.FILM(filmnet.CONFIGS["film_net"])
    assert n_params(model) == 34_436_667
    assert n_params(model.extract) == 4_685_376
    assert n_params(model.predict_flow) == 7_326_328
    assert n_params(model.fuse) == 22_424_963


def test_tiny_fixture_config_parameter_count():
    assert n_params(filmnet.FILM("film_tiny")) == 129_459


def test_config_is_frozen_and_registered():
    cfg = filmnet.CONFIGS["film_net"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.filters = 32
    assert filmnet.FILMConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(KeyError, match="film_net"):
        filmnet.get_config("no_such_model")
    with pytest.raises(ValueError):
        filmnet.FILMConfig(flow_convs=(3, 3))


@pytest.fixture(scope="module")
def tiny():
    return plain_tiny()


def test_output_contract(tiny):
    x0, x1 = torch.rand(2, 3, 70, 90), torch.rand(2, 3, 70, 90)
    with torch.no_grad():
        out = tiny(x0, x1)
    assert isinstance(out, FILMOutput)
    assert out.image.shape == out.x0_warped.shape == out.x1_warped.shape == (2, 3, 70, 90)
    assert len(out.forward_flows) == len(out.backward_flows) == 5
    assert len(out.forward_residual_flows) == len(out.backward_residual_flows) == 7
    for level, flow in enumerate(out.forward_residual_flows):
        assert flow.shape == (2, 2, 70 >> level, 90 >> level)


@pytest.mark.parametrize("size", [(63, 64), (64, 63), (32, 200)])
def test_inputs_below_64_are_refused_clearly(tiny, size):
    x = torch.rand(1, 3, *size)
    with pytest.raises(InputError, match="at least 64x64"):
        tiny(x, x)


def test_time_default_scalar_and_shapes_agree(tiny):
    x0, x1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        default = tiny(x0, x1).image
        for t in (0.5, torch.tensor([0.5, 0.5]), torch.full((2, 1), 0.5)):
            torch.testing.assert_close(tiny(x0, x1, t).image, default, rtol=0, atol=0)
        other = tiny(x0, x1, torch.tensor([0.2, 0.8])).image
    assert (other - default).abs().max() > 1e-3
    with pytest.raises(InputError, match="time"):
        tiny(x0, x1, torch.zeros(3))


def test_warp_clamps_without_border_padding():
    """Samples far outside the image take the edge value (explicit clamp, no padding_mode='border')."""
    from filmnet.model.ops import warp

    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = -100.0  # far left
    torch.testing.assert_close(warp(image, flow)[0, 0], image[0, 0, :, :1].expand(3, 4))
    flow[:, 0] = 100.0  # far right
    torch.testing.assert_close(warp(image, flow)[0, 0], image[0, 0, :, 3:].expand(3, 4))
