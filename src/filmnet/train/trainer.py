"""Training loop (film_spec.md §3): FILM + recipe losses, autocast, DDP via torchrun, exact resume, logging.

`batch_size` is the GLOBAL batch (official: 8 over all GPUs); each of WORLD_SIZE ranks gets batch_size/WORLD_SIZE.
Only rank 0 writes the run folder: model.safetensors, config.json, log.csv, checkpoints/, tb/ (TensorBoard).
Resume is exact (same weights as an uninterrupted run) with num_workers=0 and a fixed world size.
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import FilmError, InputError
from ..io.atomic import write_text_atomic
from ..precision import autocast_dtype
from ..model import FILM, get_config
from .checkpoint import (list_checkpoints, load_checkpoint, load_native_weights, rng_state, save_checkpoint,
                         save_native_weights, set_rng_state)
from .config import TrainConfig, load_train_config
from .distributed import BatchStream, DistInfo, setup_distributed
from .init import init_fusion_as_blend
from .losses import build_loss, warped_l1_loss
from .pseudo_flow import pseudo_flow_loss
from .runlog import RunLogger, StopFlag
from .schedule import staircase_decay

log = logging.getLogger(__name__)
MAX_CONSECUTIVE_SKIPS = 100


def _build_datasets(cfg: TrainConfig) -> tuple[Dataset, Dataset | None]:
    from .data import build_train_val_datasets

    if not cfg.data:
        raise InputError("no training data: set `data` in the config or pass --data DIR")
    if cfg.pseudo_flow_weight > 0:
        from ..flows.dis import set_cv2_threads

        # fail before decoding the data, not in the first batch; one OpenCV thread, set before anything uses it,
        # so that forked loader workers never inherit a used OpenCV thread pool (a known hang)
        set_cv2_threads(1)
    return build_train_val_datasets(cfg.data, holdout=cfg.holdout, crop=cfg.crop, spacings=cfg.spacings,
                                    augment=cfg.augment, large_motion=cfg.large_motion, seed=cfg.seed,
                                    max_short_side=cfg.max_short_side, pseudo_flow=cfg.pseudo_flow_weight > 0,
                                    object_motion=cfg.object_motion, degrade=cfg.degrade,
                                    degrade_kind=cfg.degrade_kind)


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> tuple[torch.Tensor, ...]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x0, x1, y = (batch[k].to(device, non_blocking=True).contiguous(memory_format=fmt) for k in ("x0", "x1", "y"))
    return x0, x1, y, batch["time"].to(device, non_blocking=True)


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, device: torch.device, amp: torch.dtype | None,
             channels_last: bool, max_batches: int) -> float:
    """Mean PSNR (dB) of clipped predictions over up to `max_batches` batches."""
    was_training, scores = model.training, []
    model.eval()
    for batch in itertools.islice(loader, max_batches):
        x0, x1, y, t = _to_device(batch, device, channels_last)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            pred = model(x0, x1, t).image
        mse = (pred.float().clamp(0, 1) - y.float()).square().mean(dim=(1, 2, 3))
        scores.append(-10 * torch.log10(mse.clamp_min(1e-10)))
    model.train(was_training)
    return torch.cat(scores).mean().item() if scores else float("nan")


class Trainer:
    """One training run; see the module docstring. Build with a config, then call `run()`."""

    def __init__(self, cfg: TrainConfig, info: DistInfo, train_set: Dataset, val_set: Dataset | None = None):
        if cfg.batch_size % info.world_size:
            raise InputError(f"batch_size {cfg.batch_size} (global) must be divisible by {info.world_size} ranks")
        film_config = get_config(cfg.model)
        if cfg.crop % film_config.min_size:
            raise InputError(f"crop {cfg.crop} must be a multiple of {film_config.min_size} for {cfg.model}")
        self.cfg, self.info, self.run_dir = cfg, info, Path(cfg.out)
        _refuse_existing_run(self.run_dir, cfg.resume)
        self.amp = autocast_dtype(cfg.precision, info.device, training=True)
        self.per_rank = cfg.batch_size // info.world_size
        _seed_everything(cfg.seed + info.rank)
        self.model = self._build_model(film_config)
        self.loss_fn = build_loss(cfg.loss, cfg.vgg_weights).to(info.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: staircase_decay(step, cfg.lr_decay_steps, cfg.lr_decay_rate))
        self.scaler = torch.amp.GradScaler(info.device.type, enabled=self.amp == torch.float16)
        self.stream = BatchStream(train_set, cfg, info, self.per_rank)
        self.val_loader = (DataLoader(val_set, batch_size=self.per_rank, num_workers=min(cfg.num_workers, 2))
                           if val_set is not None and info.is_main else None)
        self.step, self.skipped, self._consecutive_skips = 0, 0, 0
        self._interval, self._interval_steps = {}, 0
        self._stopping, self._ctrl_c, self._deadline = False, StopFlag(), math.inf
        rng = self._maybe_resume()
        self.ddp = (nn.parallel.DistributedDataParallel(self.model, device_ids=[info.device.index]
                                                        if info.device.type == "cuda" else None)
                    if info.world_size > 1 else self.model)
        self.logger = RunLogger(self.run_dir, cfg, self.step) if info.is_main else None
        if rng is not None:
            set_rng_state(rng)

    def _build_model(self, film_config) -> FILM:
        model = FILM(film_config)
        if not self._checkpoint_to_resume():
            if self.cfg.init_weights:
                model.load_state_dict(load_native_weights(Path(self.cfg.init_weights), film_config))
            if self.cfg.fusion_init == "blend":
                try:
                    init_fusion_as_blend(model)
                except ValueError as err:
                    raise InputError(f"fusion_init='blend' does not fit {self.cfg.model}: {err}") from err
        model.to(self.info.device)
        if self.cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.info.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        return model.train()

    def _checkpoint_to_resume(self) -> Path | None:
        found = list_checkpoints(self.run_dir) if self.cfg.resume else []
        return found[-1] if found else None

    def _maybe_resume(self) -> dict[str, Any] | None:
        path = self._checkpoint_to_resume()
        if path is None:
            if self.cfg.resume:
                log.warning("resume requested but %s has no checkpoints: starting from scratch", self.run_dir)
            return None
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.skipped = ckpt["step"], ckpt["skipped"]
        self.stream.seek(ckpt["data"]["epoch"], ckpt["data"]["batch_in_epoch"])
        log.info("resumed from %s at step %d", path, self.step)
        rngs = ckpt["rng"]
        if len(rngs) != self.info.world_size:
            log.warning("checkpoint has %d ranks, this run %d: RNG streams are reseeded", len(rngs), self.info.world_size)
            return None
        return rngs[self.info.rank]

    def run(self) -> Path:
        """Train until cfg.steps (or Ctrl-C), checkpointing on the way; return the run folder."""
        limit = self.cfg.time_limit_minutes
        self._deadline = time.monotonic() + 60 * limit if limit is not None else math.inf
        with StopFlag() as self._ctrl_c:
            while self.step < self.cfg.steps and not self._stopping:
                if self.cfg.pseudo_flow_weight and not self.pseudo_flow_weight(self.step):
                    self.stream.drop_pseudo_flow()  # released: spare the workers the DIS labels
                out = self._train_step(next(self.stream))
                if out is not None:
                    self._after_step(*out)
            self.save()
        if self.logger is not None:
            self.logger.close()
        return self.run_dir

    def _train_step(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor, tuple] | None:
        x0, x1, y, t = _to_device(batch, self.info.device, self.cfg.channels_last)
        with torch.autocast(self.info.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            out = self.ddp(x0, x1, t)
            pred = out.image
            total, terms = self.loss_fn(pred, y, self.step)
            flow_weight = self.pseudo_flow_weight(self.step)
            if flow_weight and "flow" in batch:
                terms["pseudo_flow"] = pseudo_flow_loss(out.forward_residual_flows,
                                                        out.backward_residual_flows,
                                                        batch["flow"].to(self.info.device, non_blocking=True))
                total = total + flow_weight * terms["pseudo_flow"]
            if self.cfg.warped_weight:
                terms["l1_warped"] = warped_l1_loss(out, y)
                total = total + self.cfg.warped_weight * terms["l1_warped"]
        self.optimizer.zero_grad(set_to_none=True)
        if self._sync_flags(total):
            (pred.float().sum() * 0.0).backward()  # keeps DDP ranks in step; the update is skipped
            return self._skip_step(unscaled=False)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)
        # Gradients are already averaged over ranks, so every rank takes the same skip decision.
        norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip or math.inf)
        if not torch.isfinite(norm):
            return self._skip_step(unscaled=True)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        self._consecutive_skips = 0
        terms = {"loss": total.detach(), **{k: v.detach() for k, v in terms.items()}}
        return terms, norm.detach(), (x0[:1], pred[:1].detach(), y[:1], x1[:1])

    def pseudo_flow_weight(self, step: int) -> float:
        """`pseudo_flow_weight`, falling linearly to 0 at `pseudo_flow_steps`."""
        if not self.cfg.pseudo_flow_weight:
            return 0.0
        return self.cfg.pseudo_flow_weight * max(0.0, 1.0 - step / self.cfg.pseudo_flow_steps)

    def _sync_flags(self, total: torch.Tensor) -> bool:
        """Agree over ranks on (any loss non-finite, Ctrl-C seen, time limit passed); returns the first.

        The other two set self._stopping on every rank at the same step, so all ranks stop after it.
        """
        past_deadline = time.monotonic() > self._deadline
        flags = torch.stack([(~torch.isfinite(total.detach())).float(),
                             torch.tensor(float(self._ctrl_c.requested), device=total.device),
                             torch.tensor(float(past_deadline), device=total.device)])
        if self.info.world_size > 1:
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        bad, ctrl_c, timed_out = flags.tolist()
        if timed_out > 0 and not self._stopping:
            log.info("time limit of %s minutes reached at step %d", self.cfg.time_limit_minutes, self.step + 1)
        self._stopping = self._stopping or ctrl_c > 0 or timed_out > 0
        return bad > 0

    def _skip_step(self, unscaled: bool) -> None:
        if unscaled and self.scaler.is_enabled():
            self.scaler.step(self.optimizer)  # records the overflow and skips the update
            self.scaler.update()
        self.skipped += 1
        self._consecutive_skips += 1
        log.warning("non-finite loss or gradient at step %d: update skipped (%d so far)", self.step, self.skipped)
        if self._consecutive_skips >= MAX_CONSECUTIVE_SKIPS:
            raise FilmError(f"{MAX_CONSECUTIVE_SKIPS} consecutive non-finite steps: training diverged; "
                            "lower lr, set grad_clip, or use bf16/fp32")
        return None

    def _after_step(self, terms: dict[str, torch.Tensor], grad_norm: torch.Tensor, images: tuple) -> None:
        cfg, step = self.cfg, self.step
        for name, value in {**terms, "grad_norm": grad_norm}.items():
            self._interval[name] = self._interval.get(name, 0.0) + value.float()
        self._interval_steps += 1
        if step % cfg.log_every == 0:
            means = self._interval_means()
            if self.logger is not None:
                self.logger.log(step, means, self.scheduler.get_last_lr()[0], self.skipped)
        if self.logger is not None:
            self.logger.progress(step)
            if step % cfg.image_every == 0:
                self.logger.images(step, images)
            if self.val_loader is not None and step % cfg.val_every == 0:
                self._validate()
        if step % cfg.ckpt_every == 0 and step < cfg.steps:
            self.save()

    def _interval_means(self) -> dict[str, float]:
        """Means since the last log over all ranks (every rank calls this at the same steps)."""
        names = sorted(self._interval)
        packed = torch.stack([self._interval[n] for n in names]) / self._interval_steps
        if self.info.world_size > 1:
            dist.all_reduce(packed, op=dist.ReduceOp.SUM)
            packed /= self.info.world_size
        self._interval, self._interval_steps = {}, 0
        return dict(zip(names, packed.tolist()))

    def _validate(self) -> None:
        state = rng_state()  # a validation set may draw random numbers; keep the training streams untouched
        psnr = validate(self.model, self.val_loader, self.info.device, self.amp, self.cfg.channels_last,
                        self.cfg.val_batches)
        set_rng_state(state)
        self.logger.scalar("val/psnr", psnr, self.step)

    def save(self) -> None:
        """Checkpoint (all ranks contribute RNG states; rank 0 writes) and refresh model.safetensors."""
        rngs = [rng_state()]
        if self.info.world_size > 1:
            rngs = [None] * self.info.world_size
            dist.all_gather_object(rngs, rng_state())
        if not self.info.is_main:
            return
        payload = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "step": self.step, "skipped": self.skipped, "data": self.stream.position(), "rng": rngs,
            "config": self.cfg.to_json(),
        }
        save_checkpoint(self.run_dir, self.step, payload, self.cfg.keep_last)
        save_native_weights(self.model, self.run_dir / "model.safetensors")


def _refuse_existing_run(run_dir: Path, resume: bool) -> None:
    """A fresh run must not overwrite (log.csv, checkpoint pruning, weights) a run folder that holds a run.

    `resume` with no checkpoint starts from scratch, unless the folder holds weights that it would overwrite.
    """
    checkpoints, weights = list_checkpoints(run_dir), run_dir / "model.safetensors"
    if resume:
        if not checkpoints and weights.exists():
            raise InputError(f"{run_dir} has model.safetensors but no checkpoint to resume from; to continue from "
                             f"those weights, start a new run: --init-weights {weights} --out NEW_FOLDER")
    elif checkpoints or weights.exists():
        raise InputError(f"{run_dir} already holds a training run (checkpoints or model.safetensors): "
                         "pass --resume to continue it, --force to replace it, or choose another --out")


def _seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(cfg: TrainConfig, *, train_set: Dataset | None = None, val_set: Dataset | None = None) -> Path:
    """Train FILM as `cfg` says (single process, or one rank under torchrun); return the run folder.

    `train_set`/`val_set` replace the datasets built from `cfg.data` (items: x0, x1, y (3,H,W) in [0,1], time).
    """
    info = setup_distributed(cfg.device)
    try:
        if train_set is None:
            train_set, val_set = _build_datasets(cfg)
        trainer = Trainer(cfg, info, train_set, val_set)
        if info.is_main:
            Path(cfg.out).mkdir(parents=True, exist_ok=True)
            write_text_atomic(Path(cfg.out) / "config.json", cfg.to_json())
        start = time.perf_counter()
        run_dir = trainer.run()
        log.info("training finished in %.1f s: %s", time.perf_counter() - start, run_dir)
        if info.world_size > 1:
            dist.barrier()  # no rank tears gloo down while another still finishes its last save
        return run_dir
    finally:
        if info.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


RUN_FILES = ("checkpoints", "model.safetensors", "log.csv", "tb", "config.json")  # what a run writes


def train_from_cli(config_path: str | Path | None = None, *, force: bool = False, **overrides: Any) -> Path:
    """Entry point for `filmnet train`: config file (optional) + CLI overrides (None = not given).

    `force` (not with resume): an earlier run in the run folder is replaced (its `RUN_FILES` are removed first).
    """
    from ..io.atomic import discard
    from ..io.guard import refuse_input_overwrite

    cfg = load_train_config(config_path, **overrides)
    refuse_input_overwrite(cfg.out, [*cfg.data, config_path, cfg.init_weights, cfg.vgg_weights], what="run folder")
    if force and not cfg.resume:
        for name in RUN_FILES:
            discard(Path(cfg.out) / name)
    return train(cfg)
