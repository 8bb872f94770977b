"""Frames per second of FILM on a CUDA GPU: fp32 against fp16 (and bf16), as ratios from one run.

Times `Interpolator.interpolate` on one frame pair already on the GPU (padding, model, clip, copy to host; no disk
I/O) after warm-up, with `torch.cuda.synchronize()` around the timed loop, plus the peak GPU memory of each mode.
Random seeded weights: speed does not depend on their values.

  python benchmarks/gpu_speed.py --configs film_net film_lite --sizes 1920x1080 --precisions fp32 fp16 bf16
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from filmnet import CONFIGS, FILM
from filmnet.inference import Interpolator


def measure(config: str, width: int, height: int, precision: str, repeats: int, warmup: int,
            device: str = "cuda") -> dict:
    torch.manual_seed(0)
    model = FILM(CONFIGS[config]).eval()
    interp = Interpolator(model, device=device, precision=precision, max_memory=None)
    x0 = torch.rand(1, 3, height, width, device=device)
    x1 = torch.roll(x0, shifts=(7, 13), dims=(2, 3))
    for _ in range(warmup):
        interp.interpolate(x0, x1)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        interp.interpolate(x0, x1)
    sync()
    seconds = (time.perf_counter() - start) / repeats
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return {"config": config, "size": f"{width}x{height}", "precision": precision, "s_per_frame": seconds,
            "fps": 1.0 / seconds, "peak_gpu_gb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=["film_net", "film_lite"])
    ap.add_argument("--sizes", nargs="+", default=["1920x1080"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"], choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: this benchmark needs one (CPU timings: benchmarks/speed.py)")
    torch.backends.cudnn.benchmark = True
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, TF32 matmul "
          f"{torch.backends.cuda.matmul.allow_tf32}, TF32 cudnn {torch.backends.cudnn.allow_tf32}")
    rows = []
    print(f"{'config':10} {'size':>10} {'precision':>9} {'s/frame':>8} {'fps':>7} {'vs first':>8} {'peak GB':>8}")
    for config in args.configs:
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            base = None
            for precision in args.precisions:
                row = measure(config, w, h, precision, args.repeats, args.warmup)
                base = base or row["s_per_frame"]
                row["speedup_vs_first"] = base / row["s_per_frame"]
                rows.append(row)
                print(f"{config:10} {size:>10} {precision:>9} {row['s_per_frame']:8.4f} {row['fps']:7.2f} "
                      f"{row['speedup_vs_first']:7.2f}x {row['peak_gpu_gb']:8.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
