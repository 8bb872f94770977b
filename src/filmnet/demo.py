"""`filmnet demo`: a procedurally rendered (synthetic) scene, interpolated with the default model (or any other)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _value_noise(h: int, w: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a coarse grid, bilinearly upsampled."""
    grid = rng.random((cells + 2, cells + 2))
    ys = np.linspace(0, cells, h)
    xs = np.linspace(0, cells, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    g = lambda dy, dx: grid[(y0 + dy)[:, None], (x0 + dx)[None, :]]  # noqa: E731
    return (g(0, 0) * (1 - fy) * (1 - fx) + g(0, 1) * (1 - fy) * fx + g(1, 0) * fy * (1 - fx) + g(1, 1) * fy * fx)


def _landscape(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sky = np.linspace([0.35, 0.55, 0.85], [0.80, 0.88, 0.95], h)[:, None, :].repeat(w, 1)
    img = sky.copy()
    x = np.arange(w)
    for depth, colour in ((0.45, (0.35, 0.45, 0.55)), (0.62, (0.25, 0.45, 0.25)), (0.8, (0.45, 0.38, 0.2))):
        ridge = depth * h + 0.08 * h * np.sin(x / w * rng.uniform(4, 9) + rng.uniform(0, 6)) + 0.04 * h * (
            _value_noise(1, w, rng, 12)[0] - 0.5
        )
        mask = np.arange(h)[:, None] > ridge[None, :]
        tex = 0.75 + 0.5 * _value_noise(h, w, rng, 40)[..., None]
        img = np.where(mask[..., None], np.asarray(colour) * tex, img)
    detail = _value_noise(h, w, rng, 90)[..., None] - 0.5
    return np.clip(img + 0.06 * detail, 0, 1)


def _ball(h: int, w: int, cx: float, cy: float, r: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    dist = np.hypot(dx, dy)
    alpha = np.clip(r - dist + 0.5, 0, 1)
    u = np.arctan2(dy, dx) + angle
    stripes = 0.5 + 0.5 * np.sign(np.sin(6 * u) * np.cos(dist / r * 6))
    shade = np.clip(1.1 - 0.6 * np.hypot(dx + 0.3 * r, dy + 0.3 * r) / r, 0.3, 1.1)
    colour = np.stack([0.9 * stripes + 0.1, 0.25 + 0.5 * (1 - stripes), 0.15 * np.ones_like(u)], -1) * shade[..., None]
    return np.clip(colour, 0, 1), alpha[..., None]


def render_synthetic_frame(t: float, width: int = 640, height: int = 360, seed: int = 7, *, pan: int = 48,
                           move: tuple[float, float] = (0.20, -0.15), spin: float = 0.5) -> np.ndarray:
    """Time `t` in [0, 1] of one synthetic scene: the camera pans right by `pan` px (whole pixels), a ball moves
    by `move` (fractions of width, height) from (0.3, 0.6) and spins by `spin` radians, all linearly in t.

    Returns a float32 HxWx3 array in [0, 1]. Everything is computed here; nothing is read from disk.
    """
    world = _landscape(height, width + pan, seed)
    offset = round(t * pan)
    bg = world[:, offset : offset + width]
    colour, alpha = _ball(height, width, *ball_disc(t, width, height, move), spin * t)
    return (bg * (1 - alpha) + colour * alpha).astype(np.float32)


def ball_disc(t: float, width: int = 640, height: int = 360,
              move: tuple[float, float] = (0.20, -0.15)) -> tuple[float, float, float]:
    """Centre (x, y) and radius in px of the ball of `render_synthetic_frame` at time t."""
    return (0.30 + move[0] * t) * width, (0.60 + move[1] * t) * height, 0.09 * height


def render_synthetic_pair(width: int = 640, height: int = 360, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The demo's two input frames (t = 0 and 1 of `render_synthetic_frame`)."""
    return render_synthetic_frame(0.0, width, height, seed), render_synthetic_frame(1.0, width, height, seed)


DEMO_MARKER = ".filmnet-demo"


@dataclass(frozen=True)
class DemoResult:
    """The files written, and the PSNR (dB, 8-bit) of the middle frame against the rendered truth at t = 0.5,
    next to that of averaging the two inputs."""

    videos: list[Path]
    middle_psnr: float
    blend_psnr: float


def run_demo(out_dir: Path, interpolator, *, exp: int = 4, fps: float | str = 30.0, progress: bool = True,
             overwrite: bool = False) -> DemoResult:
    """Render the synthetic pair, interpolate 2^exp steps, write an mp4 and a gif into out_dir, and score the
    middle frame against the scene rendered at t = 0.5.

    The folder is marked as the demo's own (`DEMO_MARKER`), so a later run overwrites its files without asking.
    Files of the same names in a folder without the mark are refused before any work unless `overwrite`.
    """
    from .errors import InputError
    from .frame_spec import FrameSpec
    from .io.atomic import write_text_atomic
    from .io.media import open_writer, parse_fps, write_image

    out_dir = Path(out_dir)
    fps = parse_fps(fps)  # 30, 29.97 or 30000/1001
    stem = f"synthetic_demo_{FrameSpec(exp=exp).label}_{float(fps):.4g}fps"
    inputs = [out_dir / "synthetic_frame0.png", out_dir / "synthetic_frame1.png"]
    videos = [out_dir / f"{stem}.mp4", out_dir / f"{stem}.gif"]
    marker = out_dir / DEMO_MARKER
    overwrite = overwrite or marker.is_file()
    existing = [p for p in inputs + videos if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]} already exists and {out_dir} is not a filmnet demo folder; pass --force to "
                         "overwrite the demo files, or choose another --output")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, "This folder holds `filmnet demo` output; the next run overwrites its files.\n")
    f0, f1 = render_synthetic_pair()
    for path, frame in zip(inputs, (f0, f1)):
        write_image(path, frame)
    frames = interpolator.sequence([f0, f1], exp=exp, progress=progress)
    for path in videos:
        with open_writer(path, fps=fps, overwrite=overwrite) as writer:
            for frame in frames:
                writer.write(frame)
    from .eval.metrics import psnr_8bit

    truth = render_synthetic_frame(0.5)
    return DemoResult(videos, psnr_8bit(frames[2 ** (exp - 1)], truth), psnr_8bit(0.5 * (f0 + f1), truth))
