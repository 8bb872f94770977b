"""Process hygiene of `filmnet batch` (issue 25, item 6): workers die with a SIGKILLed batch, a rerun never races a
live batch on the same OUTDIR and takes over a dead one's, and each failure is reported once."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

av = pytest.importorskip("av")
psutil = pytest.importorskip("psutil")

from helpers import MODEL, make_clip, save_tiny  # noqa: E402
from filmnet.batch import run_batch  # noqa: E402
from filmnet.errors import InputError  # noqa: E402

LOCK_NAME = ".filmnet-batch.lock"  # filmnet.batch.run.LOCK_NAME, spelled out so this file runs on older code too

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("hygiene")
    return root, save_tiny(root / "tiny.safetensors"), make_clip(root / "a.mp4", 8)


def inline(clip, out, weights, **kwargs):
    return run_batch([str(clip)], out, options=dict(multi=2), model=dict(MODEL, weights=str(weights)), workers=0,
                     threads=1, progress=False, **kwargs)


def test_a_live_batch_on_outdir_is_refused_and_a_dead_ones_is_taken_over(tiny, tmp_path):
    clip = tmp_path / "a.mp4"  # not a video: the batch plans, fails the file and ends without loading a model
    clip.write_bytes(b"not a video")
    weights = tiny[1]
    out = tmp_path / "out"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        record = dict(host=socket.gethostname(), pid=other.pid, start=start_time(other.pid))
        (out / LOCK_NAME).write_text(json.dumps(record))
        with pytest.raises(InputError, match=f"in use by another filmnet batch \\(pid {other.pid}") as info:
            inline(clip, out, weights)
        assert "\n" not in str(info.value) and json.loads((out / LOCK_NAME).read_text()) == record
        if record["start"] is not None:  # the same pid, but another process (pid reuse): not the owner
            (out / LOCK_NAME).write_text(json.dumps(dict(record, start="1")))
            assert inline(clip, out, weights).files[0].status == "failed"
            (out / LOCK_NAME).write_text(json.dumps(record))
    finally:
        other.kill()
        other.wait()
    result = inline(clip, out, weights)  # its owner is dead now: taken over, then released
    assert "not a readable video" in result.files[0].error and not (out / LOCK_NAME).exists()


def start_time(pid: int):
    """/proc/PID/stat's start time (as `filmnet.io.owner` records it), or None off Linux."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def test_lock_name_is_the_one_batch_uses():
    from filmnet.batch.run import LOCK_NAME as used
    from filmnet.io.owner import start_time as recorded

    assert used == LOCK_NAME and recorded(os.getpid()) == start_time(os.getpid())


def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
def test_sigkilled_batch_leaves_no_worker_and_a_rerun_finishes(tiny, tmp_path):
    """SIGKILL `filmnet batch` while its worker renders: the worker dies too (it used to keep writing, parented
    to PID 1, and race the rerun); the rerun takes over OUTDIR and leaves only the output."""
    root, weights, _ = tiny
    clip = make_clip(tmp_path / "long.mp4", 160, seed=3)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "filmnet.cli", "batch", str(clip), "-o", str(out), "--multi", "2", "--weights",
            str(weights), "--threads", "1", "--precision", "fp32", "--segment-frames", "4"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen([*args, "--workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob(".*.filmnet-batch/range_*/segment_*")):  # the worker is writing segments
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the batch never started rendering"
            time.sleep(0.1)
        workers = _descendants(proc.pid)
        assert workers, "no worker process"
        proc.kill()
        proc.wait()
        gone, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"worker process(es) outlived the SIGKILLed batch: {[p.pid for p in alive]}"
    finally:
        for p in workers:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
    again = subprocess.run([*args, "--workers", "0"], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == [".long_2X_48fps.mp4.filmnet-done.json", "long_2X_48fps.mp4"]


@pytest.mark.slow
def test_batch_ignore_errors_and_each_failure_reported_once(tiny, tmp_path):
    """A truncated file: one line naming it once, which points to `batch --ignore-errors`; with the flag the
    batch (split into ranges) holds the last frame as `filmnet video --ignore-errors` does, and says so."""
    from helpers import same_frames
    from filmnet.inference import Interpolator
    from filmnet.inference.video import retime

    root, weights, _ = tiny
    data = make_clip(tmp_path / "long.mkv", 26, seed=1).read_bytes()  # Matroska: the cut file still opens
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    args = [sys.executable, "-m", "filmnet.cli", "batch", str(cut), "-o", str(tmp_path / "out"), "--multi", "2",
            "--weights", str(weights), "--workers", "0", "--threads", "1", "--precision", "fp32", "--range-frames",
            "8", "--segment-frames", "4"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    bad = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1
    reports = [line for line in bad.stderr.splitlines() if "truncated" in line]
    assert len(reports) == 1, bad.stderr
    assert reports[0].count("cut.mkv") == 1 and "--ignore-errors" in reports[0], reports[0]
    good = subprocess.run([*args, "--ignore-errors"], env=env, capture_output=True, text=True, timeout=600)
    assert good.returncode == 0, good.stderr
    assert "damaged or missing input frames skipped" in good.stderr
    ref = retime(cut, tmp_path / "ref.mkv", interpolator=Interpolator(str(weights), precision="fp32"), multi=2,
                 ignore_errors=True)
    assert ref.frames_skipped > 0 and same_frames(ref.output, tmp_path / "out" / "cut_2X_48fps.mkv")


@pytest.mark.slow
def test_the_parent_pipe_alone_ends_a_worker():
    """Off Linux there is no PR_SET_PDEATHSIG: the watch on the parent's pipe must end the worker by itself."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "parent_watch.py")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "ended with its parent" in done.stdout, done.stdout + done.stderr
