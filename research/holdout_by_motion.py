"""PSNR by motion size on the clips `filmnet train --holdout 0.05` holds out: weights files against DIS and blend.

Motion is the mean length of the DIS flow x0 -> x1 over the crop. Training sources only (never the evaluation sets);
every held-out triplet, 192 px centre crops of frames at most 288 px on the short side, fp32, 8-bit predictions.

python research/holdout_by_motion.py src/filmnet/assets/film_lite.safetensors
python research/holdout_by_motion.py src/filmnet/assets/film_lite.safetensors --flows model dis hybrid

`--flows` picks the flow sources to score each weights file with (`Interpolator(flow=...)`): model (its own), dis
(its fusion fed the triplet's DIS flows, `fusion_dis_flows`) and hybrid (`filmnet.flows.dis.select_flows`).
`--degrade` scores the soft-input proxy instead: the same triplets, each softened and JPEG-coded (all three frames
alike); `--degrade codec` the codec proxy: each coded as a three-frame MPEG-4 Part 2 video at a random quantiser, the
codec family of UCF101's sources.

python research/holdout_by_motion.py src/filmnet/assets/film_lite.safetensors --flows hybrid --degrade
python research/holdout_by_motion.py src/filmnet/assets/film_lite.safetensors --flows model dis hybrid --degrade codec

`--warp-mix B` scores the dis and hybrid columns as `Interpolator(warp_mix=B)` runs them; `--mix B ...` adds
columns with every pair's output (own flows too) moved a share B towards its two warped inputs' average.
"""
from __future__ import annotations

import argparse
import functools

import numpy as np
import torch
from torch.utils.data import DataLoader

import filmnet
from filmnet.eval.baselines import blend, dis, dis_flows
from filmnet.eval.metrics import psnr_8bit
from filmnet.flows.dis import apply_warp_mix, check_warp_mix, dis_flow_fields, fusion_flows, select_flows
from filmnet.train.data import build_train_val_datasets

SOURCES = ["../shared/data/train_video", "../shared/data/real_videos", "../shared/data/basketballpass_sequence",
           "../shared/data/vimeo_septuplet"]
EDGES = (0, 1, 2, 4, 8, 16, float("inf"))


def hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).float().numpy()


def held_out_crops(degrade: str | None = None):
    """The validation split of `filmnet train --holdout 0.05`: 192 px centre crops, frames <= 288 px short side;
    `degrade`: each degraded (a fixed draw per triplet) by "soft" (`train.augment.degrade_triplet`) or "codec"
    (`train.augment.codec_triplet`)."""
    _, val = build_train_val_datasets(SOURCES, holdout=0.05, crop=192, large_motion=False, seed=0, max_short_side=288,
                                      degrade_val=degrade is not None, degrade_kind=degrade or "soft")
    return val


def print_by_motion(motion: list[float], scores: dict[str, list[float]],
                    buckets: list[tuple[float, float]]) -> None:
    """Mean of each score over the triplets whose motion falls in each [lo, hi) bucket, one row per bucket."""
    motion = np.array(motion)
    print(f"{len(motion)} held-out triplets; mean PSNR (dB) by mean DIS motion (px)")
    print("motion       n     " + "  ".join(scores))
    for lo, hi in buckets:
        mask = (motion >= lo) & (motion < hi)
        if mask.any():
            label = "all" if (lo, hi) == (0, float("inf")) else f"{lo:g}-{hi:g}"
            cells = "  ".join(f"{np.mean(np.array(values)[mask]):.2f}" for values in scores.values())
            print(f"{label:<12} {mask.sum():<5} {cells}", flush=True)


@torch.inference_mode()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--flows", nargs="+", choices=("model", "dis", "hybrid"), default=["model"])
    ap.add_argument("--degrade", nargs="?", const="soft", choices=("soft", "codec"),
                    help="score a degraded proxy of the same triplets (a fixed draw per triplet): soft (default; "
                    "softened and JPEG-coded alike, train.augment.degrade_triplet) or codec (coded as MPEG-4 video, "
                    "train.augment.codec_triplet)")
    ap.add_argument("--mix", type=float, nargs="+", default=[],
                    help="also score each column's output moved this share of the way towards the average of the "
                    "two inputs it warped (column name +mixB)")
    ap.add_argument("--warp-mix", type=float, default=0.0,
                    help="Interpolator(warp_mix=...) for the dis and hybrid columns (filmnet.flows.dis."
                    "apply_warp_mix: only pairs fused on DIS flows)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    check_warp_mix(args.warp_mix)
    torch.set_num_threads(args.threads)
    val = held_out_crops(args.degrade)
    models = {w: filmnet.load_model(w).eval() for w in args.weights}
    mix = f"+warp_mix{args.warp_mix:g}" if args.warp_mix else ""
    column = lambda w, flow: w if flow == "model" else f"{w}:{flow}{mix}"  # noqa: E731
    names = [column(w, f) for w in args.weights for f in args.flows]
    names += [f"{n}+mix{b:g}" for n in names for b in args.mix]
    motion, scores = [], {n: [] for n in [*names, "dis", "blend"]}
    for batch in DataLoader(val, batch_size=8):
        frames = [tuple(hwc(batch[n][k]) for n in ("x0", "x1", "y")) for k in range(len(batch["y"]))]
        pair_flows = [dis_flows(x0, x1) for x0, x1, _ in frames]  # the DIS baseline's, and the motion measure
        fields = functools.cache(lambda: dis_flow_fields(batch["x0"], batch["x1"]))  # the fusion's DIS flows
        preds = {}
        for w, model in models.items():
            e0, e1 = model.encode(batch["x0"]), model.encode(batch["x1"])
            own = functools.cache(lambda: model.estimate_flows(e0, e1))
            for flow in args.flows:
                if flow == "model":
                    flows = own()
                else:
                    flows = fusion_flows(*fields(), model.config.fusion_pyramid_levels)
                    if flow == "hybrid":
                        flows = select_flows(batch["x0"], batch["x1"], flows, own)
                out = model.synthesize(e0, e1, flows, batch["time"])
                preds[column(w, flow)] = apply_warp_mix(out, flows, batch["time"], args.warp_mix)
                for b in args.mix:
                    warp_avg = 0.5 * (out.x0_warped + out.x1_warped)
                    preds[f"{column(w, flow)}+mix{b:g}"] = out.image + b * (warp_avg - out.image)
        for k, ((x0, x1, y), flows) in enumerate(zip(frames, pair_flows)):
            motion.append(float(np.linalg.norm(flows[0], axis=-1).mean()))
            for w, p in preds.items():
                scores[w].append(psnr_8bit(hwc(p[k]), y))
            scores["dis"].append(psnr_8bit(dis(x0, x1, flows), y))
            scores["blend"].append(psnr_8bit(blend(x0, x1), y))
    print_by_motion(motion, scores, [*zip(EDGES[:-1], EDGES[1:]), (0, float("inf"))])


if __name__ == "__main__":
    main()
