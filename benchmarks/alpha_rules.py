"""How to combine the two warped alphas (`inference/alpha.py`): IoU of `alpha > 127` with the true mask and mean
|alpha - true| (0..255) per rule, on synthetic textured sprites over transparent black (film_lite, model flows,
fp32, t = 1/4, 1/2, 3/4). "today" is the pre-issue-24 rule: the nearer input's alpha, unwarped.

    PYTHONPATH=src python benchmarks/alpha_rules.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import filmnet
from filmnet.inference import Interpolator
from filmnet.inference import alpha as carry
from filmnet.inference.frames import rgba_tensor

H, W, S = 128, 192, 32
TIMES = (0.25, 0.5, 0.75)
CASES = {  # name: [(texture seed, (y, x) at t=0, (dy, dx) over the pair)]
    "move24": [(1, (48, 40), (0, 24))],
    "move48": [(1, (48, 30), (0, 48))],
    "diag24x16": [(1, (30, 40), (16, 24))],
    "crossing": [(1, (40, 50), (0, 32)), (2, (56, 110), (0, -32))],
}


def scene(sprites, t: float) -> np.ndarray:
    img = np.zeros((H, W, 4), np.uint8)
    for seed, (y0, x0), (dy, dx) in sprites:
        texture = np.random.default_rng(seed).integers(40, 256, (S, S, 3), dtype=np.uint8)
        y, x = y0 + round(dy * t), x0 + round(dx * t)
        img[y:y + S, x:x + S, :3], img[y:y + S, x:x + S, 3] = texture, 255
    return img


def score(alpha: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    a, b = alpha > 127, truth > 127
    return (a & b).sum() / max((a | b).sum(), 1), float(np.abs(alpha.astype(float) - truth).mean())


def main() -> None:
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    weights = Path(filmnet.__file__).parent / "assets" / "film_lite.safetensors"
    interp = Interpolator(weights, precision="fp32", flow="model")
    runner = interp.pair_runner(H, W)
    rows: dict[str, list] = {rule: [] for rule in (*carry.RULES, "today")}
    for name, sprites in CASES.items():
        f0, f1 = scene(sprites, 0), scene(sprites, 1)
        e0, e1 = runner.encode(rgba_tensor(f0)), runner.encode(rgba_tensor(f1))
        flows = runner.flows(e0, e1)
        for t in TIMES:
            truth, time = scene(sprites, t)[..., 3], torch.tensor([t])
            out = interp.model.synthesize(e0, e1, flows, time)
            for rule in carry.RULES:
                a = runner.crop(carry.alpha_at(e0.alpha, e1.alpha, out, out.image.float(), time, rule))[0, 0]
                rows[rule].append((name, t, *score((a.numpy() * 255 + 0.5).astype(np.uint8), truth)))
            rows["today"].append((name, t, *score((f0 if t < 0.5 else f1)[..., 3], truth)))
    for rule, r in rows.items():
        cells = " ".join(f"{n}@{t:g}:{i:.3f}" for n, t, i, _ in r)
        print(f"{rule:8s} mean IoU {np.mean([x[2] for x in r]):.3f}  min IoU {np.min([x[2] for x in r]):.3f}  "
              f"mean |err| {np.mean([x[3] for x in r]):.2f}  | {cells}")


if __name__ == "__main__":
    main()
