"""How far a moving object can go before interpolation ghosts: the demo's synthetic scene, rendered at t = 0, 0.5, 1.

A rigid ball (no spin) moves D px diagonally (D a multiple of 10, so that it is at whole pixels at t = 0.5; the ball's
hard-edged stripes do not survive sub-pixel resampling) while the camera pans about D/3 px (even, for the same reason);
the true middle frame is rendered too, so PSNR is exact. Reported over the whole frame and over the ball's path (the discs at t = 0, 0.5 and 1), for each
weights file, DIS and blend, averaged over three landscapes. Synthetic data made here; no dataset is read.

python research/synthetic_motion.py                      # the bundled film_lite
python research/synthetic_motion.py --weights film_net.safetensors
python research/synthetic_motion.py --flows model hybrid       # one column per flow source (default: auto)
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import filmnet
from filmnet.demo import ball_disc, render_synthetic_frame
from filmnet.eval.baselines import blend, dis
from filmnet.eval.metrics import psnr_8bit

WIDTH, HEIGHT = 640, 360


def path_mask(move: tuple[float, float]) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for t in (0.0, 0.5, 1.0):
        cx, cy, radius = ball_disc(t, WIDTH, HEIGHT, move)
        mask |= np.hypot(xx - cx, yy - cy) <= radius + 2
    return mask


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="*", default=[None], help="weights files (default: the bundled film_lite)")
    ap.add_argument("--displacements", type=int, nargs="+", default=[10, 20, 30, 40, 60, 80, 100, 130])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 23])
    ap.add_argument("--flows", nargs="+", default=["auto"], choices=("auto", "model", "dis", "hybrid"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if any(d % 10 for d in args.displacements):
        ap.error("displacements must be multiples of 10 px")
    torch.set_num_threads(args.threads)
    runners = {}
    for w in args.weights:
        for flow in args.flows:
            run = filmnet.Interpolator(w, precision="fp32", flow=flow)
            runners[(w or "film_lite (bundled)") + ("" if len(args.flows) == 1 else f":{run.flow}")] = run
    methods = [*runners, "dis", "blend"]
    print("ball motion (px), pan (px); then PSNR dB over the frame / over the ball's path, mean of "
          f"{len(args.seeds)} landscapes")
    print("motion  pan  " + "  ".join(f"{m:>24}" for m in methods))
    for d in args.displacements:
        move = (0.8 * d / WIDTH, -0.6 * d / HEIGHT)  # 0.8^2 + 0.6^2 = 1: d px along a fixed diagonal
        pan = 2 * round(d / 6)
        mask = path_mask(move)
        scores = {m: [] for m in methods}
        for seed in args.seeds:
            f0, mid, f1 = (render_synthetic_frame(t, WIDTH, HEIGHT, seed, pan=pan, move=move, spin=0.0)
                           for t in (0.0, 0.5, 1.0))
            preds = {name: np.asarray(run.interpolate(f0, f1)) for name, run in runners.items()}
            preds["dis"], preds["blend"] = dis(f0, f1), blend(f0, f1)
            for m in methods:
                scores[m].append((psnr_8bit(preds[m], mid), psnr_8bit(preds[m][mask], mid[mask])))
        cells = "  ".join(f"{np.mean([s[0] for s in scores[m]]):11.2f} /{np.mean([s[1] for s in scores[m]]):6.2f}"
                          for m in methods)
        print(f"{d:6d}  {pan:3d}  " + cells, flush=True)


if __name__ == "__main__":
    main()
