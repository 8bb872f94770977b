"""Ray mode: one model actor per GPU (or per `cpus_per_worker` CPUs on CPU-only clusters) runs the units.

Actors restart when they die (`max_restarts`) and Ray retries their calls (`max_task_retries`); a unit the cluster
still loses comes back to the scheduler as an exception and is retried on another actor. Each actor renders one
range at a time and, beside it in a second thread (its own concurrency group), encodes finished files, so decode,
inference and encode overlap. Workers report frames to a small progress actor. Outputs go to OUTDIR, which must be
a folder every node sees at the same path (a shared file system).
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import replace

from .plan import RangeUnit

log = logging.getLogger(__name__)

ACTOR_RESTARTS = 3
TASK_RETRIES = 3


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the cluster
    try:
        import ray
    except ImportError:
        from ..errors import InputError

        raise InputError('--ray-address or RAY_ADDRESS asks for Ray, which is not installed: '
                         'pip install "filmnet[ray]" (or unset RAY_ADDRESS to run locally)') from None
    return ray


def connect(address: str):
    """`ray.init(address)` unless this process is already connected; returns (ray, connected here)."""
    ray = _ray()
    if ray.is_initialized():
        return ray, False
    kwargs = dict(include_dashboard=False) if address == "local" else {}
    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, **kwargs)
    return ray, True


def _classes(ray):
    @ray.remote(num_cpus=0)
    class Progress:
        def __init__(self):
            self.counts: dict[str, int] = {}

        def add(self, uid: str, n: int) -> None:
            self.counts[uid] = self.counts.get(uid, 0) + n

        def take(self) -> dict[str, int]:
            counts, self.counts = self.counts, {}
            return counts

    @ray.remote(concurrency_groups={"render": 1, "encode": 1})
    class ModelActor:
        def __init__(self, model, threads: int | None, progress: str):
            from filmnet.batch.work import Worker

            # the progress actor by name: plain constructor arguments, so a restarted actor gets them again
            self.worker, self.progress = Worker(model, threads), ray.get_actor(progress)

        @ray.method(concurrency_group="render")
        def render(self, unit) -> dict:
            from filmnet.batch.local import ProgressThrottle

            counter = ProgressThrottle(unit.id, lambda item: self.progress.add.remote(*item))
            try:
                return self.worker.run(unit, counter)
            finally:
                counter.flush()

        @ray.method(concurrency_group="encode")
        def encode(self, unit) -> dict:
            return self.worker.run(unit)

        def pid(self) -> int:
            return os.getpid()

    return Progress, ModelActor


class RayExecutor:
    """Model actors on the Ray cluster at `address`; see the module doc."""

    def __init__(self, model, *, address: str, workers: int | None = None, threads: int | None = None,
                 cpus_per_worker: float = 1.0, gpus_per_worker: float = 1.0):
        self.ray, self.connected = connect(address)
        ray = self.ray
        Progress, ModelActor = _classes(ray)
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        from ..model_options import ModelOptions

        model = model if isinstance(model, ModelOptions) else ModelOptions(**model)
        device = model.device or ("cuda" if gpus else "cpu")
        if device.startswith("cuda"):
            if not gpus:
                from ..errors import InputError

                raise InputError("--device cuda asked for, but the Ray cluster has no GPUs")
            model = replace(model, device="cuda")  # each actor sees its own GPU as cuda:0
            count = int(gpus // gpus_per_worker)
            options = dict(num_gpus=gpus_per_worker, num_cpus=cpus_per_worker)
        else:
            model = replace(model, device="cpu")
            count = int(resources.get("CPU", 1) // cpus_per_worker)
            options = dict(num_cpus=cpus_per_worker)
        count = max(1, min(count, workers) if workers else count)
        threads = threads or max(1, int(cpus_per_worker))
        name = f"filmnet-batch-progress-{uuid.uuid4().hex}"
        self.progress_actor = Progress.options(name=name).remote()
        self.new_actor = lambda: ModelActor.options(max_restarts=ACTOR_RESTARTS, max_task_retries=TASK_RETRIES,
                                                    **options).remote(model, threads, name)
        self.actors = [self.new_actor() for _ in range(count)]
        self.busy: dict[int, dict[str, object]] = {i: {} for i in range(count)}  # actor -> {group: ref}
        self.refs: dict = {}  # ref -> (unit, actor index, group)
        self.pending_progress = None

    def submit(self, unit) -> bool:
        group = "render" if isinstance(unit, RangeUnit) else "encode"
        for i, actor in enumerate(self.actors):
            if group not in self.busy[i]:
                ref = (actor.render if group == "render" else actor.encode).remote(unit)
                self.busy[i][group] = ref
                self.refs[ref] = (unit, i, group, actor)
                return True
        return False

    def wait(self, timeout: float) -> list:
        if not self.refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            unit, i, group, actor = self.refs.pop(ref)
            del self.busy[i][group]
            try:
                out.append((unit, self.ray.get(ref)))
            except Exception as err:  # RayActorError, WorkerCrashedError, ...: the scheduler retries the unit
                out.append((unit, err))
                if isinstance(err, self.ray.exceptions.RayActorError) and self.actors[i] is actor:
                    self._replace(i)  # Ray's own restarts are used up (or it was killed for good)
        return out

    def _replace(self, i: int) -> None:
        """A fresh actor in place of one that is gone for good (its other call, if any, fails and is retried)."""
        self.ray.kill(self.actors[i], no_restart=True)
        self.actors[i] = self.new_actor()

    def progress(self) -> dict[str, int]:
        try:
            return self.ray.get(self.progress_actor.take.remote(), timeout=10)
        except Exception:  # progress is best effort
            return {}

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.ray.kill(self.progress_actor)
        if self.connected:
            self.ray.shutdown()
