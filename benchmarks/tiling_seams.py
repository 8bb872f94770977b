"""Seam error of tiled inference: mean abs difference tiled vs untiled on the real demo pairs, per tile/overlap.

Use trained weights; random weights only smoke-test the script. Errors are in 8-bit levels (x255): "band" is the
error within 16 px of the cross-fade centres, where seams show; "cost" is computed pixels over untiled pixels.
The issue's target is a tiled-vs-untiled MAE < 1 level at 1080p. Since tiles see the whole frame
(inference/tiling.py) they are exact and `overlap` is unused: every row should read ~0 (a regression check).

  python benchmarks/tiling_seams.py --weights film_net.safetensors
  python benchmarks/tiling_seams.py --config film_tiny --pairs rife_demo --tiles 128 --overlaps 0 64   # smoke
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

DEFAULT_PAIRS = {  # folder: (first, second); the largest real pairs in ../shared/data/demo_pairs
    "amt_quick_demo": ("img0.png", "img1.png"),
    "film_photos": ("one.png", "two.png"),
    "ema_vfi": ("img1.jpg", "img2.jpg"),
    "ifrnet": ("img0.png", "img1.png"),
    "middlebury_eval_mequon": ("one.png", "two.png"),
    "rife_demo": ("I0_0.png", "I0_1.png"),
}
SHARED = Path(os.environ.get("FILMNET_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from filmnet.inference.pair import PairRunner
    from filmnet.inference.tiling import count_tiles, interpolate_tiled

    torch.set_num_threads(args.threads)
    model = _load_model(args.weights, args.config)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.precision == "bf16" else None
    runner = PairRunner(model, autocast=autocast)
    summary = defaultdict(list)
    print(f"{'pair':24} {'WxH':>10} {'tile':>5} {'ovl':>4} {'tiles':>5} {'cost':>5} {'MAE':>7} {'band':>7} "
          f"{'max':>7}")
    for name in args.pairs:
        x0, x1 = _read_pair(args.data / name, DEFAULT_PAIRS[name])
        h, w = x0.shape[-2:]
        untiled = interpolate_tiled(runner, x0, x1, 0.5, tile=(1 << 30, 1 << 30)).clamp(0, 1)
        for tile in args.tiles:
            for overlap in args.overlaps:
                if overlap + 64 > tile or count_tiles(h, w, (tile, tile)) == 1:
                    continue
                tiled = interpolate_tiled(runner, x0, x1, 0.5, tile=(tile, tile), overlap=overlap).clamp(0, 1)
                row = _errors(tiled, untiled, tile, overlap)
                n = count_tiles(h, w, (tile, tile))
                cost = n * tile * tile / ((h + (-h % 64)) * (w + (-w % 64)))
                summary[(tile, overlap)].append(row["mae"])
                print(f"{name:24} {f'{w}x{h}':>10} {tile:5} {overlap:4} {n:5} {cost:5.2f} {row['mae']:7.3f} "
                      f"{row['band']:7.3f} {row['max']:7.1f}", flush=True)
    print("\nmean MAE (8-bit levels) over pairs:")
    for (tile, overlap), values in sorted(summary.items()):
        print(f"  tile {tile:4} overlap {overlap:3}: {statistics.mean(values):.3f}  ({len(values)} pairs)")
    return 0


def _errors(tiled, untiled, tile: int, overlap: int) -> dict:
    import torch

    from filmnet.inference.padding import Padder
    from filmnet.inference.tiling import tile_spans

    diff = (tiled - untiled).abs().mean(dim=1)[0] * 255  # (H, W)
    h, w = diff.shape
    padder = Padder(h, w, 64)
    left, _, top, _ = padder.padding
    band = torch.zeros(h, w, dtype=torch.bool)
    for axis, (length, offset) in enumerate(((h + (-h % 64), top), (w + (-w % 64), left))):
        for span in tile_spans(length, tile, overlap)[1:]:
            centre = span.start + span.overlap_before // 2 - offset
            lo, hi = max(centre - 16, 0), max(min(centre + 16, diff.shape[axis]), 0)
            if axis == 0:
                band[lo:hi, :] = True
            else:
                band[:, lo:hi] = True
    return dict(mae=diff.mean().item(), band=diff[band].mean().item() if band.any() else float("nan"),
                max=diff.max().item())


def _read_pair(folder: Path, names: tuple[str, str]):
    import numpy as np
    import torch
    from PIL import Image, PngImagePlugin

    PngImagePlugin.MAX_TEXT_CHUNK = 1 << 30  # film_photos carry a huge metadata chunk (see PROVENANCE.md)

    def read(name: str):
        array = np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()

    return read(names[0]), read(names[1])


def _load_model(weights: str | None, config: str):
    import torch

    import filmnet

    if weights:
        from filmnet.weights import load_model
        from filmnet.weights.hub import resolve_weights

        return load_model(resolve_weights(weights)).eval()  # a model name becomes a path in the hub
    torch.manual_seed(0)
    print(f"# no --weights: seeded random {config} weights (smoke test only; errors are meaningless)")
    return filmnet.FILM(config).eval()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="trained weights (any format filmnet loads)")
    p.add_argument("--config", default="film_net", help="config for random weights when --weights is not given")
    p.add_argument("--pairs", nargs="+", default=list(DEFAULT_PAIRS), choices=list(DEFAULT_PAIRS))
    p.add_argument("--tiles", nargs="+", type=int, default=[256, 384, 512])
    p.add_argument("--overlaps", nargs="+", type=int, default=[0, 64, 128, 192])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--data", type=Path, default=SHARED / "data" / "demo_pairs")
    return p


if __name__ == "__main__":
    sys.exit(main())
