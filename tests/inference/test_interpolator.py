"""Interpolator: padding/crop, frame counts and order for --exp/--multi, dtypes, precision, weights sources."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from filmnet.errors import InputError
from filmnet.inference import Interpolator, Padder, resolve_precision
from filmnet.precision import cpu_supports_bf16, use_channels_last
from helpers import frames, tiny_model




def direct(model, a: np.ndarray, b: np.ndarray, t: float = 0.5) -> torch.Tensor:
    """Reference: centred zero padding to 64 written out by hand, model.forward, crop (unclipped)."""
    h, w = a.shape[:2]
    ph, pw = -h % 64, -w % 64
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    x0, x1 = (F.pad(torch.from_numpy(f).permute(2, 0, 1)[None], pad) for f in (a, b))
    with torch.no_grad():
        y = model(x0, x1, torch.tensor([t])).image
    return y[..., pad[2] : pad[2] + h, pad[0] : pad[0] + w]


def as_hwc(x: torch.Tensor) -> np.ndarray:
    return x[0].clamp(0, 1).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def interp(model):
    return Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros")


def test_tiny_model_output_is_not_saturated(model):
    y = direct(model, *frames(2))
    assert 0.9 < ((y > 0) & (y < 1)).float().mean()


@pytest.mark.parametrize("t", [0.5, 0.3])
def test_interpolate_equals_direct_forward_on_padded_input(interp, model, t):
    a, b = frames(2)
    out = interp.interpolate(a, b, t)
    assert out.shape == (70, 90, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, as_hwc(direct(model, a, b, t)), atol=1e-6)


@pytest.mark.parametrize("h, w", [(70, 90), (65, 129), (64, 64), (100, 77)])
def test_odd_sizes_come_back_at_input_size(interp, h, w):
    a, b = frames(2, h, w)
    assert interp.interpolate(a, b).shape == (h, w, 3)


@pytest.mark.parametrize("h, w, expected", [(70, 90, (19, 19, 29, 29)), (65, 129, (31, 32, 31, 32)),
                                             (64, 128, (0, 0, 0, 0))])
def test_padding_is_centred_with_extra_pixel_bottom_right(h, w, expected):
    padder = Padder(h, w, 64)
    assert padder.padding == expected
    x = torch.rand(1, 3, h, w)
    padded = padder.pad(x)
    assert padded.shape[-2] % 64 == 0 and padded.shape[-1] % 64 == 0
    assert torch.equal(padder.unpad(padded), x)


def test_output_is_clipped(interp, model):
    a, b = frames(2)
    with torch.no_grad():
        model.fuse.output_conv.bias.fill_(0.98)  # push part of the output above 1
    try:
        raw = direct(model, a, b)
        out = interp.interpolate(a, b)
    finally:
        with torch.no_grad():
            model.fuse.output_conv.bias.fill_(0.5)
    assert (raw > 1).any()
    assert out.max() <= 1.0 and out.min() >= 0.0


@pytest.mark.parametrize("n, kwargs, expected", [
    (2, {"exp": 1}, 3), (2, {"exp": 2}, 5), (3, {"exp": 1}, 5), (3, {"exp": 2}, 9),
    (2, {"multi": 2}, 3), (2, {"multi": 3}, 4), (3, {"multi": 3}, 7), (3, {"multi": 4}, 9),
])
def test_sequence_frame_counts_and_inputs_in_place(interp, n, kwargs, expected):
    inputs = frames(n, 64, 80)
    out = interp.sequence(inputs, **kwargs)
    assert len(out) == expected
    step = (expected - 1) // (n - 1)
    for i, frame in enumerate(inputs):
        np.testing.assert_array_equal(out[i * step], frame)
    new = [f for k, f in enumerate(out) if k % step]
    assert all(not np.array_equal(f, inputs[0]) for f in new)


def test_multi_uses_t_directly(interp):
    a, b = frames(2)
    out = interp.sequence([a, b], multi=4)
    for k in (1, 2, 3):
        np.testing.assert_allclose(out[k], interp.interpolate(a, b, k / 4), atol=1e-6)
    assert not np.allclose(out[1], out[3], atol=1e-3)  # t matters


def test_exp_follows_official_recursive_midpoints(interp, model):
    a, b = frames(2)
    out = interp.sequence([a, b], exp=2)
    mid = direct(model, a, b)  # unclipped, cropped: the official generator feeds it back as an input
    mid_np = mid[0].permute(1, 2, 0).numpy()
    q1, q3 = direct(model, a, mid_np), direct(model, mid_np, b)
    for got, want in zip(out[1:4], (q1, mid, q3)):
        np.testing.assert_allclose(got, as_hwc(want), atol=1e-5)


def test_second_pair_matches_its_own_run(interp):
    a, b, c = frames(3)
    out = interp.sequence([a, b, c], multi=2)
    np.testing.assert_allclose(out[3], interp.interpolate(b, c), atol=1e-6)


def test_uint8_uint16_float_and_tensor_inputs_agree(interp):
    rng = np.random.default_rng(3)
    a8, b8 = (rng.integers(0, 256, (66, 70, 3), dtype=np.uint8) for _ in range(2))
    ref = interp.interpolate(a8.astype(np.float32) / 255, b8.astype(np.float32) / 255)
    a16, b16 = (x.astype(np.uint16) * 257 for x in (a8, b8))
    ta, tb = (torch.from_numpy(x).permute(2, 0, 1) for x in (a8, b8))
    for pair in ((a8, b8), (a16, b16), (ta, tb)):
        np.testing.assert_allclose(interp.interpolate(*pair), ref, atol=1e-6)


def test_to_tensor_and_to_numpy(interp):
    a = frames(1)[0]
    x = interp.to_tensor(a)
    assert x.shape == (1, 3, 70, 90) and x.dtype == torch.float32 and x.device == interp.device
    np.testing.assert_array_equal(interp.to_numpy(x), a)
    assert interp.to_numpy(x * 3).max() == 1.0


def test_to_tensor_grey_alpha_and_bad_arrays(interp):
    rgba = np.random.default_rng(4).integers(0, 256, (8, 9, 4), dtype=np.uint8)
    np.testing.assert_array_equal(interp.to_numpy(interp.to_tensor(rgba)), rgba[..., :3] / np.float32(255))
    grey = interp.to_numpy(interp.to_tensor(np.full((8, 9), 0.25, np.float32)))
    assert grey.shape == (8, 9, 3) and np.all(grey == 0.25)
    assert interp.to_tensor(np.full((8, 9, 3), 7.0)).max() == 1.0  # floats are clipped to [0, 1]
    for bad in (np.full((8, 9, 3), np.nan), np.zeros((8, 9, 3), np.int32), np.zeros((8, 9, 2))):
        with pytest.raises(InputError):
            interp.to_tensor(bad)


def test_iter_sequence_streams_from_a_generator(interp):
    inputs = frames(3, 64, 64)
    it = interp.iter_sequence((f for f in inputs), multi=2)
    assert iter(it) is it
    first = next(it)
    np.testing.assert_array_equal(first, inputs[0])
    assert len(list(it)) == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"exp": 1, "multi": 2}, "exactly one"), ({}, "exactly one"), ({"exp": -1}, "exp"),
    ({"multi": 0}, "multi"), ({"exp": 1.5}, "exp"),
])
def test_sequence_refuses_bad_schedules(interp, kwargs, match):
    with pytest.raises(InputError, match=match):
        interp.iter_sequence(frames(2, 64, 64), **kwargs)


def test_refuses_mismatched_sizes_and_too_few_frames(interp):
    a = frames(1, 64, 64)[0]
    b = frames(1, 64, 72)[0]
    with pytest.raises(InputError, match="72x64"):
        interp.interpolate(a, b)
    with pytest.raises(InputError, match="frame 2"):
        interp.sequence([a, a, b], exp=1)
    with pytest.raises(InputError, match="at least 2"):
        interp.sequence([a], exp=1)
    with pytest.raises(InputError, match="t must be"):
        interp.interpolate(a, a, 1.5)


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_supports_bf16() else "fp32")
    assert resolve_precision("fp16", cpu) == "fp16"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    with pytest.raises(InputError, match="precision"):
        resolve_precision("fp64", cpu)
    assert use_channels_last(cpu, "bf16") and not use_channels_last(cpu, "fp32")
    assert not use_channels_last(torch.device("cuda"), "fp16")


def test_bf16_is_close_to_fp32():
    model = tiny_model()
    a, b = frames(2, 64, 64)
    ref = Interpolator(tiny_model(), precision="fp32", pyramid_levels=7, padding="zeros").interpolate(a, b)
    fast = Interpolator(model, precision="bf16", pyramid_levels=7, padding="zeros")
    assert fast.precision == "bf16" and fast.channels_last
    out = fast.interpolate(a, b)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert 0 < np.abs(out - ref).max() < 0.03


def test_weights_from_path_match_module(tmp_path, model, interp):
    from filmnet.weights import save_model

    path = save_model(model, tmp_path / "tiny.safetensors")
    a, b = frames(2, 64, 64)
    from_file = Interpolator(path, precision="fp32", pyramid_levels=7, padding="zeros")
    np.testing.assert_allclose(from_file.interpolate(a, b), interp.interpolate(a, b), atol=1e-6)


def test_unknown_device_is_refused(model):
    with pytest.raises(InputError, match="device"):
        Interpolator(model, device="gpu0")


def test_read_only_arrays_from_pil_need_no_copy_by_the_caller_and_raise_no_warning():
    """`np.asarray(PIL.Image)` is read-only; torch warns on such arrays unless the runner copies them."""
    import warnings

    from PIL import Image

    frame = np.asarray(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    assert not frame.flags.writeable
    interp = Interpolator(tiny_model(), precision="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = interp.to_tensor(frame)
    assert torch.equal(x, interp.to_tensor(frame.copy()))
