"""Alpha that moves with the picture (`inference/alpha.py`): a sprite's mask follows its motion, opaque inputs
come out as before, tiled as untiled."""
from pathlib import Path

import numpy as np
import pytest
import torch

import filmnet
from filmnet.inference import Interpolator
from filmnet.inference.frames import iter_pixel_sequence

BUNDLED = Path(filmnet.__file__).parent / "assets" / "film_lite.safetensors"
H, W, S, MOVE, X0, Y0 = 96, 128, 32, 24, 36, 32


def sprite(x: int) -> np.ndarray:
    """A 32x32 textured opaque sprite at column x over fully transparent black."""
    texture = np.random.default_rng(1).integers(40, 256, (S, S, 3), dtype=np.uint8)
    image = np.zeros((H, W, 4), np.uint8)
    image[Y0:Y0 + S, x:x + S, :3], image[Y0:Y0 + S, x:x + S, 3] = texture, 255
    return image


def iou(alpha: np.ndarray, x: int) -> float:
    truth = np.zeros((H, W), bool)
    truth[Y0:Y0 + S, x:x + S] = True
    mask = alpha > 127
    return (mask & truth).sum() / (mask | truth).sum()


@pytest.fixture(scope="module")
def lite():
    return Interpolator(BUNDLED, precision="fp32", flow="model", max_memory=None)


@pytest.fixture(scope="module")
def lite_tiled():
    return Interpolator(BUNDLED, precision="fp32", flow="model", tile=(64, 128), overlap=0)


@pytest.mark.parametrize("which", ["lite", "lite_tiled"])
def test_sprite_mask_follows_the_motion(which, request):
    interp = request.getfixturevalue(which)
    frames = list(iter_pixel_sequence(interp, [sprite(X0), sprite(X0 + MOVE)], multi=4))
    assert len(frames) == 5 and all(f.shape == (H, W, 4) and f.dtype == np.uint8 for f in frames)
    scores = [iou(frames[k][..., 3], X0 + MOVE * k // 4) for k in (1, 2, 3)]  # t = 1/4, 1/2, 3/4
    assert min(scores) >= 0.9, scores  # the nearer input's mask (before issue 24): 0.684, 0.455, 0.684
    if which == "lite_tiled":
        assert interp.last_tiling is not None and interp.last_tiling.tile == (64, 128)  # really two tiles


def test_rgba_tiled_equals_untiled(lite, lite_tiled):
    """RGBA through whole-frame tiles: the same RGB and the same moving alpha as untiled (8-bit frames)."""
    inputs = [sprite(X0), sprite(X0 + MOVE)]
    tiled = list(iter_pixel_sequence(lite_tiled, inputs, multi=4))
    assert lite_tiled.last_tiling is not None
    untiled = list(iter_pixel_sequence(lite, inputs, multi=4))
    for a, b in zip(tiled, untiled):
        diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
        assert a.shape == (H, W, 4) and diff.max() <= 1 and diff.mean() < 0.01
        assert np.array_equal(a[..., 3], b[..., 3])


def test_alpha_moves_smoothly_through_half(lite):
    """No jump at t = 1/2: the mask's centre moves by about the same step between consecutive frames."""
    frames = list(iter_pixel_sequence(lite, [sprite(X0), sprite(X0 + MOVE)], multi=8))
    centres = [np.nonzero(f[..., 3] > 127)[1].mean() for f in frames]
    steps = np.diff(centres)
    assert np.allclose(steps, MOVE / 8, atol=1.0), steps


@pytest.mark.parametrize("which", ["lite", "lite_tiled"])
@pytest.mark.parametrize("depth", [8, 16])
def test_opaque_inputs_are_unchanged(which, depth, request):
    """RGBA inputs that are fully opaque give the RGB frames of the RGB inputs, bit for bit, and alpha at full."""
    interp = request.getfixturevalue(which)
    dtype, top = (np.uint8, 255) if depth == 8 else (np.uint16, 65535)
    rng = np.random.default_rng(3)
    base = rng.integers(0, top + 1, (H, W, 3)).astype(dtype)
    rgb = [base, np.roll(base, 5, axis=1)]
    rgba = [np.concatenate([f, np.full((H, W, 1), top, dtype)], axis=2) for f in rgb]
    plain = list(iter_pixel_sequence(interp, rgb, exp=2))
    carried = list(iter_pixel_sequence(interp, rgba, exp=2))
    assert len(plain) == len(carried) == 5
    for a, b in zip(plain, carried):
        np.testing.assert_array_equal(b[..., :3], a)
        assert b.dtype == dtype and (b[..., 3] == top).all()


def test_uniform_alpha_fades_with_time(lite):
    """A uniform alpha that changes between two frames fades with t (it jumped at t = 1/2 before)."""
    frames = [sprite(X0), sprite(X0)]
    frames[0][..., 3], frames[1][..., 3] = 60, 200
    out = list(iter_pixel_sequence(lite, frames, multi=4))
    means = [float(f[..., 3].mean()) for f in out]
    assert np.allclose(means, [60, 95, 130, 165, 200], atol=1.0), means


def test_tensor_rgba_through_the_interpolator(lite):
    """The API: (1, 4, H, W) tensors go through `Interpolator.iter_sequence` and come out RGBA."""
    x0 = torch.from_numpy(sprite(X0).transpose(2, 0, 1).copy())[None].float() / 255
    x1 = torch.from_numpy(sprite(X0 + MOVE).transpose(2, 0, 1).copy())[None].float() / 255
    out = lite.sequence([x0, x1], exp=1)
    assert [f.shape for f in out] == [(H, W, 4)] * 3
    assert iou((out[1][..., 3] * 255 + 0.5).astype(np.uint8), X0 + MOVE // 2) >= 0.9
