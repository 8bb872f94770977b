"""Re-encode training sources small (a portable pack for a remote training burst).

Reads only training sources (never the evaluation sets) and writes, per clip, either a JPEG frame folder
`<out>/<source>__<clip>/000000.jpg ...` or (`--format mp4`) one H.264 file `<out>/<source>__<clip>.mp4` holding every
frame in order; annotated shot cuts are carried over in `<out>/motion_stats.csv`. `build_train_dataset` reads both.
`--holdout 0.05` leaves out the clips that `filmnet train --holdout 0.05` (and research/holdout_psnr.py) validate on,
so that check stays a true hold-out for weights trained on the pack.
Usage: python tools/make_frame_pack.py ../shared/data -o .gpu/pack --short-side 288 --max-frames 80
       python tools/make_frame_pack.py ../shared/data -o .gpu/pack3 --format mp4 --short-side 360 --crf 18
The output folder must be new or empty.
"""
from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

import numpy as np
from PIL import Image

from filmnet.io.atomic import atomic_target
from filmnet.train.data import annotated_cuts

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


def read_frames(path: Path, limit: int | None):
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXT)
        for f in files[:limit]:
            yield np.asarray(Image.open(f).convert("RGB"))
        return
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if limit is not None and i >= limit:
                return
            yield frame.to_ndarray(format="rgb24")


def resized(rgb: np.ndarray, short_side: int, even: bool) -> Image.Image:
    """Downscaled (bicubic) so the short side is at most `short_side`; with `even`, odd edges cropped by 1 px."""
    img = Image.fromarray(rgb)
    s = short_side / min(img.size)
    if s < 1:
        img = img.resize((round(img.width * s), round(img.height * s)), Image.BICUBIC)
    if even and (img.width % 2 or img.height % 2):
        img = img.crop((0, 0, img.width - img.width % 2, img.height - img.height % 2))
    return img


def write_jpegs(frames, out: Path, short_side: int, quality: int) -> int:
    n = 0
    for n, rgb in enumerate(frames, 1):
        out.mkdir(exist_ok=True)
        resized(rgb, short_side, even=False).save(out / f"{n - 1:06d}.jpg", quality=quality)
    return n


def write_mp4(frames, out: Path, short_side: int, crf: int) -> int:
    import av

    first = next(frames, None)
    if first is None:
        return 0
    n = 0
    with atomic_target(out) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        stream = None
        for n, rgb in enumerate(itertools.chain([first], frames), 1):
            img = resized(rgb, short_side, even=True)
            if stream is None:
                stream = container.add_stream("libx264", rate=30)
                stream.width, stream.height, stream.pix_fmt = img.width, img.height, "yuv420p"
                stream.options = {"crf": str(crf), "preset": "slow"}
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")))
        container.mux(stream.encode())
    return n


def held_out_sources(root: Path, holdout: float) -> set[Path]:
    from filmnet.train.data import discover_clips, held_out_clips  # decodes every clip: only when asked

    clips = [clip for source in TRAINING_SOURCES if (root / source).exists()
             for clip in discover_clips(root / source, max_short_side=64)]
    return {clip.source.resolve() for clip in held_out_clips(clips, holdout)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--short-side", type=int, default=288)
    ap.add_argument("--max-frames", type=int, default=None, help="first N frames of each clip (default: all)")
    ap.add_argument("--quality", type=int, default=92, help="JPEG quality")
    ap.add_argument("--format", choices=("jpg", "mp4"), default="jpg")
    ap.add_argument("--crf", type=int, default=18, help="H.264 CRF for --format mp4")
    ap.add_argument("--holdout", type=float, default=0.0, help="leave out the clips a split of this size validates on")
    args = ap.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"{args.out} is not empty: write a pack into a new folder")
    cuts = annotated_cuts(args.data)
    held = held_out_sources(args.data, args.holdout) if args.holdout else set()
    args.out.mkdir(parents=True, exist_ok=True)
    total, cut_rows = 0, []
    for name, path in iter_clips(args.data):
        assert not any(e in str(path) for e in EVAL_SETS)
        if path.resolve() in held:
            print(f"{name}: held out")
            continue
        frames = read_frames(path, args.max_frames)
        if args.format == "mp4":
            target = args.out / f"{name}.mp4"
            n = write_mp4(frames, target, args.short_side, args.crf)
        else:
            target = args.out / name
            n = write_jpegs(frames, target, args.short_side, args.quality)
        if n and path.resolve() in cuts:
            cut_rows.append((target.relative_to(args.out).as_posix(), " ".join(map(str, sorted(cuts[path.resolve()])))))
        total += n
        print(f"{name}: {n} frames" if n else f"{name}: no readable frames, skipped")
    if cut_rows:
        with atomic_target(args.out / "motion_stats.csv") as tmp, tmp.open("w", newline="") as f:
            csv.writer(f).writerows([("path", "cuts"), *cut_rows])
    print(f"{total} frames in {args.out}")


if __name__ == "__main__":
    main()
