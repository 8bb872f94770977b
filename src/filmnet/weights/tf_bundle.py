"""TensorFlow TensorBundle (checkpoint) reader without TensorFlow: SSTable index + raw data shards."""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, WeightsError

_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_NUMERIC = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 14: "<u2", 19: "<f2",
}  # TF DataType -> numpy; 14 (bfloat16) is widened to float32 after reading
_BFLOAT16, _STRING = 14, 7


@functools.cache
def proto(name: str):
    """Message class `BundleHeaderProto`, `BundleEntryProto` or `SavedModel`.

    tensorboard ships TF's other protos but not these three, so they are declared here on top of its
    types, shape, version and meta-graph protos (field numbers from TF's tensor_bundle.proto / saved_model.proto).
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from tensorboard.compat.proto import meta_graph_pb2, tensor_shape_pb2, types_pb2, versions_pb2

    F = descriptor_pb2.FieldDescriptorProto
    deps = [m.DESCRIPTOR.name for m in (meta_graph_pb2, tensor_shape_pb2, types_pb2, versions_pb2)]
    messages = {
        "BundleHeaderProto": [("num_shards", 1, F.TYPE_INT32), ("endianness", 2, F.TYPE_INT32),
                              ("version", 3, ".tensorboard.VersionDef")],
        # `slices` is a repeated TensorSliceProto; only its presence matters, so bytes is wire-compatible.
        "BundleEntryProto": [("dtype", 1, ".tensorboard.DataType"), ("shape", 2, ".tensorboard.TensorShapeProto"),
                             ("shard_id", 3, F.TYPE_INT32), ("offset", 4, F.TYPE_INT64), ("size", 5, F.TYPE_INT64),
                             ("crc32c", 6, F.TYPE_FIXED32), ("slices", 7, F.TYPE_BYTES, F.LABEL_REPEATED)],
        "SavedModel": [("saved_model_schema_version", 1, F.TYPE_INT64),
                       ("meta_graphs", 2, ".tensorboard.MetaGraphDef", F.LABEL_REPEATED)],
    }
    pool = descriptor_pool.Default()
    file_name = "filmnet/tf_bundle.proto"
    try:
        pool.FindFileByName(file_name)
    except KeyError:
        fdp = descriptor_pb2.FileDescriptorProto(name=file_name, package="filmnet", syntax="proto3", dependency=deps)
        for msg_name, fields in messages.items():
            msg = fdp.message_type.add(name=msg_name)
            for fname, number, ftype, *label in fields:
                f = msg.field.add(name=fname, number=number, label=label[0] if label else F.LABEL_OPTIONAL)
                if isinstance(ftype, str):
                    f.type_name = ftype
                    f.type = F.TYPE_ENUM if ftype.endswith("DataType") else F.TYPE_MESSAGE
                else:
                    f.type = ftype
        pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"filmnet.{name}"))


def masked_crc32c(data: bytes) -> int:
    """TF's masked crc32c (Castagnoli), as stored in block trailers and BundleEntryProto.crc32c."""
    import google_crc32c

    crc = google_crc32c.value(bytes(data))
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed("a varint runs past its buffer or beyond 64 bits")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _read_block(buf: bytes, handle: bytes, verify: bool, path: Path) -> bytes:
    """The block a (varint offset, varint size) handle points to, checked against its trailer, decompressed."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + 5 > len(buf):
        raise WeightsError(f"{path}: block at {offset} (+{size}) runs past the end of the index file")
    block, kind = buf[offset:offset + size], buf[offset + size]
    (stored,) = struct.unpack_from("<I", buf, offset + size + 1)
    if verify and masked_crc32c(block + bytes([kind])) != stored:
        raise ChecksumError(f"{path}: checksum mismatch in the table block at offset {offset}; the file is corrupt")
    if kind == 0:
        return block
    if kind == 1:
        import cramjam

        declared, _ = _varint(block, 0)  # Snappy's uncompressed length: refuse a bomb before allocating it
        if declared > 32 * len(block) + 64:
            raise _Malformed(f"a Snappy block claims {declared} bytes from {len(block)}")
        try:
            return bytes(cramjam.snappy.decompress_raw(block))
        except Exception as err:  # cramjam.DecompressionError
            raise _Malformed(f"corrupt Snappy block ({err})") from None
    raise WeightsError(f"{path}: unsupported block compression type {kind} (TF writes only none and Snappy)")


class _Malformed(ValueError):
    """Internal: the index bytes do not parse (turned into a WeightsError naming the file)."""


def _block_entries(block: bytes):
    """(key, value) pairs of a table block (prefix-compressed keys, restart array at the end)."""
    if len(block) < 4:
        raise _Malformed("a table block is shorter than its restart count")
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end, pos, key = len(block) - 4 - 4 * num_restarts, 0, b""
    if end < 0:
        raise _Malformed("a table block's restart array is larger than the block")
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > end:
            raise _Malformed("a table entry runs past its block")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def read_table(path: Path, verify: bool = True) -> dict[bytes, bytes]:
    """All (key, value) entries of a LevelDB-style SSTable such as a `.index` file; `WeightsError` when the bytes
    do not parse."""
    try:
        return _read_table(path, verify)
    except (_Malformed, struct.error) as err:
        raise WeightsError(f"{path}: corrupt TensorFlow checkpoint index ({err})") from None


def _read_table(path: Path, verify: bool) -> dict[bytes, bytes]:
    buf = Path(path).read_bytes()
    if len(buf) < _FOOTER_LEN or struct.unpack_from("<Q", buf, len(buf) - 8)[0] != _MAGIC:
        raise WeightsError(f"{path}: not a TensorFlow checkpoint index (bad footer magic)")
    pos = len(buf) - _FOOTER_LEN
    for _ in range(2):  # skip the metaindex handle
        pos = _varint(buf, pos)[1]
    entries = {}
    for _, handle in _block_entries(_read_block(buf, buf[pos:], verify, path)):
        entries.update(_block_entries(_read_block(buf, handle, verify, path)))
    return entries


def _parse_entries(table: dict[bytes, bytes]) -> tuple[object, dict[str, object]]:
    header = proto("BundleHeaderProto").FromString(table.pop(b"", b""))
    return header, {k.decode(): proto("BundleEntryProto").FromString(v) for k, v in table.items()}


@dataclass
class TensorBundle:
    """An opened checkpoint: `<prefix>.index` plus its data shards. Read tensors with `read(key)`."""

    prefix: Path
    entries: dict[str, object]  # key -> BundleEntryProto (the header is not an entry)
    shards: list[Path]
    verify: bool = True

    @classmethod
    def open(cls, prefix: str | Path, verify_checksums: bool = True) -> "TensorBundle":
        prefix = Path(str(prefix).removesuffix(".index"))
        index = Path(f"{prefix}.index")
        if not index.is_file():
            raise WeightsError(f"checkpoint index not found: {index}")
        table = read_table(index, verify_checksums)
        try:
            header, entries = _parse_entries(table)
        except Exception as err:  # google.protobuf DecodeError, undecodable key names
            raise WeightsError(f"{index}: corrupt TensorFlow checkpoint index ({type(err).__name__}: "
                               f"{' '.join(str(err).split())[:120]})") from None
        if header.endianness != 0:
            raise WeightsError(f"{index}: big-endian checkpoints are not supported")
        n = max(header.num_shards, 1)
        if n > 100_000:
            raise WeightsError(f"{index}: corrupt TensorFlow checkpoint index (claims {n} data shards)")
        shards = [Path(f"{prefix}.data-{i:05d}-of-{n:05d}") for i in range(n)]
        for key, e in entries.items():
            if e.slices:
                raise WeightsError(f"{index}: {key!r} is a partitioned (sliced) tensor; these are not supported")
            if e.shard_id >= n or not shards[e.shard_id].is_file():
                raise WeightsError(f"checkpoint data shard not found: {shards[min(e.shard_id, n - 1)]}")
        return cls(prefix, entries, shards, verify_checksums)

    def keys(self) -> list[str]:
        """Entry keys in storage order (for a Keras SavedModel, `model.variables` order)."""
        return sorted(self.entries, key=lambda k: (self.entries[k].shard_id, self.entries[k].offset))

    def check_extent(self, keys: list[str]) -> None:
        """Raise naming the first of `keys` (in storage order) whose bytes lie past the end of its shard."""
        sizes, wanted = [s.stat().st_size for s in self.shards], set(keys)
        for key in (k for k in self.keys() if k in wanted):
            e = self.entries[key]
            if e.offset + e.size > sizes[e.shard_id]:
                raise WeightsError(
                    f"data file {self.shards[e.shard_id]} is truncated ({sizes[e.shard_id]} bytes): tensor {key!r} "
                    f"needs bytes {e.offset}..{e.offset + e.size}; was the download interrupted?"
                )

    def read(self, key: str) -> np.ndarray | list[bytes]:
        """The tensor stored under `key` (numeric: an ndarray; DT_STRING: a flat list of bytes)."""
        self.check_extent([key])
        e = self.entries[key]
        raw = bytearray(e.size)
        with open(self.shards[e.shard_id], "rb") as f:
            f.seek(e.offset)
            f.readinto(raw)
        shape = [d.size for d in e.shape.dim]
        if e.dtype == _STRING:
            return self._strings(key, raw, int(np.prod(shape)), e.crc32c)
        if e.dtype not in _NUMERIC:
            raise WeightsError(f"{key}: unsupported tensor dtype {_dtype_name(e.dtype)}")
        if self.verify and masked_crc32c(bytes(raw)) != e.crc32c:
            raise ChecksumError(f"checksum mismatch for tensor {key!r}: the data file is corrupt")
        arr = np.frombuffer(raw, dtype=_NUMERIC[e.dtype])
        if arr.size != int(np.prod(shape)):
            raise WeightsError(f"{key}: {e.size} bytes do not hold a {shape} {_dtype_name(e.dtype)} tensor")
        if e.dtype == _BFLOAT16:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.reshape(shape)

    def _strings(self, key: str, raw: bytearray, count: int, stored_crc: int) -> list[bytes]:
        """DT_STRING layout: varint64 lengths, masked crc32c of the lengths, then the bytes."""
        lengths, pos = [], 0
        for _ in range(count):
            n, pos = _varint(raw, pos)
            lengths.append(n)
        # TF's checksum covers the lengths as uint32 (uint64 if larger), the length checksum, then the bytes.
        packed = b"".join(struct.pack("<I" if n <= 0xFFFFFFFF else "<Q", n) for n in lengths)
        if self.verify and masked_crc32c(packed + raw[pos:]) != stored_crc:
            raise ChecksumError(f"checksum mismatch for tensor {key!r}: the data file is corrupt")
        starts = np.cumsum([pos + 4] + lengths)
        return [bytes(raw[a:b]) for a, b in zip(starts[:-1], starts[1:])]


def _dtype_name(dtype: int) -> str:
    from tensorboard.compat.proto import types_pb2

    try:
        return types_pb2.DataType.Name(dtype)
    except ValueError:
        return f"DataType {dtype}"
