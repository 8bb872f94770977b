"""Profile one FILM forward pass on CPU: top ops by self/total CPU time, plus an fp32-NCHW vs fast-path timing table.

Random (seeded) weights; speed does not depend on their values. One thread by default so a busy machine still
gives comparable same-run ratios.

  python benchmarks/profile_forward.py --config film_lite --size 640x360
  python benchmarks/profile_forward.py --config film_net --size 448x256 --mode fast --top 30
  python benchmarks/profile_forward.py --config film_lite --size 640x360 --no-profile --repeats 3
  python benchmarks/profile_forward.py --config film_lite --size 320x192 --compile   # adds a torch.compile row

Modes: fp32 = fp32 eager NCHW; fast = bf16 autocast + channels_last (model and inputs); both = profile fast,
time both. The speedup column is relative to the first row. `--notes` prints the optimisation notes.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time

NOTES = """\
Fast-path optimisation notes (1 thread, the other core busy with training; same-run ratios; random weights).
s/forward, "before" = the eager model as of this change (run with --baseline on a copy of the old package):

                             before fp32   after fp32   before fast   after fast   fast after/before
  film_lite 640x360             1.464        1.401         0.904         0.603          1.50x
  film_net  448x256             5.721        5.560         3.469         2.471          1.40x
  (fast vs the old fp32 eager: 2.43x film_lite, 2.32x film_net on 1 thread)

What changed (fast = bf16 autocast + channels_last):
  * warp of channels_last input: a 4-row embedding_bag gather in fp32 that keeps the layout, instead of
    grid_sample (NCHW output) + a transpose back: 101 ms grid_sample + ~130 ms layout copies -> ~25-45 ms.
  * cats see one dtype and layout (ops.cat_as): mixed fp32/bf16 cats took a slow path and promoted the aligned
    pyramid and fusion inputs to fp32 (cat+copy 341 ms -> ~90 ms, film_lite).
  * flows leave the head as plain NCHW (2 channels): bilinear resizes and grid maths on their fast paths.
  * in-place leaky_relu; x0/x1_warped cloned so the full warped stacks are freed early.
Tried, not kept: conv(padding=1)[1:, 1:] instead of pad + 2x2 conv (~3% of those ops, changes bf16 rounding).
What is left: convs are ~85-90% of the fast path and run at ~0.2 TFLOP/s/core (brg_conv avx512_core_bf16);
film_lite's 16/58-channel full-res convs reach only 0.12-0.14. Glibc malloc returns big blocks to the OS and
page-faults them back (~0.5 ms/MB here): fp32 film_lite 640x360 makes ~130k faults per forward
(MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ or jemalloc remove them: fp32 1.50 -> 1.24 s in one test).
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.notes:
        print(NOTES)
        return 0
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
    p.add_argument("--notes", action="store_true", help="print the optimisation notes and exit")
    p.add_argument("--trace", help="write a chrome trace of the profiled run here")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
