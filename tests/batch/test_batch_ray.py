"""`filmnet batch` on a real local Ray cluster (127.0.0.1, 2 CPUs, no dashboard, no usage stats)."""
import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install \"filmnet[ray]\")")
pytest.importorskip("av")

from helpers import MODEL, make_clip, same_frames, save_tiny  # noqa: E402
from filmnet.batch import run_batch  # noqa: E402
from filmnet.batch.ray_runner import RayExecutor  # noqa: E402
from filmnet.inference import Interpolator  # noqa: E402
from filmnet.inference.video import retime  # noqa: E402

pytestmark = pytest.mark.slow  # worker processes, a server, a browser or a cluster: in CI, not in the quick default run

OPTIONS = dict(multi=2, dedupe=True)


@pytest.fixture(scope="module")
def cluster():
    saved = os.environ.pop("RAY_ADDRESS", None)  # start a cluster of our own, never join another
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR",
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    if saved is not None:
        os.environ["RAY_ADDRESS"] = saved


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three short clips and one long one (a scene cut, a repeated frame), and `filmnet video`'s output of each."""
    root = tmp_path_factory.mktemp("ray_batch")
    weights = save_tiny(root / "tiny.safetensors")
    (root / "in").mkdir()
    files = [make_clip(root / "in" / f"c{i}.mp4", 8 + i, seed=i) for i in range(3)]
    files.append(make_clip(root / "in" / "long.mp4", 24, seed=5, cut_at=11, repeat=(17,), lossless=True))
    interp = Interpolator(str(weights), precision="fp32")  # as MODEL: never "auto" in a reference
    (root / "ref").mkdir()
    refs = {f.name: retime(f, root / "ref" / f"{f.stem}_2X_48fps.mp4", interpolator=interp, **OPTIONS).output
            for f in files}
    return root, weights, refs


def run(root, weights, out, address, **kwargs):
    return run_batch([str(root / "in")], root / out, options=OPTIONS, model=dict(MODEL, weights=str(weights)),
                     address=address, threads=1, range_frames=8, segment_frames=4, progress=False,
                     report=root / f"{out}.json", **kwargs)


def check_identical(root, out, refs, result):
    assert [f.status for f in result.files] == ["done"] * 4, [f.error for f in result.files]
    for name, ref in refs.items():
        assert same_frames(ref, root / out / ref.name), name
        assert (root / out / ref.name).read_bytes() == ref.read_bytes(), name


def test_ray_batch_is_identical_to_filmnet_video(cluster, clips):
    root, weights, refs = clips
    result = run(root, weights, "out_ray", cluster, workers=2)
    check_identical(root, "out_ray", refs, result)
    long = next(f for f in result.files if f.src.name == "long.mp4")
    assert len(long.ranges) == 3  # 24 frames in ranges of 8
    assert all(":" in w for w in long.workers)
    # a rerun on the cluster skips the verified outputs and redoes a truncated one
    damaged = root / "out_ray" / refs["c1.mp4"].name
    damaged.write_bytes(damaged.read_bytes()[:100])
    again = run(root, weights, "out_ray", cluster, workers=2)
    assert [f.status for f in again.files] == ["skipped", "done", "skipped", "skipped"]
    assert damaged.read_bytes() == refs["c1.mp4"].read_bytes()


class KillingExecutor(RayExecutor):
    """Kills the actor that is rendering the first range it sees in flight: with a restart (Ray restarts the actor
    and retries the call) or for good (the call fails; filmnet replaces the actor and retries the unit)."""

    killed = None
    restart = True

    def wait(self, timeout):
        if self.killed is None:
            for i, groups in self.busy.items():
                if "render" in groups:
                    self.killed = self.actors[i]
                    ray.kill(self.actors[i], no_restart=not self.restart)
                    break
        return super().wait(timeout)


@pytest.mark.parametrize("restart", [True, False])
def test_killed_worker_actor_is_retried_with_identical_output(cluster, clips, restart):
    root, weights, refs = clips
    executor = KillingExecutor(dict(MODEL, weights=str(weights)), address=cluster, workers=2, threads=1)
    executor.restart = restart
    out = f"out_killed_{restart}"
    result = run(root, weights, out, cluster, executor=executor)
    assert executor.killed is not None
    assert (executor.killed in executor.actors) == restart  # killed for good: replaced by a new actor
    check_identical(root, out, refs, result)


def _model_actor_processes():
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any("ray::ModelActor" in part for part in p.info["cmdline"] or ()):
            found.append(p)
    return found


def test_actors_end_with_a_sigkilled_driver(cluster, clips, tmp_path):
    """Issue 25: the model actors belong to the driver; SIGKILL of `filmnet batch` ends them (Ray's ownership),
    so nothing keeps writing into OUTDIR."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    psutil = pytest.importorskip("psutil")
    root, weights, _ = clips
    long = make_clip(tmp_path / "long.mp4", 160, seed=3)
    assert not _model_actor_processes()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                      os.environ.get("PYTHONPATH", "")]))
    driver = subprocess.Popen([sys.executable, "-m", "filmnet.cli", "batch", str(long), "-o", str(tmp_path / "out"),
                               "--multi", "2", "--weights", str(weights), "--ray-address", cluster, "--workers", "1",
                               "--threads", "1", "--precision", "fp32", "--segment-frames", "4"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "out").glob(".*.filmnet-batch/range_*/segment_*")):  # an actor is rendering
            assert driver.poll() is None, driver.stderr.read().decode()
            assert time.monotonic() < deadline, "the batch never started rendering"
            time.sleep(0.2)
        actors = _model_actor_processes()
        assert actors
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        _, alive = psutil.wait_procs(actors, timeout=90)
        assert not alive, f"actor process(es) outlived their driver: {[p.pid for p in alive]}"
    finally:
        if driver.poll() is None:
            driver.kill()
