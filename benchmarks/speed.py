"""Seconds per frame and peak RSS of FILM inference: fp32 eager (NCHW) vs the fast path, as ratios from one run.

Each measurement runs in a fresh subprocess so its peak RSS is its own. Random weights (seeded) are used unless
--weights is given: speed does not depend on the values. Frames above the memory budget are tiled with
`filmnet.inference.memory.choose_tiling` for fp32, and every mode runs that same tiling (the 3840x2160 row is
tiled under the default budget of 16 GB). "est RSS" is the memory model's prediction, to check it.

  python benchmarks/speed.py                                   # all configs, sizes, fp32 vs fast
  python benchmarks/speed.py --configs film_lite --sizes 640x360 1280x720 --repeats 5 --threads 2
  python benchmarks/speed.py --modes fp32 fast compile --json results.json
  python benchmarks/speed.py --configs film_lite --sizes 1280x720 --threads 2 --flows model dis
Modes: fp32 = fp32 eager NCHW; fast = bf16 autocast + channels_last; compile = fast + torch.compile.
Flows: model = FILM's flow estimator; dis = OpenCV DIS flows into the fusion (shown as e.g. "fast+dis"); hybrid =
DIS, plus the model's flows for pairs whose mean DIS motion is large: between the two, depending on what DIS makes
of the random frames.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from _worker import run_worker  # benchmarks/ is on sys.path when run as a script

DEFAULT_SIZES = ["256x256", "640x360", "1280x720", "1920x1080", "3840x2160"]
MODES = ("fp32", "fast", "compile")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))), flush=True)
        return 0
    results = []
    print(f"{'config':10} {'size':>10} {'mode':8} {'tiles':>5} {'s/frame':>9} {'peak RSS':>9} {'est RSS':>9} "
          f"{'speedup':>8} {'RSS ratio':>9}")
    for config in args.configs:
        for size in args.sizes:
            base = None
            for mode, flow in [(m, f) for f in args.flows for m in args.modes]:
                spec = dict(config=config, size=size, mode=mode, repeats=args.repeats, warmup=args.warmup,
                            threads=args.threads, max_memory=args.max_memory, weights=args.weights,
                            overlap=args.overlap, flow=flow)
                row = _run_worker(spec, args.timeout)
                results.append(row)
                base = row if (mode, flow) == (args.modes[0], args.flows[0]) else base
                _print_row(row, base)
    if args.json:
        _write_json(args.json, results)
    return 0


def measure(spec: dict) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able row."""
    import resource

    import torch

    from filmnet.flows import get_flow_source
    from filmnet.inference import memory
    from filmnet.inference.pair import PairRunner
    from filmnet.inference.tiling import interpolate_tiled

    torch.set_num_threads(int(spec["threads"]))
    memory.tune_allocator()  # as the `filmnet` CLI does
    width, height = (int(v) for v in spec["size"].lower().split("x"))
    mode, precision = spec["mode"], "fp32" if spec["mode"] == "fp32" else "bf16"
    model = _build_model(spec["config"], spec.get("weights"))
    if mode != "fp32":
        model = model.to(memory_format=torch.channels_last)
    if mode == "compile":
        for part in (model.extract, model.predict_flow, model.fuse):  # tiles call encode/flows/synthesize
            part.compile()
    gen = torch.Generator().manual_seed(0)
    x0, x1 = torch.rand(1, 3, height, width, generator=gen), torch.rand(1, 3, height, width, generator=gen)
    rss_before = memory.process_rss()
    # Every mode gets the fp32 tiling, so the ratios compare the same work.
    tiling = memory.choose_tiling(height, width, model.config, "fp32", memory.parse_memory(spec["max_memory"]))
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else None
    tile = tiling.tile if tiling else (1 << 30, 1 << 30)  # one tile: exactly the untiled path
    flow = spec.get("flow", "model")
    runner = PairRunner(model, get_flow_source(flow), autocast=autocast, channels_last=mode != "fp32")
    run = lambda: interpolate_tiled(runner, x0, x1, 0.5, tile=tile, overlap=spec["overlap"])  # noqa: E731
    times = [_timed(run) for _ in range(spec["warmup"] + spec["repeats"])]
    return dict(config=spec["config"], size=spec["size"], mode=mode if flow == "model" else f"{mode}+{flow}",
                flow=flow, threads=spec["threads"],
                tiles=memory.describe(tiling, height, width), seconds=statistics.median(times[spec["warmup"]:]),
                seconds_min=min(times[spec["warmup"]:]), first_seconds=times[0], rss_before=rss_before,
                peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                estimated_peak=rss_before + _estimate(model.config, precision, height, width, tiling, flow))


def _estimate(config, precision: str, height: int, width: int, tiling, flow: str) -> int:
    from filmnet.inference import memory
    from filmnet.flows import get_flow_source

    h, w = (height, width) if tiling is None else tiling.tile
    frames = memory.FRAME_BYTES_PER_PIXEL * height * width if tiling else 0
    dis = get_flow_source(flow).peak_bytes(height, width)
    return memory.estimate_peak_bytes(config, h, w, precision) + frames + dis


def _build_model(config: str, weights: str | None):
    import torch

    import filmnet

    if weights:
        from filmnet.weights import load_model
        from filmnet.weights.hub import resolve_weights

        return load_model(resolve_weights(weights)).eval()  # a model name becomes a path in the hub
    torch.manual_seed(0)
    return filmnet.FILM(config).eval()


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _run_worker(spec: dict, timeout: float | None) -> dict:
    return run_worker(os.path.abspath(__file__), spec, timeout)


def _print_row(row: dict, base: dict | None) -> None:
    if "error" in row:
        print(f"{row['config']:10} {row['size']:>10} {row['mode']:8} ERROR {row['error']}")
        return
    ok = base is not None and "error" not in base
    speedup = f"{base['seconds'] / row['seconds']:.2f}x" if ok else "-"
    rss_ratio = f"{row['peak_rss'] / base['peak_rss']:.2f}" if ok else "-"
    tiles = row["tiles"].split(" ")[0] if row["tiles"] != "untiled" else "1"
    print(f"{row['config']:10} {row['size']:>10} {row['mode']:8} {tiles:>5} {row['seconds']:9.3f} "
          f"{_gb(row['peak_rss']):>9} {_gb(row['estimated_peak']):>9} {speedup:>8} {rss_ratio:>9}", flush=True)


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f}G"


def _write_json(path: str, rows: list[dict]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(rows, f, indent=1)
    os.replace(tmp, path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["film_net", "film_lite"])
    p.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="WxH, e.g. 1920x1080")
    p.add_argument("--modes", nargs="+", default=["fp32", "fast"], choices=MODES,
                   help="the first mode is the baseline of the ratios")
    p.add_argument("--flows", nargs="+", default=["model"], choices=("model", "dis", "hybrid"),
                   help="flow sources to time (the first mode and flow is the ratios' base)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--max-memory", default="16GB", help="memory budget; larger frames are tiled to fit")
    p.add_argument("--overlap", type=int, default=128, help="tile overlap in pixels (multiple of 64)")
    p.add_argument("--weights", default=None, help="weights file (default: seeded random weights)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per measurement")
    p.add_argument("--json", default=None, help="also write all rows to this JSON file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    sys.exit(main())
