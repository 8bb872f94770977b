"""filmnet.load_model on the official-format fixture, the bundled default, and SavedModel refusals."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from filmnet.errors import ChecksumError, WeightsError
from filmnet.model import FILM, get_config
from filmnet.weights import convert, detect_format, load_model
from filmnet.weights.tf_names import tf_name_to_key, tf_to_torch_array

TINY = get_config("film_tiny")


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(0, 3, 1, 2)


def test_savedmodel_fixture_loads_with_inferred_config(fixtures_dir):
    folder = fixtures_dir / "tiny" / "saved_model"
    assert detect_format(folder) == "savedmodel"
    model = load_model(folder)
    assert isinstance(model, FILM) and not model.training
    assert model.config == TINY  # inferred from shapes (pyramid_levels defaults to 7)
    weights = np.load(fixtures_dir / "tiny" / "weights.npz")
    state = model.state_dict()
    for name in weights.files:
        expected = torch.from_numpy(tf_to_torch_array(name, weights[name]))
        assert torch.equal(state[tf_name_to_key(name, TINY)], expected), name
    cases = np.load(fixtures_dir / "tiny" / "cases.npz")
    with torch.no_grad():
        out = model(_nchw(cases["case_a/x0"]), _nchw(cases["case_a/x1"]), 0.5)
    # The model matches TF within 1.2e-5 (film_spec); 1e-4 leaves room for BLAS order.
    assert torch.allclose(out.image, _nchw(cases["case_a/image"]), atol=1e-4)


def test_savedmodel_index_and_pb_paths(fixtures_dir):
    folder = fixtures_dir / "tiny" / "saved_model"
    for path in (folder / "variables" / "variables.index", folder / "saved_model.pb"):
        assert detect_format(path) == "savedmodel"
        assert load_model(path, config="film_tiny").config == TINY


def test_savedmodel_checksum_mismatch(fixtures_dir, tmp_path):
    src = fixtures_dir / "tiny" / "saved_model"
    dst = tmp_path / "saved_model"
    shutil.copytree(src, dst)
    data = dst / "variables" / "variables.data-00000-of-00001"
    data.chmod(0o644)
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF  # inside the first kernel
    data.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError):
        load_model(dst)
    assert load_model(dst, verify_checksums=False).config == TINY


def test_load_model_takes_paths_and_names_go_through_the_hub(tmp_path):
    with pytest.raises(WeightsError, match="model name, not a file.*hub.model_path"):
        load_model("film_net")
    with pytest.raises(WeightsError, match="resolve_weights"):
        load_model(None)


def test_convert_savedmodel(fixtures_dir, tmp_path):
    folder = fixtures_dir / "tiny" / "saved_model"
    dst = convert(folder, tmp_path / "film_tiny.safetensors")
    assert detect_format(dst) == "filmnet"
    a, b = load_model(folder).state_dict(), load_model(dst).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_default_weights_explain_how_to_get_weights(monkeypatch):
    import dataclasses

    from filmnet.weights import hub

    lite = dataclasses.replace(hub.MODELS["film_lite"], bundled="not_installed.safetensors")
    monkeypatch.setitem(hub.MODELS, "film_lite", lite)
    with pytest.raises(WeightsError) as e:
        load_model(hub.resolve_weights(None))  # offline (conftest), film_net not cached: the fallback is missing too
    message = str(e.value)
    for hint in ("not_installed.safetensors", "filmnet models pull film_net", "pretrained_models/film_net",
                 "saved_model", "filmnet convert", "--weights"):
        assert hint in message
