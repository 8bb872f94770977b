"""Batch inputs: video files, folders (recursive, by extension), glob patterns, and CSV/JSONL manifests whose rows
carry per-file options."""
from __future__ import annotations

import csv
import glob
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..io.media import VIDEO_INPUT_SUFFIXES, media_kind

log = logging.getLogger(__name__)
VIDEO_EXTENSIONS = VIDEO_INPUT_SUFFIXES  # candidates by name; `_videos` keeps those whose content is a video
MANIFEST_SUFFIXES = (".csv", ".jsonl")
# Per-file options a manifest row may set (the rest of a batch's options are shared: one model per worker).
FILE_OPTIONS = {"multi": int, "exp": int, "fps": str, "slowmo": int, "scene_threshold": float, "dedupe": bool,
                "codec": str, "crf": int, "pix_fmt": str, "keep_audio": bool}
TIMING = ("multi", "exp", "fps", "slowmo")
PATH_KEYS = ("input", "path", "src", "file")


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
    """Rows of a CSV (header row) or JSONL manifest: a path column (`input`, `path`, `src` or `file`; relative to the
    manifest's folder), an optional `output`, and any of FILE_OPTIONS."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            rows = [{k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
                    for row in csv.DictReader(f)]
    else:
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as err:
                    raise InputError(f"{path.name} line {number}: not JSON ({err})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path.name} line {number}: expected a JSON object")
                rows.append(row)
    return [_row_item(path, number, row) for number, row in enumerate(rows, 1)]


def _row_item(manifest: Path, number: int, row: dict) -> Item:
    where = f"{manifest.name} row {number}"
    name = next((row[k] for k in PATH_KEYS if row.get(k) not in (None, "")), None)
    if name is None:
        raise InputError(f"{where}: no input path (column {' / '.join(PATH_KEYS)})")
    unknown = set(row) - set(FILE_OPTIONS) - set(PATH_KEYS) - {"output"}
    if unknown:
        raise InputError(f"{where}: unknown column(s) {', '.join(sorted(unknown))}; per-file options are "
                         f"{', '.join(FILE_OPTIONS)} and output")
    options = {}
    for key, kind in FILE_OPTIONS.items():
        value = row.get(key)
        if value in (None, ""):
            continue
        try:
            options[key] = _parse_bool(value) if kind is bool else kind(value)
        except ValueError:
            raise InputError(f"{where}: bad {key} {value!r}") from None
    src = Path(name) if Path(name).is_absolute() else manifest.parent / name
    output = row.get("output") or None
    if output is not None:
        output = Path(output)
    return Item(src, Path(), options, output)


def _parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(value)


def merge_options(defaults: dict, item: Item) -> dict:
    """The batch's options with a manifest row's on top; a row naming a timing option replaces the batch's timing."""
    options = dict(defaults)
    if any(item.options.get(k) is not None for k in TIMING):
        for key in TIMING:
            options[key] = None
    options.update(item.options)
    return options
