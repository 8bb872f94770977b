"""Pyramid depth vs motion on training-side data (issue 22): film_lite, fp32, PSNR of the 8-bit middle frame.

Pans: crops of the first frame of train_video/toflow_baseball (lossless 1280x720), rows 40-679, I0/I1 shifted by
-D/2/+D/2 around the truth at cols 128-1151 (the 192 px case is the issue's acceptance setup). Real triplets:
consecutive and wide-spaced frames of training-side clips. Variants: depth L with the frame padded to 64 and floor
pooling ("floor"), or padded to 2^(L-1) ("pad"). Usage:
  python research/pyramid_depth.py pans --depths 7 8 9 10 [--flow model]
  python research/pyramid_depth.py real --depths 7 auto

Measured (2-core shared CPU, PSNR dB; "fl" = pad to 64 + floor pooling, "pa" = pad to 2^(L-1)):
  pan  32 px 1024x640: fl7 43.58, fl8 43.45, fl9 43.46, pa9 43.32, auto 43.58 (the probe keeps 7 levels)
  pan 192 px 1024x640: fl7 14.47, fl9 35.98, pa9 36.43, auto 35.98 (the probe goes 9 levels deep)
  vimeo_septuplet 00001/0001..0007, (1,4,7) and (3,4,5), 448x256: fixed 8 or 9 levels lose up to 0.4 dB against 7
  (e.g. 0001 345: 48.60 / 48.32 / 48.20); auto equals 7 on all 8; toflow_baseball (0,2,4) 1280x720: 7 and auto 32.83.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from filmnet.eval.metrics import psnr_8bit
from filmnet.inference import Interpolator
from filmnet.inference.padding import Padder
from filmnet.inference.pair import PairRunner

DATA = "../shared/data"


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


def baseball_pan(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = read_video(f"{DATA}/train_video/toflow_baseball/baseball_1280x720_20f_ffv1.mkv", [0])[0]
    rows = slice(40, 680)
    c = 128
    return (frame[rows, c - d // 2: c - d // 2 + 1024], frame[rows, c + d // 2: c + d // 2 + 1024],
            frame[rows, c: c + 1024])


def real_triplets() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    from PIL import Image

    out = []
    vimeo = f"{DATA}/vimeo_septuplet/00001"
    for clip in ("0001", "0003", "0005", "0007"):
        for a, m, b in ((1, 4, 7), (3, 4, 5)):
            ims = [np.asarray(Image.open(f"{vimeo}/{clip}/im{k}.png").convert("RGB")) for k in (a, m, b)]
            out.append((f"vimeo {clip} {a}{m}{b}", ims[0], ims[2], ims[1]))
    clips = [("train_video/toflow_baseball/baseball_1280x720_20f_ffv1.mkv", [(0, 2, 4), (10, 11, 12)]),
             ("real_videos/davis_car-turn.mp4", [(20, 22, 24), (60, 61, 62)]),
             ("real_videos/imageio_cockatoo.mp4", [(100, 101, 102)]),
             ("basketballpass_sequence/basketballpass_416x240_100f_ffv1.mkv", [(10, 12, 14), (50, 51, 52)])]
    for path, triples in clips:
        for a, m, b in triples:
            f0, fm, f1 = read_video(f"{DATA}/{path}", [a, m, b])
            out.append((f"{path.split('/')[-1][:14]} {a},{m},{b}", f0, f1, fm))
    return out


def run(model, f0, f1, levels: int | str, mode: str, padding: str = "zeros") -> np.ndarray:
    h, w = f0.shape[:2]
    if levels == "auto":  # the pair runner's rule: frame-size depth, per-pair probe
        runner = PairRunner(model, levels="auto", padding_mode=padding).sized(h, w, 64)
        x0, x1 = (torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in (f0, f1))
        y = runner.run(x0, x1, [0.5])[0]
        return y[0].clamp(0, 1).permute(1, 2, 0).numpy()
    align = 64 if mode == "floor" else max(64, 2 ** (levels - 1))
    padder = Padder(h, w, align, padding) if padding != "zeros" else Padder(h, w, align)
    x0, x1 = (padder.pad(torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255) for f in (f0, f1))
    with torch.inference_mode():
        y = model(x0, x1, 0.5, levels=levels).image
    return padder.unpad(y)[0].clamp(0, 1).permute(1, 2, 0).numpy()


def score(pred: np.ndarray, gt: np.ndarray) -> float:
    return psnr_8bit(pred, gt.astype(np.float32) / 255)


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=("pans", "real"))
    p.add_argument("--depths", nargs="+", default=["7", "8", "9", "auto"])
    p.add_argument("--modes", nargs="+", default=["floor"])
    p.add_argument("--pans", type=int, nargs="+", default=[16, 32, 64, 128, 192, 256])
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    model = Interpolator("film_lite", precision="fp32", flow="model").model
    cases = ([(f"pan {d:3d} px", *baseball_pan(d)) for d in args.pans] if args.what == "pans"
             else real_triplets())
    cols = [(L if L == "auto" else int(L), m) for L in args.depths for m in args.modes]
    print("case".ljust(34) + "".join(f"{m[:2]}{L}".rjust(8) for L, m in cols) + "   blend", flush=True)
    for name, f0, f1, gt in cases:
        t = time.time()
        vals = []
        for L, m in cols:
            try:
                vals.append(f"{score(run(model, f0, f1, L, m), gt):8.2f}")
            except Exception as err:  # too deep for this size
                vals.append("     n/a")
                print(err, file=sys.stderr)
        blend = score((f0.astype(np.float32) + f1) / 510, gt)
        print(f"{name} {f0.shape[1]}x{f0.shape[0]}".ljust(34) + "".join(vals) + f"{blend:8.2f}"
              f"   ({time.time() - t:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
