"""Install a trained film_lite checkpoint as the package's bundled default (fp16 storage, config in metadata).

python scripts/bundle_default_model.py runs/lite_cpu2/model.safetensors --note "..."
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import filmnet

ASSET = Path(__file__).resolve().parents[1] / "src" / "filmnet" / "assets" / "film_lite.safetensors"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", type=Path)
    ap.add_argument("--note", default="", help="provenance text stored in the file's metadata")
    args = ap.parse_args()
    model = filmnet.load_model(args.weights)
    if model.config != filmnet.CONFIGS["film_lite"]:
        raise SystemExit(f"{args.weights} is not a film_lite model: {model.config}")
    half = model.to(torch.float16)  # halves the wheel; load_model casts back to float32
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    filmnet.save_model(half, ASSET, metadata={"name": "film_lite", "provenance": args.note})
    print(f"wrote {ASSET} ({ASSET.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
