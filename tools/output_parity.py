"""Output parity: run a fixed set of small jobs and write the sha256 of every decoded output frame and metric.

Run it at two commits (e.g. before and after a refactor) and compare the JSON files: equal files mean the same
outputs. Only the CLI and stable public API are used (`filmnet.inference.Interpolator`, `filmnet.ui.handlers`),
so it runs on old and new trees alike:

    PYTHONPATH=src FILMNET_OFFLINE=1 python tools/output_parity.py out.json [--only NAME,...]
    python tools/output_parity.py --compare a.json b.json

Inputs are crops of training-side data (`../shared/data/vimeo_septuplet`, `train_video`); settings are explicit
(film_lite, fp32 and bf16, tiled and untiled, one thread).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FILMNET_SHARED", ROOT.parent / "shared")) / "data"
VIMEO = DATA / "vimeo_septuplet" / "00001" / "0001"
CLIP = DATA / "train_video" / "toflow_baseball" / "baseball_1280x720_20f_ffv1.mkv"
SIZE = (128, 192)  # H, W of every crop
MODEL = ["--model", "film_lite"]


def _crop(image: np.ndarray, top: int = 40, left: int = 100) -> np.ndarray:
    return np.ascontiguousarray(image[top:top + SIZE[0], left:left + SIZE[1], :3])


def make_inputs(tmp: Path) -> dict:
    import av
    from PIL import Image

    frames = tmp / "frames"
    frames.mkdir()
    for i in (1, 2, 3):
        Image.fromarray(_crop(np.asarray(Image.open(VIMEO / f"im{i}.png").convert("RGB")))).save(frames / f"im{i}.png")
    triplets = tmp / "triplets" / "a"
    triplets.mkdir(parents=True)
    for name in ("im1", "im2", "im3"):
        (triplets / f"{name}.png").write_bytes((frames / f"{name}.png").read_bytes())
    clip = tmp / "clip.mkv"
    with av.open(str(CLIP)) as src, av.open(str(clip), "w") as dst:
        stream = dst.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv444p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == 7:
                break
            rgb = _crop(frame.to_ndarray(format="rgb24"), 300, 500)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return dict(frames=[frames / f"im{i}.png" for i in (1, 2, 3)], triplets=tmp / "triplets", clip=clip)


def digest_frames(frames) -> list[str]:
    return [hashlib.sha256(np.ascontiguousarray(f).tobytes() + str(f.shape).encode() + str(f.dtype).encode())
            .hexdigest()[:16] for f in frames]


def decode(path: Path) -> list[str]:
    """sha256 of each decoded frame of a video file or a PNG folder."""
    if path.is_dir():
        from PIL import Image

        return digest_frames(np.asarray(Image.open(p)) for p in sorted(path.glob("*.png")))
    import av

    with av.open(str(path)) as src:
        return digest_frames(f.to_ndarray(format="rgb24") for f in src.decode(video=0))


def cli(*args) -> None:
    env = dict(os.environ, FILMNET_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "filmnet.cli", *map(str, args)], env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"filmnet {' '.join(map(str, args))}: {done.stderr.strip()}")


def jobs(inputs: dict, tmp: Path) -> dict:
    """name -> a function returning the digests of that job's outputs."""
    f, clip = inputs["frames"], inputs["clip"]
    table = {}

    def interpolate(name, *flags):
        def run():
            out = tmp / name
            cli("interpolate", *f, "-o", out, *MODEL, *flags)
            return decode(out)
        table[name] = run

    interpolate("interpolate_fp32_exp", "--exp", 2, "--precision", "fp32", "--flow", "model")
    interpolate("interpolate_bf16_multi", "--multi", 3, "--precision", "bf16", "--flow", "model")
    interpolate("interpolate_fp32_tiled", "--exp", 1, "--precision", "fp32", "--flow", "model", "--tile", "128x128",
                "--tile-overlap", 64)
    interpolate("interpolate_bf16_tiled_hybrid", "--multi", 2, "--precision", "bf16", "--flow", "hybrid",
                "--tile", "64x128", "--tile-overlap", 0)
    interpolate("interpolate_fp32_dis_mix", "--exp", 1, "--precision", "fp32", "--flow", "dis", "--warp-mix", 0.5)

    def video(name, out_name, *flags):
        def run():
            out = tmp / name / out_name
            out.parent.mkdir()
            cli("video", clip, "-o", out, *MODEL, *flags)
            return decode(out)
        table[name] = run

    video("video_fp32_folder", "out", "--multi", 2, "--precision", "fp32", "--flow", "model")
    video("video_bf16_ffv1", "out.mkv", "--exp", 1, "--precision", "bf16", "--flow", "hybrid", "--codec", "ffv1")
    video("video_fp32_tiled_fps", "out.mkv", "--fps", 60, "--precision", "fp32", "--flow", "model", "--codec",
          "ffv1", "--tile", "128x128", "--tile-overlap", 64)
    video("video_bf16_tiled_slowmo", "out", "--slowmo", 3, "--precision", "bf16", "--flow", "model",
          "--tile", "128x128", "--tile-overlap", 0)

    def batch(name, *flags):
        def run():
            out = tmp / name
            cli("batch", clip, "-o", out, *MODEL, "--workers", 0, "--segment-frames", 2, "--range-frames", 2,
                "--codec", "ffv1", *flags)
            return {p.name: decode(p) for p in sorted(out.glob("*.mkv"))}
        table[name] = run

    batch("batch_fp32_ranges", "--multi", 3, "--precision", "fp32", "--flow", "model")
    batch("batch_bf16_tiled", "--exp", 1, "--precision", "bf16", "--flow", "hybrid", "--tile", "128x128",
          "--tile-overlap", 64)

    def evaluate(name, *flags):
        def run():
            out = tmp / f"{name}.json"
            cli("eval", "--data", inputs["triplets"], *MODEL, "--json", out, *flags)
            summary = json.loads(out.read_text())
            return hashlib.sha256(json.dumps(_metrics(summary), sort_keys=True).encode()).hexdigest()[:16]
        table[name] = run

    evaluate("eval_fp32", "--precision", "fp32", "--flow", "model")
    evaluate("eval_bf16_hybrid", "--precision", "bf16", "--flow", "hybrid")

    def serve(name, precision, tiled):
        def run():
            import torch

            from filmnet.inference import Interpolator
            from filmnet.ui import handlers

            torch.set_num_threads(1)
            out = tmp / name
            (out / "photos").mkdir(parents=True)
            tiling = dict(tile=(128, 128), overlap=64) if tiled else {}
            interp = Interpolator("film_lite", precision=precision, flow="model", **tiling)
            photos = handlers.interpolate_photos(f[:2], out / "photos", interpolator=interp, exp=1)
            (out / "video").mkdir()
            video = handlers.retime_video(clip, out / "video", interpolator=interp, multi=2)
            return dict(photos_mp4=decode(photos.mp4), video=decode(Path(video.mp4)), frames=video.output_frames)
        table[name] = run

    serve("serve_fp32", "fp32", False)
    serve("serve_bf16_tiled", "bf16", True)
    return table


def _metrics(summary):
    """The numbers of an eval summary (timings and paths dropped)."""
    if isinstance(summary, dict):
        return {k: _metrics(v) for k, v in summary.items()
                if not any(w in k for w in ("time", "second", "path", "json", "csv", "data", "speed"))}
    if isinstance(summary, list):
        return [_metrics(v) for v in summary]
    if isinstance(summary, float):
        return round(summary, 12)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?")
    parser.add_argument("--only", default="")
    parser.add_argument("--compare", nargs=2)
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads(Path(p).read_text()) for p in args.compare)
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        print("same outputs" if not diff else f"differ: {', '.join(diff)}")
        sys.exit(1 if diff else 0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = jobs(make_inputs(tmp), tmp)
        only = [n for n in args.only.split(",") if n] or list(table)
        results = {}
        for name in only:
            try:
                results[name] = table[name]()
            except Exception as err:  # recorded: a job that fails at both commits alike still compares
                results[name] = f"error: {' '.join(str(err).split())[:300]}"
            print(name, "ok" if not str(results[name]).startswith("error") else results[name], flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
