"""Weight formats: key namings, TorchScript (restricted reader), ComfyUI, native and plain safetensors, conversion."""
from __future__ import annotations

import csv
import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from filmnet.errors import WeightsError
from filmnet.model import FILM, FILMConfig, get_config
from filmnet.weights import convert, detect_format, infer_config, load_model, normalize_keys, save_model
from filmnet.weights.keys import COMFYUI, DAJES_V100, FILMNET, from_filmnet
from helpers import plain_tiny, rand_frames, save_dajes_torchscript

TINY = get_config("film_tiny")


@pytest.fixture(scope="module")
def tiny() -> FILM:
    return plain_tiny()


@pytest.fixture(scope="module")
def frames() -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(rand_frames(2, 64, 64, seed=1))


def _image(model: FILM, frames) -> torch.Tensor:
    with torch.no_grad():
        return model(*frames, 0.5).image


def _rounded(model: FILM, dtype: torch.dtype) -> FILM:
    """A copy of `model` whose weights went through `dtype` and back to fp32."""
    copy = FILM(model.config).eval()
    copy.load_state_dict({k: v.to(dtype).float() for k, v in model.state_dict().items()})
    return copy


def _write_torchscript(model: FILM, path: Path, naming: str, dtype: torch.dtype) -> Path:
    save_dajes_torchscript(from_filmnet({k: v.to(dtype) for k, v in model.state_dict().items()}, naming), path)
    return path


# ------------------------------------------------------------------ key namings


@pytest.mark.parametrize("naming", [FILMNET, DAJES_V100, COMFYUI])
def test_normalize_keys_roundtrip(tiny, naming):
    ours = tiny.state_dict()
    foreign = from_filmnet(ours, naming)
    back, detected = normalize_keys(foreign)
    assert detected == naming
    assert list(back) == list(ours)
    changed = sum(a != b for a, b in zip(foreign, ours))
    assert changed == {FILMNET: 0, DAJES_V100: 16, COMFYUI: 80}[naming]


def test_v100_and_comfy_marker_keys(tiny):
    v100 = from_filmnet(tiny.state_dict(), DAJES_V100)
    for key in ["predict_flow._predictor._convs.4.weight", "predict_flow._predictors.0._convs.4.bias",
                "fuse.convs.3.0.weight", "predict_flow._predictors.0._convs.3.0.weight", "fuse.convs.0.1.0.weight"]:
        assert key in v100
    comfy = from_filmnet(tiny.state_dict(), COMFYUI)
    for key in ["extract.extract_sublevels.convs.0.0.conv.weight", "fuse.output_conv.weight",
                "predict_flow._predictors.0._convs.4.conv.weight", "fuse.convs.0.0.conv.weight"]:
        assert key in comfy


def test_namings_match_variables_tsv(real_metadata_dir):
    with open(real_metadata_dir / "VARIABLES.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert len(rows) == 82
    ours = [r["torch_key_dajes_v1.0.2+"] for r in rows]
    for column, naming in [("torch_key_dajes_v1.0.0_and_comfyui_film_arch", DAJES_V100),
                           ("torch_key_comfy_native_safetensors", COMFYUI)]:
        foreign = [r[column] for r in rows]
        back, detected = normalize_keys(dict.fromkeys(foreign, None))
        assert detected == naming and list(back) == ours
        assert list(from_filmnet(dict.fromkeys(ours, None), naming)) == foreign


# ------------------------------------------------------------------ config inference


def test_infer_config_tiny_and_film_net(tiny):
    assert infer_config(tiny.state_dict()) == TINY
    with torch.device("meta"):
        big = FILM("film_net")
    assert infer_config(big.state_dict()) == get_config("film_net")


def test_infer_config_unusual_shapes():
    config = FILMConfig(pyramid_levels=5, fusion_pyramid_levels=4, specialized_levels=2, sub_levels=3,
                        filters=2, flow_convs=(1, 2, 4), flow_filters=(2, 6, 4))
    with torch.device("meta"):
        state = FILM(config).state_dict()
    assert infer_config(state, pyramid_levels=5) == config
    assert infer_config(state).pyramid_levels == 7  # not visible in shapes: default


def test_infer_config_refuses_non_film():
    with pytest.raises(WeightsError, match="does not look like a FILM"):
        infer_config({"encoder.weight": torch.zeros(2, 2)})


# ------------------------------------------------------------------ TorchScript


@pytest.mark.parametrize("naming", [DAJES_V100, FILMNET])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_torchscript_roundtrip(tmp_path, tiny, frames, naming, dtype, monkeypatch):
    path = _write_torchscript(tiny, tmp_path / "film_net.pt", naming, dtype)
    names = zipfile.ZipFile(path).namelist()
    top = names[0].split("/")[0]
    assert {f"{top}/data.pkl", f"{top}/constants.pkl", f"{top}/data/0"} <= set(names)
    assert any(n.startswith(f"{top}/code/") for n in names)
    assert detect_format(path) == "torchscript"

    def forbidden(*args, **kwargs):
        raise AssertionError("archive code or pickles must not be loaded by torch")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    model = load_model(path)
    assert model.config == TINY and not model.training
    assert torch.equal(_image(model, frames), _image(_rounded(tiny, dtype), frames))
    if dtype == torch.float16:
        assert torch.allclose(_image(model, frames), _image(tiny, frames), atol=2e-2)


def _malicious_archive(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/constants.pkl", pickle.dumps(()))
        zf.writestr("archive/code/__torch__/evil.py", "def forward(self): pass\n")
        zf.writestr("archive/data/0", b"\0" * 16)
        zf.writestr("archive/version", "3\n")
    return path


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "nested"])
def test_malicious_torchscript_refused(tmp_path, target):
    sentinel = tmp_path / "pwned"
    module, name = ("os", "system") if target == "os.system" else ("builtins", "eval")
    arg = f"touch {sentinel}" if target == "os.system" else f"open({str(sentinel)!r}, 'w')"
    call = b"c" + f"{module}\n{name}\n".encode() + b"(X" + len(arg).to_bytes(4, "little") + arg.encode() + b"tR"
    if target == "nested":  # hidden inside a __torch__ module's attribute dict
        call = (b"c__torch__.interpolator\nInterpolator\n)\x81}(X\x08\x00\x00\x00training\x88X\x01\x00\x00\x00x"
                + call + b"ub")
    payload = b"\x80\x02" + call + b"."
    path = _malicious_archive(tmp_path / "evil.pt", payload)
    assert detect_format(path) == "torchscript"
    with pytest.raises(WeightsError, match=rf"refusing to load.*{module}\.{name}"):
        load_model(path)
    assert not sentinel.exists()


def test_malicious_payload_really_executes_when_unpickled(tmp_path):
    """Guards the test above: the same payload does run under an unrestricted unpickler."""
    sentinel = tmp_path / "pwned"
    arg = f"open({str(sentinel)!r}, 'w').close()"
    payload = b"\x80\x02cbuiltins\nexec\n(X" + len(arg).to_bytes(4, "little") + arg.encode() + b"tR."
    pickle.loads(payload)
    assert sentinel.exists()


def test_plain_torch_state_dict_zip(tmp_path, tiny, frames):
    path = tmp_path / "state.pt"
    torch.save(from_filmnet(tiny.state_dict(), DAJES_V100), path)
    assert detect_format(path) == "torch"
    assert torch.equal(_image(load_model(path), frames), _image(tiny, frames))


# ------------------------------------------------------------------ safetensors


def test_comfyui_fp16(tmp_path, tiny, frames):
    path = tmp_path / "film_net_fp16.safetensors"
    save_file({k: v.half() for k, v in from_filmnet(tiny.state_dict(), COMFYUI).items()}, path)
    assert detect_format(path) == "comfyui"
    model = load_model(path)
    assert model.config == TINY
    assert torch.equal(_image(model, frames), _image(_rounded(tiny, torch.float16), frames))


def test_native_roundtrip_keeps_config(tmp_path, frames):
    config = FILMConfig(pyramid_levels=6, filters=4, flow_filters=(4, 4, 8, 8))  # 6 levels: not inferable
    torch.manual_seed(3)
    model = FILM(config).eval()
    path = save_model(model, tmp_path / "m.safetensors", metadata={"note": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left
    assert detect_format(path) == "filmnet"
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "filmnet" and meta["note"] == "x"
    assert FILMConfig.from_dict(json.loads(meta["config"])) == config
    loaded = load_model(path)
    assert loaded.config == config
    assert torch.equal(_image(loaded, frames), _image(model, frames))


def test_plain_safetensors_infers_config(tmp_path, tiny, frames):
    path = tmp_path / "plain.safetensors"
    save_file(tiny.state_dict(), path)
    assert detect_format(path) == "safetensors"
    assert torch.equal(_image(load_model(path), frames), _image(tiny, frames))
    save_file(tiny.state_dict(), path, metadata={"pyramid_levels": "6"})
    assert load_model(path).config.pyramid_levels == 6


def test_dtype_and_eval(tmp_path, tiny):
    path = save_model(tiny, tmp_path / "m.safetensors")
    model = load_model(path, dtype=torch.float16)
    assert not model.training
    assert {p.dtype for p in model.parameters()} == {torch.float16}
    assert all(p.device.type == "cpu" for p in model.parameters())


# ------------------------------------------------------------------ refusals


def test_missing_and_unknown(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "weights.pt"
    junk.write_bytes(b"\x00garbage" * 20)
    with pytest.raises(WeightsError, match="unknown weights format.*savedmodel.*torchscript") as e:
        load_model(junk)
    assert "comfyui" in str(e.value)
    (tmp_path / "folder").mkdir()
    with pytest.raises(WeightsError, match="not a SavedModel"):
        detect_format(tmp_path / "folder")


def test_truncated_files(tmp_path, tiny):
    native = save_model(tiny, tmp_path / "m.safetensors")
    data = native.read_bytes()
    for cut in (len(data) - 100, 20):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        with pytest.raises(WeightsError, match="truncated"):
            load_model(tmp_path / "cut.safetensors")
    ts = _write_torchscript(tiny, tmp_path / "t.pt", FILMNET, torch.float32).read_bytes()
    (tmp_path / "cut.pt").write_bytes(ts[: len(ts) // 2])
    with pytest.raises(WeightsError, match="truncated"):
        load_model(tmp_path / "cut.pt")


def test_film_net_shaped_mismatch_names_tensor():
    with torch.device("meta"):
        state = FILM("film_net").state_dict()
    state["fuse.convs.1.1.0.weight"] = torch.empty(256, 1000, 3, 3, device="meta")
    with pytest.raises(WeightsError, match=r"fuse\.convs\.1\.1\.0\.weight: file \[256, 1000, 3, 3\] vs model "
                                           r"\[256, 1162, 3, 3\]"):
        load_model(state, config="film_net")


def test_wrong_config_reports_missing_and_unexpected(tmp_path, tiny):
    path = tmp_path / "m.safetensors"
    state = dict(tiny.state_dict())
    state["extra.weight"] = torch.zeros(1)
    del state["fuse.output_conv.bias"]
    save_file(state, path)
    with pytest.raises(WeightsError, match=r"1 missing keys \(first: fuse\.output_conv\.bias\).*"
                                           r"1 unexpected keys \(first: extra\.weight\)"):
        load_model(path, config=TINY)
    with pytest.raises(WeightsError, match="first shape mismatch"):
        load_model(save_model(tiny, tmp_path / "t.safetensors"), config="film_net")


# ------------------------------------------------------------------ convert


def test_convert_torchscript_to_native(tmp_path, tiny, frames):
    src = _write_torchscript(tiny, tmp_path / "film_net_fp32.pt", DAJES_V100, torch.float32)
    dst = convert(src, tmp_path / "film_net.safetensors")
    assert detect_format(dst) == "filmnet"
    assert set(load_file(dst)) == set(tiny.state_dict())
    assert torch.equal(_image(load_model(dst), frames), _image(tiny, frames))
    with pytest.raises(WeightsError, match="already exists"):
        convert(src, dst)
    convert(src, dst, overwrite=True)
    with pytest.raises(WeightsError, match="is the input"):
        convert(dst, dst, overwrite=True)
    with pytest.raises(WeightsError, match="not found"):
        convert(tmp_path / "missing.pt", tmp_path / "o.safetensors")
    assert src.read_bytes()[:2] == b"PK"  # input untouched


def test_torch_zip_with_pickle_payload_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\n(X\x04\x00\x00\x00truetR.")
        zf.writestr("archive/version", "3\n")
    path = tmp_path / "state.pt"
    path.write_bytes(buf.getvalue())
    assert detect_format(path) == "torch"
    with pytest.raises(WeightsError, match="safely"):
        load_model(path)


class _FlowHead(nn.Module):
    """dajes v1.0.0-style modules: Sequential(Conv2d, LeakyReLU) with activation, bare Conv2d without."""

    def __init__(self) -> None:
        super().__init__()
        self._convs = nn.ModuleList([nn.Sequential(nn.Conv2d(8, 4, 3, padding="same"), nn.LeakyReLU(0.2)),
                                     nn.Conv2d(4, 2, 1, padding="same")])
        self.levels = [1, 2, 3]
        self.scale = 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self._convs:
            x = conv(x)
        return x


def test_torchscript_real_module_types(tmp_path):
    from filmnet.weights.torchscript import read_torchscript

    head = _FlowHead()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(head).half().save(str(tmp_path / "head.pt"))
    tensors, scalars = read_torchscript(tmp_path / "head.pt")
    expected = {k: v.half() for k, v in head.state_dict().items()}
    assert list(tensors) == list(expected)
    assert list(tensors) == ["_convs.0.0.weight", "_convs.0.0.bias", "_convs.1.weight", "_convs.1.bias"]
    assert all(torch.equal(tensors[k], expected[k]) for k in expected)
    assert scalars["scale"] == 0.5
