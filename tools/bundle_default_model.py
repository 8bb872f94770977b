"""Install a trained film_lite checkpoint as the package's bundled default (fp16 storage, config in metadata).

python tools/bundle_default_model.py runs/lite_cpu2/model.safetensors --note "..." --flow dis

`--flow` is the flow source `Interpolator(flow="auto")` uses with these weights ("model", "dis" or "hybrid");
`--warp-mix` the share `Interpolator(warp_mix=None)` uses (0 when not given); `--note` defaults to the provenance
already in the source file's metadata.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import filmnet
from filmnet.flows.dis import check_warp_mix
from filmnet.flows.factory import FLOW_SOURCES, METADATA_KEY, WARP_MIX_KEY
from filmnet.weights.native import read_header

ASSET = Path(__file__).resolve().parents[1] / "src" / "filmnet" / "assets" / "film_lite.safetensors"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", type=Path)
    ap.add_argument("--note", default=None, help="provenance text stored in the file's metadata")
    ap.add_argument("--flow", choices=FLOW_SOURCES[1:], required=True,
                    help="the flow source Interpolator(flow='auto') uses with these weights")
    ap.add_argument("--warp-mix", type=float, default=0.0,
                    help="the warp_mix share Interpolator(warp_mix=None) uses with these weights")
    args = ap.parse_args()
    check_warp_mix(args.warp_mix)
    header = read_header(args.weights) or {}
    note = args.note if args.note is not None else (header.get("__metadata__") or {}).get("provenance", "")
    model = filmnet.load_model(args.weights)
    if model.config != filmnet.CONFIGS["film_lite"]:
        raise SystemExit(f"{args.weights} is not a film_lite model: {model.config}")
    half = model.to(torch.float16)  # halves the wheel; load_model casts back to float32
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"name": "film_lite", "provenance": note, METADATA_KEY: args.flow}
    if args.warp_mix:
        metadata[WARP_MIX_KEY] = f"{args.warp_mix:g}"
    filmnet.save_model(half, ASSET, metadata=metadata)
    print(f"wrote {ASSET} ({ASSET.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
