"""The bundled default model (src/filmnet/assets/film_lite.safetensors) and `filmnet demo` with it."""
from importlib import resources

import pytest
import torch

import filmnet
from filmnet.cli import main


def test_bundled_weights_load_as_film_lite():
    asset = resources.files("filmnet") / "assets" / "film_lite.safetensors"
    assert asset.is_file(), "the package must ship filmnet/assets/film_lite.safetensors"
    assert asset.stat().st_size <= 15 * 2**20
    model = filmnet.load_model()
    assert model.config == filmnet.CONFIGS["film_lite"] and not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    interp = filmnet.Interpolator()  # no argument: the same bundled model
    assert interp.model.config == filmnet.CONFIGS["film_lite"]


def test_demo_with_bundled_model_writes_decodable_mp4(tmp_path, capsys):
    av = pytest.importorskip("av")
    code = main(["demo", "-o", str(tmp_path / "demo"), "--exp", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    mp4 = next((tmp_path / "demo").glob("*.mp4"))
    assert str(mp4) in out
    with av.open(str(mp4)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 2**2 + 1
    assert frames[0].shape == (360, 640, 3)
    assert next((tmp_path / "demo").glob("*.gif")).stat().st_size > 0
