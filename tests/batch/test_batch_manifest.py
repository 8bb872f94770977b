"""Batch manifests are CLI input (issue 25, item 7): the CLI's types, bounds and output rules for every row field,
and a one-line `InputError` naming the row for anything else (fuzzed)."""
import json
import math
from pathlib import Path

import pytest

from filmnet.batch import collect, read_manifest
from filmnet.batch.inputs import FILE_OPTIONS
from filmnet.errors import InputError


def jsonl(tmp_path, *rows, name="m.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def refused(path, *patterns):
    with pytest.raises(InputError) as info:
        read_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    for pattern in (path.name, *patterns):
        assert pattern in message, message
    return message


@pytest.mark.parametrize("output", ["../../x.mp4", "../x.mp4", "sub/../../x.mp4", "/tmp/elsewhere/x.mp4"])
def test_outputs_outside_outdir_are_refused(tmp_path, output):
    refused(jsonl(tmp_path, {"input": "a.mp4"}, {"input": "b.mp4", "output": output}), "line 2", "inside OUTDIR")


def test_forced_batch_never_writes_outside_outdir(tmp_path):
    """With --force, a row's output outside OUTDIR (by `..`, absolute, or a symlinked folder) touches nothing."""
    from filmnet.batch import run_batch

    victim = tmp_path / "victim.mp4"
    victim.write_bytes(b"unrelated")
    (tmp_path / "a.mp4").write_bytes(b"x")
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    for output in ("../../victim.mp4", str(victim)):
        manifest = jsonl(tmp_path, {"input": "a.mp4", "output": output})
        with pytest.raises(InputError, match="inside OUTDIR"):
            run_batch([str(manifest)], out, options={}, model={}, force=True, workers=0, progress=False)
    from filmnet.batch.plan import check_inside

    (out / "link").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(InputError, match="outside the output folder"):
        check_inside(out / "link" / "victim.mp4", out)
    check_inside(out / "sub" / "x.mp4", out)
    assert victim.read_bytes() == b"unrelated"


@pytest.mark.parametrize("row, words", [
    ({"input": "a.mp4", "multi": 2.7}, "multi must be an integer, got 2.7"),
    ({"input": "a.mp4", "multi": "2.7"}, "multi must be an integer"),
    ({"input": "a.mp4", "multi": 2.0}, "multi must be an integer"),
    ({"input": "a.mp4", "multi": True}, "multi must be an integer, got true"),
    ({"input": "a.mp4", "crf": [18]}, "crf must be an integer"),
    ({"input": "a.mp4", "dedupe": 1}, "dedupe must be true or false"),
    ({"input": "a.mp4", "codec": 264}, "codec must be text"),
    ({"input": "a.mp4", "multi": 1000}, "--multi must be in 2..64"),
    ({"input": "a.mp4", "exp": 0}, "--exp must be in 1..6"),
    ({"input": "a.mp4", "scene_threshold": 1e308}, "--scene-threshold must be in 0..2"),
    ({"input": "a.mp4", "scene_threshold": "nan"}, "--scene-threshold must be in 0..2"),
    ({"input": "a.mp4", "scene_threshold": -0.5}, "--scene-threshold must be in 0..2"),
    ({"input": "a.mp4", "fps": "0"}, "frame rate must be positive"),
    ({"input": "a.mp4", "fps": "1e99999"}, "is not a frame rate"),
    ({"input": "a.mp4", "multi": 2, "fps": "60"}, "at most one of"),
    ({"input": ["a"]}, "input must be a path (text), got [\"a\"]"),
    ({"input": 7}, "input must be a path"),
    ({"input": "a.mp4", "path": "b.mp4"}, "give one input path"),
    ({"input": "a.mp4", "output": {"x": 1}}, "output must be a path"),
    ({"input": "a.mp4", "speed": 2}, "unknown column(s) 'speed'"),
    ({"multi": 2}, "no input path"),
])
def test_rows_get_the_cli_types_and_bounds(tmp_path, row, words):
    refused(jsonl(tmp_path, {"input": "ok.mp4"}, row), "line 2", words)


def test_nan_and_infinite_json_numbers_are_refused(tmp_path):
    for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
        refused(jsonl(tmp_path, '{"input": "a.mp4", "scene_threshold": %s}' % literal), "line 1", "0..2")
        refused(jsonl(tmp_path, '{"input": "a.mp4", "fps": %s}' % literal), "line 1")


def test_valid_rows_parse_as_the_cli_would(tmp_path):
    items = read_manifest(jsonl(tmp_path, {"input": "a.mp4", "multi": 3, "output": "sub/x.mkv"},
                                {"path": "b.mp4", "fps": 59.94, "dedupe": "yes", "crf": "18"},
                                {"file": "c.mp4", "scene_threshold": 2, "keep_audio": False, "slowmo": "+4"}))
    assert [i.src for i in items] == [tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"]
    assert items[0].options == {"multi": 3} and items[0].output == Path("sub/x.mkv")
    assert items[1].options == {"fps": "59.94", "dedupe": True, "crf": 18}
    assert items[2].options == {"scene_threshold": 2.0, "keep_audio": False, "slowmo": 4}


def test_csv_rows_are_checked_alike(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("input,multi,output,\na.mp4,3,,\nb.mp4,2.7,,\n")
    refused(path, "line 3", "multi must be an integer")
    path.write_text("input,multi\na.mp4,3,extra\n")
    refused(path, "line 2", "fields but the header names 2")
    path.write_text("input,input\na.mp4,b.mp4\n")
    refused(path, "line 1", "given twice")
    path.write_text("input,output\na.mp4,../x.mp4\n")
    refused(path, "line 2", "inside OUTDIR")
    path.write_text('input\n"a.mp4\n')  # an unclosed quote
    items = read_manifest(path)  # the csv module reads it as one field: a name, checked later as a missing file
    assert len(items) == 1
    path.write_bytes(b"input\n\xff\xfe.mp4\n")
    refused(path, "not UTF-8")
    path.write_bytes(b"input\na\x00.mp4\n")
    refused(path, "NUL")


def test_deep_json_is_one_line(tmp_path):
    refused(jsonl(tmp_path, "[" * 100_000 + "]" * 100_000), "line 1", "not JSON")
    refused(jsonl(tmp_path, "[1, 2]"), "line 1", "expected a JSON object")


def test_collect_names_the_row_through_the_cli(tmp_path, capsys):
    from filmnet.cli import main

    manifest = jsonl(tmp_path, {"input": "a.mp4"}, {"input": ["a"]})
    assert main(["batch", str(manifest), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == ['error: m.jsonl line 2: input must be a path (text), got ["a"]'] and "Traceback" not in err
    with pytest.raises(InputError):
        collect([str(manifest)])


# ---------------------------------------------------------------- fuzzing

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

KEYS = st.sampled_from([*FILE_OPTIONS, "input", "path", "src", "file", "output", "speed", ""])
SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.sampled_from(["2", "3", "2.7", "yes", "nan", "60000/1001", "../x.mp4",
                                                   "/abs.mp4", "sub/x.mkv", "a.mp4", "1e308", " 4 "]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                                          inner, max_size=2),
                      max_leaves=4)


def check_items(items, manifest):
    kinds = dict(FILE_OPTIONS)
    for item in items:
        assert isinstance(item.src, Path)
        if item.output is not None:
            assert not item.output.is_absolute() and ".." not in item.output.parts
        for key, value in item.options.items():
            assert type(value) is kinds[key], (key, value)
            if isinstance(value, float):
                assert math.isfinite(value)


@given(st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=3))
def test_fuzz_jsonl_manifest(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fuzz") / "f.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        items = read_manifest(path)
    except InputError as err:
        assert "f.jsonl line " in str(err) and "\n" not in str(err)
        return
    check_items(items, path)


@given(st.text(max_size=200))
def test_fuzz_csv_and_jsonl_text(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("f.csv", "f.jsonl"):
        path = folder / name
        path.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates: bytes that are not UTF-8
        try:
            items = read_manifest(path)
        except InputError as err:
            assert name in str(err) and "\n" not in str(err)
            continue
        check_items(items, path)
