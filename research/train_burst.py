"""A wall-clock-limited L1 training burst (for a borrowed GPU), saving weights every minute.

Uses the project's model, dataset and native format; `filmnet train` is the full trainer.
python research/train_burst.py --data .gpu/pack --out OUT --minutes 8 --model film_lite
python research/train_burst.py --data .gpu/pack --out OUT --init W.safetensors --minutes 7 --flow-weight 0.03 \
    --flow-frac 0.6 --warped-weight 0.25      # with DIS pseudo-flow labels (needs OpenCV in the workers)
`--widen-flow-filters 32 32 64 96` widens the flow predictors of `--init` first, keeping its output unchanged.
`--memory-format probe` times a few steps in NCHW and in channels_last on the first batch and trains in the faster.
`--wall-limit S` ends training early enough that the whole script (data loading included) finishes within S seconds;
the learning-rate schedule (linear warm-up, then cosine to 5 %) follows the budget actually left.
"""
from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import filmnet
from filmnet.train.data import build_train_dataset, seed_worker
from filmnet.train.init import widen_flow_estimator
from filmnet.train.losses import l1_loss, warped_l1_loss
from filmnet.train.pseudo_flow import pseudo_flow_loss


def pick_memory_format(choice: str, model, opt, loader, dev, amp):
    """Put the model in the chosen (or, timed on the loader's first batch, the faster) memory format; return the
    input converter."""
    def convert(fmt):
        model.to(memory_format=fmt)
        return lambda x: x.contiguous(memory_format=fmt)

    if choice != "probe":
        return convert(torch.channels_last if choice == "channels_last" else torch.contiguous_format)
    batch, seconds = next(iter(loader)), {}
    for name, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        to_fmt = convert(fmt)
        x0, x1, y = (to_fmt(batch[k].to(dev)) for k in ("x0", "x1", "y"))
        for i in range(13):  # 3 warm-up steps (cuDNN autotuning), 10 timed; no optimizer step
            if i == 3:
                sync(dev)
                t0 = time.time()
            with torch.autocast(dev.type, dtype=amp):
                loss = l1_loss(model(x0, x1, batch["time"].to(dev)).image.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        sync(dev)
        seconds[name] = (time.time() - t0) / 10
    opt.zero_grad(set_to_none=True)
    best = min(seconds, key=seconds.get)
    print("memory format probe (s/step): " + ", ".join(f"{k} {v:.4f}" for k, v in seconds.items()) + f"; using {best}",
          flush=True)
    return convert(torch.channels_last if best == "channels_last" else torch.contiguous_format)


def sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="film_lite")
    ap.add_argument("--init", default=None)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    ap.add_argument("--wall-limit", type=float, default=None, help="seconds for the whole script, loading included")
    ap.add_argument("--flow-weight", type=float, default=0.0, help="DIS pseudo-flow loss weight at the start")
    ap.add_argument("--flow-frac", type=float, default=0.5, help="fraction of the budget over which it falls to 0")
    ap.add_argument("--warped-weight", type=float, default=0.0, help="L1 on the warped inputs")
    ap.add_argument("--spacings", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--no-large-motion", action="store_true")
    ap.add_argument("--object-motion", type=float, default=0.0, help="probability of a pasted moving object")
    ap.add_argument("--memory-format", choices=("nchw", "channels_last", "probe"), default="nchw")
    ap.add_argument("--widen-flow-filters", type=int, nargs="+", default=None,
                    help="start from --init with wider flow predictors that compute the same flows (train.init)")
    args = ap.parse_args()

    script_start = time.time()
    torch.manual_seed(0)
    if args.flow_weight > 0:  # one OpenCV thread per loader worker, set before any fork (see seed_worker)
        from filmnet.eval.baselines import require_cv2

        require_cv2().setNumThreads(1)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    ds = build_train_dataset(args.data, crop=args.crop, spacings=args.spacings, augment=True,
                             large_motion=not args.no_large_motion, pseudo_flow=args.flow_weight > 0,
                             object_motion=args.object_motion)
    print(f"{len(ds)} triplets, skipped {ds.skipped}, filtered {ds.filtered}", flush=True)
    if len(ds) < args.batch:
        raise SystemExit(f"no training triplets for a batch of {args.batch} in {' '.join(args.data)} ({len(ds)} found)")
    epoch = 0

    def make_loader() -> DataLoader:  # fresh workers per pass, so they see the epoch (new augmentation each pass)
        ds.set_epoch(epoch)
        return DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers,
                          worker_init_fn=seed_worker, pin_memory=dev.type == "cuda")

    loader = make_loader()
    model = filmnet.load_model(args.init) if args.init else filmnet.FILM(args.model)
    if args.widen_flow_filters:
        model = widen_flow_estimator(model, tuple(args.widen_flow_filters))
        print(f"flow_filters widened to {model.config.flow_filters}", flush=True)
    model.to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    amp = torch.bfloat16
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "log.csv").open("w", newline="")
    writer = csv.writer(log)
    writer.writerow(["step", "seconds", "lr", "l1", "psnr"])
    to_format = pick_memory_format(args.memory_format, model, opt, loader, dev, amp)
    budget = args.minutes * 60
    if args.wall_limit is not None:  # leave ~20 s for the loader start-up and the final save
        budget = min(budget, args.wall_limit - (time.time() - script_start) - 20)
        if budget <= 0:
            raise SystemExit(f"--wall-limit {args.wall_limit:g} s leaves no time to train after loading")
    print(f"training budget {budget:.0f}s", flush=True)
    start = last_save = fetch_start = time.time()
    step, running, waited, done = 0, None, 0.0, False
    while not done:
        for batch in loader:
            waited += time.time() - fetch_start
            elapsed = time.time() - start
            if elapsed > budget or step >= args.max_steps:
                done = True
                break
            flow_w = args.flow_weight * max(0.0, 1.0 - elapsed / (args.flow_frac * budget)) if args.flow_weight else 0.0
            if ds.pseudo_flow and not flow_w:  # released: new workers, without the DIS labels
                ds.pseudo_flow = False
                loader = make_loader()
                fetch_start = time.time()
                break
            lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget))))
            lr *= min(1.0, (step + 1) / args.warmup) if args.warmup else 1.0
            for g in opt.param_groups:
                g["lr"] = lr
            x0, x1, y = (to_format(batch[k].to(dev, non_blocking=True)) for k in ("x0", "x1", "y"))
            with torch.autocast(dev.type, dtype=amp):
                out = model(x0, x1, batch["time"].to(dev))
            pred = out.image
            loss = l1_loss(pred.float(), y)
            image_l1 = loss.detach()
            if args.warped_weight:
                loss = loss + args.warped_weight * warped_l1_loss(out, y)
            if flow_w:
                flow_loss = pseudo_flow_loss(out.forward_residual_flows, out.backward_residual_flows,
                                             batch["flow"].to(dev, non_blocking=True))
                loss = loss + flow_w * flow_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            running = image_l1.item() if running is None else 0.98 * running + 0.02 * image_l1.item()
            if step % 50 == 0:
                with torch.no_grad():
                    mse = ((pred.float().clamp(0, 1) - y) ** 2).mean().item()
                writer.writerow([step, f"{elapsed:.1f}", f"{lr:.3g}", f"{running:.5f}", f"{-10 * math.log10(mse):.2f}"])
                log.flush()
                extra = f" flow {flow_loss.item():.3f} (w {flow_w:.3g})" if flow_w else ""
                print(f"step {step} {elapsed:.0f}s lr {lr:.2e} l1 {running:.4f}{extra} "
                      f"waiting for data {100 * waited / max(elapsed, 1e-9):.0f}%", flush=True)
            if time.time() - last_save > 60:
                filmnet.save_model(model, args.out / "model.safetensors", metadata={"steps": str(step)})
                last_save = time.time()
            fetch_start = time.time()
        else:  # the pass is over
            epoch += 1
            loader = make_loader()
    filmnet.save_model(model, args.out / "model.safetensors", metadata={"steps": str(step)})
    print(f"done: {step} steps in {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
