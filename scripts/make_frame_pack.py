"""Decode training sources into small JPEG frame folders (a portable pack for a remote training burst).

Reads only training sources (never the evaluation sets) and writes `<out>/<source>__<clip>/000000.jpg ...`,
a layout `filmnet.train.data.build_train_dataset` reads as a frame sequence.
Usage: python scripts/make_frame_pack.py ../shared/data -o .gpu/pack --short-side 288 --max-frames 80
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

TRAINING_SOURCES = ("train_video", "real_videos", "basketballpass_sequence", "vimeo_septuplet")
EVAL_SETS = ("middlebury_other", "davis_adacof", "ucf101_dvf")
VIDEO_EXT = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".h264", ".h265"}
IMAGE_EXT = {".png", ".jpg", ".jpeg"}


def iter_clips(root: Path):
    for source in TRAINING_SOURCES:
        base = root / source
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and path.suffix.lower() in VIDEO_EXT:
                yield f"{source}__{path.relative_to(base).with_suffix('')}".replace("/", "_"), path
        for folder in sorted({p.parent for p in base.rglob("*") if p.suffix.lower() in IMAGE_EXT}):
            yield f"{source}__{folder.relative_to(base)}".replace("/", "_"), folder


def read_frames(path: Path, limit: int):
    if path.is_dir():
        for i, f in enumerate(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT)):
            if i >= limit:
                return
            yield np.asarray(Image.open(f).convert("RGB"))
        return
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= limit:
                return
            yield frame.to_ndarray(format="rgb24")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--short-side", type=int, default=288)
    ap.add_argument("--max-frames", type=int, default=80)
    ap.add_argument("--quality", type=int, default=92)
    args = ap.parse_args()
    total = 0
    for name, path in iter_clips(args.data):
        assert not any(e in str(path) for e in EVAL_SETS)
        out = args.out / name
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for n, rgb in enumerate(read_frames(path, args.max_frames)):
            img = Image.fromarray(rgb)
            s = args.short_side / min(img.size)
            if s < 1:
                img = img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
            img.save(out / f"{n:06d}.jpg", quality=args.quality)
        total += n + 1
        print(f"{name}: {n + 1} frames")
    print(f"{total} frames in {args.out}")


if __name__ == "__main__":
    main()
