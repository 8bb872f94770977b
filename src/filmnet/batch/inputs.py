"""Batch inputs: video files, folders (recursive, by extension), glob patterns, and CSV/JSONL manifests whose rows
carry per-file options."""
from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..io.media import VIDEO_INPUT_SUFFIXES, media_kind
from .manifest import FILE_OPTIONS, PATH_KEYS, TIMING, parse_row, read_rows

log = logging.getLogger(__name__)
VIDEO_EXTENSIONS = VIDEO_INPUT_SUFFIXES  # candidates by name; `_videos` keeps those whose content is a video
MANIFEST_SUFFIXES = (".csv", ".jsonl")
__all__ = ["FILE_OPTIONS", "PATH_KEYS", "TIMING", "Item", "collect", "merge_options", "read_manifest"]


@dataclass(frozen=True)
class Item:
    """One input file; `rel` is its place under the folder it was found in (kept under OUTDIR), `options` override
    the batch's, `output` (from a manifest) replaces the default output name."""

    src: Path
    rel: Path = Path()
    options: dict = field(default_factory=dict)
    output: Path | None = None


def collect(inputs: list[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> list[Item]:
    """Expand the batch's INPUTS in order; a file named twice is kept once. `InputError` for an input that matches
    nothing."""
    items: list[Item] = []
    for text in inputs:
        path = Path(text)
        if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            items.extend(read_manifest(path))
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            items.extend(Item(p, p.parent.relative_to(path)) for p in _videos(found))
        elif path.is_file():
            items.append(Item(path))
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
            files = _videos([p for p in matches if p.is_file() and p.suffix.lower() in extensions])
            if not files:
                raise InputError(f"no video files match {text!r}")
            items.extend(Item(p) for p in files)
        else:
            raise InputError(f"input {text} does not exist")
    seen, unique = set(), []
    for item in items:
        key = (item.src.resolve(), item.output)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _videos(paths: list[Path]) -> list[Path]:
    """The files whose content is a video (`media_kind`); each other one is skipped with a warning naming it."""
    kept = []
    for p in paths:
        kind = media_kind(p)
        if kind == "video":
            kept.append(p)
        else:
            log.warning("skipping %s: its content is %s, not a video", p, "an image" if kind == "image" else "not a readable video")
    return kept


def read_manifest(path: Path) -> list[Item]:
    """Rows of a CSV (header row) or JSONL manifest, each checked as the CLI checks its input (`manifest`)."""
    items = []
    for where, row in read_rows(path):
        src, options, output = parse_row(where, row, path.parent)
        items.append(Item(src, Path(), options, None if output is None else Path(output)))
    return items


def merge_options(defaults: dict, item: Item) -> dict:
    """The batch's options with a manifest row's on top; a row naming a timing option replaces the batch's timing."""
    options = dict(defaults)
    if any(item.options.get(k) is not None for k in TIMING):
        for key in TIMING:
            options[key] = None
    options.update(item.options)
    return options
