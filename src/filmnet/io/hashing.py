"""SHA-256 of files, read in 1 MiB chunks: the one home of file hashing (resume segments, batch outputs, weights)."""
from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def hash_file(path: str | os.PathLike, digest=None) -> tuple[object, int]:
    """Feed the bytes of `path` into `digest` (default: a new SHA-256); returns (digest, bytes read)."""
    digest = hashlib.sha256() if digest is None else digest
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest, size


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    return hash_file(path)[0].hexdigest()
