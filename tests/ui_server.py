"""Helpers for the web-page tests: tiny weights, small images and videos, and a live `filmnet serve` subprocess."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

import filmnet
from helpers import tiny_model

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 96)  # (h, w)


def tiny_weights(folder: Path) -> Path:
    path = Path(folder) / "tiny.safetensors"
    if not path.exists():
        filmnet.save_model(tiny_model(), path)
    return path


def textured(size=SIZE, seed: int = 0) -> np.ndarray:
    """A smooth random texture, uint8 (h, w, 3)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((size[0] // 8 + 2, size[1] // 8 + 2, 3)).astype(np.float32)
    image = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size[1] + 16, size[0] + 16), Image.BICUBIC)
    return np.asarray(image)[:size[0], :size[1]]


def write_pair(folder: Path, size=SIZE, shift: int = 4, names=("a.png", "b.png")) -> list[Path]:
    base = textured((size[0], size[1] + shift))
    paths = [Path(folder) / names[0], Path(folder) / names[1]]
    Image.fromarray(np.ascontiguousarray(base[:, shift:])).save(paths[0])
    Image.fromarray(np.ascontiguousarray(base[:, :-shift])).save(paths[1])
    return paths


def write_video(path: Path, frames: int = 6, fps: int = 10, size=SIZE, *, audio: bool = False) -> Path:
    """A small H.264 mp4 of a texture panning right, `frames` frames at `fps`; `audio`: a 440 Hz AAC tone."""
    import av

    base = textured((size[0], size[1] + 2 * frames))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[1], size[0], "yuv420p"
        if audio:
            sound = container.add_stream("aac", rate=48000)
            sound.layout = "stereo"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, 2 * i:2 * i + size[1]]), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio:
            total = 48000 * frames // fps
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / 48000)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = av.AudioFrame.from_ndarray(np.stack([wave[start:start + 1024]] * 2), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts = 48000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def audio_seconds(path) -> float:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return 0.0
        return sum(f.samples / f.sample_rate for f in container.decode(audio=0))


def count_video_frames(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(tmp_path: Path, *args: str, timeout: float = 180.0, stop: int = signal.SIGINT):
    """`filmnet serve` on a free loopback port, its temp files under tmp_path/tmp; yields (url, temp dir).

    Stops it at the end with `stop`: Ctrl-C (SIGINT) as a user would, or SIGTERM as a service manager would."""
    port = free_port()
    tmp = Path(tmp_path) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), GRADIO_ANALYTICS_ENABLED="False", FILMNET_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    log = open(Path(tmp_path) / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "filmnet.cli", "serve", "--port", str(port), *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"filmnet serve exited with {proc.returncode}:\n{_read(tmp_path)}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"filmnet serve did not answer within {timeout:.0f} s:\n{_read(tmp_path)}")
            time.sleep(0.5)
        yield url, tmp
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _read(tmp_path: Path) -> str:
    return (Path(tmp_path) / "serve.log").read_text(errors="replace")[-4000:]
