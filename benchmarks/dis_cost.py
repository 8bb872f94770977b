"""Time and peak memory of the DIS flows: MEDIUM as it is (the `dis` baseline) vs the fusion's full-resolution DIS.

Each setting runs in a fresh subprocess on a random frame and its 5 px shift (cheap to make, so making them does not
set the peak), so its peak RSS is its own. It prints seconds for both directions of one pair (best of --repeats) and
the peak RSS growth per frame pixel. That growth covers the
grey conversion and DIS; `flows.DIS_PEAK_BYTES_PER_PIXEL` must stay above the fusion row.

  python benchmarks/dis_cost.py --size 1280x720 --threads 2
  python benchmarks/dis_cost.py --size 1920x1080 --threads 2
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


def measure(width: int, height: int, finest_scale: int | None, repeats: int, threads: int) -> dict:
    import resource
    import time

    import cv2

    import numpy as np

    from filmnet.flows.dis import dis_flows

    cv2.setNumThreads(threads)
    a = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    b = np.roll(a, 5, axis=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dis_flows(a, b, finest_scale=finest_scale)
        times.append(time.perf_counter() - start)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    return dict(seconds=min(times), bytes_per_pixel=grown / (width * height))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x720", help="WxH")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.worker is not None:
        scale = None if args.worker == "medium" else int(args.worker)
        print(json.dumps(measure(width, height, scale, args.repeats, args.threads)))
        return
    from filmnet.flows.dis import DIS_PEAK_BYTES_PER_PIXEL, FUSION_DIS_FINEST_SCALE

    print(f"DIS, both directions of a {width}x{height} pair, {args.threads} threads")
    print(f"{'setting':<28} {'s/pair':>7} {'peak B/px':>10}")
    for label, worker in (("MEDIUM (baseline)", "medium"), (f"fusion (finest scale {FUSION_DIS_FINEST_SCALE})",
                                                             str(FUSION_DIS_FINEST_SCALE))):
        out = subprocess.run([sys.executable, __file__, "--size", args.size, "--threads", str(args.threads),
                              "--repeats", str(args.repeats), "--worker", worker],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{label:<28} {row['seconds']:>7.3f} {row['bytes_per_pixel']:>10.0f}")
    print(f"memory model: {DIS_PEAK_BYTES_PER_PIXEL} B/px")


if __name__ == "__main__":
    main()
