"""Profile one FILM forward pass on CPU: top ops by self/total CPU time, plus an fp32-NCHW vs fast-path timing table.

Random (seeded) weights; speed does not depend on their values. One thread by default so a busy machine still
gives comparable same-run ratios.

  python benchmarks/profile_forward.py --config film_lite --size 640x360
  python benchmarks/profile_forward.py --config film_net --size 448x256 --mode fast --top 30
  python benchmarks/profile_forward.py --config film_lite --size 640x360 --no-profile --repeats 3
  python benchmarks/profile_forward.py --config film_lite --size 320x192 --compile   # adds a torch.compile row

Modes: fp32 = fp32 eager NCHW; fast = bf16 autocast + channels_last (model and inputs); both = profile fast,
time both. The speedup column is relative to the first row.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

NOTES = """\
Measured on 1 thread (a second core busy with training), same-run ratios, random weights, s/forward:

                               before (eager)        after                 after/before
film_lite 640x360  fp32 NCHW   see report            ...
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    model = _build(args.config)
    gen = torch.Generator().manual_seed(0)
    x0, x1 = torch.rand(1, 3, height, width, generator=gen), torch.rand(1, 3, height, width, generator=gen)
    modes = ["fp32", "fast"] if args.mode == "both" else [args.mode]
    if args.compile:
        modes.append("compile")
    models = {"current": model}
    if args.baseline:
        models = {"baseline": _baseline(args.baseline, model), **models}
    rows = {}
    for mode in modes:
        for name, m in models.items():
            run, setup_s = _runner(m, x0, x1, mode)
            runs = [_timed(run) for _ in range(args.warmup + args.repeats)][args.warmup:]
            rows[f"{name}/{mode}"] = (statistics.median(r[0] for r in runs), setup_s, runs[-1][1])
    if not args.no_profile:
        _profile(_runner(model, x0, x1, "fast" if args.mode == "both" else args.mode)[0], args.top, args.trace)
    print(f"\n{args.config} {args.size}, {args.threads} thread(s), median of {args.repeats}")
    print(f"{'model/mode':18} {'s/forward':>10} {'speedup':>8} {'setup s':>8} {'page faults':>12}")
    base = next(iter(rows.values()))[0]
    for key, (sec, setup_s, faults) in rows.items():
        print(f"{key:18} {sec:10.3f} {base / sec:7.2f}x {setup_s:8.1f} {faults:12d}")
    return 0


def _build(config: str):
    import torch

    import filmnet

    torch.manual_seed(0)
    return filmnet.FILM(config).eval()


def _baseline(folder: str, model):
    """FILM from a copy of an older `filmnet/model` package at `folder`, with `model`'s weights."""
    import importlib
    import pathlib
    import sys

    path = pathlib.Path(folder).resolve()
    sys.path.insert(0, str(path.parent))
    package = importlib.import_module(path.name)
    old = package.FILM(model.config).eval()
    old.load_state_dict(model.state_dict())
    return old


def _runner(model, x0, x1, mode: str):
    """A zero-argument callable running one forward in `mode`, and the seconds spent preparing it."""
    import copy

    import torch

    start = time.perf_counter()
    if mode == "fp32":
        ctx = contextlib.nullcontext
    else:
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
        x0, x1 = (x.contiguous(memory_format=torch.channels_last) for x in (x0, x1))
        ctx = lambda: torch.autocast("cpu", dtype=torch.bfloat16)  # noqa: E731
    if mode == "compile":
        model = torch.compile(model)

    def run():
        with torch.inference_mode(), ctx():
            return model(x0, x1, 0.5)

    if mode == "compile":
        run()  # compile time belongs to setup
    return run, time.perf_counter() - start


def _timed(run) -> tuple[float, int]:
    """Seconds and minor page faults of one call (faults show allocator churn: fresh pages cost ~us each)."""
    import resource

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    run()
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def _profile(run, top: int, trace: str | None) -> None:
    from torch.profiler import ProfilerActivity, profile

    run()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        run()
    table = prof.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=top))
    print(table.table(sort_by="cpu_time_total", row_limit=top))
    if trace:
        prof.export_chrome_trace(trace)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="film_lite")
    p.add_argument("--size", default="640x360", help="WxH")
    p.add_argument("--mode", choices=("fp32", "fast", "both"), default="both")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (inductor) of the fast path")
    p.add_argument("--baseline", help="a copy of an older filmnet/model folder (relative imports of ..errors made "
                   "absolute) to time against, same weights")
    p.add_argument("--trace", help="write a chrome trace of the profiled run here")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
