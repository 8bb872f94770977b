"""Tiled vs untiled on real pans: this tree's whole-frame tiles against the old per-tile tiling of another tree.

The pair: the first frame of ../shared/data/train_video/toflow_baseball (lossless 1280x720), rows 40-679; I0 is
columns 32-1055, I1 the same window moved right by D px, the truth the window moved by D/2. Each run is a fresh
subprocess (its own peak RSS) with PYTHONPATH at this tree or at --old-src (e.g. a `git worktree add /tmp/base
5aeaf6e` checkout's src), bundled film_lite, its own flows, fp32, one thread by default.

  python benchmarks/tiling_pan.py --old-src /tmp/base/src --pans 64 192 --tile 256
Prints, per pan: PSNR against the truth, mean |tiled - untiled| of the 8-bit frames (/255), seconds and peak RSS.
The machine may be shared: compare the ratios of one run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT.parent / "shared" / "data" / "train_video" / "toflow_baseball" / "baseball_1280x720_20f_ffv1.mkv"


def first_frame():
    import av
    import numpy as np

    with av.open(str(VIDEO)) as container:
        frame = next(container.decode(video=0))
    return np.asarray(frame.to_ndarray(format="rgb24"))


def pan_pair(pan: int):
    image = first_frame()[40:680]
    x0 = image[:, 32:1056]
    return x0, image[:, 32 + pan:1056 + pan], image[:, 32 + pan // 2:1056 + pan // 2]


def measure(spec: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    from filmnet.inference import Interpolator

    x0, x1, truth = pan_pair(spec["pan"])
    tile = spec["tile"]
    options = dict(max_memory=None) if tile is None else dict(tile=(tile, tile))
    weights = str(Path(spec["src"]) / "filmnet" / "assets" / "film_lite.safetensors")
    interp = Interpolator(weights, precision="fp32", flow="model", **options)
    start = time.perf_counter()
    out = interp.interpolate(x0, x1, 0.5)
    seconds = time.perf_counter() - start
    frame = np.round(out * 255).astype(np.uint8)
    np.save(spec["out"], frame)
    mse = np.mean((frame.astype(np.float64) - truth) ** 2)
    peak = _own_peak_rss()
    return dict(spec, psnr=float(10 * np.log10(255**2 / mse)), seconds=seconds, peak_rss=peak)


def _own_peak_rss() -> int:
    """This process's own peak RSS (VmHWM); ru_maxrss would also count the parent's, inherited through exec."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) * 1024


def run(spec: dict, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=spec["src"], FILMNET_OFFLINE="1")
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode:
        return dict(spec, error=(proc.stderr.strip().splitlines() or ["failed"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--old-src", help="src folder of the old tree (e.g. /tmp/base/src); omit to skip")
    p.add_argument("--pans", type=int, nargs="+", default=[64, 192])
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))), flush=True)
        return 0
    import numpy as np
    import tempfile

    trees = [("new", str(ROOT / "src"))] + ([("old", args.old_src)] if args.old_src else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pan in args.pans:
            untiled = None
            for name, src in trees:
                for tile in (None, args.tile):
                    spec = dict(pan=pan, tile=tile, src=src, tree=name, threads=args.threads,
                                out=os.path.join(tmp, f"{pan}-{name}-{tile}.npy"))
                    row = run(spec, args.timeout)
                    if "error" in row:
                        print(f"pan {pan} {name} tile {tile}: {row['error']}")
                        continue
                    frame = np.load(row["out"]).astype(np.float64)
                    if tile is None and untiled is None:
                        untiled = (frame, row)
                    row["diff_255"] = float(np.abs(frame - untiled[0]).mean()) if untiled else None
                    row["time_ratio"] = row["seconds"] / untiled[1]["seconds"] if untiled else None
                    row["rss_ratio"] = row["peak_rss"] / untiled[1]["peak_rss"] if untiled else None
                    rows.append(row)
                    print(f"pan {pan:4d} {name:3} {'untiled' if tile is None else f'tile {tile}':9} "
                          f"PSNR {row['psnr']:6.2f} dB  |x - untiled(new)| {row['diff_255']:.3f}/255  "
                          f"{row['seconds']:7.1f} s ({row['time_ratio']:.2f}x)  "
                          f"peak RSS {row['peak_rss'] / 2**20:6.0f} MiB "
                          f"({row['rss_ratio']:.2f}x)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
