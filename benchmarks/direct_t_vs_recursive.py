"""Quality of FILM at t = 1/3 and 2/3: direct t versus recursive midpoints, on held-out real frames.

Inputs are frames i and i+3; frames i+1 and i+2 are the ground truth at t = 1/3 and 2/3. "direct" synthesises at
exactly t (what `filmnet video` does); "recursive" bisects `--depth` times (official `--times_to_interpolate`) and
takes the midpoint frame nearest to t (depth 2: t = 1/4 and 3/4). Also printed: the nearest input frame (a repeat,
what a frame-rate converter without interpolation shows). PSNR on uint8-quantised frames, mean over all quadruples.

  python benchmarks/direct_t_vs_recursive.py --weights path/to/film_weights [--data ../shared/data] [--depth 2]
Sources: basketballpass_sequence (lossless, 100 frames, stride --stride) and vimeo_septuplet (im1/im4 -> im2/im3,
im4/im7 -> im5/im6). Both are training-role sets (shared/data/README.md); no evaluation-only set is used.
"""
from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def quadruples(data: Path, stride: int):
    """(name, [f0, f1, f2, f3]) with f0/f3 as inputs and f1/f2 as ground truth; uint8 HxWx3 arrays."""
    import av

    video = data / "basketballpass_sequence" / "basketballpass_416x240_100f_ffv1.mkv"
    if video.is_file():
        with av.open(str(video)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        for i in range(0, len(frames) - 3, stride):
            yield f"basketballpass/{i:03d}", frames[i:i + 4]
    from PIL import Image

    for seq in sorted((data / "vimeo_septuplet").glob("*/*")):
        ims = [np.asarray(Image.open(seq / f"im{k}.png").convert("RGB")) for k in range(1, 8)]
        yield f"vimeo/{seq.parent.name}/{seq.name}/a", ims[0:4]
        yield f"vimeo/{seq.parent.name}/{seq.name}/b", ims[3:7]


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    from filmnet.eval.metrics import psnr as torch_psnr

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float64) / 255.0).permute(2, 0, 1)

    return float(torch_psnr(t(pred), t(gt)))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def nearest_dyadic(t: Fraction, depth: int) -> int:
    """Index k of k / 2**depth closest to t (ties to the earlier frame)."""
    n = 2 ** depth
    return min(range(n + 1), key=lambda k: (abs(Fraction(k, n) - t), k))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, help="trained FILM weights (file or folder) for Interpolator")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--depth", type=int, default=2, help="recursive midpoint levels (official times_to_interpolate)")
    p.add_argument("--stride", type=int, default=4, help="step between basketballpass quadruples")
    p.add_argument("--limit", type=int, default=0, help="use only the first N quadruples (0 = all)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    from filmnet.inference.interpolator import Interpolator

    interp = Interpolator(args.weights, device=args.device, precision="fp32")
    ts = (Fraction(1, 3), Fraction(2, 3))
    picks = [nearest_dyadic(t, args.depth) for t in ts]
    scores: dict[str, list[float]] = {"direct": [], "recursive": [], "repeat": []}
    for n, (name, (f0, g1, g2, f3)) in enumerate(quadruples(args.data, args.stride)):
        if args.limit and n >= args.limit:
            break
        recursive = interp.sequence([f0, f3], exp=args.depth)
        for t, gt, k in zip(ts, (g1, g2), picks):
            scores["direct"].append(psnr(to_uint8(interp.interpolate(f0, f3, float(t))), gt))
            scores["recursive"].append(psnr(to_uint8(recursive[k]), gt))
            scores["repeat"].append(psnr(f0 if t < Fraction(1, 2) else f3, gt))
        print(f"{name}: direct {np.mean(scores['direct'][-2:]):.2f} dB, "
              f"recursive {np.mean(scores['recursive'][-2:]):.2f} dB", flush=True)
    used = ", ".join(f"{t} -> {Fraction(k, 2 ** args.depth)}" for t, k in zip(ts, picks))
    print(f"\nweights {args.weights}; {len(scores['direct']) // 2} quadruples; recursive depth {args.depth} ({used})")
    for key, values in scores.items():
        print(f"{key:>9}: mean PSNR {np.mean(values):.3f} dB over {len(values)} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
