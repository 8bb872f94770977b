"""Hand-built PyTorch zip archives for the reader tests: honest ones and decompression bombs.

A bomb's deflate stream is built in milliseconds: after the first MiB of zeros, every further MiB compresses (with
a sync flush) to the same bytes, so the stream is those bytes repeated."""
from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections import OrderedDict
from pathlib import Path

import torch

MiB = 1 << 20


def zeros_deflate(n_bytes: int) -> tuple[bytes, int]:
    """(raw deflate stream, crc32) of `n_bytes` zero bytes (a multiple of 1 MiB, at least 2 MiB)."""
    assert n_bytes % MiB == 0 and n_bytes >= 2 * MiB
    chunk = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH)
    middle = c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH)
    assert c.compress(chunk) + c.flush(zlib.Z_SYNC_FLUSH) == middle  # steady state: all later MiBs look alike
    tail = c.compress(chunk) + c.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(n_bytes // MiB):
        crc = zlib.crc32(chunk, crc)
    return first + middle * (n_bytes // MiB - 2) + tail, crc


def write_zip(path: Path, members: list[tuple]) -> Path:
    """A zip of (name, data) stored members and (name, stream, size, crc) deflated ones (no zip64)."""
    out, central = io.BytesIO(), io.BytesIO()
    for member in members:
        if len(member) == 2:
            name, data = member
            method, stream, size, crc = 0, data, len(data), zlib.crc32(data)
        else:
            name, stream, size, crc = member
            method = 8
        raw = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(stream), size,
                              len(raw), 0) + raw + stream)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(stream),
                                  size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    cd = central.getvalue()
    start = out.tell()
    out.write(cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(cd), start, 0))
    Path(path).write_bytes(out.getvalue())
    return Path(path)


class _Storage:
    def __init__(self, key: str, numel: int, dtype=torch.FloatStorage) -> None:
        self.key, self.numel, self.dtype = key, numel, dtype


class _Tensor:
    """Pickles as torch.save does a 1-D tensor over a whole storage."""

    def __init__(self, storage: _Storage) -> None:
        self.storage = storage

    def __reduce__(self):
        n = self.storage.numel
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (n,), (1,), False, OrderedDict())


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return "storage", obj.dtype, obj.key, "cpu", obj.numel
        return None


def torch_pickle(numels: dict[str, int]) -> bytes:
    """data.pkl of a torch.save'd dict of float32 tensors, storage key i for the i-th entry."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump({name: _Tensor(_Storage(str(i), n)) for i, (name, n) in enumerate(numels.items())})
    return buf.getvalue()


def torch_bomb(path: Path, inflated: int = 1 << 30) -> Path:
    """A plain torch.save-layout .pt (not TorchScript) whose one tensor member inflates to `inflated` bytes."""
    stream, crc = zeros_deflate(inflated)
    return write_zip(path, [("archive/data.pkl", torch_pickle({"w": inflated // 4})),
                            ("archive/byteorder", b"little"), ("archive/version", b"3\n"),
                            ("archive/data/0", stream, inflated, crc)])


def torch_zip(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    """An honest torch.save-layout .pt of float32 tensors (saved flattened, 1-D), every member stored."""
    members = [("archive/data.pkl", torch_pickle({k: v.numel() for k, v in tensors.items()})),
               ("archive/byteorder", b"little"), ("archive/version", b"3\n")]
    members += [(f"archive/data/{i}", v.float().contiguous().numpy().tobytes()) for i, v in enumerate(tensors.values())]
    return write_zip(path, members)
