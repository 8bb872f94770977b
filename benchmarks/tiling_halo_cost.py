"""What exact tiles would cost with a widened halo instead of whole-frame fine features, on real pans.

Whole-frame tiling (`inference/tiling.py`) keeps both frames' fine feature pyramids (levels 0-2) whole, so a warp can
read any displacement: the features are computed once per frame (1.0x the frame's pixels) and held in memory. The
alternative keeps nothing whole: each tile computes the features of every pixel its warps read, i.e. the tile
grown to cover the sources of its flows (plus the extractor's receptive field). This prints, per pan, the feature
pixels that alternative computes (relative to the frame) and its largest tile window (the per-tile memory), from
the model's own flows of the pan pair of benchmarks/tiling_pan.py.

  python benchmarks/tiling_halo_cost.py --pans 64 192 --tile 256
"""
from __future__ import annotations

import argparse
import sys

from tiling_pan import pan_pair  # benchmarks/ is on sys.path when run as a script


def source_boxes(flow, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
    """Per tile of `flow` (1, 2, H, W): the window covering the tile and every pixel its bilinear warp reads,
    grown by `halo`, clipped to the frame."""
    import torch

    _, _, h, w = flow.shape
    ys = torch.arange(h).view(h, 1).float()
    xs = torch.arange(w).view(1, w).float()
    sx, sy = (xs + flow[0, 0]).clamp(0, w - 1), (ys + flow[0, 1]).clamp(0, h - 1)
    boxes = []
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            win = (slice(top, min(h, top + tile)), slice(left, min(w, left + tile)))
            y0 = min(top, int(sy[win].min().floor())) - halo
            y1 = max(min(h, top + tile), int(sy[win].max().ceil()) + 1) + halo
            x0 = min(left, int(sx[win].min().floor())) - halo
            x1 = max(min(w, left + tile), int(sx[win].max().ceil()) + 1) + halo
            boxes.append((max(0, y0), min(h, y1), max(0, x0), min(w, x1)))
    return boxes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pans", type=int, nargs="+", default=[64, 192])
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from filmnet.inference import Interpolator
    from filmnet.inference.tiled_encode import subtree_halo

    from pathlib import Path

    weights = Path(__file__).resolve().parents[1] / "src" / "filmnet" / "assets" / "film_lite.safetensors"
    interp = Interpolator(str(weights), precision="fp32", flow="model", max_memory=None)
    model = interp.model
    halo = subtree_halo(model, model.config.sub_levels)
    for pan in args.pans:
        x0, x1, _ = pan_pair(pan)
        runner = interp.pair_runner(*x0.shape[:2])
        e0, e1 = runner.encode(interp.to_tensor(x0)), runner.encode(interp.to_tensor(x1))
        flows = runner.flows(e0, e1)
        frame = e0.images[0].shape[-2] * e0.images[0].shape[-1]
        for level in range(3):
            scale = 2**level
            computed, largest = 0, 0
            for flow in (flows.forward[level], flows.backward[level]):  # each side's warps read the other frame
                for y0, y1, x0_, x1_ in source_boxes(flow, args.tile // scale, halo):  # flow refinement reads x + v
                    computed += (y1 - y0) * (x1_ - x0_) * scale**2
                    largest = max(largest, (y1 - y0) * (x1_ - x0_) * scale**2)
            print(f"pan {pan:4d} level {level}: widened halo computes {computed / (2 * frame):.2f}x the frame's "
                  f"feature pixels (whole-frame: 1.00x); largest tile window {largest / args.tile**2:.2f}x a "
                  f"{args.tile}x{args.tile} tile", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
