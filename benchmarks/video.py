"""`filmnet video` benchmark: memory stays flat over a long clip; x2 throughput of fp32 vs the fast path.

memory: a generated clip of --frames frames (default 1000) at --size (default 320x180; moving shapes, H.264) is
    retimed x2 by `filmnet.inference.video.retime` into an .mp4. A thread samples RSS every 10 ms; the peak so far
    is printed after 100, 500, 1000, ... input frames, then the whole run's peak (final encode included).
speed: a --speed-frames clip (default 60) at --speed-size (default 1280x720) is retimed x2 with fp32 and with
    --precision (default bf16, the fast path: bf16 autocast + channels_last on CPU), in output frames per second
    end to end (decode, FILM, segments, final H.264 encode), and as a ratio to fp32.

Each measurement runs in a fresh process (its own peak RSS; one warm-up pass at the clip size before timing).
Seeded random film_lite weights unless --weights: speed and memory do not depend on the values.

  python benchmarks/video.py                                   # both parts, defaults above
  python benchmarks/video.py --parts speed --threads 4 --precision bf16 fp16
  python benchmarks/video.py --frames 30 --size 128x96 --speed-frames 6 --speed-size 128x96   # smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from _worker import run_worker  # benchmarks/ is on sys.path when run as a script

CHECKPOINTS = (100, 500, 1000, 2000, 5000, 10000)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(MEASURES[spec["task"]](spec)), flush=True)
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="filmnet-video-bench-") as tmp:
        common = dict(threads=args.threads, weights=args.weights, tmp=tmp)
        if "memory" in args.parts:
            clip = make_clip(Path(tmp) / "long.mp4", args.frames, _size(args.size))
            spec = dict(common, task="memory", clip=str(clip), precision=args.precision[0] if args.memory_fast
                        else "fp32", checkpoints=[c for c in CHECKPOINTS if c <= args.frames] or [args.frames])
            rows.append(_run_worker(spec, args.timeout))
            _print_memory(rows[-1], args)
        if "speed" in args.parts:
            clip = make_clip(Path(tmp) / "speed.mp4", args.speed_frames, _size(args.speed_size))
            speed = [_run_worker(dict(common, task="speed", clip=str(clip), precision=p), args.timeout)
                     for p in ("fp32", *args.precision)]
            rows += speed
            _print_speed(speed, args)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def make_clip(path: Path, frames: int, size: tuple[int, int], rate: int = 25) -> Path:
    """An H.264 clip of moving, overlapping shapes over a drifting gradient (so every pair has motion)."""
    import av
    import numpy as np

    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for i in range(frames):
            image = np.empty((height, width, 3), np.uint8)
            image[..., 0] = (xx / width * 200 + i) % 256
            image[..., 1] = (yy / height * 200 + 2 * i) % 256
            image[..., 2] = 80
            for k, (speed, radius) in enumerate(((3, 0.12), (-5, 0.08), (2, 0.18))):
                cx = (width * (0.2 + 0.3 * k) + speed * i) % width
                cy = height * (0.5 + 0.3 * np.sin(i / (15 + 5 * k)))
                inside = (xx - cx) ** 2 + (yy - cy) ** 2 < (radius * height) ** 2
                image[inside] = (255 - 60 * k, 40 * k, 255 if k == 1 else 30)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _interpolator(spec: dict):
    import torch

    import filmnet
    from filmnet.inference import Interpolator, memory

    torch.set_num_threads(int(spec["threads"]))
    memory.tune_allocator()  # as the `filmnet` CLI does
    if spec["weights"]:
        return Interpolator(spec["weights"], precision=spec["precision"])
    torch.manual_seed(0)
    return Interpolator(filmnet.FILM(filmnet.CONFIGS["film_lite"]), precision=spec["precision"])


def _warm_up(interp, clip: str) -> None:
    """One pass at the clip's size, so one-time setup (oneDNN kernels, allocator) is not timed."""
    import numpy as np

    from filmnet.io.media import probe_video

    info = probe_video(clip)
    frame = np.zeros((info.height, info.width, 3), np.uint8)
    interp.interpolate(frame, frame)


class RssSampler:
    """Samples this process's RSS every `interval` s in a daemon thread; `peak` is the largest seen so far."""

    def __init__(self, interval: float = 0.01):
        import psutil

        self.process, self.interval = psutil.Process(), interval
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return self.process.memory_info().rss

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()


def measure_memory(spec: dict) -> dict:
    import resource

    from filmnet.inference.video import retime

    interp = _interpolator(spec)
    out = Path(spec["tmp"]) / f"memory_{os.getpid()}.mp4"
    todo, marks = list(spec["checkpoints"]), []
    start = time.perf_counter()
    with RssSampler() as rss:
        before = rss.now()

        def on_progress(inputs: int, outputs: int) -> None:
            while todo and inputs >= todo[0]:
                marks.append(dict(inputs=todo.pop(0), outputs=outputs, peak_rss=max(rss.peak, rss.now()),
                                  rss=rss.now(), seconds=time.perf_counter() - start))

        result = retime(spec["clip"], out, interpolator=interp, multi=2, on_progress=on_progress)
    return dict(task="memory", precision=interp.precision, threads=spec["threads"], rss_before=before,
                marks=marks, input_frames=result.input_frames, output_frames=result.output_frames,
                peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                seconds=time.perf_counter() - start)


def measure_speed(spec: dict) -> dict:
    from filmnet.inference.video import retime

    interp = _interpolator(spec)
    _warm_up(interp, spec["clip"])
    out = Path(spec["tmp"]) / f"speed_{os.getpid()}.mp4"
    start = time.perf_counter()
    result = retime(spec["clip"], out, interpolator=interp, multi=2)
    seconds = time.perf_counter() - start
    return dict(task="speed", precision=interp.precision, threads=spec["threads"], seconds=seconds,
                input_frames=result.input_frames, output_frames=result.output_frames,
                fps=result.output_frames / seconds, channels_last=interp.channels_last)


MEASURES = {"memory": measure_memory, "speed": measure_speed}


def _run_worker(spec: dict, timeout: float | None) -> dict:
    return run_worker(os.path.abspath(__file__), spec, timeout)


def _print_memory(row: dict, args) -> None:
    print(f"memory: {args.frames} frames {args.size} x2, film_lite{' (--weights)' if args.weights else ''} "
          f"{row.get('precision', '')}, threads={args.threads}")
    if "error" in row:
        print(f"  ERROR {row['error']}")
        return
    first = row["marks"][0]["peak_rss"] if row["marks"] else row["rss_before"]
    print(f"  {'input frames':>12} {'output frames':>13} {'peak RSS so far':>15} {'RSS now':>9} {'vs first':>9} "
          f"{'seconds':>8}")
    for m in row["marks"]:
        print(f"  {m['inputs']:>12} {m['outputs']:>13} {_gb(m['peak_rss']):>15} {_gb(m['rss']):>9} "
              f"{_signed_mb(m['peak_rss'] - first):>9} {m['seconds']:8.1f}")
    print(f"  whole run ({row['input_frames']} -> {row['output_frames']} frames, final encode included): "
          f"peak {_gb(row['peak_rss'])} (RSS before retiming {_gb(row['rss_before'])}), {row['seconds']:.1f} s\n")


def _print_speed(rows: list[dict], args) -> None:
    from filmnet.precision import cpu_supports_bf16

    print(f"speed: {args.speed_frames} frames {args.speed_size} x2, end to end, threads={args.threads} "
          f"(CPU native bf16: {'yes' if cpu_supports_bf16() else 'no'})")
    print(f"  {'precision':9} {'output frames':>13} {'seconds':>8} {'frames/s':>9} {'vs fp32':>8}")
    base = rows[0] if "error" not in rows[0] else None
    for row in rows:
        if "error" in row:
            print(f"  {row['precision']:9} ERROR {row['error']}")
            continue
        ratio = f"{row['fps'] / base['fps']:.2f}x" if base else "-"
        print(f"  {row['precision']:9} {row['output_frames']:>13} {row['seconds']:8.2f} {row['fps']:9.2f} "
              f"{ratio:>8}")


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f}G"


def _signed_mb(n: int) -> str:
    return f"{n / 2**20:+.0f}M"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["memory", "speed"], choices=["memory", "speed"])
    p.add_argument("--frames", type=int, default=1000, help="frames of the memory clip")
    p.add_argument("--size", default="320x180", help="WxH of the memory clip")
    p.add_argument("--speed-frames", type=int, default=60, help="frames of the speed clip")
    p.add_argument("--speed-size", default="1280x720", help="WxH of the speed clip")
    p.add_argument("--precision", nargs="+", default=["bf16"], choices=["bf16", "fp16", "auto"],
                   help="fast path(s) compared with fp32 in the speed part")
    p.add_argument("--memory-fast", action="store_true", help="memory part with the first --precision, not fp32")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--weights", default=None, help="weights file (default: seeded random film_lite)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per measurement")
    p.add_argument("--json", default=None, help="also write the raw rows to this JSON file")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p


if __name__ == "__main__":
    sys.exit(main())
