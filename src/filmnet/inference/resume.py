"""The resume manifest of a video job: which segments are finished, with their frame count and a checksum.

A segment is recorded only after its file is fsynced and renamed into place, and the manifest itself is written
to a temporary file, fsynced and then renamed, so a kill at any point leaves either the old or the new manifest,
never one that names a segment that is not fully on disk. `--resume` trusts a recorded segment only when its
size and SHA-256 still match (`verify_segments`); any other segment is rendered again.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io.hashing import hash_file

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20



@dataclass(frozen=True)
class Segment:
    frames: int
    size: int
    sha256: str


def file_digest(path: Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file, read in 1 MiB chunks."""
    digest, size = hash_file(path)
    return size, digest.hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fsync_file(path)
    except OSError:  # some file systems cannot fsync a folder
        pass


def finish_segment(part: Path, final: Path, frames: int) -> Segment:
    """fsync the closed segment `part`, checksum it, rename it to `final` and fsync the folder."""
    fsync_file(part)
    size, sha = file_digest(part)
    os.replace(part, final)
    fsync_dir(final.parent)
    return Segment(int(frames), size, sha)


def write_manifest(work: Path, key: str, segments: dict[int, Segment]) -> None:
    """Replace the manifest atomically and durably (temporary file, fsync, rename, fsync of the folder)."""
    from ..io.atomic import atomic_target

    data = {"version": 3, "key": key,
            "segments": {str(i): {"frames": s.frames, "size": s.size, "sha256": s.sha256}
                         for i, s in sorted(segments.items())}}
    with atomic_target(work / MANIFEST) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
    fsync_dir(work)


def _bad(path: Path, why: str) -> InputError:
    return InputError(f"cannot read the resume manifest {path} ({why}); delete the folder {path.parent} or run "
                      "again without --resume to start over")


def parse_manifest(text: str | bytes, path: Path = Path(MANIFEST)) -> tuple[str, dict[int, Segment]]:
    """(job key, {segment index: Segment}) from a manifest's text; `InputError` with the fix for anything else."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise _bad(path, "too large")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _bad(path, f"not valid JSON: {' '.join(str(err).split())[:80]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str) or not isinstance(data.get("segments"),
                                                                                             dict):
        raise _bad(path, "not a filmnet manifest")
    if data.get("version") != 3:
        return data["key"] + ":old", {}  # an older filmnet's job: never matches, so the job starts over
    segments = {}
    for index, entry in data["segments"].items():
        ok = (isinstance(index, str) and index.isdigit() and len(index) < 10 and isinstance(entry, dict)
              and all(type(entry.get(k)) is int and entry[k] >= 0 for k in ("frames", "size"))
              and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64)
        if not ok:
            raise _bad(path, f"segment entry {str(index)[:20]!r} is malformed")
        segments[int(index)] = Segment(entry["frames"], entry["size"], entry["sha256"])
    return data["key"], segments


def read_manifest(work: Path) -> tuple[str, dict[int, Segment]] | None:
    """The manifest of `work`, None when there is none; `InputError` (with the fix) when it cannot be read."""
    path = work / MANIFEST
    if work.exists() and not work.is_dir():
        raise InputError(f"the resume work folder {work} is not a folder; delete it or run again without --resume")
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        if not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
            raise _bad(path, "not a regular file of a sane size")
        return parse_manifest(path.read_bytes(), path)
    except OSError as err:
        raise _bad(path, err.strerror or type(err).__name__) from None


def segment_path(work: Path, index: int) -> Path:
    return work / f"segment_{index:06d}.mkv"


def verify_segments(work: Path, segments: dict[int, Segment]) -> tuple[dict[int, Segment], list[str]]:
    """The recorded segments whose files still match (size and SHA-256), and a note for each that does not."""
    good, notes = {}, []
    for index, seg in sorted(segments.items()):
        path = segment_path(work, index)
        try:
            size, sha = file_digest(path) if path.is_file() else (None, None)
        except OSError:
            size, sha = None, None
        if size is None:
            notes.append(f"--resume: segment {index} is missing; rendering it again")
        elif (size, sha) != (seg.size, seg.sha256):
            notes.append(f"--resume: segment {index} does not match its checksum ({size} bytes, {seg.size} "
                         "recorded); rendering it again")
        else:
            good[index] = seg
    return good, notes
