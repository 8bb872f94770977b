"""`filmnet batch` on a real local Ray cluster (127.0.0.1, 2 CPUs, no dashboard, no usage stats)."""
import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray", reason="ray is not installed (pip install \"filmnet[ray]\")")
pytest.importorskip("av")

from batch_clips import MODEL, make_clip, same_frames, save_tiny  # noqa: E402
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
