"""Rule 7 of issue 16: weights holding NaN or Inf are refused at load, naming the tensor."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import filmnet
from filmnet.weights.hub import resolve_weights
from filmnet.cli import main
from filmnet.errors import WeightsError


def poisoned(tmp_path: Path, value: float) -> tuple[Path, str]:
    torch.manual_seed(0)
    model = filmnet.FILM(filmnet.CONFIGS["film_tiny"])
    name = next(n for n, p in model.named_parameters() if p.ndim == 4)
    with torch.no_grad():
        dict(model.named_parameters())[name].view(-1)[3] = value
    return filmnet.save_model(model, tmp_path / "bad.safetensors"), name


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, value):
    path, name = poisoned(tmp_path, value)
    with pytest.raises(WeightsError, match=name.replace(".", r"\.")):
        filmnet.load_model(path)
    state = {k: v.clone() for k, v in filmnet.load_model(resolve_weights(None)).state_dict().items()}
    key = next(iter(state))
    state[key].view(-1)[0] = value
    with pytest.raises(WeightsError, match="NaN" if value != value else "Inf"):
        filmnet.load_model(state)


def test_cli_refuses_nan_weights_in_one_line(tmp_path, capsys):
    path, name = poisoned(tmp_path, float("nan"))
    images = [tmp_path / "a.png", tmp_path / "b.png"]
    for p in images:
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    for args in (["interpolate", *images, "--exp", 1, "-o", tmp_path / "out", "--weights", path],
                 ["convert", path, "-o", tmp_path / "c.safetensors"]):
        code = main([str(a) for a in args])
        _, err = capsys.readouterr()
        assert code == 1 and err.count("\n") == 1 and name in err and "NaN" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.safetensors").exists()
