"""Parameters and MACs per megapixel of FILM configs, in total and per part (features, flow, fusion).

Counted with torch.utils.flop_counter on one pair at --size (both flow directions, every level), halved (FLOPs ->
MACs) and scaled to one megapixel. No timing; any machine gives the same numbers.

python benchmarks/macs.py film_lite film_net
python benchmarks/macs.py film_lite --flow-filters 32 32 64 96     # a variant, as train_burst --widen-flow-filters
"""
from __future__ import annotations

import argparse
import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

import filmnet

PARTS = ("extract", "predict_flow", "fuse")


def macs_per_megapixel(config: filmnet.FILMConfig, size: int) -> dict[str, float]:
    model = filmnet.FILM(config).eval()
    x = torch.rand(1, 3, size, size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, x)
    counts = counter.get_flop_counts()
    scale = 1e6 / (size * size) / 2

    def total(key: str) -> float:
        return sum(counts.get(key, {}).values()) * scale

    return {"total": total("Global"), **{part: total(f"FILM.{part}") for part in PARTS}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs="+")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--flow-filters", type=int, nargs="+", default=None, help="override each config's flow_filters")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("config       params       GMAC/MP total  features  flow  fusion")
    for name in args.configs:
        config = filmnet.get_config(name)
        if args.flow_filters:
            config = dataclasses.replace(config, flow_filters=tuple(args.flow_filters))
        params = sum(p.numel() for p in filmnet.FILM(config).parameters())
        m = macs_per_megapixel(config, args.size)
        print(f"{name:<12} {params:<12,d} {m['total'] / 1e9:>13.0f}  {m['extract'] / 1e9:>8.0f}  "
              f"{m['predict_flow'] / 1e9:>4.0f}  {m['fuse'] / 1e9:>6.0f}")


if __name__ == "__main__":
    main()
