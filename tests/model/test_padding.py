"""Padding modes (issue 24 item 5): zeros stays the official padding bit for bit; reflect (the default) keeps warping
from pulling dark bands into frames whose size is not a multiple of 64. Comparisons in fp32."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from filmnet.errors import InputError
from filmnet.inference import Interpolator, Padder
from filmnet.inference.padding import DEFAULT_PADDING, PADDING_MODES


@pytest.mark.parametrize("h,w", [(64, 64), (100, 130), (65, 127), (1, 70)])
@pytest.mark.parametrize("mode", PADDING_MODES)
def test_every_mode_pads_centred_and_crops_back(h, w, mode):
    x = torch.rand(2, 3, h, w)
    padder = Padder(h, w, 64, mode)
    p = padder.pad(x)
    assert p.shape[-2] % 64 == 0 and p.shape[-1] % 64 == 0
    assert torch.equal(padder.unpad(p), x)
    left, right, top, bottom = padder.padding
    if mode == "zeros":
        assert torch.equal(p, F.pad(x, padder.padding))
    elif mode == "replicate" and top:
        assert torch.equal(p[..., :top, left:left + w], x[..., :1, :].expand(-1, -1, top, -1))
        assert torch.equal(p[..., -bottom:, left:left + w], x[..., -1:, :].expand(-1, -1, bottom, -1))
    elif mode == "reflect" and top and top < h:
        assert torch.equal(p[..., top - 1, left:left + w], x[..., 1, :])  # mirrored about the edge row


def test_zeros_is_the_padder_default_and_reflect_the_interpolators():
    assert Padder(10, 10).mode == "zeros" and DEFAULT_PADDING == "reflect"
    with pytest.raises(InputError, match="unknown padding"):
        Padder(10, 10, 64, "edge")


def test_bad_padding_is_a_one_line_error():
    from helpers import tiny_model

    with pytest.raises(InputError, match="reflect, replicate, zeros"):
        Interpolator(tiny_model(), precision="fp32", padding="wrap")


def _tilt_pair(h: int = 150, w: int = 256, shift: int = 8):
    """A bright smooth texture moving down `shift` px: the middle frame's top rows lie outside the first input."""
    g = torch.Generator().manual_seed(3)
    texture = F.interpolate(torch.rand(1, 3, (h + shift) // 8 + 1, w // 8 + 1, generator=g), size=(h + shift, w),
                            mode="bicubic", align_corners=False)
    texture = (0.35 + 0.4 * texture).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return texture[shift:shift + h], texture[:h], texture[shift // 2: shift // 2 + h]


@pytest.mark.parametrize("flow", ["model", "hybrid"])
def test_border_rows_stay_bright_with_edge_padding(flow):
    if flow == "hybrid":
        pytest.importorskip("cv2")
    f0, f1, _ = _tilt_pair()
    rows = {}
    for mode in ("zeros", "replicate", DEFAULT_PADDING):
        interp = Interpolator("film_lite", precision="fp32", flow=flow, max_memory=None, pyramid_levels=7,
                              padding=mode)
        mid = interp.interpolate(f0, f1)
        rows[mode] = [abs(mid[k].mean() - (f0[k].mean() + f1[k].mean()) / 2) * 255 for k in (0, -1)]
    assert max(rows["replicate"]) <= 8 and max(rows[DEFAULT_PADDING]) <= 8, rows  # within 8 levels of the inputs' rows
    if flow == "hybrid":
        assert max(rows["zeros"]) > 8, rows  # the bands this padding removes (50 and 83 levels measured)
