"""Is it the flows or the fusion? Swap film_lite's flows and DIS's on the clips `filmnet train --holdout 0.05` holds out.

For each weights file and held-out triplet (192 px centre crops of frames at most 288 px on the short side, fp32,
8-bit predictions; training sources only, never the evaluation sets) it scores:
  model              the model as it is
  model_warp_avg     the average of the model's two inputs warped to t = 0.5 (its flows, no fusion)
  fusion_dis_flows   the model's fusion fed OpenCV DIS flows (all fusion levels, area-downsampled)
  dis                the DIS baseline (`filmnet eval --method dis`)
  blend              the average of the inputs

python scripts/flow_swap.py src/filmnet/assets/film_lite.safetensors --triplets 400
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import filmnet
from filmnet.eval.baselines import blend, dis, dis_flows
from filmnet.eval.metrics import psnr_8bit
from filmnet.model.film import Encoded, PairFlows
from filmnet.train.data import build_train_val_datasets
from holdout_by_motion import SOURCES, hwc

BUCKETS = ((0, 2), (2, 8), (8, float("inf")), (0, float("inf")))


def flow_pyramid(flow: np.ndarray, levels: int) -> list[torch.Tensor]:
    """(H, W, 2) pixel flow -> finest-first (1, 2, H/2^k, W/2^k) flows in each level's pixels."""
    level = torch.from_numpy(flow).permute(2, 0, 1)[None]
    out = [level]
    for _ in range(levels - 1):
        level = F.avg_pool2d(level, 2) / 2
        out.append(level)
    return out


def one(encoded: Encoded, k: int) -> Encoded:
    return Encoded([i[k:k + 1] for i in encoded.images], [f[k:k + 1] for f in encoded.features])


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--triplets", type=int, default=400)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _, val = build_train_val_datasets(SOURCES, holdout=0.05, crop=192, large_motion=False, seed=0, max_short_side=288)
    models = {w: filmnet.load_model(w).eval() for w in args.weights}
    kinds = ("model", "model_warp_avg", "fusion_dis_flows")
    names = [f"{kind}:{i}" for i in range(len(models)) for kind in kinds] + ["dis", "blend"]
    scores, motion = {n: [] for n in names}, []
    for batch in DataLoader(val, batch_size=8):
        x0, x1, t = batch["x0"], batch["x1"], batch["time"]
        runs = []
        for model in models.values():
            e0, e1 = model.encode(x0), model.encode(x1)
            runs.append((model, e0, e1, model.synthesize(e0, e1, model.estimate_flows(e0, e1), t)))
        for k in range(len(x0)):
            a, b, y = hwc(x0[k]), hwc(x1[k]), hwc(batch["y"][k])
            f01, f10 = dis_flows(a, b)
            motion.append(float(np.linalg.norm(f01, axis=-1).mean()))
            for i, (model, e0, e1, out) in enumerate(runs):
                levels = model.config.fusion_pyramid_levels
                swapped = PairFlows([], [], flow_pyramid(f01, levels), flow_pyramid(f10, levels))
                fused = model.synthesize(one(e0, k), one(e1, k), swapped, t[k:k + 1])["image"][0]
                scores[f"model:{i}"].append(psnr_8bit(hwc(out["image"][k]), y))
                warp_avg = 0.5 * (hwc(out["x0_warped"][k]) + hwc(out["x1_warped"][k]))
                scores[f"model_warp_avg:{i}"].append(psnr_8bit(warp_avg, y))
                scores[f"fusion_dis_flows:{i}"].append(psnr_8bit(hwc(fused), y))
            scores["dis"].append(psnr_8bit(dis(a, b, (f01, f10)), y))
            scores["blend"].append(psnr_8bit(blend(a, b), y))
        if len(motion) >= args.triplets:
            break
    motion = np.array(motion)
    for i, w in enumerate(models):
        print(f":{i} = {w}")
    print(f"{len(motion)} held-out triplets; mean PSNR (dB) by mean DIS motion (px)")
    print("motion  n    " + "  ".join(names))
    for lo, hi in BUCKETS:
        mask = (motion >= lo) & (motion < hi)
        if mask.any():
            label = "all" if (lo, hi) == (0, float("inf")) else f"{lo:g}-{hi:g}"
            cells = "  ".join(f"{np.mean(np.array(scores[n])[mask]):.2f}" for n in names)
            print(f"{label:<7} {mask.sum():<4} {cells}", flush=True)


if __name__ == "__main__":
    main()
