"""Rule 1 of issue 16: no command writes over one of its inputs, and every existing output needs --force."""
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from filmnet.errors import FilmError
from filmnet.io.guard import check_new_output, input_conflict
from helpers import save_tiny, run_cli


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors", plain=True)


run = run_cli


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_refusal(code: int, err: str) -> bool:
    return code != 0 and err.startswith("error: ") and err.count("\n") == 1


def make_triplets(root: Path) -> Path:
    d = root / "seq0"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(d / f"im{i + 1}.png")
    return root


def test_guard_rules(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    folder = tmp_path / "frames"
    folder.mkdir()
    (tmp_path / "link.png").symlink_to(src)
    os.link(src, tmp_path / "hard.png")
    assert "also an input" in input_conflict(tmp_path / "link.png", [src])
    assert "also an input" in input_conflict(tmp_path / "hard.png", [src])
    assert "also an input" in input_conflict(tmp_path / "sub" / ".." / "in.png", [src])
    assert "inside the input folder" in input_conflict(folder / "out.json", [folder])
    assert "inside it" in input_conflict(tmp_path, [src])
    assert input_conflict(tmp_path / "other.png", [src, None, folder]) is None
    with pytest.raises(FilmError, match="--force"):
        check_new_output(src, [])
    assert check_new_output(src, [], force=True) == src


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_eval_report_never_replaces_a_data_set_file(tmp_path, capsys, flag):
    """The issue's data loss: `eval --json/--csv` written over a ground-truth image, exit 0."""
    data = make_triplets(tmp_path / "data")
    gt = data / "seq0" / "im2.png"
    before = digest(gt)
    for target in (gt, data / "seq0" / "report.txt", data):
        code, _, err = run(capsys, "eval", "--data", data, "--method", "blend", flag, target, "--force")
        assert one_line_refusal(code, err) and "input" in err, err
    link = tmp_path / "report.json"
    link.symlink_to(gt)
    code, _, err = run(capsys, "eval", "--data", data, "--method", "blend", flag, link, "--force")
    assert one_line_refusal(code, err) and "input" in err
    assert digest(gt) == before and sorted(p.name for p in (data / "seq0").iterdir()) == ["im1.png", "im2.png",
                                                                                          "im3.png"]


def test_eval_reports_need_force_and_refuse_weights(tmp_path, capsys, weights):
    data = make_triplets(tmp_path / "data")
    report = tmp_path / "r.json"
    report.write_text("keep")
    code, _, err = run(capsys, "eval", "--data", data, "--method", "blend", "--json", report)
    assert one_line_refusal(code, err) and "--force" in err and report.read_text() == "keep"
    code, _, err = run(capsys, "eval", "--data", data, "--weights", weights, "--csv", weights, "--force")
    assert one_line_refusal(code, err) and "also an input" in err
    code, _, err = run(capsys, "eval", "--data", data, "--method", "blend", "--json", report, "--force")
    assert code == 0, err
    assert report.read_text().startswith("{")


def test_eval_python_api_refuses_a_report_inside_the_data(tmp_path):
    from filmnet.eval import evaluate, save_results

    data = make_triplets(tmp_path / "data")
    with pytest.raises(FilmError, match="inside the input folder"):
        evaluate(data, method="blend", json_path=data / "seq0" / "r.json", progress=False)
    result = evaluate(data, method="blend", progress=False)
    with pytest.raises(FilmError, match="inside the input folder"):
        save_results([result], csv_path=data / "seq0" / "im1.png")
    assert Image.open(data / "seq0" / "im1.png").size == (40, 32)


def test_interpolate_refuses_a_symlink_to_an_input(tmp_path, capsys, weights):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    link = tmp_path / "out.gif"
    link.symlink_to(a)
    before = digest(a)
    code, _, err = run(capsys, "interpolate", a, b, "--exp", 1, "-o", link, "--weights", weights, "--force")
    assert one_line_refusal(code, err) and "also an input" in err and digest(a) == before


def test_convert_and_export_never_replace_their_weights(tmp_path, capsys, weights):
    copy = tmp_path / "w.safetensors"
    copy.write_bytes(weights.read_bytes())
    link = tmp_path / "link.safetensors"
    link.symlink_to(copy)
    before = digest(copy)
    code, _, err = run(capsys, "convert", copy, "-o", link, "--force")
    assert one_line_refusal(code, err)
    code, _, err = run(capsys, "export", "--onnx", link, "--weights", copy, "--force")
    assert one_line_refusal(code, err) and "also an input" in err
    code, _, err = run(capsys, "export", "--onnx", copy, "--weights", copy)
    assert one_line_refusal(code, err)
    assert digest(copy) == before


def test_demo_and_train_refuse_folders_holding_their_inputs(tmp_path, capsys, weights):
    folder = tmp_path / "demo"
    folder.mkdir()
    inside = folder / "w.safetensors"
    inside.write_bytes(weights.read_bytes())
    code, _, err = run(capsys, "demo", "-o", folder, "--weights", inside, "--exp", 1, "--force")
    assert one_line_refusal(code, err) and "inside it" in err
    data = make_triplets(tmp_path / "data")
    for out in (data, data / "run", tmp_path):
        code, _, err = run(capsys, "train", "--data", data, "--out", out, "--steps", 1, "--model", "film_tiny")
        assert one_line_refusal(code, err) and "run folder" in err, err
    assert not (data / "run").exists()


def test_train_replaces_an_earlier_run_only_with_force(tmp_path, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    for k in range(6):  # a texture moving 2 px a frame
        Image.fromarray(np.ascontiguousarray(base[:80, 2 * k: 2 * k + 96])).save(frames / f"{k:06d}.png")
    out = tmp_path / "run"
    args = ["train", "--model", "film_tiny", "--data", frames, "--steps", 1, "--batch-size", 1, "--crop", 64,
            "--out", out, "--precision", "fp32", "--device", "cpu"]
    assert run(capsys, *args)[0] == 0
    (out / "notes.txt").write_text("mine")
    before = digest(out / "model.safetensors")
    code, _, err = run(capsys, *args)
    assert one_line_refusal(code, err) and "--force" in err and digest(out / "model.safetensors") == before
    code, _, err = run(capsys, *args, "--force")
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.safetensors").is_file()


def test_frame_folders_are_inputs_too(tmp_path, capsys, weights):
    """A folder of NNNNNN.png frames given as input is never replaced by an output folder, nor written into."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(2):
        Image.fromarray(np.full((32, 32, 3), 80 * k, np.uint8)).save(frames / f"{k:06d}.png")
    before = {p.name: digest(p) for p in frames.iterdir()}
    code, _, err = run(capsys, "interpolate", frames / "000000.png", frames / "000001.png", "--exp", 1,
                       "-o", frames, "--weights", weights, "--force")
    assert one_line_refusal(code, err) and "inside it" in err
    code, _, err = run(capsys, "video", frames, "--multi", 2, "-o", frames / "out.mp4", "--weights", weights,
                       "--force")
    assert one_line_refusal(code, err) and "inside the input folder" in err
    assert {p.name: digest(p) for p in frames.iterdir()} == before
