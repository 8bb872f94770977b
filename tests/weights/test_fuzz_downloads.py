"""Hypothesis fuzzing of downloads and .pt containers (issue 25): HTTP response shapes from a loopback server
(truncation, trickle, wrong lengths and ranges, validators, a file changed upstream), and the central-directory
fields of PyTorch zips. Every outcome is the whole served file or one line of DownloadError/WeightsError; never a
splice, a hang, another exception, or an archive that promises more than MAX_INFLATION allows."""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import example, given, settings, strategies as st  # noqa: E402

import filmnet  # noqa: E402
from filmnet.errors import FilmError  # noqa: E402
from filmnet.weights import hub  # noqa: E402
from filmnet.weights.loader import read_weights  # noqa: E402
from filmnet.weights.torchscript import INFLATION_SLACK, MAX_INFLATION  # noqa: E402
from helpers import tiny_model  # noqa: E402
from http_mirror import start_server, stop_server, within  # noqa: E402
from zip_builders import torch_zip, write_zip  # noqa: E402

SCRATCH = Path(tempfile.mkdtemp(prefix="filmnet-fuzz-dl-"))
NAME = "t.safetensors"
FILES = [filmnet.save_model(tiny_model(seed), SCRATCH / f"{seed}.safetensors").read_bytes() for seed in (0, 1)]
ENTRY = hub.ModelEntry(name="fuzzed", description="fuzz", config="film_tiny",
                       sources=(hub.Source(f"https://example.invalid/x/{NAME}", len(FILES[0])),))


def teardown_module():
    shutil.rmtree(SCRATCH, ignore_errors=True)


@pytest.fixture(scope="module")
def server():
    srv = start_server()
    srv.files[NAME] = FILES[0]  # the answers themselves come from `shape`
    hub.register_model(ENTRY)
    yield srv
    hub.unregister_model(ENTRY.name)
    stop_server(srv)


answers = st.fixed_dictionaries({
    "status": st.sampled_from([200, 206, 206, 416, 500]),
    "length": st.sampled_from(["right", "right", "short", "long", "none"]),
    "range": st.sampled_from(["right", "right", "start+7", "total-1", "garbage", "none"]),
    "validator": st.sampled_from(["same", "same", "other", "weak", "none"]),
    "file": st.sampled_from([0, 0, 1]),  # 1: the file changed upstream
    "cut": st.none() | st.floats(0, 1),
    "trickle": st.sampled_from([False, False, False, True]),
})


def _answer(plan: dict):
    """A server `shape` hook answering requests in turn from `plan` (honest answers once it runs out)."""
    def shape(handler, _data, _start):
        spec = plan.pop(0) if plan else {"status": 200, "length": "right", "range": "none", "validator": "same",
                                         "file": 0, "cut": None, "trickle": False}
        data = FILES[spec["file"]]
        rng = handler.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng and spec["status"] == 206 else 0
        start = min(start, len(data))
        if spec["status"] in (416, 500):
            handler.send_response(spec["status"])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        body = data[start + (7 if spec["range"] == "start+7" else 0):]
        handler.send_response(spec["status"])
        if spec["status"] == 206 and spec["range"] != "none":
            total = len(data) - (1 if spec["range"] == "total-1" else 0)
            value = "bytes x-y/z" if spec["range"] == "garbage" else f"bytes {start}-{len(data) - 1}/{total}"
            handler.send_header("Content-Range", value)
        tag = {"same": f'"v{spec["file"]}"', "other": '"zz"', "weak": f'W/"v{spec["file"]}"', "none": None}
        if tag[spec["validator"]]:
            handler.send_header("ETag", tag[spec["validator"]])
        length = {"right": len(body), "short": max(len(body) - 100, 0), "long": len(body) + 100, "none": None}
        if length[spec["length"]] is not None:
            handler.send_header("Content-Length", str(length[spec["length"]]))
        handler.send_header("Connection", "close")
        handler.end_headers()
        if spec["cut"] is not None:
            body = body[: int(len(body) * spec["cut"])]
        try:
            if spec["trickle"]:
                handler.wfile.write(body[:1])
                handler.wfile.flush()
                time.sleep(0.8)  # silent past the 0.3 s stall window
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        handler.close_connection = True
    return shape


HONEST_206 = {"status": 206, "length": "right", "range": "right", "validator": "same", "file": 0, "cut": None,
              "trickle": False}


@settings(max_examples=int(os.environ.get("FILMNET_FUZZ_HTTP_EXAMPLES", "25")))  # each example is a pull
@given(plans=st.lists(answers, min_size=1, max_size=6), leftover=st.sampled_from([None, "prefix", "other", "whole"]))
@example(plans=[HONEST_206], leftover="other")  # a stale part of another file, resumed by an honest server
@example(plans=[{**HONEST_206, "status": 200, "cut": 0.5}, {**HONEST_206, "file": 1}], leftover=None)  # changed upstream
def test_fuzz_http_answers_give_the_whole_file_or_one_line(server, plans, leftover):
    home = Path(tempfile.mkdtemp(dir=SCRATCH))
    env = {"FILMNET_HOME": str(home), "FILMNET_MIRROR": server.url, "FILMNET_DOWNLOAD_STALL_S": "0.3",
           "FILMNET_DOWNLOAD_MIN_RATE": "1000"}
    saved = {k: os.environ.get(k) for k in (*env, "FILMNET_OFFLINE")}
    os.environ.update(env)
    os.environ.pop("FILMNET_OFFLINE", None)
    try:
        folder = home / "models" / ENTRY.name
        folder.mkdir(parents=True)
        if leftover:  # a part from an earlier pull: of this file, of another, or whole, with no record
            src = FILES[1] if leftover == "other" else FILES[0]
            (folder / f"{NAME}.part").write_bytes(src if leftover == "whole" else src[: len(src) // 3])
        server.shape = _answer([dict(p) for p in plans])
        done = within(30, hub.pull, ENTRY.name, progress=False)
        assert done is not None, "the pull hung"
        ok, result = done
        assert server.log and "HTTP 404" not in str(result)
        if ok:
            assert result.read_bytes() in FILES  # a whole served file, never a splice
        else:
            assert isinstance(result, FilmError) and "\n" not in str(result), repr(result)
            assert not (folder / NAME).exists()
    finally:
        server.shape = None
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------ .pt container headers

HONEST = torch_zip(SCRATCH / "honest.pt", {"a": torch.arange(6.0), "b": torch.ones(3)}).read_bytes()
_EXTRA = bytes(range(256)) * 64 + bytes(16384)  # 32 KiB that deflates about 10x: an honest compressed member
_DEFLATE = zlib.compressobj(9, 8, -15)
_STREAM = _DEFLATE.compress(_EXTRA) + _DEFLATE.flush()
DEFLATED = write_zip(SCRATCH / "deflated.pt", [
    (n, d) for n, d in ((i.filename, zipfile.ZipFile(SCRATCH / "honest.pt").read(i))
                        for i in zipfile.ZipFile(SCRATCH / "honest.pt").infolist())] +
    [("archive/extra", _STREAM, len(_EXTRA), zlib.crc32(_EXTRA))]).read_bytes()

# (offset in a central record, struct format) of the fields a hostile archive can lie about
FIELDS = {"method": (10, "<H"), "crc": (16, "<I"), "compressed": (20, "<I"), "size": (24, "<I"),
          "name_len": (28, "<H"), "local_offset": (42, "<I")}


def _records(data: bytes) -> list[int]:
    out, pos = [], data.find(b"PK\x01\x02")
    while pos != -1:
        out.append(pos)
        pos = data.find(b"PK\x01\x02", pos + 4)
    return out


edits = st.lists(st.tuples(st.integers(0, 10), st.sampled_from(sorted(FIELDS)),
                           st.sampled_from([0, 1, 7, 8, 100, 1 << 20, 1 << 30, 2**32 - 1]) | st.integers(0, 2**16)),
                 min_size=1, max_size=4)


@given(st.sampled_from([HONEST, DEFLATED]), edits)
@example(DEFLATED, [(5, "size", 1 << 30)])  # an unreferenced member promising 1 GiB from 3 kB
def test_fuzz_pt_zip_central_directory(seed, changes):
    data = bytearray(seed)
    records = _records(seed)
    for which, field, value in changes:
        offset, fmt = FIELDS[field]
        value &= (1 << (8 * struct.calcsize(fmt))) - 1
        struct.pack_into(fmt, data, records[which % len(records)] + offset, value)
    path = SCRATCH / "fuzzed.pt"
    path.write_bytes(bytes(data))
    try:
        loaded = read_weights(path)
    except FilmError as err:
        assert "\n" not in str(err)
        return
    assert all(isinstance(t, torch.Tensor) for t in loaded.state.values())
    infos = zipfile.ZipFile(path).infolist()  # accepted: it cannot have promised a bomb
    packed = sum(i.compress_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    inflated = sum(i.file_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    assert inflated <= MAX_INFLATION * packed + INFLATION_SLACK
    assert all(i.file_size == i.compress_size for i in infos if i.compress_type == zipfile.ZIP_STORED)


def test_the_container_seeds_are_valid():
    assert set(read_weights(SCRATCH / "honest.pt").state) == {"a", "b"}
    assert set(read_weights(SCRATCH / "deflated.pt").state) == {"a", "b"}
