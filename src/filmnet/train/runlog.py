"""Rank-0 run outputs of the trainer (log.csv, TensorBoard, a progress bar) and its Ctrl-C handling."""
from __future__ import annotations

import csv
import logging
import signal
import threading
import time
from pathlib import Path

import torch

from ..io.atomic import atomic_target
from .config import TrainConfig

log = logging.getLogger("filmnet.train.trainer")  # the trainer's messages, as before the split


class StopFlag:
    """Set by SIGINT (Ctrl-C); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested, self._previous = False, None

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log.warning("Ctrl-C: saving a checkpoint at the end of this step, then stopping (again to abort)")


class RunLogger:
    """Rank-0 outputs: log.csv rows, TensorBoard scalars and image grids (tb/), and a tqdm bar."""

    FIELDS = ("step", "loss", "l1", "vgg", "style", "l1_warped", "pseudo_flow", "grad_norm", "lr", "it_s", "skipped",
              "val_psnr")

    def __init__(self, run_dir: Path, cfg: TrainConfig, start_step: int):
        from tqdm.auto import tqdm

        self.csv_path = run_dir / "log.csv"
        _trim_csv(self.csv_path, start_step)
        self.tb = _summary_writer(run_dir / "tb")
        self.bar = tqdm(total=cfg.steps, initial=start_step, unit="step", dynamic_ncols=True)
        self._last_step, self._last_time = start_step, time.perf_counter()

    def log(self, step: int, means: dict[str, float], lr: float, skipped: int) -> None:
        now = time.perf_counter()
        it_s = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        row = {**means, "lr": lr, "it_s": it_s, "skipped": skipped}
        self._write_row(step, row)
        for name, value in row.items():
            self.scalar(f"train/{name}", value, step, csv_row=False)
        self.bar.set_postfix(loss=f"{means['loss']:.4f}", refresh=False)

    def progress(self, step: int) -> None:
        self.bar.update(step - self.bar.n)

    def scalar(self, name: str, value: float, step: int, csv_row: bool = True) -> None:
        if self.tb is not None:
            self.tb.add_scalar(name, value, step)
        if csv_row:
            self._write_row(step, {name.replace("/", "_"): value})

    def images(self, step: int, images: tuple[torch.Tensor, ...]) -> None:
        """x0 | pred | y | x1 of the first batch item, side by side."""
        if self.tb is not None:
            grid = torch.cat([im[0].detach().float().clamp(0, 1).cpu() for im in images], dim=-1)
            self.tb.add_image("train/x0_pred_y_x1", grid, step)

    def _write_row(self, step: int, row: dict[str, float]) -> None:
        new = not self.csv_path.exists()
        with self.csv_path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({"step": step, **{k: f"{v:.6g}" for k, v in row.items()}})

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()


def _summary_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("tensorboard is not installed: only log.csv is written")
        return None
    return SummaryWriter(str(folder))


def _trim_csv(path: Path, last_step: int) -> None:
    """Drop rows past `last_step` (written after the checkpoint we resume from); a fresh run starts a new log."""
    if not path.exists():
        return
    if last_step == 0:
        path.unlink()
        return
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= last_step]
    with atomic_target(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RunLogger.FIELDS)
        writer.writeheader()
        writer.writerows(rows)
