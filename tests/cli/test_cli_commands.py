"""The CLI wiring of `video`, `train`, `eval`, `demo` and `export`: each calls its Python API and reports."""
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import filmnet
from helpers import save_tiny, run_cli


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors", plain=True)


run = run_cli


def textured(h: int, w: int, shift: int = 0) -> np.ndarray:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    img = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    return np.ascontiguousarray(img[:h, shift : shift + w])


def make_generic_triplets(root: Path, n: int = 2) -> Path:
    for k in range(n):
        d = root / f"seq{k}"
        d.mkdir(parents=True)
        for i, s in enumerate((0, 2, 4)):
            Image.fromarray(textured(64, 72, s + k)).save(d / f"im{i + 1}.png")
    return root


def test_eval_baselines_and_weights_side_by_side(tmp_path, capsys, weights):
    data = make_generic_triplets(tmp_path / "data")
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    code, out, err = run(capsys, "eval", "--data", data, "--weights", weights, "--method", "blend",
                         "--json", js, "--csv", cs)
    assert code == 0, err
    assert "filmnet:tiny" in out and "blend" in out
    results = json.loads(js.read_text())["results"]
    assert [r["method"] for r in results] == ["filmnet:tiny", "blend"]
    assert all(r["n"] == 2 and np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 for r in results)
    rows = cs.read_text().splitlines()
    assert rows[0].startswith("method,data,name,psnr") and len(rows) == 1 + 4


def test_eval_single_result_json_is_flat(tmp_path, capsys):
    data = make_generic_triplets(tmp_path / "data", n=1)
    js = tmp_path / "r.json"
    code, _, err = run(capsys, "eval", "--data", data, "--method", "blend", "--json", js)
    assert code == 0, err
    summary = json.loads(js.read_text())
    assert summary["n"] == 1 and {"psnr", "ssim", "ie"} <= set(summary)


def test_eval_needs_a_method_or_weights(tmp_path, capsys):
    code, _, err = run(capsys, "eval", "--data", make_generic_triplets(tmp_path / "d", 1))
    assert code != 0 and err.count("\n") == 1 and "error:" in err


def test_train_writes_loadable_weights(tmp_path, capsys):
    frames = tmp_path / "clip"
    frames.mkdir()
    for k in range(6):
        Image.fromarray(textured(80, 96, 2 * k)).save(frames / f"{k:06d}.png")
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--model", "film_tiny", "--data", frames, "--steps", 2,
                            "--batch-size", 2, "--crop", 64, "--out", out, "--precision", "fp32", "--device", "cpu")
    assert code == 0, err
    assert "model.safetensors" in stdout
    model = filmnet.load_model(out / "model.safetensors")
    assert model.config == filmnet.CONFIGS["film_tiny"]


def test_train_refuses_evaluation_sets(tmp_path, capsys):
    bad = tmp_path / "middlebury_other"
    bad.mkdir()
    code, _, err = run(capsys, "train", "--model", "film_tiny", "--data", bad, "--steps", 1, "--out", tmp_path / "r")
    assert code != 0 and "evaluation" in err and not (tmp_path / "r").exists()


def test_demo_writes_mp4_and_gif(tmp_path, capsys, weights):
    av = pytest.importorskip("av")
    code, out, err = run(capsys, "demo", "-o", tmp_path / "demo", "--exp", 2, "--weights", weights)
    assert code == 0, err
    mp4 = next((tmp_path / "demo").glob("*.mp4"))
    assert "synthetic" in mp4.name and str(mp4) in out
    assert "middle frame vs the scene rendered at t = 0.5" in out and "averaging the two inputs" in out
    with av.open(str(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2**2 + 1
    gif = Image.open(next((tmp_path / "demo").glob("*.gif")))
    # Pillow merges identical consecutive frames and adds their durations, so check the total time.
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    assert gif.info.get("loop") == 0 and abs(sum(durations) - 5 * 1000 / 30) <= 5 * 10  # GIF stores 10 ms units


def test_video_multi(tmp_path, capsys, weights):
    av = pytest.importorskip("av")
    src = tmp_path / "clip.mp4"
    with av.open(str(src), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for k in range(6):
            frame = av.VideoFrame.from_ndarray(textured(64, 96, 3 * k), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    code, out, err = run(capsys, "video", src, "--multi", 2, "--weights", weights, "--precision", "fp32")
    assert code == 0, err
    dst = tmp_path / "clip_2X_48fps.mp4"
    with av.open(str(dst)) as container:
        assert container.streams.video[0].average_rate == 48
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_video_needs_exactly_one_mode(tmp_path, capsys, weights):
    code, _, err = run(capsys, "video", tmp_path / "x.mp4", "--multi", 2, "--slowmo", 2, "--weights", weights)
    assert code != 0 and "exactly one" in err


@pytest.mark.parametrize("flags, message", [
    (["--tile", "100x100"], "--tile sizes must be multiples of 64, got 100x100 (HxW)"),
    (["--tile", "128x128", "--tile-overlap", "128"], "--tile 128x128 (HxW) must be larger than --tile-overlap 128"),
    (["--max-memory", "lots"], "cannot read memory size 'lots'"),
])
def test_bad_model_options_stop_batch_before_any_worker_with_videos_error(tmp_path, capsys, weights, monkeypatch,
                                                                          flags, message):
    import filmnet.batch
    from filmnet.batch import local

    def no_workers(*args, **kwargs):
        raise AssertionError("no batch may start")

    monkeypatch.setattr(filmnet.batch, "run_batch", no_workers)
    monkeypatch.setattr(local, "LocalExecutor", no_workers)
    monkeypatch.setattr(local, "InlineExecutor", no_workers)
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"not read: the options fail first")
    common = [src, "--multi", 2, "--weights", weights, *flags]
    video = run(capsys, "video", *common, "-o", tmp_path / "out.mp4")
    batch = run(capsys, "batch", *common, "-o", tmp_path / "out")
    assert video[0] == batch[0] == 1
    assert batch[2] == video[2] and batch[2].startswith("error: ") and message in batch[2]
    assert batch[2].count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_run_batch_checks_model_options_before_planning(tmp_path):
    from filmnet.batch import run_batch
    from filmnet.errors import InputError

    with pytest.raises(InputError, match="--tile sizes must be multiples of 64"):
        run_batch([str(tmp_path / "missing.mp4")], tmp_path / "out", options=dict(multi=2),
                  model=dict(tile="100x100"), workers=0, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_export_onnx(tmp_path, capsys, weights):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    code, stdout, err = run(capsys, "export", "--onnx", out, "--weights", weights)
    assert code == 0, err
    assert out.stat().st_size > 0
    code, _, err = run(capsys, "export", "--onnx", out, "--weights", weights)
    assert code != 0 and "--force" in err


def test_eval_keeps_runs_with_the_same_file_name_apart(tmp_path, capsys, weights):
    import shutil

    data = make_generic_triplets(tmp_path / "data", n=1)
    runs = []
    for name in ("run_a", "run_b"):
        (tmp_path / name).mkdir()
        runs.append(shutil.copy(weights, tmp_path / name / "model.safetensors"))
    js = tmp_path / "r.json"
    code, out, err = run(capsys, "eval", "--data", data, "--weights", runs[0], "--weights", runs[1], "--json", js)
    assert code == 0, err
    assert [r["method"] for r in json.loads(js.read_text())["results"]] == ["filmnet:run_a/model", "filmnet:run_b/model"]


def test_demo_reruns_in_its_own_folder_and_refuses_foreign_files(tmp_path, capsys, weights):
    pytest.importorskip("av")
    out = tmp_path / "demo"
    assert run(capsys, "demo", "-o", out, "--exp", 1, "--weights", weights)[0] == 0
    first = [p.name for p in out.iterdir()]
    assert ".filmnet-demo" in first
    gif = next(out.glob("*.gif"))
    gif.write_bytes(b"stale")
    code, _, err = run(capsys, "demo", "-o", out, "--exp", 1, "--weights", weights)  # its own folder: no --force
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(first)
    assert Image.open(gif).format == "GIF"  # rewritten
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "synthetic_frame0.png").write_bytes(b"someone else's")
    code, _, err = run(capsys, "demo", "-o", foreign, "--exp", 1, "--weights", weights)
    assert code != 0 and "--force" in err and err.count("\n") == 1
    assert (foreign / "synthetic_frame0.png").read_bytes() == b"someone else's"
    assert run(capsys, "demo", "-o", foreign, "--exp", 1, "--weights", weights, "--force")[0] == 0


def test_unknown_config_and_missing_extra_are_one_line_errors(tmp_path, capsys, weights, monkeypatch):
    code, _, err = run(capsys, "convert", weights, "-o", tmp_path / "x.safetensors", "--config", "no_such")
    assert code != 0 and "unknown config 'no_such'" in err and err.count("\n") == 1
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'", name="onnx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    code, _, err = run(capsys, "export", "--onnx", tmp_path / "m.onnx", "--weights", weights)
    assert code != 0 and 'filmnet[onnx]' in err and err.count("\n") == 1
