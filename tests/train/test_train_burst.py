"""research/train_burst.py end to end on a tiny frame folder (CPU): passes, warm-up, memory-format probe, limits."""
import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from helpers import texture_folder

pytestmark = pytest.mark.research  # research/ tools: `pytest -m research`

SCRIPT = Path(__file__).resolve().parents[2] / "research" / "train_burst.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)


def test_burst_runs_several_passes_with_probe_and_warmup(tmp_path):
    data = texture_folder(tmp_path / "clip")
    out = tmp_path / "out"
    res = _run("--data", data, "--out", out, "--model", "film_tiny", "--minutes", 5, "--max-steps", 100,
               "--batch", 2, "--crop", 64, "--workers", 0, "--warmup", 50, "--lr", 1e-3, "--spacings", 1,
               "--memory-format", "probe", "--object-motion", 0.5)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "4 triplets" in res.stdout and "done: 100 steps" in res.stdout  # 2 steps a pass: 50 passes
    assert "memory format probe (s/step): nchw" in res.stdout and "channels_last" in res.stdout
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [50, 100]
    # Warm-up over at step 50: the lr is the cosine's at the logged time alone (how far the cosine has moved
    # depends on the machine's speed, so the expected value comes from the log, not from a fixed number).
    assert "training budget 300s" in res.stdout
    elapsed, lr = float(rows[0]["seconds"]), float(rows[0]["lr"])
    cosine = 1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / 300))))
    assert abs(lr - cosine) <= 0.006 * cosine, (lr, cosine)  # lr is logged to 3 significant digits
    assert float(rows[1]["lr"]) <= lr
    assert (out / "model.safetensors").stat().st_size > 0


def test_burst_refuses_empty_data_and_a_wall_limit_that_leaves_no_training_time(tmp_path):
    still = tmp_path / "still"
    still.mkdir()
    for i in range(4):
        Image.new("RGB", (32, 32), (90, 90, 90)).save(still / f"{i}.png")
    res = _run("--data", still, "--out", tmp_path / "o", "--model", "film_tiny", "--workers", 0, "--crop", 64)
    assert res.returncode != 0 and "no training triplets" in res.stderr
    data = texture_folder(tmp_path / "clip")
    res = _run("--data", data, "--out", tmp_path / "out", "--model", "film_tiny", "--wall-limit", 5, "--workers", 0,
               "--batch", 2, "--crop", 64, "--spacings", 1)
    assert res.returncode != 0 and "leaves no time to train" in res.stderr
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_burst_widens_the_flow_estimator_of_its_init(tmp_path):
    import filmnet

    init = tmp_path / "init.safetensors"
    filmnet.save_model(filmnet.FILM("film_tiny"), init)
    out = tmp_path / "out"
    res = _run("--data", texture_folder(tmp_path / "clip"), "--out", out, "--init", init, "--widen-flow-filters", 8, 8, 16, 16,
               "--max-steps", 2, "--batch", 2, "--crop", 64, "--workers", 0, "--spacings", 1)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "flow_filters widened to (8, 8, 16, 16)" in res.stdout
    assert filmnet.load_model(out / "model.safetensors").config.flow_filters == (8, 8, 16, 16)
