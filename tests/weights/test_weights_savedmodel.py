"""TF SavedModel / TensorBundle reader: golden tiny SavedModel, real official metadata, synthetic bundles, errors."""
import csv
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import filmnet
from filmnet.errors import ChecksumError, WeightsError
from filmnet.weights.savedmodel import (
    infer_layer_counts,
    read_savedmodel,
    resolve_paths,
    savedmodel_state_dict,
)
from filmnet.weights.tf_bundle import TensorBundle, masked_crc32c, proto

DATA_NAME = "variables.data-00000-of-00001"
REAL_DATA_SIZE = 137_784_604  # implied by Style's index; see test_real_metadata for L1/VGG


def make_savedmodel(root: Path, index: Path, data: Path | None, pb: Path | None) -> Path:
    """A SavedModel-shaped folder (root/saved_model.pb, root/variables/variables.{index,data}) of copies."""
    (root / "variables").mkdir(parents=True)
    shutil.copy(index, root / "variables" / "variables.index")
    if data is not None:
        shutil.copy(data, root / "variables" / DATA_NAME)
    if pb is not None:
        shutil.copy(pb, root / "saved_model.pb")
    return root


def assert_equals_weights_npz(arrays: dict, tiny: Path) -> None:
    expected = np.load(tiny / "weights.npz")
    assert sorted(arrays) == sorted(expected.files) and len(arrays) == 82
    for name in expected.files:
        assert arrays[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(arrays[name], expected[name], err_msg=name)


@pytest.fixture
def tiny(fixtures_dir: Path) -> Path:
    return fixtures_dir / "tiny"


@pytest.fixture
def snappy_spy(monkeypatch):
    """Counts calls of cramjam's raw Snappy decoder, to prove a Snappy block was decoded."""
    import cramjam

    calls = []
    real = cramjam.snappy.decompress_raw
    monkeypatch.setattr(cramjam.snappy, "decompress_raw", lambda b: calls.append(len(b)) or real(b))
    return calls


# ------------------------------------------------------------------ tiny golden SavedModel
@pytest.mark.parametrize("form", ["folder", "variables_dir", "index_file", "prefix"])
def test_tiny_savedmodel_equals_weights_npz(tiny, form):
    sm = tiny / "saved_model"
    path = {
        "folder": sm,
        "variables_dir": sm / "variables",
        "index_file": sm / "variables" / "variables.index",
        "prefix": sm / "variables" / "variables",
    }[form]
    assert resolve_paths(path) == (sm / "variables" / "variables", sm / "saved_model.pb")
    assert_equals_weights_npz(read_savedmodel(path), tiny)


def test_tiny_uncompressed_index_needs_no_snappy(tiny, snappy_spy):
    read_savedmodel(tiny / "saved_model")
    assert snappy_spy == []


def test_snappy_index_with_saved_model_pb(tiny, tmp_path, snappy_spy):
    root = make_savedmodel(tmp_path / "sm", tiny / "variables_snappy" / "variables.index",
                           tiny / "saved_model" / "variables" / DATA_NAME, tiny / "saved_model" / "saved_model.pb")
    assert resolve_paths(root)[1] == root / "saved_model.pb"
    assert_equals_weights_npz(read_savedmodel(root), tiny)
    assert len(snappy_spy) == 1


def test_snappy_index_names_from_object_graph(tiny, tmp_path, snappy_spy):
    root = make_savedmodel(tmp_path / "sm", tiny / "variables_snappy" / "variables.index",
                           tiny / "saved_model" / "variables" / DATA_NAME, None)
    assert resolve_paths(root / "variables")[1] is None  # so names must come from _CHECKPOINTABLE_OBJECT_GRAPH
    assert_equals_weights_npz(read_savedmodel(root / "variables"), tiny)
    assert len(snappy_spy) == 1


def test_unverified_read_needs_no_crc32c_module(tiny, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "google_crc32c", None)  # as on the training box
    assert_equals_weights_npz(read_savedmodel(tiny / "saved_model", verify_checksums=False), tiny)
    with pytest.raises(ImportError):
        read_savedmodel(tiny / "saved_model")


def test_tiny_state_dict_loads_strict_with_oihw_kernels(tiny):
    state = savedmodel_state_dict(tiny / "saved_model")
    model = filmnet.FILM("film_tiny")
    model.load_state_dict(state, strict=True)
    w = np.load(tiny / "weights.npz")
    got = model.state_dict()
    np.testing.assert_array_equal(got["predict_flow._predictors.2._convs.0.0.weight"].numpy(),
                                  w["predict_flow/flow_predictor_0/conv_0/kernel"].transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(got["fuse.convs.3.0.0.bias"].numpy(), w["fusion/conv2d/bias"])
    np.testing.assert_array_equal(got["fuse.output_conv.weight"].numpy(),
                                  w["fusion/conv2d_12/kernel"].transpose(3, 2, 0, 1))


def test_layer_counts_inferred_and_overridable(tiny):
    names = list(np.load(tiny / "weights.npz").files)
    assert tuple(infer_layer_counts(names)) == (3, 5)
    with pytest.raises(WeightsError, match="structure"):
        infer_layer_counts([n for n in names if n != "fusion/conv2d_12/kernel" and n != "fusion/conv2d_12/bias"])
    state = savedmodel_state_dict(tiny / "saved_model", specialized_levels=3, fusion_pyramid_levels=5)
    assert "fuse.output_conv.weight" in state
    with pytest.raises(WeightsError, match=r"fusion/conv2d_1[0-2]/kernel: no such fusion conv with fusion_pyramid_levels=4"):
        savedmodel_state_dict(tiny / "saved_model", specialized_levels=3, fusion_pyramid_levels=4)
    with pytest.raises(WeightsError, match="flow_predictor_2/.*specialized_levels=2"):
        savedmodel_state_dict(tiny / "saved_model", specialized_levels=2, fusion_pyramid_levels=5)


# ------------------------------------------------------------------ real official metadata (sparse data file)
@pytest.mark.parametrize("variant", ["Style", "L1", "VGG"])
def test_real_metadata_resolves_onto_film_net(real_metadata_dir, tmp_path, snappy_spy, variant):
    """Real index + Style's saved_model.pb (names) + a sparse all-zero data file.

    Names come from saved_model.pb for all three: L1/VGG ship no saved_model.pb, and the object graph inside
    a zero-filled stand-in is empty anyway. Note: the L1/VGG `_CHECKPOINTABLE_OBJECT_GRAPH` entries are
    larger (40436 / 40758 bytes) than Style's, so their data files are 137787104 / 137787426 bytes; a
    137784604-byte stand-in still holds every variable, and only variables are read when names come from the pb.
    """
    real = real_metadata_dir
    root = make_savedmodel(tmp_path / variant, real / variant / "variables" / "variables.index", None,
                           real / "Style" / "saved_model.pb")
    data = root / "variables" / DATA_NAME
    with open(data, "wb") as f:
        f.truncate(REAL_DATA_SIZE)
    assert data.stat().st_blocks * 512 < 1 << 20  # sparse: nothing allocated
    assert resolve_paths(root)[1] == root / "saved_model.pb"

    rows = list(csv.DictReader(open(real / "VARIABLES.tsv"), delimiter="\t"))
    arrays = read_savedmodel(root, verify_checksums=False)
    assert list(arrays) == [r["tf_var_name"] for r in rows]  # storage order == model.variables order
    assert [list(a.shape) for a in arrays.values()] == [json.loads(r["tf_shape(HWIO)"]) for r in rows]
    assert len(snappy_spy) >= 1  # the official index's data block is Snappy-compressed

    state = savedmodel_state_dict(root, verify_checksums=False)
    assert sorted(state) == sorted(r["torch_key_dajes_v1.0.2+"] for r in rows)
    model = filmnet.FILM("film_net")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state.items()} == expected
    model.load_state_dict(state, strict=True)


def test_real_metadata_without_names_says_so(real_metadata_dir, tmp_path):
    real = real_metadata_dir
    root = make_savedmodel(tmp_path / "sm", real / "Style" / "variables" / "variables.index", None, None)
    with open(root / "variables" / DATA_NAME, "wb") as f:
        f.truncate(REAL_DATA_SIZE)
    with pytest.raises(WeightsError, match="cannot resolve TF variable names.*saved_model.pb"):
        read_savedmodel(root, verify_checksums=False)


def test_real_metadata_checksums_fail_on_zero_stand_in(real_metadata_dir, tmp_path):
    real = real_metadata_dir
    root = make_savedmodel(tmp_path / "sm", real / "Style" / "variables" / "variables.index", None,
                           real / "Style" / "saved_model.pb")
    with open(root / "variables" / DATA_NAME, "wb") as f:
        f.truncate(REAL_DATA_SIZE)
    with pytest.raises(ChecksumError, match="variables/0/"):
        read_savedmodel(root)


# ------------------------------------------------------------------ errors on the tiny files
def test_missing_files(tiny, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="unknown layout"):
        read_savedmodel(tmp_path / "empty")
    (tmp_path / "sm" / "variables").mkdir(parents=True)
    with pytest.raises(WeightsError, match="index not found: .*variables.index"):
        read_savedmodel(tmp_path / "sm")
    with pytest.raises(WeightsError, match="index not found"):
        read_savedmodel(tmp_path / "nope.index")
    root = make_savedmodel(tmp_path / "nodata", tiny / "saved_model" / "variables" / "variables.index", None, None)
    with pytest.raises(WeightsError, match=f"shard not found: .*{DATA_NAME}"):
        read_savedmodel(root)


def test_truncated_data_file_names_first_missing_tensor(tiny, tmp_path):
    root = make_savedmodel(tmp_path / "sm", tiny / "saved_model" / "variables" / "variables.index",
                           tiny / "saved_model" / "variables" / DATA_NAME, tiny / "saved_model" / "saved_model.pb")
    sizes = [a.nbytes for a in np.load(tiny / "weights.npz").values()]  # weights.npz is in index order
    with open(root / "variables" / DATA_NAME, "r+b") as f:
        f.truncate(sum(sizes[:40]) + 1)  # variable 40 is cut after its first byte
    with pytest.raises(WeightsError, match=r"truncated.*'variables/40/\.ATTRIBUTES/VARIABLE_VALUE'"):
        read_savedmodel(root)


def test_checksum_mismatch_names_tensor(tiny, tmp_path):
    root = make_savedmodel(tmp_path / "sm", tiny / "saved_model" / "variables" / "variables.index",
                           tiny / "saved_model" / "variables" / DATA_NAME, tiny / "saved_model" / "saved_model.pb")
    weights = np.load(tiny / "weights.npz")
    offset = sum(a.nbytes for a in list(weights.values())[:5]) + 2  # a byte inside variable 5
    with open(root / "variables" / DATA_NAME, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0xFF]))
    with pytest.raises(ChecksumError, match=r"'variables/5/\.ATTRIBUTES/VARIABLE_VALUE'"):
        read_savedmodel(root)
    arrays = read_savedmodel(root, verify_checksums=False)
    changed = [n for n in weights.files if not np.array_equal(arrays[n], weights[n])]
    assert changed == ["feat_net/sub_extractor/cfeat_conv_2/bias"]


@pytest.mark.parametrize("which", ["data_block", "index_block_crc"])
def test_corrupted_index_block(tiny, tmp_path, which):
    index = bytearray((tiny / "saved_model" / "variables" / "variables.index").read_bytes())
    if which == "data_block":
        index[20] ^= 0x01
    else:  # last byte of the index block's trailer, just before the 48-byte footer
        index[len(index) - 48 - 1] ^= 0x01
    bad = tmp_path / "bad.index"
    bad.write_bytes(bytes(index))
    root = make_savedmodel(tmp_path / "sm", bad, tiny / "saved_model" / "variables" / DATA_NAME, None)
    with pytest.raises(ChecksumError, match="checksum mismatch in the table block"):
        read_savedmodel(root)


def test_bad_footer_magic(tmp_path):
    (tmp_path / "x.index").write_bytes(b"\0" * 64)
    with pytest.raises(WeightsError, match="magic"):
        TensorBundle.open(tmp_path / "x")


# ------------------------------------------------------------------ synthetic bundles (dtypes, TF1 names, rejects)
def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def _block(entries: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    return body + struct.pack("<II", 0, 1)  # one restart point at 0


def _with_trailer(block: bytes) -> bytes:
    return block + b"\0" + struct.pack("<I", masked_crc32c(block + b"\0"))


def write_bundle(prefix: Path, tensors: dict[str, tuple[int, tuple, bytes]], endianness: int = 0, **entry_extra):
    """Minimal TF bundle writer: key -> (DataType, shape, raw bytes); uncompressed blocks, one shard."""
    header = proto("BundleHeaderProto")(num_shards=1, endianness=endianness).SerializeToString()
    rows, data = [(b"", header)], b""
    for key, (dtype, shape, raw) in sorted(tensors.items()):
        e = proto("BundleEntryProto")(dtype=dtype, offset=len(data), size=len(raw), crc32c=masked_crc32c(raw),
                                      **entry_extra.get(key, {}))
        for n in shape:
            e.shape.dim.add(size=n)
        rows.append((key.encode(), e.SerializeToString()))
        data += raw
    data_block = _block(rows)
    index_block = _block([(b"\xff", _varint(0) + _varint(len(data_block)))])
    meta_block = _block([])
    buf = _with_trailer(data_block)
    index_at = len(buf)
    buf += _with_trailer(index_block)
    meta_at = len(buf)
    buf += _with_trailer(meta_block)
    handles = _varint(meta_at) + _varint(len(meta_block)) + _varint(index_at) + _varint(len(index_block))
    Path(f"{prefix}.index").write_bytes(buf + handles.ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)


def test_synthetic_dtypes_and_tf1_names(tmp_path):
    values = np.array([[1.5, -2.0, 0.15625], [3.0, -0.5, 8.0]], np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
    write_bundle(tmp_path / "ckpt", {
        "a/f32": (1, (2, 3), values.astype("<f4").tobytes()),
        "a/f64": (2, (2, 3), values.astype("<f8").tobytes()),
        "a/f16": (19, (2, 3), values.astype("<f2").tobytes()),
        "a/bf16": (14, (2, 3), bf16),
    })
    arrays = read_savedmodel(tmp_path / "ckpt")  # TF1 name-based: keys are the names
    assert sorted(arrays) == ["a/bf16", "a/f16", "a/f32", "a/f64"]
    assert arrays["a/f64"].dtype == np.float64 and arrays["a/f16"].dtype == np.float16
    for name, a in arrays.items():
        np.testing.assert_array_equal(a.astype(np.float32), values, err_msg=name)


@pytest.mark.parametrize("problem, match", [
    ("big_endian", "big-endian"),
    ("sliced", "partitioned"),
    ("dtype", "unsupported tensor dtype DT_COMPLEX64"),
    ("size", "do not hold"),
])
def test_synthetic_rejects(tmp_path, problem, match):
    raw = np.zeros(4, "<f4").tobytes()
    dtype, shape, extra = {"dtype": 8, "size": 1}.get(problem, 1), (5,) if problem == "size" else (4,), {}
    if problem == "sliced":
        extra = {"w": {"slices": [b""]}}
    write_bundle(tmp_path / "ckpt", {"w": (dtype, shape, raw)}, endianness=int(problem == "big_endian"), **extra)
    with pytest.raises(WeightsError, match=match):
        read_savedmodel(tmp_path / "ckpt.index")


def test_object_based_keys_without_names_fail_clearly(tmp_path):
    write_bundle(tmp_path / "ckpt", {"model/x/.ATTRIBUTES/VARIABLE_VALUE": (1, (1,), b"\0" * 4)})
    with pytest.raises(WeightsError, match="cannot resolve TF variable names for 1 checkpoint keys"):
        read_savedmodel(tmp_path / "ckpt")


def test_non_model_variables_are_ignored(tiny, tmp_path):
    w = np.load(tiny / "weights.npz")
    tensors = {n: (1, w[n].shape, w[n].astype("<f4").tobytes()) for n in w.files}
    tensors["save_counter"] = (9, (), np.int64(3).tobytes())
    tensors["Adam/iter"] = (9, (), np.int64(7).tobytes())
    write_bundle(tmp_path / "ckpt", tensors)
    state = savedmodel_state_dict(tmp_path / "ckpt")
    filmnet.FILM("film_tiny").load_state_dict(state, strict=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 for v in state.values())
