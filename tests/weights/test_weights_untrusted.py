"""Untrusted weights files (issue 25 items 3-4, issue 24 item 4): deep nesting, decompression bombs in every zip
container, and real `torch.jit.save` archives through the restricted unpickler."""
from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import filmnet
from filmnet.cli import main
from filmnet.errors import WeightsError
from filmnet.weights.loader import read_weights
from filmnet.weights.torchscript import read_torchscript
from helpers import nested_safetensors
from zip_builders import MiB, torch_bomb, torch_zip, write_zip, zeros_deflate

SRC = str(Path(__file__).resolve().parents[2] / "src")


# ------------------------------------------------------------------ deep nesting


def test_a_deeply_nested_safetensors_header_is_a_one_line_refusal(tmp_path, capsys):
    path = nested_safetensors(tmp_path / "nested.safetensors")
    with pytest.raises(WeightsError, match="nests too deeply"):
        read_weights(path)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    for args in (["interpolate", a, b, "--exp", "1", "-o", tmp_path / "out", "--weights", path],
                 ["convert", path, "-o", tmp_path / "c.safetensors"]):
        code = main([str(x) for x in args])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "nests too deeply" in err and "unexpected" not in err, err


# ------------------------------------------------------------------ decompression bombs


def _rss_of(args: list[str]) -> tuple[int, str, float]:
    """(exit code, stderr, peak RSS in MB) of `filmnet ARGS` in a child process (its own high-water mark)."""
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "FILMNET_OFFLINE": "1"}
    code = ("import resource, sys; from filmnet.cli import main; rc = main(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, timeout=300)
    err = proc.stderr.decode().strip().splitlines()
    return proc.returncode, "\n".join(err[:-1]), int(err[-1]) / 1024


@pytest.mark.slow
def test_a_torch_save_zip_bomb_is_refused_with_bounded_memory(tmp_path):
    """A plain torch.save .pt whose tensor member inflates to 1 GiB from 1 MB: refused from the central directory,
    peak RSS within 128 MB of refusing a small junk .pt (docs/RELIABILITY.md states the bound)."""
    bomb = torch_bomb(tmp_path / "bomb.pt", 1 << 30)
    junk = torch_zip(tmp_path / "junk.pt", {"w": torch.zeros(4)})  # honest, small, not a FILM: refused too
    code, err, base = _rss_of(["convert", str(junk), "-o", str(tmp_path / "j.safetensors")])
    assert code == 1 and err.count("\n") == 0, err
    code, err, peak = _rss_of(["convert", str(bomb), "-o", str(tmp_path / "b.safetensors")])
    print(f"peak RSS: refusing the bomb {peak:.0f} MB, refusing a junk .pt {base:.0f} MB")
    assert code == 1 and "decompression bomb" in err and err.count("\n") == 0, err
    assert peak < base + 128, (peak, base)


def test_bombs_are_refused_in_every_zip_layout(tmp_path):
    stream, crc = zeros_deflate(64 * MiB)
    pkl = torch_zip(tmp_path / "h.pt", {"w": torch.zeros(1)})
    import zipfile

    honest = {i.filename: zipfile.ZipFile(pkl).read(i) for i in zipfile.ZipFile(pkl).infolist()}
    for name, layout in {
        "torch.save": [(k, v) for k, v in honest.items() if k != "archive/data/0"] + [("archive/data/0", stream,
                                                                                        64 * MiB, crc)],
        "torchscript": [(k, v) for k, v in honest.items() if k != "archive/data/0"]
                       + [("archive/constants.pkl", b"\x80\x02)."), ("archive/data/0", stream, 64 * MiB, crc)],
        "an unreferenced member": list(honest.items()) + [("archive/extra", stream, 64 * MiB, crc)],
    }.items():
        path = write_zip(tmp_path / f"{name}.pt", layout)
        with pytest.raises(WeightsError, match="decompression bomb"):
            read_weights(path)
    lying = write_zip(tmp_path / "lying.pt", [(k, v) for k, v in honest.items()])
    data = bytearray(lying.read_bytes())
    cd = data.rfind(b"archive/data/0") - 46  # the central record of the stored tensor member
    struct.pack_into("<I", data, cd + 24, 1 << 30)  # claims 1 GiB uncompressed while storing 4 bytes
    lying.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="stored member"):
        read_weights(lying)


def test_an_honest_torch_zip_still_loads(tmp_path):
    state = filmnet.FILM(filmnet.CONFIGS["film_tiny"]).state_dict()
    loaded = read_weights(torch_zip(tmp_path / "t.pt", state))
    assert loaded.format == "torch" and all(torch.equal(loaded.state[k], state[k].flatten()) for k in state)


# ------------------------------------------------------------------ real torch.jit.save archives


class _Everything(nn.Module):
    """Every kind of tensor and attribute a scripted model pickles: dtypes, views, non-contiguous and empty
    tensors, nested and mangled submodules, typed lists and dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.lin16 = nn.Linear(2, 2).half()
        self.bf = nn.Parameter(torch.arange(3, dtype=torch.bfloat16))
        self.bn = nn.BatchNorm2d(3)
        self.seq = nn.Sequential(nn.ReLU(), nn.Linear(2, 2))
        self.ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
        for dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.float64):
            self.register_buffer(str(dtype).split(".")[1], torch.arange(5).to(dtype))
        self.register_buffer("view", torch.arange(10.0)[2:6])
        self.register_buffer("transposed", torch.arange(6.0).reshape(2, 3).t())
        self.register_buffer("empty", torch.empty(0))
        self.pyramid_levels = 7
        self.scale = 0.5
        self.ints = [1, 2]
        self.floats = [0.5]
        self.tensors = [torch.ones(2)]
        self.table = {"a": 1}

    def forward(self, x):
        return self.conv(x)


def test_a_real_torch_jit_save_archive_reads_through_the_restricted_unpickler(tmp_path):
    torch.manual_seed(0)
    module = _Everything()
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))
    tensors, scalars = read_torchscript(path)
    expected = module.state_dict()
    assert set(tensors) == set(expected)
    for key, value in expected.items():
        assert tensors[key].dtype == value.dtype and torch.equal(tensors[key], value), key
    assert scalars["pyramid_levels"] == 7 and scalars["scale"] == 0.5


def test_a_deeply_nested_metadata_config_is_refused(tmp_path):
    meta = {"format": "filmnet", "config": "[" * 100_000}
    header = json.dumps({"__metadata__": meta}).encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(WeightsError, match="config in the file's metadata is invalid"):
        read_weights(path)


def test_zip_builder_is_a_real_zip(tmp_path):
    path = torch_bomb(tmp_path / "small.pt", 2 * MiB)
    import zipfile

    assert zipfile.ZipFile(path).read("archive/data/0") == bytes(2 * MiB)  # CRC checked by zipfile
    assert io.BytesIO(path.read_bytes()).getbuffer().nbytes < 10_000
