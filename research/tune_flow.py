"""Fine-tune one part of a FILM weights file: the flow estimator (`--part flow`) or the fusion (`--part fusion`).

Why: on held-out training clips, FILM's fusion fed OpenCV DIS flows beats both film_lite and DIS, while film_lite's
own flows warp worse than DIS's (MODEL_CARD "Known failure modes"), so the flows are what limits the small model.

Loss, for each direction at the finest level: L1 between the input warped to the middle time and the true middle
frame, plus `--teacher-weight` times the L1 (pixels) to the DIS flow where DIS warps that pixel better than the
model does (by `--margin`) and the two DIS directions agree. Training sources only, leaving out the clips
`filmnet train --holdout 0.05` holds out. bf16 autocast + channels_last on CPU.

`--part fusion` instead trains the fusion decoder alone (features and flow estimator frozen) on the OpenCV DIS flows
of each crop that `Interpolator(flow="dis")` feeds it (`fusion_dis_flows`, full resolution), with the L1 of its
output: the path the bundled model uses by default.

python research/tune_flow.py --init src/filmnet/assets/film_lite.safetensors --out runs/tune_flow --minutes 90
python research/tune_flow.py --part fusion --init src/filmnet/assets/film_lite.safetensors --out runs/tune_fusion

`--degrade P` degrades a share P of the training crops (before their DIS flows are taken), as `filmnet train`'s
`degrade`: softened and JPEG-coded, or with `--degrade-kind codec` coded as MPEG-4 video; `--ema D` saves the moving
average of the trained weights.
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
from filmnet.eval.baselines import require_cv2
from filmnet.flows.dis import dis_flow_fields, fusion_flows
from filmnet.model.ops import warp
from filmnet.train.data import build_train_val_datasets, seed_worker

SOURCES = ["../shared/data/train_video", "../shared/data/real_videos", "../shared/data/basketballpass_sequence",
           "../shared/data/vimeo_septuplet"]


def flow_losses(model, batch, amp, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(warped-input L1, teacher L1 in pixels) of one batch; only the flow estimator gets gradients."""
    x0, x1, y = (batch[k].contiguous(memory_format=torch.channels_last) for k in ("x0", "x1", "y"))
    t = batch["time"].view(-1, 1, 1, 1)
    labels = batch.get("flow")
    with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
        with torch.no_grad():
            e0, e1 = model.encode(x0), model.encode(x1)
        flows = model.estimate_flows(e0, e1)
    warped_terms, teacher_terms = [], []
    # Each side: source frame, the model's flow that warps it to t, its DIS label channels, time factor
    for src, flow, side, scale in ((x0, flows.backward[0], slice(3, 6), t), (x1, flows.forward[0], slice(0, 3), 1 - t)):
        flow = flow.float()
        err = (warp(src, scale * flow) - y).abs().sum(1, keepdim=True)
        warped_terms.append(err.mean() / 3)
        if labels is None:
            continue
        dis_flow, valid = labels[:, side][:, :2], labels[:, side][:, 2:]
        with torch.no_grad():
            err_dis = (warp(src, scale * dis_flow) - y).abs().sum(1, keepdim=True)
            mask = valid * (err_dis < err.detach() - margin).float()
        teacher = ((flow - dis_flow).abs().sum(1, keepdim=True) * mask).sum() / mask.sum().clamp_min(1.0)
        teacher_terms.append(teacher)
    return sum(warped_terms) / 2, sum(teacher_terms) / 2 if teacher_terms else torch.zeros(())


def fusion_loss(model, batch, amp) -> torch.Tensor:
    """L1 of the fusion's output fed the crops' DIS flows as inference computes them; only the fusion learns."""
    x0, x1, y = (batch[k].contiguous(memory_format=torch.channels_last) for k in ("x0", "x1", "y"))
    flows = fusion_flows(*dis_flow_fields(batch["x0"], batch["x1"]), model.config.fusion_pyramid_levels)
    with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
        with torch.no_grad():
            e0, e1 = model.encode(x0), model.encode(x1)
        out = model.synthesize(e0, e1, flows, batch["time"]).image
    return (out.float() - y).abs().mean()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="weights file to start from")
    ap.add_argument("--part", choices=("flow", "fusion"), default="flow", help="the part that trains")
    ap.add_argument("--data", nargs="+", default=SOURCES, help="training sources (never the evaluation sets)")
    ap.add_argument("--holdout", type=float, default=0.05, help="fraction of clips left out, as `filmnet train`")
    ap.add_argument("--spacings", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--teacher-weight", type=float, default=0.02)
    ap.add_argument("--margin", type=float, default=0.03,
                    help="DIS must warp a pixel better by this much (RGB L1 summed) to be its teacher there")
    ap.add_argument("--no-large-motion", action="store_true", help="no synthetic large-shift augmentation")
    ap.add_argument("--degrade", type=float, default=0.0,
                    help="probability of a degraded training crop (see --degrade-kind)")
    ap.add_argument("--degrade-kind", choices=("soft", "codec"), default="soft",
                    help="soft: down-up resize and JPEG (train.augment.degrade_triplet); codec: MPEG-4 video coding "
                    "(train.augment.codec_triplet)")
    ap.add_argument("--ema", type=float, default=0.0, help="save an exponential moving average of the weights "
                    "with this decay (0: the weights as trained)")
    ap.add_argument("--max-short-side", type=int, default=360)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty; choose another --out")
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    dis_labels = args.part == "flow" and args.teacher_weight > 0
    if args.part == "fusion" or dis_labels:
        require_cv2().setNumThreads(1)
    train, _ = build_train_val_datasets(args.data, holdout=args.holdout, crop=args.crop, spacings=args.spacings,
                                        large_motion=not args.no_large_motion, seed=0,
                                        max_short_side=args.max_short_side, pseudo_flow=dis_labels,
                                        degrade=args.degrade, degrade_kind=args.degrade_kind)
    print(f"{len(train)} training triplets (held-out clips excluded)", flush=True)
    if len(train) < args.batch:
        raise SystemExit(f"{len(train)} training triplets: too few for a batch of {args.batch}")

    model = filmnet.load_model(args.init).train()
    model.to(memory_format=torch.channels_last)
    trained = model.fuse if args.part == "fusion" else model.predict_flow
    model.requires_grad_(False)
    trained.requires_grad_(True)
    params = list(trained.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    amp = None if args.fp32 else torch.bfloat16
    ema = [p.detach().clone() for p in params] if args.ema else None

    def save(step: int) -> None:
        """Write the weights (with the EMA of the trained part in place of it, when --ema is set)."""
        metadata = {f"tune_{args.part}_steps": str(step)}
        if ema is None:
            filmnet.save_model(model, args.out / "model.safetensors", metadata=metadata)
            return
        trained_now = [p.detach().clone() for p in params]
        with torch.no_grad():
            torch._foreach_copy_(params, ema)
            filmnet.save_model(model, args.out / "model.safetensors", metadata={**metadata, "ema": str(args.ema)})
            torch._foreach_copy_(params, trained_now)

    args.out.mkdir(parents=True, exist_ok=True)
    log_file = (args.out / "log.csv").open("w", newline="")
    writer = csv.writer(log_file)
    writer.writerow(["step", "seconds", "lr", "output_l1" if args.part == "fusion" else "warped_l1", "teacher_px"])
    budget, epoch, step = args.minutes * 60, 0, 0
    start = last_save = time.time()
    run_w = run_t = None
    done = False
    while not done:
        train.set_epoch(epoch)
        loader = DataLoader(train, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers,
                            worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(epoch))
        for batch in loader:
            elapsed = time.time() - start
            if elapsed > budget or step >= args.max_steps:
                done = True
                break
            lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup)) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
            for g in opt.param_groups:
                g["lr"] = lr
            if args.part == "fusion":
                warped, teacher = fusion_loss(model, batch, amp), torch.zeros(())
                loss = warped
            else:
                warped, teacher = flow_losses(model, batch, amp, args.margin)
                loss = warped + args.teacher_weight * teacher
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            w, tch = warped.item(), teacher.item()
            run_w = w if run_w is None else 0.98 * run_w + 0.02 * w
            run_t = tch if run_t is None else 0.98 * run_t + 0.02 * tch
            if step % 25 == 0:
                writer.writerow([step, f"{elapsed:.0f}", f"{lr:.3g}", f"{run_w:.5f}", f"{run_t:.4f}"])
                log_file.flush()
                print(f"step {step} {elapsed:.0f}s lr {lr:.2e} {args.part} l1 {run_w:.5f} teacher {run_t:.3f} px",
                      flush=True)
            if ema is not None:
                torch._foreach_lerp_(ema, [p.detach() for p in params], 1.0 - args.ema)
            if time.time() - last_save > 300:
                save(step)
                last_save = time.time()
        else:
            epoch += 1
    save(step)
    print(f"done: {step} steps in {time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
