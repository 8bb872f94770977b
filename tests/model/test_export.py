"""ONNX export: one file, exported at one size, matches PyTorch under onnxruntime at other sizes and batches."""
import numpy as np
import pytest
import torch

import filmnet
from filmnet.errors import InputError
from filmnet.export import ImageOnly, export_onnx
from helpers import plain_tiny

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")


@pytest.fixture(scope="module")
def tiny():
    return plain_tiny()


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    path = export_onnx(tiny, folder / "film_tiny.onnx", example_size=(128, 128))
    return path


def test_export_writes_one_file_with_dynamic_axes(exported):
    assert [p.name for p in exported.parent.iterdir()] == ["film_tiny.onnx"]  # no temp file left behind
    graph = onnx.load(str(exported)).graph
    assert [i.name for i in graph.input] == ["x0", "x1", "time"] and [o.name for o in graph.output] == ["image"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]


@pytest.mark.parametrize("batch, height, width", [(1, 64, 64), (2, 128, 192), (1, 100, 130)])
def test_onnxruntime_matches_pytorch_at_other_sizes(tiny, exported, batch, height, width):
    g = torch.Generator().manual_seed(height * width)
    x0, x1 = torch.rand(batch, 3, height, width, generator=g), torch.rand(batch, 3, height, width, generator=g)
    time = torch.linspace(0.25, 0.75, batch).reshape(batch, 1)
    with torch.no_grad():
        expected = ImageOnly(tiny)(x0, x1, time).numpy()
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    (image,) = session.run(None, {"x0": x0.numpy(), "x1": x1.numpy(), "time": time.numpy()})
    assert image.shape == (batch, 3, height, width)
    np.testing.assert_allclose(image, expected, atol=1e-4, rtol=0)


def test_in_graph_padding_is_the_padder_path(tiny):
    from filmnet.inference.padding import Padder

    x0, x1 = torch.rand(1, 3, 100, 130), torch.rand(1, 3, 100, 130)
    padder = Padder(100, 130, 64)
    with torch.no_grad():
        expected = padder.unpad(tiny(padder.pad(x0), padder.pad(x1), 0.5).image)
        assert torch.equal(ImageOnly(tiny)(x0, x1, torch.full((1, 1), 0.5)), expected)


def test_export_refuses_old_opset_and_half_models(tiny, tmp_path):
    with pytest.raises(InputError, match="GridSample"):
        export_onnx(tiny, tmp_path / "a.onnx", opset=15)
    half = filmnet.FILM("film_tiny").half()
    with pytest.raises(InputError, match="float32 CPU model"):
        export_onnx(half, tmp_path / "b.onnx")
    assert not list(tmp_path.iterdir())
