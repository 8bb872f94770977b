"""The FlowSource factory: names, "auto" from the weights' metadata, and the fallback when OpenCV is missing."""
import logging
import sys

import pytest

import filmnet
from filmnet.flows import DisFlows, FlowSource, HybridFlows, OwnFlows, flow_source_for, get_flow_source
from helpers import tiny_model

DIS_META = {"flow": "dis", "warp_mix": "0.25"}
HYBRID_META = {"flow": "hybrid", "warp_mix": "0.25"}


@pytest.fixture
def no_cv2(monkeypatch):
    """Simulate a machine without OpenCV: `import cv2` raises ImportError."""
    monkeypatch.setitem(sys.modules, "cv2", None)


def test_names_give_their_sources():
    pytest.importorskip("cv2")
    assert isinstance(get_flow_source("model"), OwnFlows)
    assert type(get_flow_source("dis")) is DisFlows and type(get_flow_source("hybrid")) is HybridFlows
    assert [get_flow_source(n).name for n in ("model", "dis", "hybrid")] == ["model", "dis", "hybrid"]
    assert get_flow_source("dis", warp_mix=0.3).warp_mix == 0.3
    assert get_flow_source("model", warp_mix=0.3).warp_mix == 0.0  # the model's own flows apply no mix
    source = HybridFlows(0.25)
    assert get_flow_source(source) is source and source.describe() == "hybrid flows, warp mix 0.25"
    assert isinstance(source, FlowSource) and source.uses_dis and not OwnFlows().uses_dis
    with pytest.raises(filmnet.InputError, match="unknown flow source 'raft'"):
        get_flow_source("raft")
    with pytest.raises(filmnet.InputError, match=r"warp_mix is a share in \[0, 1\]"):
        get_flow_source("dis", warp_mix=1.5)


def test_auto_follows_the_metadata():
    pytest.importorskip("cv2")
    assert get_flow_source("auto") == OwnFlows() and get_flow_source("auto", {}) == OwnFlows()
    assert get_flow_source("auto", DIS_META) == DisFlows(0.25)
    assert get_flow_source("auto", HYBRID_META) == HybridFlows(0.25)
    assert get_flow_source("auto", HYBRID_META, warp_mix=0.0) == HybridFlows(0.0)
    assert get_flow_source("dis", DIS_META) == DisFlows(0.25)  # an explicit name still takes the file's share
    with pytest.raises(filmnet.InputError, match="flow='sideways'"):
        get_flow_source("auto", {"flow": "sideways"}, source="x.safetensors")
    with pytest.raises(filmnet.InputError, match="x.safetensors: metadata warp_mix='half'"):
        get_flow_source("auto", {"warp_mix": "half"}, source="x.safetensors")


def test_auto_without_opencv_falls_back_to_the_models_own_flows_with_a_note(no_cv2, caplog):
    with caplog.at_level(logging.WARNING, logger="filmnet.flows.factory"):
        source = get_flow_source("auto", HYBRID_META, source="film_lite.safetensors")
    assert source == OwnFlows() and source.warp_mix == 0.0
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "film_lite.safetensors" in notes[0] and 'pip install "filmnet[dis]"' in notes[0]
    with caplog.at_level(logging.WARNING, logger="filmnet.flows.factory"):
        assert get_flow_source("auto", {}) == OwnFlows()  # nothing asked for DIS: no note
    assert len(caplog.records) == 1


@pytest.mark.parametrize("name", ["dis", "hybrid"])
def test_explicit_dis_without_opencv_is_a_one_line_error(no_cv2, name):
    with pytest.raises(filmnet.InputError) as err:
        get_flow_source(name)
    message = str(err.value)
    assert "\n" not in message and 'pip install "filmnet[dis]"' in message
    with pytest.raises(filmnet.InputError, match=r'pip install "filmnet\[dis\]"'):
        filmnet.Interpolator(tiny_model(), flow=name)


def test_interpolator_without_opencv_runs_the_bundled_model_on_its_own_flows(no_cv2):
    interp = filmnet.Interpolator()  # film_lite's metadata asks for hybrid
    assert interp.flow == "model" and interp.flow_source == OwnFlows() and interp.warp_mix == 0.0


def test_cli_without_opencv_names_the_extra(no_cv2, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from filmnet.cli import main

    frames = []
    for k in range(2):
        path = tmp_path / f"{k}.png"
        Image.fromarray(np.full((64, 64, 3), 40 * k, np.uint8)).save(path)
        frames.append(str(path))
    assert main(["interpolate", *frames, "--exp", "1", "-o", str(tmp_path / "out"), "--flow", "dis"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:") and 'pip install "filmnet[dis]"' in err


def test_interpolator_takes_the_weights_metadata(tmp_path):
    pytest.importorskip("cv2")
    asks = filmnet.save_model(tiny_model(), tmp_path / "asks.safetensors", metadata=HYBRID_META)
    assert flow_source_for(asks) == HybridFlows(0.25)
    assert flow_source_for(asks, "model") == OwnFlows()
    assert flow_source_for(tiny_model()) == OwnFlows()  # a module carries no metadata
    interp = filmnet.Interpolator(asks, flow=DisFlows(0.5))  # a FlowSource is used as is
    assert interp.flow == "dis" and interp.warp_mix == 0.5
