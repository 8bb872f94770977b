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


def write_video(path: Path, frames: int = 6, fps: int = 10, size=SIZE) -> Path:
    """A small H.264 mp4 of a texture panning right, `frames` frames at `fps`."""
    from filmnet.io import open_writer

    base = textured((size[0], size[1] + 2 * frames))
    with open_writer(path, fps) as writer:
        for i in range(frames):
            writer.write(np.ascontiguousarray(base[:, 2 * i:2 * i + size[1]]))
    return path


def count_video_frames(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def live_server(tmp_path: Path, *args: str, timeout: float = 180.0):
    """`filmnet serve` on a free loopback port, its temp files under tmp_path/tmp; yields (url, temp dir).

    Stops it with Ctrl-C (SIGINT) at the end, as a user would."""
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
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def _read(tmp_path: Path) -> str:
    return (Path(tmp_path) / "serve.log").read_text(errors="replace")[-4000:]
