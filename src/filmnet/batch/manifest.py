"""Batch manifests (CSV with a header row, or JSONL): each row is CLI input and gets the CLI's rules.

A row names one input (`input`, `path`, `src` or `file`; relative to the manifest's folder), an optional `output`
(relative, inside OUTDIR: no `..`, not absolute) and any of `FILE_OPTIONS`. Types are strict (an integer option
takes an integer, never 2.7 or true), numbers get `filmnet.bounds`' ranges and reasons, fps the CLI's parser, and
unknown columns are refused. Every problem is an `InputError` naming the manifest and its line.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path, PurePath

from ..bounds import check
from ..errors import InputError

FILE_OPTIONS = {"multi": int, "exp": int, "fps": str, "slowmo": int, "scene_threshold": float, "dedupe": bool,
                "codec": str, "crf": int, "pix_fmt": str, "keep_audio": bool}
TIMING = ("multi", "exp", "fps", "slowmo")
PATH_KEYS = ("input", "path", "src", "file")
# the CLI's bounds of each numeric option (`filmnet.bounds` names)
BOUND_OF = {"multi": "video_multi", "exp": "video_exp", "slowmo": "slowmo", "crf": "crf",
            "scene_threshold": "scene_threshold"}
MAX_TEXT = 4096  # longer than any path or option a row needs
_TRUE, _FALSE = ("1", "true", "yes", "y", "on"), ("0", "false", "no", "n", "off")


def read_rows(path: Path) -> list[tuple[str, dict]]:
    """(where, row) of each row: `where` is "manifest.csv line N"."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    if "\0" in text:
        raise InputError(f"{path.name}: holds NUL bytes; a manifest is text")
    if path.suffix.lower() == ".csv":
        return _csv_rows(path.name, text)
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as err:
            raise InputError(f"{where}: not JSON ({' '.join(str(err).split())[:200]})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(row).__name__}")
        rows.append((where, row))
    return rows


def _csv_rows(name: str, text: str) -> list[tuple[str, dict]]:
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader, None)
        if header is None:
            return []
        keys = [k.strip() for k in header]
        dupes = sorted({k for k in keys if k and keys.count(k) > 1})
        if dupes:
            raise InputError(f"{name} line 1: column(s) {', '.join(dupes)} given twice")
        rows = []
        for values in reader:
            where = f"{name} line {reader.line_num}"
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(keys):
                raise InputError(f"{where}: {len(values)} fields but the header names {len(keys)}")
            row = {}
            for key, value in zip(keys, values):
                if not key:  # an unnamed column (a trailing comma) may only be empty
                    if value.strip():
                        raise InputError(f"{where}: a value in a column with no name in the header")
                    continue
                row[key] = value.strip()
            rows.append((where, row))
        return rows
    except csv.Error as err:
        raise InputError(f"{name} line {reader.line_num}: not CSV ({err})") from None


def parse_row(where: str, row: dict, base: Path) -> tuple[Path, dict, PurePath | None]:
    """(input path, per-file options, output relative to OUTDIR or None) of one row; `InputError` naming `where`."""
    unknown = set(row) - set(FILE_OPTIONS) - set(PATH_KEYS) - {"output"}
    if unknown:
        names = ", ".join(repr(k)[:60] for k in sorted(unknown, key=str))
        raise InputError(f"{where}: unknown column(s) {names}; per-file options are {', '.join(FILE_OPTIONS)} "
                         f"and output")
    given = [k for k in PATH_KEYS if not _empty(row.get(k))]
    if not given:
        raise InputError(f"{where}: no input path (column {' / '.join(PATH_KEYS)})")
    if len(given) > 1:
        raise InputError(f"{where}: give one input path, not {' and '.join(given)}")
    name = _path_text(where, given[0], row[given[0]])
    options = {}
    for key, kind in FILE_OPTIONS.items():
        if not _empty(row.get(key)):
            options[key] = _value(where, key, kind, row[key])
    timing = [k for k in TIMING if k in options]
    if len(timing) > 1:
        raise InputError(f"{where}: give at most one of {', '.join(TIMING)} (got {', '.join(timing)})")
    output = None
    if not _empty(row.get("output")):
        output = PurePath(_path_text(where, "output", row["output"]))
        if output.is_absolute() or output.anchor or ".." in output.parts:
            raise InputError(f"{where}: output {str(output)!r} must be a path inside OUTDIR (relative, no '..')")
    src = Path(name)
    return (src if src.is_absolute() else base / src), options, output


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _path_text(where: str, key: str, value) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: {key} must be a path (text), got {_shown(value)}")
    if "\0" in value or len(value) > MAX_TEXT:
        raise InputError(f"{where}: {key} is not a usable path")
    return value.strip()


def _shown(value) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _value(where: str, key: str, kind, value):
    """A row's option as the CLI would take it: its type (strictly) and its bound."""
    bad = f"{where}: {key} must be {_KIND_WORDS[kind]}, got {_shown(value)}"
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = value.strip().lower() if isinstance(value, str) else None
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise InputError(bad)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(bad)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise InputError(f"{where}: {key} is too long")
    if kind is int:
        if isinstance(value, float) or (isinstance(value, str) and not value.strip().lstrip("+-").isdigit()):
            raise InputError(bad)
        try:
            number = int(value)
        except ValueError:  # e.g. more digits than Python parses
            raise InputError(bad) from None
        return _bounded(where, key, number)
    if kind is float:
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise InputError(bad) from None
        return _bounded(where, key, number)
    if key == "fps":
        return _fps(where, value)
    if not isinstance(value, str):
        raise InputError(bad)
    return value.strip()


_KIND_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}


def _bounded(where: str, key: str, number):
    if key in BOUND_OF:
        try:
            check(BOUND_OF[key], number)
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
    return number


def _fps(where: str, value) -> str:
    """The text of a rate the CLI's --fps accepts (`parse_fps`); a JSON number is taken as written."""
    from ..io.media import parse_fps

    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: fps must be a finite rate, got {value!r}")
    text = value.strip() if isinstance(value, str) else str(value)
    if re.search(r"[eE][+-]?0*\d{4,}", text):  # 1e99999: a rate no parser should expand
        raise InputError(f"{where}: fps {text[:40]!r} is not a frame rate")
    try:
        parse_fps(text)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    return text
