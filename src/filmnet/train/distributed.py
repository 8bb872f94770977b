"""Training, distributed: torchrun setup (`DistInfo`), the resumable sampler and the stream of batches of a run.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..errors import InputError
from .config import TrainConfig

@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistInfo:
    """Read torchrun's RANK/WORLD_SIZE/LOCAL_RANK and join the process group (nccl on CUDA, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = _pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, dev)


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    return torch.device("cuda", local_rank) if dev.type == "cuda" and dev.index is None else dev


class ResumableSampler(DistributedSampler):
    """DistributedSampler (reshuffled per epoch, drop_last) that can start part-way into an epoch."""

    def __init__(self, dataset: Dataset, world_size: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.skip = 0

    def start(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return super().__len__() - self.skip


class BatchStream:
    """Endless per-rank batches; `position` (epoch, batches done in it) is saved so resume continues exactly."""

    def __init__(self, dataset: Dataset, cfg: TrainConfig, info: DistInfo, per_rank: int):
        self.sampler = ResumableSampler(dataset, info.world_size, info.rank, cfg.seed)
        self.batches_per_epoch = self.sampler.num_samples // per_rank
        if self.batches_per_epoch == 0:
            raise InputError(f"the training set has {len(dataset)} items: too few for {info.world_size} rank(s) "
                             f"x batch {per_rank}")
        self.dataset, self.cfg, self.per_rank, self.pin = dataset, cfg, per_rank, info.device.type == "cuda"
        self.epoch, self.batch_in_epoch, self._it = 0, 0, None

    def _loader(self) -> DataLoader:
        self.sampler.start(self.epoch, self.batch_in_epoch * self.per_rank)
        if hasattr(self.dataset, "set_epoch"):  # TripletDataset seeds augmentation from (seed, epoch, index)
            self.dataset.set_epoch(self.epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.epoch)
        return DataLoader(self.dataset, batch_size=self.per_rank, sampler=self.sampler, drop_last=True,
                          num_workers=self.cfg.num_workers, worker_init_fn=_seed_worker_fn(), generator=gen,
                          pin_memory=self.pin, persistent_workers=False)

    def __next__(self) -> dict[str, Any]:
        if self._it is None:
            self._it = iter(self._loader())
        try:
            batch = next(self._it)
        except StopIteration:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._it = iter(self._loader())
            batch = next(self._it)
        self.batch_in_epoch += 1
        return batch

    def position(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}

    def seek(self, epoch: int, batch_in_epoch: int) -> None:
        self.epoch, self.batch_in_epoch, self._it = epoch, batch_in_epoch, None

    def drop_pseudo_flow(self) -> None:
        """Stop computing pseudo-flow labels: the next batch comes from a fresh loader at the same position."""
        if getattr(self.dataset, "pseudo_flow", False):
            self.dataset.pseudo_flow = False
            self._it = None


def _seed_worker_fn():
    try:
        from .data import seed_worker
    except ImportError:
        return None
    return seed_worker
