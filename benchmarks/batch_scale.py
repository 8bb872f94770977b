"""`filmnet batch` throughput: 1 and 2 workers, local processes and a local Ray cluster, and Ray's overhead per file.

A folder of --files generated H.264 clips (--frames frames each at --size, moving shapes) is retimed x2 with the
bundled film_lite by `filmnet.batch.run_batch`, once per row of the table, into a fresh output folder each time:

  local, 1 worker  x --threads torch threads        local, 2 workers x --threads / 2 threads
  ray,   1 actor   x --threads CPUs                  ray,   2 actors  x --threads / 2 CPUs

(the same CPU budget in every row). The Ray rows run on a local cluster this script starts on 127.0.0.1 (no
dashboard, no usage stats); its start-up time is printed apart. Each run's wall time includes starting its workers
or actors and loading the model in each. Ray's overhead per file = (ray wall - local wall) / files at the same
worker count. Every output is checked to be frame-identical across the rows with the same thread count.

  python benchmarks/batch_scale.py                     # defaults below: about 3-4 minutes on 2 cores
  python benchmarks/batch_scale.py --files 2 --frames 6 --size 128x96    # smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def make_clip(path: Path, frames: int, size: tuple[int, int], seed: int, rate: int = 25) -> Path:
    import av
    import numpy as np

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=Fraction(rate))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[..., 0] = (xx * 255 // w + 3 * i + 40 * seed) % 256
            img[..., 1] = (yy * 255 // h) % 256
            for k in range(3):
                cx, cy = (w // 4 + (6 + 2 * k + seed) * i * (k + 1)) % w, h // 4 + k * h // 5
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < (h // 8) ** 2] = (255 - 60 * k, 80 * k, 200)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    return path


def decoded(path: Path) -> list:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").tobytes() for f in c.decode(video=0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--frames", type=int, default=24, help="input frames per clip")
    parser.add_argument("--size", default="320x180", help="WxH")
    parser.add_argument("--threads", type=int, default=2, help="CPU budget: torch threads over all workers")
    parser.add_argument("--weights", default=None, help="weights file (default: the bundled film_lite)")
    parser.add_argument("--modes", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    from filmnet.batch import run_batch

    model = dict(weights=args.weights, device="cpu", precision="fp32", flow="auto", max_memory="auto")
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory(prefix="filmnet-batch-bench-") as tmp:
        clips = Path(tmp) / "clips"
        clips.mkdir()
        for i in range(args.files):
            make_clip(clips / f"clip{i}.mp4", args.frames, (h, w), i)
        ray_start = None
        for mode in args.modes:
            address = None
            if mode == "ray":
                import ray

                t0 = time.perf_counter()
                ray.init(num_cpus=args.threads, include_dashboard=False, _node_ip_address="127.0.0.1",
                         logging_level="ERROR", log_to_driver=False)
                ray_start = time.perf_counter() - t0
                address = ray.get_runtime_context().gcs_address
            for workers in (1, 2):
                threads = max(1, args.threads // workers)
                out = Path(tmp) / f"out_{mode}_{workers}"
                kwargs = dict(cpus_per_worker=threads) if mode == "ray" else {}
                t0 = time.perf_counter()
                result = run_batch([str(clips)], out, options=dict(multi=2), model=model, address=address,
                                   workers=workers, threads=threads, progress=False, **kwargs)
                wall = time.perf_counter() - t0
                frames = sum(f.frames for f in result.files)
                bad = [f"{f.src.name}: {f.error}" for f in result.files if f.status != "done"]
                rows.append(dict(mode=mode, workers=workers, threads=threads, files=args.files, frames=frames,
                                 wall_s=round(wall, 2), fps=round(frames / wall, 2), errors=bad))
                outputs[(mode, workers)] = {p.name: decoded(p) for p in sorted(out.glob("*.mp4"))}
            if mode == "ray":
                import ray

                ray.shutdown()
    base = rows[0]["wall_s"]
    print(f"filmnet batch x2, {args.files} clips x {args.frames} frames at {w}x{h}, film_lite fp32, CPU budget "
          f"{args.threads} threads, {os.cpu_count()} CPUs on this machine")
    print("| mode | workers | threads/worker | output frames | wall (s) | frames/s | vs local x1 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['workers']} | {r['threads']} | {r['frames']} | {r['wall_s']} | {r['fps']} | "
              f"{base / r['wall_s']:.2f}x |")
    for workers in (1, 2):
        local = next((r for r in rows if r["mode"] == "local" and r["workers"] == workers), None)
        ray_row = next((r for r in rows if r["mode"] == "ray" and r["workers"] == workers), None)
        if local and ray_row:
            per_file = (ray_row["wall_s"] - local["wall_s"]) / args.files
            print(f"Ray overhead with {workers} worker(s): {per_file:+.2f} s per file "
                  f"(ray {ray_row['wall_s']} s vs local {local['wall_s']} s, actor start-up included)")
    if ray_start is not None:
        print(f"local Ray cluster start (ray.init, not in the rows): {ray_start:.1f} s")
    same = {}
    for (mode, workers), files in outputs.items():
        same.setdefault(max(1, args.threads // workers), []).append(files)
    identical = all(all(f == group[0] for f in group) for group in same.values())
    print(f"outputs frame-identical across modes at equal threads per worker: {identical}")
    for r in rows:
        if r["errors"]:
            print(f"errors in {r['mode']} x{r['workers']}: {r['errors']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0 if identical and not any(r["errors"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
