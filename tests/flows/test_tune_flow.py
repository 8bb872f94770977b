"""research/tune_flow.py end to end on a tiny frame folder (CPU): only the flow estimator learns."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

import filmnet
from helpers import texture_folder

pytestmark = pytest.mark.research  # research/ tools: `pytest -m research`

SCRIPT = Path(__file__).resolve().parents[2] / "research" / "tune_flow.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_only_the_flow_estimator_changes_and_the_teacher_term_is_logged(tmp_path):
    init = tmp_path / "init.safetensors"
    filmnet.save_model(filmnet.FILM("film_tiny"), init)
    out = tmp_path / "out"
    res = _run("--init", init, "--out", out, "--data", texture_folder(tmp_path / "clip"), "--holdout", 0, "--spacings", 1,
               "--max-steps", 25, "--batch", 2, "--crop", 64, "--warmup", 1, "--lr", 1e-3, "--threads", 1,
               "--teacher-weight", 0.02)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "done: 25 steps" in res.stdout
    before, after = load_file(init), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {k for k in before if not (before[k].float() == after[k].float()).all()}
    assert changed == {k for k in before if k.startswith("predict_flow.")}  # features and fusion stay frozen
    row = list(csv.DictReader((out / "log.csv").open()))[-1]
    assert int(row["step"]) == 25 and float(row["warped_l1"]) > 0 and float(row["teacher_px"]) >= 0


def test_refuses_a_used_out_folder_and_too_little_data(tmp_path):
    init = tmp_path / "init.safetensors"
    filmnet.save_model(filmnet.FILM("film_tiny"), init)
    used = tmp_path / "used"
    used.mkdir()
    (used / "log.csv").write_text("keep me")
    res = _run("--init", init, "--out", used, "--data", texture_folder(tmp_path / "clip"), "--holdout", 0)
    assert res.returncode != 0 and "not empty" in res.stderr
    assert (used / "log.csv").read_text() == "keep me"
    res = _run("--init", init, "--out", tmp_path / "o", "--data", tmp_path / "clip", "--holdout", 0, "--spacings", 1,
               "--batch", 8, "--crop", 64, "--teacher-weight", 0)
    assert res.returncode != 0 and "too few for a batch of 8" in res.stderr
