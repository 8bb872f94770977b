"""Downloads against a loopback mirror (issue 24 item 4, issue 25 items 1-3): the film_net pin, the stall rule and
deadline, resuming only what can be proven the same, and validation failures that delete the part."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import filmnet
from filmnet.cli import main
from filmnet.weights import hub
from helpers import nested_safetensors, tiny_model
from http_mirror import start_server, stop_server, within

FP16 = "film_net_fp16.safetensors"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    srv = start_server()
    yield srv
    stop_server(srv)


@pytest.fixture
def online(monkeypatch, tmp_path, server):
    """A fresh cache, downloads allowed through the loopback mirror, short stall settings (1 s at 2 kB/s)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FILMNET_HOME", str(home))
    monkeypatch.delenv("FILMNET_OFFLINE", raising=False)
    monkeypatch.setenv("FILMNET_MIRROR", server.url)
    monkeypatch.setenv("FILMNET_DOWNLOAD_STALL_S", "1")
    monkeypatch.setenv("FILMNET_DOWNLOAD_MIN_RATE", "2000")
    monkeypatch.setattr(hub, "_noted", set())
    return home


def _entry(name: str, filename: str, size: int, sha256: str | None = None, config: str = "film_tiny"):
    return hub.ModelEntry(name=name, description="test entry", config=config,
                          sources=(hub.Source(f"https://example.invalid/x/{filename}", size, sha256),))


@pytest.fixture
def register():
    names = []

    def add(entry):
        hub.register_model(entry)
        names.append(entry.name)
        return entry

    yield add
    for name in names:
        hub.unregister_model(name)


def _tiny_file(tmp_path: Path, seed: int) -> Path:
    return filmnet.save_model(tiny_model(seed), tmp_path / f"tiny{seed}.safetensors")


def _files(home: Path, name: str) -> list[str]:
    folder = home / "models" / name
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------ the film_net pin (issue 24 item 4)


def test_film_net_first_source_is_pinned_by_size_and_sha256():
    first, second = hub.MODELS["film_net"].sources
    assert "219da3c9d8c357ceaf457fc1d5932c6e861b8dee" in first.url and first.filename == FP16
    assert first.size == 68_882_302
    assert first.sha256 == "f226e51375dc839d4b40e5c3d63da560dd1ea1c962364ec78f5adf2d05db05c0"
    assert second.sha256 is None and second.size  # the fallback keeps the size and shape checks


def test_the_pinned_size_is_82_fp16_tensors_in_comfyui_naming():
    from safetensors.torch import save

    from filmnet.model import FILM, get_config
    from filmnet.weights.keys import COMFYUI, from_filmnet

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in FILM(get_config("film_net")).state_dict().items()}
    state = {k: torch.zeros(s, dtype=torch.float16) for k, s in shapes.items()}
    assert len(state) == 82 and len(save(from_filmnet(state, COMFYUI))) == hub.MODELS["film_net"].size


def test_the_builtin_pin_refuses_a_mirrored_file_of_the_right_size(online, server):
    """FILMNET_MIRROR does not bypass the pin: a same-size file with other bytes is refused, nothing cached."""
    fake = os.urandom(hub.MODELS["film_net"].size)
    server.files[FP16] = fake
    with pytest.raises(hub.DownloadError, match="does not match the pinned f226e513") as err:
        hub.pull("film_net", progress=False)
    assert "\n" not in str(err.value)
    assert _files(online, "film_net") == []


def test_a_file_differing_in_one_byte_from_the_pin_is_refused(online, server, register, tmp_path):
    data = bytearray(os.urandom(300_000))
    register(_entry("pinned_small", "small.bin", len(data), _sha(bytes(data))))
    data[150_000] ^= 1
    server.files["small.bin"] = bytes(data)
    with pytest.raises(hub.DownloadError, match="does not match the pinned"):
        hub.pull("pinned_small", progress=False)
    assert _files(online, "pinned_small") == []  # neither the file nor its part
    data[150_000] ^= 1
    server.files["small.bin"] = bytes(data)
    assert hub.pull("pinned_small", progress=False).read_bytes() == bytes(data)


def test_models_lists_which_sources_are_pinned(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("film_net sources"))
    assert "pinned: 68882302 bytes, sha256 f226e51375dc839d" in line and "not pinned" in line


# ------------------------------------------------------------------ stalls and deadlines (issue 25 item 1)


@pytest.mark.parametrize("shape", ["trickle", "silent after headers", "no headers"])
def test_a_stalled_transfer_is_abandoned_with_one_line(online, server, register, shape):
    data = os.urandom(200_000)
    register(_entry("stalls", "s.bin", len(data), _sha(data)))
    server.files["s.bin"] = data
    if shape == "trickle":
        server.trickle = (0.05, 30)  # 20 bytes/s for 30 s, then the connection closes
    elif shape == "silent after headers":
        server.trickle = (30, 30)
    else:
        server.hold = 30
    done = within(20, hub.pull, "stalls", progress=False)
    assert done is not None, "the download hung"
    ok, err = done
    assert not ok and isinstance(err, hub.DownloadError), err
    assert "\n" not in str(err) and ("stalled" in str(err) or "no answer" in str(err)), err


def test_a_transfer_past_its_deadline_is_abandoned(online, server, register, monkeypatch):
    data = os.urandom(2_000_000)
    register(_entry("slowpoke", "d.bin", len(data), _sha(data)))
    server.files["d.bin"] = data
    server.delay = 0.2  # ~320 kB/s: fast enough for the stall rule, too slow for a 1 s deadline
    monkeypatch.setenv("FILMNET_DOWNLOAD_DEADLINE_S", "1")
    monkeypatch.setenv("FILMNET_DOWNLOAD_DEADLINE_RATE", "1e8")
    done = within(20, hub.pull, "slowpoke", progress=False)
    assert done is not None and not done[0] and "deadline" in str(done[1]) and "\n" not in str(done[1]), done


def test_the_default_model_falls_back_to_film_lite_on_a_stall(online, server, monkeypatch, capsys):
    data = os.urandom(300_000)
    entry = hub.ModelEntry(name="film_net", description="test", config="film_net", sources=(
        hub.Source(f"https://example.invalid/x/{FP16}", len(data), _sha(data)),
        hub.Source("https://example.invalid/x/film_net_fp32.pt", len(data))))
    monkeypatch.setitem(hub.MODELS, "film_net", entry)
    server.files[FP16] = server.files["film_net_fp32.pt"] = data
    server.trickle = (0.05, 30)
    done = within(20, hub.resolve_weights, None)
    assert done is not None, "the default model's download hung"
    assert done == (True, hub.bundled_path(hub.MODELS["film_lite"]))
    assert len(server.log) == 1  # a stall ends the default download: the second source is not tried
    notes = [x for x in capsys.readouterr().err.splitlines() if x.startswith(("note", "error", "Traceback"))]
    assert len(notes) == 1 and "bundled film_lite" in notes[0] and "stalled" in notes[0], notes


@pytest.mark.slow
def test_the_default_model_falls_back_within_60_s_with_the_default_settings(tmp_path, server):
    """With no FILMNET_DOWNLOAD_* settings, a trickling mirror costs the default path under 60 s."""
    server.files[FP16] = server.files["film_net_fp32.pt"] = os.urandom(200_000)
    server.trickle = (1.0, 200)  # a byte a second
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILMNET_")}
    env.update(FILMNET_HOME=str(tmp_path / "home"), FILMNET_MIRROR=server.url, PYTHONPATH=SRC)
    code = ("import time; from filmnet.weights import hub; start = time.monotonic(); path = hub.resolve_weights(None); "
            "print(path, time.monotonic() - start)")  # timed after the imports, which a busy machine slows
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    path, seconds = proc.stdout.decode().split()
    assert "film_lite" in path and float(seconds) < 60, (path, seconds)
    print(f"fell back after {float(seconds):.1f} s")


# ------------------------------------------------------------------ resuming (issue 25 item 2)


def _interrupted(server, name: str, data: bytes, cut: int):
    """Leave a part of `data` behind: every transfer is cut, so the pull gives up with the part kept."""
    server.files[name] = data
    server.cut, server.cuts = cut, 100
    with pytest.raises(hub.DownloadError, match="partial download"):
        hub.pull("tiny", progress=False)
    server.cuts = 0


def test_a_stale_part_of_another_file_is_not_spliced(online, server, register, tmp_path):
    a, b = _tiny_file(tmp_path, 0).read_bytes(), _tiny_file(tmp_path, 1).read_bytes()
    assert len(a) == len(b) and a != b
    register(_entry("tiny", "t.safetensors", len(b)))
    part = online / "models" / "tiny" / "t.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(a[: len(a) // 2])  # a leftover with nothing saying where it came from
    server.files["t.safetensors"] = b
    assert hub.pull("tiny", progress=False).read_bytes() == b
    assert server.log == [("t.safetensors", None)]  # fetched from zero, not resumed


@pytest.mark.parametrize("liar", [False, True])
def test_a_file_changed_upstream_between_pulls_is_not_spliced(online, server, register, tmp_path, liar):
    a, b = _tiny_file(tmp_path, 0).read_bytes(), _tiny_file(tmp_path, 1).read_bytes()
    register(_entry("tiny", "t.safetensors", len(b)))
    _interrupted(server, "t.safetensors", a, len(a) // 8)
    server.files["t.safetensors"] = b  # a new upload under the same URL
    if liar:  # a server that ignores If-Range and answers 206 from the offset, with the new ETag
        def shape(handler, data, start):
            rng = handler.headers.get("Range")
            start = int(rng.split("=")[1].split("-")[0]) if rng else 0
            handler.send_response(206 if start else 200)
            if start:
                handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            handler.send_header("ETag", '"new"')
            handler.send_header("Content-Length", str(len(data) - start))
            handler.end_headers()
            handler.wfile.write(data[start:])
        server.shape = shape
    assert hub.pull("tiny", progress=False).read_bytes() == b


@pytest.mark.parametrize("validators, resumed", [("etag", True), ("last_modified", True), ("weak", False),
                                                 (None, False)])
def test_a_part_resumes_only_with_a_strong_validator(online, server, register, tmp_path, validators, resumed):
    a = _tiny_file(tmp_path, 0).read_bytes()
    register(_entry("tiny", "t.safetensors", len(a)))
    server.validators = validators
    _interrupted(server, "t.safetensors", a, len(a) // 8)
    server.log.clear()
    assert hub.pull("tiny", progress=False).read_bytes() == a
    assert (server.log[0][1] is not None) == resumed, server.log
    assert _files(online, "tiny") == ["t.safetensors", "t.safetensors.json"]


# ------------------------------------------------------------------ validation failures (issue 25 item 3)


def test_a_nested_json_header_is_refused_in_one_line_and_the_part_deleted(online, server, register, tmp_path):
    path = nested_safetensors(tmp_path / "n.safetensors", size=200_000)
    register(_entry("tiny", "t.safetensors", path.stat().st_size))
    server.files["t.safetensors"] = path
    for _ in range(2):  # the second pull fails the same way, not on a leftover
        with pytest.raises(hub.DownloadError, match="nests too deeply") as err:
            hub.pull("tiny", progress=False)
        assert "\n" not in str(err.value)
        assert _files(online, "tiny") == []
    assert server.log[1] == ("t.safetensors", None)


# ------------------------------------------------------------------ the offline error (issue 24 item 6)


def test_an_unreachable_pull_is_one_short_line_saying_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FILMNET_OFFLINE"}
    env.update(FILMNET_HOME=str(tmp_path), FILMNET_MIRROR="http://127.0.0.1:9/x", PYTHONPATH=SRC)
    proc = subprocess.run([sys.executable, "-m", "filmnet.cli", "models", "pull", "film_net"], env=env,
                          capture_output=True, timeout=120)
    lines = proc.stderr.decode().strip().splitlines()
    error = lines[-1]
    assert proc.returncode == 1 and error.startswith("error: could not download film_net"), lines
    assert len(error) < 400 and "FILMNET_MIRROR" in error and "--weights" in error and "filmnet convert" in error
    assert not any(w in proc.stderr.decode() for w in ("urllib3", "HTTPConnectionPool", "Max retries", "object at"))
    assert all(len(line) < 200 for line in lines[:-1])


def test_failure_message_is_public_for_the_web_page():
    from filmnet.weights.download import failure_message

    text = failure_message(hub.MODELS["film_net"], [("https://huggingface.co/x", hub.DownloadError("HTTP 503"))])
    assert "\n" not in text and "huggingface.co: HTTP 503" in text and "FILMNET_MIRROR" in text
    assert json.dumps(text)  # plain text
