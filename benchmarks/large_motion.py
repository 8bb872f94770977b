"""PSNR / SSIM against motion on large-motion pairs with exact truths (pans, zooms, moving objects; see
large_motion_pairs.py), per model, pyramid depth (7, 8, 9, auto) and tiling (untiled, forced tiles).

Pairs come from real frames of the training-side sources only, at 540p, 1080p and 4K, with motions of 16 to 512 px.
Models run with their own flows (`flow="model"`) in fp32; predictions are rounded to 8 bits like `filmnet eval`.
"blend" is the 50/50 average of the inputs. Seconds are wall time of one `interpolate` call in this run: compare
them only within one run, and not at all on a shared machine.

  python benchmarks/large_motion.py --quick                           # 540p pan + object, a few minutes on 2 cores
  python benchmarks/large_motion.py --sizes 540p 1080p --kinds pan --motions 64 256 --depths 7 auto
  python benchmarks/large_motion.py --write /tmp/lm_pairs --no-run    # triplets for `filmnet eval --data /tmp/lm_pairs`
  python benchmarks/large_motion.py --json lm.json ... ; python benchmarks/large_motion.py --from-json lm.json \\
      --plot docs/img/large_motion.png                                # tables and plot again without running
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import large_motion_pairs as lm  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FILMNET_SHARED", ROOT.parent / "shared"))
DEPTHS = ("7", "8", "9", "auto")
TILINGS = ("untiled", "tiled")
QUICK = dict(sizes=["540p"], kinds=["pan", "object"], motions=[32, 256], depths=["7", "auto"], tilings=["untiled"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    for key, default in (("sizes", list(lm.SIZES)), ("kinds", list(lm.KINDS)), ("motions", list(lm.MOTIONS)),
                         ("depths", list(DEPTHS)), ("tilings", list(TILINGS))):
        if getattr(args, key) is None:
            setattr(args, key, default)
    if args.plot:
        _require_matplotlib()
    if args.from_json:
        reports = [json.loads(Path(f).read_text()) for f in args.from_json]
        report = dict(meta=[r["meta"] for r in reports], results=[row for r in reports for row in r["results"]])
    else:
        if args.write:
            pairs = (lm.build_pair(k, s, m, lm.data_root(args.shared), args.zoom_middle)
                     for s in args.sizes for k in args.kinds for m in args.motions)
            out = lm.write_pairs(pairs, args.write, force=args.force, inputs=[args.shared])
            print(f"# wrote {out} (`filmnet eval --data {out}` reads it)")
        if args.no_run:
            return 0
        report = run(args)
        if args.json:
            from filmnet.io.atomic import write_text_atomic

            write_text_atomic(args.json, json.dumps(report, indent=1) + "\n")
    print()
    print(format_tables(report["results"]))
    if args.plot:
        plot(report["results"], args.plot)
        print(f"# plot: {args.plot}")
    return 0


def depth_supported() -> bool:
    """Whether the installed Interpolator takes `pyramid_levels` (the depth option of issue 22)."""
    from filmnet.inference.interpolator import Interpolator

    return "pyramid_levels" in inspect.signature(Interpolator.__init__).parameters


def model_files(names: list[str]) -> dict[str, str]:
    """name -> weights file for the models present; prints a note for each one that is not."""
    from filmnet.weights.hub import cached_file

    found = {}
    for name in names:
        if name == "film_lite":
            found[name] = str(_filmnet_root() / "assets" / "film_lite.safetensors")
        elif Path(name).is_file():
            found[Path(name).stem] = name
        else:
            cached = cached_file(name)
            if cached is None:
                print(f"# note: {name} weights are not in the model cache; skipped (`filmnet models pull {name}` first)")
            else:
                found[name] = str(cached.path)
    return found


def run(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    depths = list(args.depths)
    if not depth_supported():
        print("# note: this filmnet's Interpolator has no pyramid_levels option (issue 22 not merged): "
              "running its fixed depth 7 only")
        depths = ["7"] if "7" in depths or "auto" in depths else []
    models = model_files(args.models)
    meta = dict(commit=_commit(), command=" ".join(sys.argv), threads=args.threads, tile=args.tile,
                overlap=args.tile_overlap, zoom_middle=args.zoom_middle, depth_option=depth_supported())
    print(f"# commit {meta['commit']}, {args.threads} threads, tiles {args.tile}x{args.tile} overlap "
          f"{args.tile_overlap}; seconds are wall time on this machine (indicative only if it is shared)")
    print(f"{'model':10} {'size':6} {'kind':7} {'D':>4} {'depth':>5} {'tiling':8} {'PSNR':>7} {'SSIM':>7} "
          f"{'common':>7} {'s':>7}  note   (common: PSNR where both inputs show the truth)")
    results, interpolators = [], {}
    for size in args.sizes:
        for kind in args.kinds:
            for motion in args.motions:
                pair = lm.build_pair(kind, size, motion, lm.data_root(args.shared), args.zoom_middle)
                results.append(_row("blend", pair, ("-", "-"), _all_scores(_blend(pair), pair), 0.0, pair.note))
                for name, path in models.items():
                    for depth in depths:
                        for tiling in args.tilings:
                            key = (name, depth, tiling)
                            if key not in interpolators:
                                interpolators[key] = _interpolator(path, depth, tiling, args)
                            results.append(_measure(interpolators[key], pair, name, depth, tiling))
    return dict(meta=meta, results=results)


def _interpolator(path: str, depth: str, tiling: str, args):
    from filmnet.inference.interpolator import Interpolator
    from filmnet.inference.memory import TilingOptions

    options = TilingOptions(max_memory=None, tile=(args.tile, args.tile) if tiling == "tiled" else None,
                            overlap=args.tile_overlap)
    extra = {"pyramid_levels": depth if depth == "auto" else int(depth)} if depth_supported() else {}
    try:
        return Interpolator(path, device=args.device, precision="fp32", flow="model", tiling=options, **extra)
    except Exception as exc:  # noqa: BLE001 - reported per row, the run goes on
        return exc


def _measure(interpolator, pair, model: str, depth: str, tiling: str) -> dict:
    if isinstance(interpolator, Exception):
        return _row(model, pair, (depth, tiling), None, None, _one_line(interpolator))
    from filmnet.io.media.images import to_uint8

    try:
        start = time.perf_counter()
        out = interpolator.interpolate(pair.frame0, pair.frame1, 0.5)
        seconds = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - e.g. a depth too deep for the frame: one line, the run goes on
        return _row(model, pair, (depth, tiling), None, None, _one_line(exc))
    used = getattr(interpolator, "last_pyramid_levels", None)
    note = f"depth used {used}" if used is not None and depth == "auto" else ""
    pred = to_uint8(out)
    return _row(model, pair, (depth, tiling), _all_scores(pred, pair), seconds, note)


def _row(model: str, pair, setting: tuple[str, str], scores: tuple | None, seconds: float | None, note: str) -> dict:
    """One result (printed as it comes): `setting` is (depth, tiling), `scores` (PSNR, SSIM, both-inputs PSNR)."""
    (depth, tiling), (psnr, ssim, psnr_common) = setting, scores or (None, None, None)
    row = dict(model=model, size=pair.size, kind=pair.kind, motion=pair.motion, depth=depth, tiling=tiling,
               psnr=psnr, ssim=ssim, psnr_common=psnr_common, seconds=seconds, note=note)
    psnr_text = f"{psnr:7.2f}" if psnr is not None else f"{'-':>7}"
    ssim_text = f"{ssim:7.4f}" if ssim is not None else f"{'-':>7}"
    common_text = f"{psnr_common:7.2f}" if psnr_common is not None else f"{'-':>7}"
    seconds_text = f"{seconds:7.1f}" if seconds else f"{'':>7}"
    print(f"{model:10} {pair.size:6} {pair.kind:7} {pair.motion:4} {depth:>5} {tiling:8} {psnr_text} {ssim_text} "
          f"{common_text} {seconds_text}  {note}", flush=True)
    return row


def _scores(pred, truth) -> tuple[float, float]:
    import torch

    from filmnet.eval.metrics import psnr, ssim

    p, g = (torch.from_numpy(a).permute(2, 0, 1).double() / 255.0 for a in (pred, truth))
    return float(psnr(p, g)), float(ssim(p, g))


def _blend(pair):
    import numpy as np

    from filmnet.io.media.images import to_uint8

    return to_uint8((pair.frame0.astype(np.float32) + pair.frame1.astype(np.float32)) / (2 * 255.0))


def _all_scores(pred, pair) -> tuple[float, float, float | None]:
    return (*_scores(pred, pair.truth), _common_psnr(pred, pair))


def _common_psnr(pred, pair) -> float | None:
    """PSNR over the part of the truth that both inputs show (`Pair.common`)."""
    import torch

    from filmnet.eval.metrics import psnr

    if pair.common is None:
        return None
    top, bottom, left, right = pair.common
    p, g = (torch.from_numpy(a[top:bottom, left:right]).permute(2, 0, 1).double() / 255.0 for a in (pred, pair.truth))
    return float(psnr(p, g))


def format_tables(results: list[dict]) -> str:
    """Markdown tables: one per (size, kind); rows model x depth x tiling, columns motion, cells PSNR / SSIM and,
    where measured, [PSNR over the part of the truth both inputs show]."""
    motions = sorted({r["motion"] for r in results})
    groups: dict[tuple, dict] = {}
    for r in results:
        groups.setdefault((r["size"], r["kind"]), {}).setdefault((r["model"], r["depth"], r["tiling"]), {})[
            r["motion"]] = r
    out = []
    for (size, kind), rows in groups.items():
        out.append(f"**{kind}, {size}** (PSNR dB / SSIM against the true middle frame [PSNR where both inputs "
                   "show it])\n")
        out.append("| model | depth | tiling | " + " | ".join(f"{m} px" for m in motions) + " |")
        out.append("|---|---|---|" + "---|" * len(motions))
        for (model, depth, tiling), cells in rows.items():
            texts = [_cell(cells.get(m)) for m in motions]
            out.append(f"| {model} | {depth} | {tiling} | " + " | ".join(texts) + " |")
        out.append("")
    return "\n".join(out)


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["psnr"] is None:
        return "error"
    common = row.get("psnr_common")
    return f"{row['psnr']:.2f} / {row['ssim']:.3f}" + (f" [{common:.2f}]" if common is not None else "")


def plot(results: list[dict], path: str) -> None:
    """PSNR against motion, one panel per (size, kind), one line per model, depth and tiling; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from filmnet.io.atomic import atomic_target

    panels = sorted({(r["size"], r["kind"]) for r in results}, key=lambda p: (list(lm.SIZES).index(p[0]), p[1]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (size, kind) in zip(axes[0], panels):
        lines: dict[tuple, list] = {}
        for r in results:
            if (r["size"], r["kind"]) == (size, kind) and r["psnr"] is not None:
                lines.setdefault((r["model"], r["depth"], r["tiling"]), []).append((r["motion"], r["psnr"]))
        for (model, depth, tiling), points in lines.items():
            xs, ys = zip(*sorted(points))
            label = "blend" if model == "blend" else f"{model} depth {depth}, {tiling}"
            ax.plot(xs, ys, marker="o", linestyle="--" if tiling == "tiled" else "-", label=label)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{kind}, {size}")
        ax.set_xlabel("motion (px)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path, suffix=".part.png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("--plot needs matplotlib, which is not installed: pip install matplotlib "
                 "(or the project's `bench` extra: pip install -e .[bench])")


def _filmnet_root() -> Path:
    import filmnet

    return Path(filmnet.__file__).resolve().parent


def _commit() -> str:
    """The commit of the filmnet that runs (its source tree), with -dirty for uncommitted changes."""
    try:
        out = subprocess.run(["git", "-C", str(_filmnet_root()), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _motion(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value <= 0 or value % 2 or value > lm.MAX_MOTION:
        raise argparse.ArgumentTypeError(f"motion must be an even number of px in [2, {lm.MAX_MOTION}], got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", choices=list(lm.SIZES), help="default: all")
    p.add_argument("--kinds", nargs="+", choices=list(lm.KINDS), help="default: all")
    p.add_argument("--motions", nargs="+", type=_motion, help=f"px, even, <= {lm.MAX_MOTION} (default: {lm.MOTIONS})")
    p.add_argument("--depths", nargs="+", choices=list(DEPTHS), help="pyramid depths (default: all)")
    p.add_argument("--tilings", nargs="+", choices=list(TILINGS), help="default: both")
    p.add_argument("--models", nargs="+", default=["film_lite", "film_net"],
                   help="film_lite (bundled), cached model names, or weights files; missing ones are skipped")
    p.add_argument("--quick", action="store_true", help="540p, pan and object, 32 and 256 px, depth 7 and auto, "
                                                        "untiled (options given explicitly win)")
    p.add_argument("--tile", type=int, default=256, help="forced square tile size for 'tiled' (multiple of 64)")
    p.add_argument("--tile-overlap", type=int, default=128, help="tile overlap for 'tiled' (multiple of 64)")
    p.add_argument("--zoom-middle", default="arith", choices=["arith", "geom"], help="truth scale of zooms")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared folder holding data/")
    p.add_argument("--write", type=Path, help="also write the triplets here (Vimeo layout, atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --write folder")
    p.add_argument("--no-run", action="store_true", help="only write the triplets")
    p.add_argument("--json", help="write the results (and commit, command) to this JSON file")
    p.add_argument("--from-json", nargs="+", help="print tables (and --plot) from --json files instead of running")
    p.add_argument("--plot", help="PNG plot of PSNR against motion (needs matplotlib)")
    return p


if __name__ == "__main__":
    sys.exit(main())
