"""Rule 10 of issue 16: every reader of untrusted bytes returns a valid result or raises filmnet's own error
(FilmError), never another exception, a hang or a huge allocation. Profiles: tests/conftest.py ("ci" by default,
HYPOTHESIS_PROFILE=dev for a long run)."""
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

from conftest import FIXTURES  # noqa: E402
from filmnet.errors import FilmError  # noqa: E402

SCRATCH = Path(tempfile.mkdtemp(prefix="filmnet-fuzz-"))
RSS_LIMIT = 64 * 2**20  # peak-RSS growth allowed to a refused hostile file (it claims hundreds of MB)


def as_file(data: bytes, name: str) -> Path:
    path = SCRATCH / name
    path.write_bytes(data)
    return path


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed cut short, with bytes flipped, with bytes inserted, or random bytes."""
    n = max(len(seed), 1)

    def flip(args):
        data, edits = bytearray(seed), args
        for pos, value in edits:
            if data:
                data[pos % len(data)] = value
        return bytes(data)

    return st.one_of(
        st.integers(0, n).map(lambda k: seed[:k]),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=8).map(flip),
        st.tuples(st.integers(0, n), st.binary(min_size=1, max_size=64)).map(lambda a: seed[:a[0]] + a[1] + seed[a[0]:]),
        st.binary(max_size=256),
    )


def outcome(call, *args):
    """Call a reader; FilmError is a valid outcome, anything else fails the test."""
    try:
        return call(*args)
    except FilmError:
        return None

PEAK_CHILD = """
import resource, sys
from filmnet.errors import FilmError
from filmnet.weights.torchscript import read_torchscript
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_torchscript(sys.argv[1])
except FilmError as err:
    print(err, file=sys.stderr)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def peak_growth_of_reading(path: Path) -> int:
    """Peak-RSS growth of reading `path` with `read_torchscript`, measured in a fresh process (after its imports),
    so no other test's high-water mark counts."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                       os.environ.get("PYTHONPATH", "")]), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", PEAK_CHILD, str(path)], capture_output=True, text=True, env=env,
                          check=True)
    return int(done.stdout.split()[-1])


# --- TensorBundle index (SSTable blocks) -------------------------------------------------------------------------

def _sstable(entries: dict[bytes, bytes]) -> bytes:
    """A minimal valid uncompressed SSTable (one data block, one index block), as TF writes `.index` files."""
    from filmnet.weights.tf_bundle import masked_crc32c

    def varint(v):
        out = bytearray()
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return bytes(out)

    def block(items):
        body = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in items)
        return body + struct.pack("<I", 0) + struct.pack("<I", 1)  # one restart at 0

    def place(buf, data):
        handle = varint(len(buf)) + varint(len(data))
        return buf + data + b"\0" + struct.pack("<I", masked_crc32c(data + b"\0")), handle

    buf, data_handle = place(b"", block(sorted(entries.items())))
    buf, meta_handle = place(buf, block([]))
    buf, index_handle = place(buf, block([(max(entries) + b"\xff", data_handle)]))
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    return buf + footer


SSTABLE_SEEDS = [_sstable({b"": b"\x08\x01", b"a/b": b"\x08\x01\x10\x02"})]
for _path in (FIXTURES / "tiny" / "saved_model" / "variables" / "variables.index",
              FIXTURES / "tiny" / "variables_snappy" / "variables.index"):
    if _path.is_file():
        SSTABLE_SEEDS.append(_path.read_bytes())


def test_sstable_seed_is_valid():
    from filmnet.weights.tf_bundle import read_table

    assert read_table(as_file(SSTABLE_SEEDS[0], "seed.index"))[b"a/b"] == b"\x08\x01\x10\x02"


@given(st.sampled_from(range(len(SSTABLE_SEEDS))).flatmap(lambda i: mutations(SSTABLE_SEEDS[i])),
       st.booleans())
def test_fuzz_sstable_and_bundle_index(data, verify):
    from filmnet.weights.tf_bundle import TensorBundle, read_table

    path = as_file(data, "variables.index")
    table = outcome(read_table, path, verify)
    assert table is None or all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in table.items())
    outcome(TensorBundle.open, SCRATCH / "variables", verify)


# --- safetensors header ------------------------------------------------------------------------------------------

def _safetensors_seed() -> bytes:
    from safetensors.torch import save

    return save({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, metadata={"format": "pt"})


def _header_bytes(header: dict) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 24


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4), max_leaves=12)


@given(st.one_of(mutations(_safetensors_seed()),
                 st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(_header_bytes),
                 st.fixed_dictionaries({"w": st.fixed_dictionaries({
                     "dtype": st.sampled_from(["F32", "F16", "I64", "X"]),
                     "shape": st.lists(st.integers(-1, 2**40), max_size=3),
                     "data_offsets": st.lists(st.integers(-1, 2**62), min_size=0, max_size=3)})}).map(_header_bytes)))
def test_fuzz_safetensors(data):
    from filmnet.weights.native import read_safetensors

    result = outcome(read_safetensors, as_file(data, "w.safetensors"))
    assert result is None or all(isinstance(t, torch.Tensor) for t in result[0].values())


# --- TorchScript zip ---------------------------------------------------------------------------------------------

def _torchscript_seed() -> bytes:
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 1)
            self.levels = 3

        def forward(self, x):
            return self.conv(x)

    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(Tiny()), buffer)
    return buffer.getvalue()


TORCHSCRIPT_SEED = _torchscript_seed()


def _rezipped(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def _pickle_mutations() -> st.SearchStrategy[bytes]:
    """The archive re-zipped with its data.pkl mutated (reaches the restricted unpickler, past the zip checks)."""
    with zipfile.ZipFile(io.BytesIO(TORCHSCRIPT_SEED)) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    pkl = next(i for i, (n, _) in enumerate(members) if n.endswith("/data.pkl"))
    return mutations(members[pkl][1]).map(
        lambda data: _rezipped([(n, data if i == pkl else d) for i, (n, d) in enumerate(members)]))


def test_torchscript_seed_is_valid():
    from filmnet.weights.torchscript import read_torchscript

    tensors, scalars = read_torchscript(as_file(TORCHSCRIPT_SEED, "seed.pt"))
    assert set(tensors) == {"conv.weight", "conv.bias"} and scalars["levels"] == 3


@given(st.one_of(mutations(TORCHSCRIPT_SEED), _pickle_mutations()))
def test_fuzz_torchscript_zip(data):
    from filmnet.weights.torchscript import read_torchscript

    result = outcome(read_torchscript, as_file(data, "m.pt"))
    assert result is None or all(isinstance(t, torch.Tensor) for t in result[0].values())


def test_torchscript_zip_bomb_is_refused_before_inflating():
    from filmnet.weights.torchscript import read_torchscript

    with zipfile.ZipFile(io.BytesIO(TORCHSCRIPT_SEED)) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            if not name.endswith("/data.pkl"):
                zf.writestr(name, data)
                continue
            with zf.open(name, "w", force_zip64=True) as f:  # 200 MB of zeros, written in 1 MB pieces
                for _ in range(200):
                    f.write(bytes(1 << 20))
    bomb = as_file(buffer.getvalue(), "bomb.pt")
    with pytest.raises(FilmError, match="inflate"):
        read_torchscript(bomb)
    assert peak_growth_of_reading(bomb) < RSS_LIMIT  # 200 MB would be inflated without the check


def test_torchscript_stride_zero_expansion_is_refused():
    """A 1-element storage viewed as 100 million elements with stride 0 (found by the dev profile: 10 GB)."""
    from filmnet.weights.torchscript import read_torchscript

    with zipfile.ZipFile(io.BytesIO(TORCHSCRIPT_SEED)) as zf:
        members = [(n, zf.read(n)) for n in zf.namelist()]
    pkl = next(i for i, (n, _) in enumerate(members) if n.endswith("/data.pkl"))
    size_stride = b"(K\x01K\x01K\x01K\x01t(K\x01K\x01K\x01K\x01t"
    assert size_stride in members[pkl][1]
    hostile = members[pkl][1].replace(size_stride, b"(J\x00\xe1\xf5\x05K\x01K\x01K\x01t(K\x00K\x01K\x01K\x01t")
    members[pkl] = (members[pkl][0], hostile)
    expand = as_file(_rezipped(members), "expand.pt")
    with pytest.raises(FilmError, match="does not fit its storage"):
        read_torchscript(expand)
    assert peak_growth_of_reading(expand) < RSS_LIMIT  # 400 MB would be allocated without the check


# --- resume manifest ---------------------------------------------------------------------------------------------

MANIFEST_SEED = json.dumps({"version": 3, "key": "k" * 64, "segments": {
    "0": {"frames": 4, "size": 100, "sha256": "a" * 64}}}).encode()


@given(st.one_of(mutations(MANIFEST_SEED), json_values.map(lambda v: json.dumps(v).encode()),
                 st.text(max_size=64)))
def test_fuzz_resume_manifest(data):
    from filmnet.inference.resume import Segment, parse_manifest

    result = outcome(parse_manifest, data)
    if result is not None:
        key, segments = result
        assert isinstance(key, str) and all(isinstance(i, int) and isinstance(s, Segment)
                                            for i, s in segments.items())


def test_deeply_nested_manifest_is_refused():
    from filmnet.inference.resume import parse_manifest

    with pytest.raises(FilmError):
        parse_manifest("[" * 100_000 + "]" * 100_000)


# --- image headers -----------------------------------------------------------------------------------------------

def _image_seed(fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    frames = [Image.fromarray(np.full((6, 5, 3), 60 * i, np.uint8)) for i in range(2)]
    frames[0].save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


IMAGE_SEEDS = [_image_seed("PNG"), _image_seed("JPEG"), _image_seed("GIF"), _image_seed("TIFF"),
               _image_seed("WEBP"), _image_seed("BMP")]


@given(st.sampled_from(range(len(IMAGE_SEEDS))).flatmap(lambda i: mutations(IMAGE_SEEDS[i])))
def test_fuzz_image_headers(data):
    from filmnet.io import read_image, read_image_size

    path = as_file(data, "x.img")
    size = outcome(read_image_size, path)
    assert size is None or all(isinstance(v, int) and v > 0 for v in size)
    if size is not None and size[0] * size[1] <= 4096:
        image = outcome(read_image, path)
        assert image is None or (image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.float32)


# --- fps, time, memory and tile parsers --------------------------------------------------------------------------

text_numbers = st.one_of(st.text(max_size=24), st.from_regex(r"-?\d{1,30}(\.\d{0,20})?(/-?\d{1,30})?", fullmatch=True),
                         st.sampled_from(["nan", "inf", "-inf", "1e999", "0/0", "1/0", "1e-999", "30000/1001"]))


@given(text_numbers)
def test_fuzz_fps_parser(text):
    from fractions import Fraction

    from filmnet.io import parse_fps

    for limit in (1000, None):
        rate = outcome(lambda: parse_fps(text, max_fps=limit))
        assert rate is None or (isinstance(rate, Fraction) and rate > 0 and rate.denominator <= 1_000_000)


@given(text_numbers, st.sampled_from([Fraction := __import__("fractions").Fraction(25),
                                      __import__("fractions").Fraction(30000, 1001)]))
def test_fuzz_retime_plan_fps(text, rate):
    from filmnet.inference.timing import plan_retime

    plan = outcome(lambda: plan_retime(rate, fps=text))
    assert plan is None or 0 < plan.sample_rate / rate <= 256


@given(st.one_of(text_numbers, st.from_regex(r"\d{1,25}(\.\d+)?\s*[kKmMgGtT]?i?[bB]?", fullmatch=True)))
def test_fuzz_memory_and_tile_parsers(text):
    from filmnet.inference.memory import parse_memory
    from filmnet.model_options import ModelOptions

    size = outcome(parse_memory, text)
    assert size is None or isinstance(size, int)
    options = outcome(lambda: ModelOptions(tile=text.replace("/", "x")).checked().tiling)
    assert options is None or all(64 <= side <= 16384 and side % 64 == 0 for side in options.tile)


@given(st.text(max_size=16), st.sampled_from(sorted(__import__("filmnet.bounds").bounds.BOUNDS)))
def test_fuzz_bounds_pass_values_inside_and_refuse_values_outside(text, name):
    from filmnet.bounds import BOUNDS, check

    try:
        value = float(text)
    except (ValueError, OverflowError):
        return
    if value == value:
        inside = BOUNDS[name].low <= value <= BOUNDS[name].high
        assert outcome(check, name, value) == (value if inside else None)


def teardown_module():
    import shutil

    shutil.rmtree(SCRATCH, ignore_errors=True)
    os.environ.pop("FILMNET_FUZZ", None)
