"""PSNR of weights files on the clips `filmnet train` holds out of the training sources (never the eval sets).

Builds the same validation split as a run with `holdout`, `crop`, `max_short_side` and seed 0 (centre crops, no
augmentation), and prints, per weights file, the mean PSNR of the clipped output over the first `--batches`
batches of 8 in bf16 autocast (as the trainer's `val_psnr`), and of the plain average of the two warped inputs.

python research/holdout_psnr.py runs/gpu_burst3/model.safetensors runs/lite_cpu3/model.safetensors --batches 40
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.data import DataLoader

import filmnet
from filmnet.train.data import build_train_val_datasets

SOURCES = ["../shared/data/train_video", "../shared/data/real_videos", "../shared/data/basketballpass_sequence",
           "../shared/data/vimeo_septuplet"]


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x.float().clamp(0, 1) - y).square().mean(dim=(1, 2, 3))
    return -10 * torch.log10(mse.clamp_min(1e-10))


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--data", nargs="+", default=SOURCES)
    ap.add_argument("--holdout", type=float, default=0.05)
    ap.add_argument("--crop", type=int, default=192)
    ap.add_argument("--max-short-side", type=int, default=288)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _, val = build_train_val_datasets(args.data, holdout=args.holdout, crop=args.crop, large_motion=True, seed=0,
                                      max_short_side=args.max_short_side)
    batches = [b for _, b in zip(range(args.batches), DataLoader(val, batch_size=8))]
    print(f"{len(val)} held-out triplets; {sum(len(b['y']) for b in batches)} scored ({args.crop} px centre crops)")
    for weights in args.weights:
        model = filmnet.load_model(weights).eval().to(memory_format=torch.channels_last)
        out_psnr, avg_psnr = [], []
        for b in batches:
            x0, x1, y = (b[k].contiguous(memory_format=torch.channels_last) for k in ("x0", "x1", "y"))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(x0, x1, b["time"])
            out_psnr.append(psnr(out.image, y))
            avg_psnr.append(psnr(0.5 * (out.x0_warped.float() + out.x1_warped.float()), y))
        print(f"{weights}: output {torch.cat(out_psnr).mean():.2f} dB, "
              f"average of the warped inputs {torch.cat(avg_psnr).mean():.2f} dB", flush=True)


if __name__ == "__main__":
    main()
