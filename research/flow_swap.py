"""Is it the flows or the fusion? Swap film_lite's flows and DIS's on the clips `filmnet train --holdout 0.05` holds out.

For each weights file and held-out triplet (192 px centre crops of frames at most 288 px on the short side, fp32,
8-bit predictions; training sources only, never the evaluation sets) it scores:
  model              the model as it is
  model_warp_avg     the average of the model's two inputs warped to t = 0.5 (its flows, no fusion)
  fusion_dis_flows   the model's fusion fed OpenCV DIS flows as `flow="dis"` feeds it (`fusion_dis_flows`)
  dis_warp_avg       the average of the inputs warped to t = 0.5 by those same DIS flows (no fusion)
  dis                the DIS baseline (`filmnet eval --method dis`)
  blend              the average of the inputs

python research/flow_swap.py src/filmnet/assets/film_lite.safetensors --triplets 400

`--degrade soft|codec` scores a degraded proxy of the same triplets (as `holdout_by_motion.py --degrade`).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader

import filmnet
from filmnet.eval.baselines import blend, dis, dis_flows
from filmnet.eval.metrics import psnr_8bit
from filmnet.flows.dis import dis_flow_fields, fusion_flows
from holdout_by_motion import held_out_crops, hwc, print_by_motion

BUCKETS = [(0, 2), (2, 8), (8, float("inf")), (0, float("inf"))]


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--triplets", type=int, default=400)
    ap.add_argument("--degrade", choices=("soft", "codec"), help="score this degraded proxy of the triplets")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    val = held_out_crops(args.degrade)
    models = {w: filmnet.load_model(w).eval() for w in args.weights}
    kinds = ("model", "model_warp_avg", "fusion_dis_flows", "dis_warp_avg")
    names = [f"{kind}:{i}" for i in range(len(models)) for kind in kinds] + ["dis", "blend"]
    scores, motion = {n: [] for n in names}, []
    for batch in DataLoader(val, batch_size=8):
        x0, x1, t = batch["x0"], batch["x1"], batch["time"]
        frames = [(hwc(x0[k]), hwc(x1[k]), hwc(batch["y"][k])) for k in range(len(x0))]
        flows = [dis_flows(a, b) for a, b, _ in frames]  # the DIS baseline's, and the motion measure
        fields = dis_flow_fields(x0, x1)  # the fusion's DIS flows (`fusion_dis_flows`)
        for i, model in enumerate(models.values()):
            e0, e1 = model.encode(x0), model.encode(x1)
            out = model.synthesize(e0, e1, model.estimate_flows(e0, e1), t)
            swapped = fusion_flows(*fields, model.config.fusion_pyramid_levels)
            fused = model.synthesize(e0, e1, swapped, t)
            for k, (_, _, y) in enumerate(frames):
                scores[f"model:{i}"].append(psnr_8bit(hwc(out.image[k]), y))
                warp_avg = 0.5 * (hwc(out.x0_warped[k]) + hwc(out.x1_warped[k]))
                scores[f"model_warp_avg:{i}"].append(psnr_8bit(warp_avg, y))
                scores[f"fusion_dis_flows:{i}"].append(psnr_8bit(hwc(fused.image[k]), y))
                dis_avg = 0.5 * (hwc(fused.x0_warped[k]) + hwc(fused.x1_warped[k]))
                scores[f"dis_warp_avg:{i}"].append(psnr_8bit(dis_avg, y))
        for (a, b, y), f in zip(frames, flows):
            motion.append(float(np.linalg.norm(f[0], axis=-1).mean()))
            scores["dis"].append(psnr_8bit(dis(a, b, f), y))
            scores["blend"].append(psnr_8bit(blend(a, b), y))
        if len(motion) >= args.triplets:
            break
    for i, w in enumerate(models):
        print(f":{i} = {w}")
    print_by_motion(motion, scores, BUCKETS)


if __name__ == "__main__":
    main()
