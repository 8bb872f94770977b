"""The pair runner (pad -> encode -> flows -> synthesize(times) -> crop): the Interpolator, tiles, video retiming and
eval's native-size path all give what the model computes when called directly."""
from fractions import Fraction

import numpy as np
import pytest
import torch

import filmnet
from filmnet.eval.evaluate import _native_size
from filmnet.inference import Interpolator, Padder
from filmnet.inference.pair import PairRunner
from filmnet.inference.tiling import interpolate_tiled_times
from helpers import rand_frames, tiny_model

H, W = 70, 90  # padded to 128 x 128


@pytest.fixture(scope="module")
def model():
    return tiny_model(3)


@pytest.fixture(scope="module")
def frames():
    return rand_frames(3, H, W, seed=5)


def direct(model, x0, x1, t, align=64):
    """The model called directly on centred zero-padded frames, cropped back."""
    padder = Padder(x0.shape[-2], x0.shape[-1], align)
    with torch.inference_mode():
        return padder.unpad(model(padder.pad(x0), padder.pad(x1), t).image)


def hwc(x: torch.Tensor) -> np.ndarray:
    return Interpolator.to_numpy(x)


def test_runner_is_the_model_called_directly(model, frames):
    x0, x1 = frames[:2]
    runner = PairRunner(model).sized(H, W, 64)
    got = runner.run(x0, x1, [0.25, 0.5])
    assert [tuple(y.shape) for y in got] == [(1, 3, H, W)] * 2 and got[0].dtype == torch.float32
    for y, t in zip(got, (0.25, 0.5)):
        assert torch.equal(y, direct(model, x0, x1, t))
    assert runner.run(x0, x1, []) == []


def test_interpolator_pairs_and_sequences_are_the_runners(model, frames):
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    a, b, c = frames
    assert np.array_equal(interp.interpolate(hwc(a), hwc(b), 0.3), hwc(direct(model, a, b, 0.3)))
    out = interp.sequence([hwc(x) for x in frames], multi=3)
    want = [hwc(a), *(hwc(direct(model, a, b, k / 3)) for k in (1, 2)),
            hwc(b), *(hwc(direct(model, b, c, k / 3)) for k in (1, 2)), hwc(c)]
    assert len(out) == len(want) == 7 and all(np.array_equal(x, y) for x, y in zip(out, want))


def test_each_frame_is_encoded_once(model, frames, monkeypatch):
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    calls = []
    original = type(model).encode
    monkeypatch.setattr(type(model), "encode", lambda self, x, levels=None: calls.append(1) or original(self, x, levels))
    out = interp.sequence([hwc(x) for x in frames], multi=4)
    assert len(out) == 9 and len(calls) == len(frames)  # 3 frames, 2 pairs, 6 new frames: 3 encodes


def test_tiles_run_the_runner_per_tile(model, frames):
    x0, x1 = frames[:2]
    runner = PairRunner(model)
    one_tile = interpolate_tiled_times(runner, x0, x1, [0.4], tile=(128, 128), overlap=64)[0]
    assert torch.equal(one_tile, direct(model, x0, x1, 0.4))  # one tile: the untiled computation
    tiled = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", tile=(64, 64), overlap=0)
    got = tiled.interpolate(hwc(x0), hwc(x1), 0.4)
    assert tiled.last_tiling is not None
    want = interpolate_tiled_times(model, x0, x1, [0.4], tile=(64, 64), overlap=0)[0]
    assert np.array_equal(got, hwc(want))
    # tiles see the whole frame's pyramids: the tiled frame is the untiled computation (up to float rounding)
    torch.testing.assert_close(want, direct(model, x0, x1, 0.4), atol=1e-5, rtol=0)


def test_video_frames_are_the_runners(model, tmp_path):
    av = pytest.importorskip("av")
    from filmnet.inference.video import retime

    from PIL import Image

    small = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(1))
    smooth = torch.nn.functional.interpolate(small, size=(64, 110), mode="bilinear", align_corners=False)
    images = [(hwc(smooth[..., 4 * k:4 * k + 96]) * 255 + 0.5).astype(np.uint8) for k in range(3)]  # a pan
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{k:06d}.png")
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    result = retime(folder, tmp_path / "out", interpolator=interp, multi=2, in_fps=Fraction(10))
    assert result.scene_cuts == 0
    got = [np.asarray(Image.open(p)) for p in sorted(result.output.glob("*.png"))]
    x = [interp.to_tensor(image) for image in images]
    for k in range(2):
        assert np.array_equal(got[2 * k], images[k])
        want = (hwc(direct(model, x[k], x[k + 1], 0.5)) * 255.0 + 0.5).astype(np.uint8)
        assert np.array_equal(got[2 * k + 1], want) and not np.array_equal(want, images[k])
    assert av is not None


def test_eval_native_size_is_the_unpadded_runner(model, frames):
    interp = Interpolator(model, precision="fp32", pyramid_levels=7, padding="zeros", max_memory=None)
    x0, x1 = (torch.nn.functional.interpolate(x, size=(128, 192)) for x in frames[:2])  # the model's own size
    got = _native_size(interp, hwc(x0), hwc(x1))
    with torch.inference_mode():
        want = model(x0, x1, 0.5).image
    assert np.array_equal(got, hwc(want))
    odd = (torch.rand(1, 3, 100, 140), torch.rand(1, 3, 100, 140))  # no padding at all on the native path
    with torch.inference_mode():
        assert np.array_equal(_native_size(interp, hwc(odd[0]), hwc(odd[1])), hwc(model(*odd, 0.5).image))


def test_options_and_defaults():
    from filmnet.inference.memory import TilingOptions

    interp = Interpolator(tiny_model(), tiling=TilingOptions(max_memory=None, tile=(128, 128), overlap=64))
    assert (interp.max_memory, interp.tile, interp.overlap) == (None, (128, 128), 64)
    assert Interpolator(tiny_model(), max_memory="1GiB", tile=(128, 128), overlap=64).tiling_options == \
        TilingOptions(max_memory=1 << 30, tile=(128, 128), overlap=64)
    assert Interpolator(tiny_model()).precision == filmnet.inference.resolve_precision("auto", torch.device("cpu"))
    with pytest.raises(TypeError, match="tiling=TilingOptions"):
        Interpolator(tiny_model(), tiling=TilingOptions(), tile=(128, 128))
    with pytest.raises(TypeError, match="unexpected keyword arguments: tiles"):
        Interpolator(tiny_model(), tiles=(128, 128))
    with pytest.raises(filmnet.InputError, match="multiples of 64"):
        Interpolator(tiny_model(), tiling=TilingOptions(tile=(100, 100), overlap=0))
