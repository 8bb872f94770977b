"""Losses, VGG-19 loading and loss/LR schedules (film_spec.md §3), with random VGG weights saved in tmp."""
import math

import pytest
import torch

from filmnet.errors import WeightsError
from filmnet.model import FILMOutput
from filmnet.train.losses import (VGG_LAYER_WEIGHTS, TrainingLoss, build_loss, gram_matrix, l1_loss,
                                  perceptual_loss, style_loss, warped_l1_loss)
from filmnet.train.schedule import LOSS_SCHEDULES, PiecewiseConstant, staircase_decay
from filmnet.train.vgg import (CONV_CHANNELS, CONV_LAYER_INDICES, IMAGENET_MEAN_255, TORCHVISION_MEAN,
                               TORCHVISION_STD, VGG19Features, load_vgg19, save_vgg19)


def random_torchvision_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialised VGG-19 in torchvision key layout, including the unused conv5_3/5_4 and classifier keys."""
    g = torch.Generator().manual_seed(seed)
    state, cin = {}, 3
    for idx, cout in zip((*CONV_LAYER_INDICES, 32, 34), (*CONV_CHANNELS, 512, 512)):
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * math.sqrt(2 / (9 * cin))
        state[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.01
        cin = cout
    state["classifier.6.bias"] = torch.zeros(1000)
    return state


@pytest.fixture
def vgg_pth(tmp_path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(random_torchvision_state(), path)
    return path


def hand_vgg() -> VGG19Features:
    """conv1_1 and conv1_2 copy RGB into channels 0-2 (centre tap 1); every other conv is zero."""
    vgg = VGG19Features()
    with torch.no_grad():
        for conv in vgg.convs:
            conv.weight.zero_()
            conv.bias.zero_()
        for conv in vgg.convs[:2]:
            for c in range(3):
                conv.weight[c, c, 1, 1] = 1.0
    return vgg


def test_l1_value():
    pred = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    y = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert l1_loss(pred, y).item() == pytest.approx((1 + 0 + 0.5 + 0.25) / 4)


def test_warped_l1_is_the_mean_of_both_sides_in_fp32():
    y = torch.zeros(1, 3, 4, 4)
    outputs = FILMOutput(image=y, x0_warped=torch.full_like(y, 0.5).bfloat16(), x1_warped=torch.full_like(y, 0.25))
    value = warped_l1_loss(outputs, y)
    assert value.dtype == torch.float32 and value.item() == pytest.approx((0.5 + 0.25) / 2)


def test_gram_hand_value():
    phi = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (B=1, C=2, H=1, W=2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    torch.testing.assert_close(gram_matrix(phi), expected)


def test_identical_inputs_give_zero_loss(vgg_pth):
    loss = TrainingLoss("Style", load_vgg19(vgg_pth))
    y = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    total, terms = loss(y.clone(), y, step=2_000_000)
    assert set(terms) == {"l1", "vgg", "style"}
    assert total.item() == 0.0
    assert all(v.item() == 0.0 for v in terms.values())


def test_vgg_and_style_positive_for_different_inputs(vgg_pth):
    loss = TrainingLoss("Style", load_vgg19(vgg_pth))
    g = torch.Generator().manual_seed(2)
    pred, y = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    total, terms = loss(pred, y, step=2_000_000)
    assert terms["vgg"].item() > 0 and terms["style"].item() > 0
    expected = terms["l1"] + 0.25 * terms["vgg"] + 40.0 * terms["style"]
    torch.testing.assert_close(total, expected)


def test_perceptual_hand_case_checks_mean_and_255():
    vgg = hand_vgg()
    y = torch.ones(1, 3, 4, 4)
    pred = torch.full((1, 3, 4, 4), 0.46)  # 0.46*255 = 117.3: below the R mean, above G and B
    mean = torch.tensor(IMAGENET_MEAN_255)
    diff = (255.0 - mean).clamp_min(0) - (117.3 - mean).clamp_min(0)  # R's pred feature is clipped by the ReLU
    expected = VGG_LAYER_WEIGHTS[0] * diff.sum() / 64 / 255  # mean over 64 channels, 3 of them non-zero
    fp, fy = vgg(vgg.preprocess(pred)), vgg(vgg.preprocess(y))
    assert all(f.abs().sum() == 0 for f in fp[1:] + fy[1:])
    assert perceptual_loss(fp, fy).item() == pytest.approx(expected.item(), rel=1e-5)
    # Style on the same features: constant maps, so G[c, c'] = a_c * a_c' over the 3x3 non-zero block.
    a_y, a_p = (255.0 - mean).clamp_min(0) / 255, (117.3 - mean).clamp_min(0) / 255
    gram_diff = torch.outer(a_y, a_y) - torch.outer(a_p, a_p)
    expected_style = VGG_LAYER_WEIGHTS[0] * gram_diff.square().sum() / 64**2
    assert style_loss(fp, fy).item() == pytest.approx(expected_style.item(), rel=1e-5)


def test_torchvision_normalisation_is_folded_into_conv1(vgg_pth):
    folded = load_vgg19(vgg_pth)
    raw = VGG19Features()
    state = torch.load(vgg_pth, weights_only=True)
    raw.load_state_dict({f"convs.{i}.{p}": state[f"features.{idx}.{p}"]
                         for i, idx in enumerate(CONV_LAYER_INDICES) for p in ("weight", "bias")})
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    tv_input = (x - torch.tensor(TORCHVISION_MEAN).view(1, 3, 1, 1)) / torch.tensor(TORCHVISION_STD).view(1, 3, 1, 1)
    expected = raw(tv_input)[0]
    got = folded(folded.preprocess(x))[0]
    # Exact away from the zero-padded border (2 pixels after conv1_1 and conv1_2).
    torch.testing.assert_close(got[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(folded.convs[0].weight, raw.convs[0].weight)


def test_safetensors_round_trip_keeps_native_convention(vgg_pth, tmp_path):
    vgg = load_vgg19(vgg_pth)
    out = tmp_path / "vgg19_native.safetensors"
    save_vgg19(vgg, out)
    again = load_vgg19(out)
    for a, b in zip(vgg.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_missing_vgg_file_names_both_accepted_files(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_vgg19(tmp_path / "nope.pth")
    assert "vgg19-dcbb9e9d.pth" in str(err.value) and "imagenet-vgg-verydeep-19.mat" in str(err.value)
    with pytest.raises(WeightsError, match="imagenet-vgg-verydeep-19.mat"):
        build_loss("VGG", None)


def test_wrong_layout_and_pickled_code_are_refused(tmp_path):
    bad = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="torchvision VGG-19 layout"):
        load_vgg19(bad)
    evil = tmp_path / "evil.pth"
    torch.save({"features.0.weight": PiecewiseConstant((1,), (1.0, 2.0))}, evil)  # needs unpickling a class
    with pytest.raises(WeightsError, match="plain tensor state dict"):
        load_vgg19(evil)


def test_l1_recipe_needs_no_vgg():
    loss = build_loss("L1")
    pred, y = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.25)
    total, terms = loss(pred, y, step=0)
    assert set(terms) == {"l1"} and total.item() == pytest.approx(0.25)


def test_schedules_switch_exactly_after_boundary():
    vgg, style = LOSS_SCHEDULES["Style"]["vgg"], LOSS_SCHEDULES["Style"]["style"]
    assert (vgg(0), vgg(1_500_000), vgg(1_500_001)) == (1.0, 1.0, 0.25)
    assert (style(0), style(1_500_000), style(1_500_001)) == (0.0, 0.0, 40.0)
    assert LOSS_SCHEDULES["VGG"]["vgg"](1_500_001) == 0.25 and "style" not in LOSS_SCHEDULES["VGG"]
    assert set(LOSS_SCHEDULES["L1"]) == {"l1"}


def test_style_term_skipped_while_its_weight_is_zero(vgg_pth):
    loss = TrainingLoss("Style", load_vgg19(vgg_pth))
    pred, y = torch.zeros(1, 3, 16, 16), torch.ones(1, 3, 16, 16)
    assert set(loss(pred, y, step=1_500_000)[1]) == {"l1", "vgg"}
    assert set(loss(pred, y, step=1_500_001)[1]) == {"l1", "vgg", "style"}


def test_lr_staircase_decay():
    assert staircase_decay(749_999, 750_000, 0.464158) == 1.0
    assert staircase_decay(750_000, 750_000, 0.464158) == pytest.approx(0.464158)
    assert 1e-4 * staircase_decay(2_250_000, 750_000, 0.464158) == pytest.approx(1.0e-5, rel=1e-4)
