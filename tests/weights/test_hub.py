"""The model registry (filmnet.weights.hub): downloads from a loopback server via FILMNET_MIRROR, never the internet.

The served film_net is built here: random weights of the official shapes in the ComfyUI `.conv.` naming (fp16, as
the Hugging Face file), and for the second source the dajes v1.0.2 TorchScript layout (fp32).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import filmnet
from filmnet.cli import main
from filmnet.errors import WeightsError
from filmnet.model import FILM, get_config
from filmnet.weights import hub
from filmnet.weights.keys import COMFYUI, FILMNET, from_filmnet
from helpers import save_dajes_torchscript, write_images
from http_mirror import start_server, stop_server

FP16 = "film_net_fp16.safetensors"
FP32 = "film_net_fp32.pt"
SRC = str(Path(__file__).resolve().parents[2] / "src")


# ------------------------------------------------------------------ served files


def _film_net_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return FILM(get_config("film_net")).state_dict()


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> Path:
    """A folder holding film_net_fp16.safetensors: film_net-shaped random weights in the ComfyUI naming."""
    folder = tmp_path_factory.mktemp("served")
    state = {k: v.half().contiguous() for k, v in _film_net_state().items()}
    save_file(from_filmnet(state, COMFYUI), str(folder / FP16))
    return folder


@pytest.fixture(scope="session")
def served_pt(tmp_path_factory) -> Path:
    """film_net_fp32.pt in the dajes v1.0.2 TorchScript layout (read without running its code)."""
    path = tmp_path_factory.mktemp("served_pt") / FP32
    save_dajes_torchscript(from_filmnet(_film_net_state(seed=1), FILMNET), path)  # the dajes v1.0.2 key layout
    return path


@pytest.fixture
def server():
    srv = start_server()
    yield srv
    stop_server(srv)


UNPIN = ("import dataclasses; from filmnet.weights import registry as r; e = r.MODELS['film_net']; "
         "r.MODELS['film_net'] = dataclasses.replace(e, sources=tuple(r.Source(s.url, s.size) for s in e.sources))")


def unpinned(entry: hub.ModelEntry) -> hub.ModelEntry:
    """`entry` with its sources' sha256 pins dropped: the tests serve film_net-shaped random weights, which the
    built-in pin refuses (test_weights_pin.py checks that); shapes and sizes are still checked."""
    return dataclasses.replace(entry, sources=tuple(hub.Source(s.url, s.size) for s in entry.sources))


@pytest.fixture
def online(monkeypatch, tmp_path, server):
    """A fresh cache, downloads allowed, every source mirrored on the loopback server, film_net unpinned."""
    home = tmp_path / "home"
    monkeypatch.setenv("FILMNET_HOME", str(home))
    monkeypatch.delenv("FILMNET_OFFLINE", raising=False)
    monkeypatch.setenv("FILMNET_MIRROR", server.url)
    monkeypatch.setattr(hub, "_noted", set())
    monkeypatch.setitem(hub.MODELS, "film_net", unpinned(hub.MODELS["film_net"]))
    return home


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_files(home: Path) -> list[str]:
    folder = home / "models" / "film_net"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _frames() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 3, 64, 64, generator=g)


def _same_output(a: FILM, b: FILM) -> bool:
    with torch.no_grad():
        return torch.equal(a(*_frames(), 0.5).image, b(*_frames(), 0.5).image)


def _cli(*args: str) -> list[str]:
    """`filmnet ARGS` in a child process whose film_net is unpinned like the `online` fixture's."""
    return [sys.executable, "-c", UNPIN + "; import sys; from filmnet.cli import main; sys.exit(main(sys.argv[1:]))",
            *args]


def _env(home: Path, mirror: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "FILMNET_OFFLINE"}
    env.update(FILMNET_HOME=str(home), FILMNET_MIRROR=mirror, PYTHONPATH=SRC, OMP_NUM_THREADS="1")
    return env


# ------------------------------------------------------------------ registry and environment


def test_registry_names_aliases_and_cache_dir(monkeypatch, tmp_path):
    assert list(hub.MODELS)[:2] == ["film_net", "film_lite"] and hub.DEFAULT_MODEL == "film_net"
    entry = hub.resolve_name("film_net-style")
    assert entry.name == "film_net" and entry.config == "film_net" and "Apache-2.0" in entry.license
    assert [s.filename for s in entry.sources] == [FP16, FP32]
    assert entry.sources[0].url.startswith("https://huggingface.co/Comfy-Org/frame_interpolation/resolve/")
    assert entry.size == entry.sources[0].size and 60e6 < entry.size < 75e6
    assert hub.MODELS["film_lite"].sources == () and hub.is_cached("film_lite")
    with pytest.raises(WeightsError, match="unknown model 'nope'.*film_net"):
        hub.resolve_name("nope")
    monkeypatch.setenv("FILMNET_HOME", str(tmp_path / "a"))
    assert hub.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FILMNET_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == tmp_path / "xdg" / "filmnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert hub.cache_dir() == tmp_path / "h" / ".cache" / "filmnet"
    monkeypatch.setenv("FILMNET_MIRROR", "http://mirror.local/x/")
    assert [u for _, u in hub.source_urls(entry)] == [f"http://mirror.local/x/{FP16}", f"http://mirror.local/x/{FP32}"]


def test_an_existing_path_always_means_the_file(monkeypatch, tmp_path, served):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "film_net").write_bytes(served.joinpath(FP16).read_bytes())
    assert hub.resolve_weights("film_net") == "film_net"  # the file, not the (uncached, offline) model
    model = filmnet.load_model(hub.resolve_weights("film_net"))
    assert model.config == get_config("film_net")


# ------------------------------------------------------------------ pull, cache, load


def test_pull_cache_load_gives_the_same_output_as_the_file(online, server, served, capsys):
    server.files[FP16] = served / FP16
    path = hub.model_path("film_net")
    assert path == online / "models" / "film_net" / FP16
    assert _sha(path) == _sha(served / FP16)
    record = json.loads(path.with_name(FP16 + ".json").read_text())
    assert record["sha256"] == _sha(path) and record["url"] == f"{server.url}/{FP16}"
    assert _cache_files(online) == [FP16, FP16 + ".json"]  # no .part left behind
    err = capsys.readouterr().err
    assert "downloading film_net: 68.9 MB" in err  # the size is named before the bar
    assert _same_output(filmnet.load_model(hub.model_path("film_net")), filmnet.load_model(served / FP16))
    interp = filmnet.Interpolator("film_net")
    assert interp.flow == "model" and interp.weights_path == path  # film_net's default flows are its own
    default = filmnet.Interpolator()  # cached: the default is the real FILM, with no note
    assert default.weights_path == path and default.flow == "model"
    assert "note" not in capsys.readouterr().err
    assert len(server.log) == 1  # later loads use the cache

    with open(path, "r+b") as f:  # the recorded sha256 is checked on every load
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(WeightsError, match="does not match its recorded sha256.*filmnet models rm film_net"):
        hub.model_path("film_net")
    with pytest.raises(WeightsError, match="recorded sha256"):
        filmnet.Interpolator()  # a changed cache is refused, not silently replaced by the fallback
    assert [p.name for p in hub.remove("film_net")] == [FP16, FP16 + ".json"]
    assert not hub.is_cached("film_net")


def test_a_404_on_the_first_source_falls_back_to_the_second(online, server, served, served_pt, capsys):
    server.files[FP32] = served_pt
    path = hub.model_path("film_net")
    assert path.name == FP32 and _sha(path) == _sha(served_pt)
    assert [name for name, _ in server.log] == [FP16, FP32]
    assert "HTTP 404" in capsys.readouterr().err
    assert _same_output(filmnet.load_model(hub.model_path("film_net")), filmnet.load_model(served_pt))


def test_a_transfer_cut_short_resumes_with_range(online, server, served):
    server.files[FP16] = served / FP16
    server.cut, server.cuts = 5_000_000, 2  # two broken transfers, then a whole one
    path = hub.model_path("film_net", progress=False)
    assert _sha(path) == _sha(served / FP16)
    starts = [int(r.split("=")[1].rstrip("-")) if r else 0 for _, r in server.log]
    assert len(starts) == 3 and 0 < starts[1] <= 5_000_000 < starts[2] <= 10_000_000  # resumed where it broke
    assert _cache_files(online) == [FP16, FP16 + ".json"]


def test_a_transfer_that_keeps_failing_is_a_clear_error_with_nothing_cached(online, server, served):
    server.files[FP16] = served / FP16
    server.cut, server.cuts = 1_000_000, 100
    with pytest.raises(hub.DownloadError, match="could not download film_net.*partial download"):
        hub.model_path("film_net", progress=False)
    assert not hub.is_cached("film_net")
    assert _cache_files(online) == [FP16 + ".part", FP16 + ".part.json"]  # resumable on the next pull (validator)
    have = (online / "models" / "film_net" / (FP16 + ".part")).stat().st_size
    assert 3_000_000 < have <= 4_000_000  # four broken transfers of 1 MB, appended
    server.cuts = 0
    assert _sha(hub.pull("film_net", progress=False)) == _sha(served / FP16)
    assert server.log[-1] == (FP16, f"bytes={have}-")


def test_a_whole_part_left_over_is_validated_not_fetched_again(online, server, served):
    server.files[FP16] = served / FP16
    part = online / "models" / "film_net" / (FP16 + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes((served / FP16).read_bytes())  # e.g. interrupted while being checked
    size = (served / FP16).stat().st_size
    record = {"url": f"{server.url}/{FP16}", "total": size, "etag": '"x"', "last_modified": None}
    part.with_name(part.name + ".json").write_text(json.dumps(record))
    assert _sha(hub.model_path("film_net", progress=False)) == _sha(served / FP16)
    assert server.log == []  # the record says it is whole: validation decides
    assert _cache_files(online) == [FP16, FP16 + ".json"]
    hub.remove("film_net")
    part.write_bytes((served / FP16).read_bytes())  # no record: nothing proves what it is
    assert _sha(hub.model_path("film_net", progress=False)) == _sha(served / FP16)
    assert server.log == [(FP16, None)]  # fetched again from zero
    assert _cache_files(online) == [FP16, FP16 + ".json"]


def test_a_server_ignoring_range_restarts_from_zero(online, server, served):
    server.files[FP16] = served / FP16
    server.cut, server.cuts, server.ranges = 3_000_000, 1, False
    assert _sha(hub.model_path("film_net", progress=False)) == _sha(served / FP16)


def test_an_html_error_page_is_refused_and_nothing_is_cached(online, server):
    page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>"
    server.files[FP16] = server.files[FP32] = page
    server.content_type = "text/html"
    with pytest.raises(hub.DownloadError) as err:
        hub.model_path("film_net", progress=False)
    assert "HTML page" in str(err.value) and "refused" in str(err.value)
    assert _cache_files(online) == []


@pytest.mark.parametrize("flaw", ["shape", "missing", "nan"])
def test_wrong_tensors_are_refused(online, server, tmp_path, flaw):
    state = {k: v.half().contiguous() for k, v in _film_net_state().items()}
    key = "fuse.output_conv.weight"  # [3, 64, 1, 1]
    if flaw == "shape":
        state[key] = state[key].reshape(64, 3, 1, 1).contiguous()
    elif flaw == "missing":
        state["extra.weight"] = state.pop(key)
    else:
        state[key][0, 0] = float("nan")
    bad = tmp_path / FP16
    save_file(from_filmnet(state, COMFYUI), str(bad))
    server.files[FP16] = bad
    with pytest.raises(hub.DownloadError, match="refused") as err:
        hub.model_path("film_net", progress=False)
    assert {"shape": "1 with a wrong shape (first: fuse.output_conv.weight is [64, 3, 1, 1], official [3, 64, 1, 1])",
            "missing": "1 missing keys (first: fuse.output_conv.weight)", "nan": "non-finite"}[flaw] in str(err.value)
    assert _cache_files(online) == []


def test_a_pinned_sha256_mismatch_is_refused(online, server, served):
    server.files[FP16] = served / FP16
    base = hub.MODELS["film_net"]
    size = (served / FP16).stat().st_size
    for name, pin in [("pinned_wrong", "0" * 64), ("pinned_right", _sha(served / FP16))]:
        hub.register_model(dataclasses.replace(base, name=name, aliases=(),
                                               sources=(hub.Source(base.sources[0].url, size, pin),)))
    try:
        with pytest.raises(hub.DownloadError, match="does not match the pinned"):
            hub.model_path("pinned_wrong", progress=False)
        assert not hub.is_cached("pinned_wrong") and not (online / "models" / "pinned_wrong" / FP16).exists()
        assert _sha(hub.model_path("pinned_right", progress=False)) == _sha(served / FP16)
    finally:
        hub.unregister_model("pinned_wrong")
        hub.unregister_model("pinned_right")


# ------------------------------------------------------------------ default model and the offline fallback


def test_offline_fallback_never_connects_and_notes_once(online, server, served, monkeypatch, capsys):
    server.files[FP16] = served / FP16
    monkeypatch.setenv("FILMNET_OFFLINE", "1")
    start = time.perf_counter()
    interp = filmnet.Interpolator()
    seconds = time.perf_counter() - start
    assert interp.weights_path == hub.bundled_path(hub.MODELS["film_lite"])
    assert interp.flow == "hybrid"  # film_lite keeps what its metadata asks for
    filmnet.load_model(hub.resolve_weights(None))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bundled film_lite" in err[0] and "filmnet models pull film_net" in err[0]
    assert server.log == []  # no connection attempted
    print(f"offline fallback: Interpolator() in {seconds:.2f} s")  # reported, not asserted (busy machines)
    with pytest.raises(hub.DownloadError, match="FILMNET_OFFLINE=1"):
        hub.model_path("film_net")  # an explicit request says why instead of falling back


def test_a_failed_default_download_is_remembered(online, server, capsys):
    server.status = 503
    assert hub.resolve_weights(None) == hub.bundled_path(hub.MODELS["film_lite"])
    assert [name for name, _ in server.log] == [FP16, FP32]
    assert (online / hub.FAILURE_FILE).is_file()
    assert "could not be downloaded" in capsys.readouterr().err
    hub.resolve_weights(None)  # within FAILURE_MEMORY_S: straight to the fallback, no connection
    assert len(server.log) == 2
    with pytest.raises(hub.DownloadError, match="HTTP 503"):
        hub.pull("film_net", progress=False)  # an explicit pull always tries
    assert len(server.log) == 4


def test_an_unreachable_mirror_falls_back(online, monkeypatch, capsys):
    monkeypatch.setenv("FILMNET_MIRROR", "http://127.0.0.1:9")  # discard port: connection refused
    assert hub.resolve_weights(None) == hub.bundled_path(hub.MODELS["film_lite"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("note: using the bundled film_lite")


# ------------------------------------------------------------------ processes


@pytest.mark.slow
def test_two_processes_pulling_at_once_end_with_one_good_file(online, server, served):
    server.files[FP16] = served / FP16
    server.delay = 0.002
    env = _env(online, server.url)
    cmd = _cli("models", "pull", "film_net")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    path = online / "models" / "film_net" / FP16
    assert all(str(path) in out.decode() for out, _ in results)
    assert _sha(path) == _sha(served / FP16)
    assert _cache_files(online) == [FP16, FP16 + ".json"]
    assert server.log == [(FP16, None)]  # the second process waited for the lock and found the file


@pytest.mark.slow
def test_ctrl_c_during_a_download_leaves_only_a_resumable_part(online, server, served):
    server.files[FP16] = served / FP16
    server.delay = 0.02  # ~3 MB/s: the download takes ~20 s
    part = online / "models" / "film_net" / (FP16 + ".part")
    proc = subprocess.Popen(_cli("models", "pull", "film_net"),
                            env=_env(online, server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (part.exists() and part.stat().st_size > 2_000_000):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"partial download is kept" in err and b"Traceback" not in err
    assert _cache_files(online) == [FP16 + ".part", FP16 + ".part.json"]
    have = part.stat().st_size
    assert 0 < have < (served / FP16).stat().st_size
    server.delay = 0.0
    assert _sha(hub.pull("film_net", progress=False)) == _sha(served / FP16)
    assert server.log[-1] == (FP16, f"bytes={have}-")


# ------------------------------------------------------------------ CLI


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_model_gives_the_same_frames_as_weights(online, server, served, tmp_path, capsys):
    server.files[FP16] = served / FP16
    a, b = write_images(tmp_path)
    common = ["interpolate", a, b, "--exp", "1", "--precision", "fp32", "--max-memory", "none"]
    code, out, err = _run(capsys, *common, "-o", tmp_path / "by_name", "--model", "film_net")
    assert code == 0, err
    assert "model flows" in out
    code, out, err = _run(capsys, *common, "-o", tmp_path / "by_file", "--weights", served / FP16)
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "by_name").iterdir())
    assert len(names) == 3 and names == sorted(p.name for p in (tmp_path / "by_file").iterdir())
    for name in names:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "by_name" / name)),
                              np.asarray(Image.open(tmp_path / "by_file" / name)))

    code, out, _ = _run(capsys, "models")
    assert code == 0
    header, net, lite = out.splitlines()[:3]
    assert header.split() == ["name", "size", "cached", "source", "license", "sha256"]
    assert net.split()[:3] == ["film_net", "68.9", "MB"] and "yes" in net and _sha(served / FP16) in net
    assert lite.startswith("film_lite") and "bundled" in lite
    code, out, _ = _run(capsys, "models", "path", "film_net-style")
    assert code == 0 and out.strip() == str(online / "models" / "film_net" / FP16)
    code, out, _ = _run(capsys, "models", "rm", "film_net")
    assert code == 0 and out.count("removed") == 2
    code, _, err = _run(capsys, "models", "path", "film_net")
    assert code == 1 and err.strip() == "error: model film_net is not downloaded yet; run `filmnet models pull film_net`"


def test_cli_model_and_weights_together_is_one_line_error(tmp_path, capsys, served):
    from helpers import make_clip

    a, b = write_images(tmp_path)
    clip = make_clip(tmp_path / "clip.mp4", n=3)  # a PNG is refused by content before the model options are read
    for command in (["interpolate", a, b, "--exp", "1", "-o", tmp_path / "o"], ["demo", "-o", tmp_path / "d"],
                    ["export", "--onnx", tmp_path / "m.onnx"], ["video", clip, "--multi", "2"]):
        code, out, err = _run(capsys, *command, "--model", "film_net", "--weights", served / FP16)
        assert code == 1 and err == "error: give --model NAME or --weights PATH, not both\n", (command, err)
    code, _, err = _run(capsys, "eval", "--data", tmp_path, "--model", "film_net", "--weights", served / FP16)
    assert code == 1 and "not both" in err
    code, _, err = _run(capsys, "interpolate", a, b, "--exp", "1", "-o", tmp_path / "o", "--model", "nope")
    assert code == 1 and err.startswith("error: unknown model 'nope'") and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_offline_default_runs_on_the_fallback_with_one_note(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(hub, "_noted", set())  # conftest: FILMNET_OFFLINE=1 and an empty cache
    a, b = write_images(tmp_path)
    code, out, err = _run(capsys, "interpolate", a, b, "--exp", "1", "-o", tmp_path / "x.mp4")
    assert code == 0 and (tmp_path / "x.mp4").stat().st_size > 0
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "filmnet models pull film_net" in notes[0] and "Traceback" not in err


def test_cli_eval_takes_repeated_model_names(online, server, served, tmp_path, capsys):
    server.files[FP16] = served / FP16
    seq = tmp_path / "data" / "seq0"
    seq.mkdir(parents=True)
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    for i, shift in enumerate((0, 2, 4)):
        Image.fromarray(np.ascontiguousarray(base[:64, shift:shift + 72])).save(seq / f"im{i + 1}.png")
    code, out, err = _run(capsys, "eval", "--data", tmp_path / "data", "--model", "film_net",
                          "--model", "film_lite", "--flow", "model")
    assert code == 0, err
    assert "filmnet:film_net" in out and "filmnet:film_lite" in out
