"""Peak RSS of whole-frame tiling under --max-memory against the memory model's estimate, at 1080p and 4K.

Real frames: two consecutive frames of ../shared/data/train_video/mmaction2_clips/demo_skeleton.mp4 (1920x1080,
training-side); 4K is the same pair upscaled 2x (bicubic). Bundled film_lite, its own flows. Each run is a fresh
subprocess, so its peak RSS (ru_maxrss) is its own; the CLI's allocator tuning is applied as `filmnet` does.

At 1080p the untiled pass runs first; the tiled run gets --max-memory at `--fraction` (0.6) of its measured peak
and must stay within it (+5 %) and give the same 8-bit frame (mean |diff| in /255). At 4K (untiled too large for a
shared machine) only the tiled run, under `--budget-4k`, is measured and the untiled need is estimated.

  python benchmarks/tiled_memory.py --sizes 1080p 4k --precision fp32
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "train_video" / "mmaction2_clips" / "demo_skeleton.mp4"
SIZES = {"1080p": 1, "4k": 2}


def real_pair(scale: int):
    import av
    import numpy as np
    from PIL import Image

    with av.open(str(VIDEO)) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(12), container.decode(video=0))]
    pair = frames[10:12]
    if scale != 1:
        pair = [np.asarray(Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.BICUBIC))
                for f in pair]
    return pair


def measure(spec: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    from filmnet.inference import Interpolator, memory

    memory.tune_allocator()
    a, b = real_pair(SIZES[spec["size"]])
    h, w = a.shape[:2]
    weights = str(ROOT / "src" / "filmnet" / "assets" / "film_lite.safetensors")
    interp = Interpolator(weights, precision=spec["precision"], flow="model", max_memory=spec["max_memory"])
    tiling = interp.tiling_for(h, w)
    base = memory.process_rss() + memory.FRAME_BYTES_PER_PIXEL * h * w
    config = interp.model.config
    untiled_estimate = base + memory.estimate_peak_bytes(config, h, w, spec["precision"])
    levels = interp.pair_runner(h, w).padded_depth()  # the depth both passes run (default: auto)
    estimate = untiled_estimate if tiling is None else base + memory.estimate_tiled_bytes(
        config, h, w, tiling.tile, spec["precision"], levels=levels)
    start = time.perf_counter()
    out = interp.interpolate(a, b, 0.5)
    seconds = time.perf_counter() - start
    np.save(spec["out"], np.round(out * 255).astype(np.uint8))
    peak = _own_peak_rss()
    return dict(spec, tiles=memory.describe(tiling, h, w), seconds=seconds, peak_rss=peak, estimate=estimate,
                untiled_estimate=untiled_estimate)


def _own_peak_rss() -> int:
    """This process's own peak RSS (VmHWM); ru_maxrss would also count the parent's, inherited through exec."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024


def run(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), FILMNET_OFFLINE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode:
        return dict(spec, error=(proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _show(row: dict, budget: int | None) -> None:
    if "error" in row:
        print(f"{row['size']:6} {row['max_memory']}: {row['error']}", flush=True)
        return
    gib = 2**30
    fit = "" if budget is None else f"  peak/budget {row['peak_rss'] / budget:.3f}"
    print(f"{row['size']:6} max-memory {'none' if budget is None else f'{budget / gib:.2f} GiB':>10}  "
          f"{row['tiles']:48} {row['seconds']:7.1f} s  peak RSS {row['peak_rss'] / gib:6.2f} GiB  "
          f"estimate {row['estimate'] / gib:6.2f} GiB (peak/est {row['peak_rss'] / row['estimate']:.2f}){fit}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--sizes", nargs="+", default=["1080p", "4k"], choices=sorted(SIZES))
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--fraction", type=float, default=0.6)
    p.add_argument("--budget-4k", type=float, default=8.0, help="GiB for the 4K tiled run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))), flush=True)
        return 0
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            spec = dict(size=size, precision=args.precision, threads=args.threads)
            reference = None
            if size == "1080p":
                row = run(dict(spec, max_memory=None, out=f"{tmp}/{size}-untiled.npy"), args.timeout)
                _show(row, None)
                if "error" in row:
                    continue
                reference, budget = np.load(row["out"]).astype(np.float64), int(args.fraction * row["peak_rss"])
            else:
                budget = int(args.budget_4k * 2**30)
            row = run(dict(spec, max_memory=budget, out=f"{tmp}/{size}-tiled.npy"), args.timeout)
            _show(row, budget)
            if reference is not None and "error" not in row:
                diff = np.abs(np.load(row["out"]).astype(np.float64) - reference).mean()
                print(f"{size:6} mean |tiled - untiled| = {diff:.4f}/255 (8-bit frames)", flush=True)
            elif "error" not in row:
                print(f"{size:6} untiled would need about {row['untiled_estimate'] / 2**30:.2f} GiB (estimate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
