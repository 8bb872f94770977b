"""Builders shared by the test files: tiny models and weights, random frames and images, small clips, flows.

Tests import them with `from helpers import ...` (tests/ is on sys.path: tests/conftest.py sits there and pytest's
default "prepend" import mode puts its folder first)."""
import warnings
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

import filmnet

# --- models and weights ------------------------------------------------------------------------------------------


def plain_tiny(seed: int = 0) -> filmnet.FILM:
    """The seeded film_tiny model as built (eval mode), its output not rescaled."""
    torch.manual_seed(seed)
    return filmnet.FILM(filmnet.CONFIGS["film_tiny"]).eval()


def tiny_model(seed: int = 0) -> filmnet.FILM:
    """Seeded tiny FILM whose output sits inside [0, 1], so clipping does not hide differences."""
    torch.manual_seed(seed)
    model = filmnet.FILM(filmnet.CONFIGS["film_tiny"])
    with torch.no_grad():
        model.fuse.output_conv.weight.mul_(0.05)
        model.fuse.output_conv.bias.fill_(0.5)
    return model.eval()


def save_dajes_torchscript(state: dict, path) -> None:
    """A TorchScript file whose parameters carry the keys of `state`, as the dajes Interpolator's `.pt` files do
    (plain modules along each key's attribute path, and its int attribute `pyramid_levels`)."""
    root = nn.Module()
    for key, value in state.items():
        *parts, leaf = key.split(".")
        module = root
        for part in parts:
            if part not in module._modules:
                module.add_module(part, nn.Module())
            module = module._modules[part]
        module.register_parameter(leaf, nn.Parameter(value.clone(), requires_grad=False))
    root.pyramid_levels = 7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, and what dajes shipped
        torch.jit.script(root).save(str(path))


def save_tiny(path: Path, *, plain: bool = False) -> Path:
    """Save tiny weights: `tiny_model()` (output inside [0, 1]) or, with `plain`, `plain_tiny()`."""
    return filmnet.save_model(plain_tiny() if plain else tiny_model(), path)


# --- frames and images -------------------------------------------------------------------------------------------


def frames(n: int, h: int = 70, w: int = 90, seed: int = 1) -> list[np.ndarray]:
    """`n` uniform random float32 HxWx3 frames."""
    rng = np.random.default_rng(seed)
    return [rng.random((h, w, 3), dtype=np.float32) for _ in range(n)]


def rand_frames(n: int, h: int, w: int, seed: int = 1) -> list[torch.Tensor]:
    """`n` uniform random 1x3xHxW tensors from one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, h, w, generator=g) for _ in range(n)]


def write_images(folder: Path, n: int = 2, size=(64, 64)) -> list[Path]:
    """`n` random uint8 RGB PNGs `in{k}.png` of `size` (h, w) in `folder`."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        path = folder / f"in{k}.png"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def texture_folder(folder: Path, n: int = 6) -> Path:
    """A folder of `n` PNGs: a blocky random texture moving 2 px right per frame."""
    rng = np.random.default_rng(0)
    base = np.kron(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))
    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.roll(base, 2 * i, axis=1)).save(folder / f"{i:03d}.png")
    return folder


def nested_safetensors(path: Path, depth: int = 100_000, size: int | None = None) -> Path:
    """A safetensors file whose JSON header opens `depth` lists: `{"a":[[[[...`."""
    header = b'{"a":' + b"[" * depth
    if size is not None:
        header += b" " * (size - 8 - len(header))
    import struct

    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


# --- flows -------------------------------------------------------------------------------------------------------


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture DIS can track (float32 HxWx3 in [0, 1])."""
    rng = np.random.default_rng(seed)
    small = torch.from_numpy(rng.random((1, 3, h // 8 + 2, w // 8 + 2), dtype=np.float32))
    big = torch.nn.functional.interpolate(small, size=(h + 16, w + 16), mode="bicubic", align_corners=False)
    return big[0, :, 8:8 + h, 8:8 + w].clamp(0, 1).permute(1, 2, 0).numpy()


def shifted_pair(h: int, w: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    wide = textured(h, w + dx)
    return np.ascontiguousarray(wide[:, dx:]), np.ascontiguousarray(wide[:, :w])  # frame1 = frame0 moved right


def nchw(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None]


def constant_flows(dx: list[float], h: int, w: int, levels: int = 3):
    """Per pair of a batch: flow (dx, 0) forward and (-dx, 0) backward, as fusion levels."""
    from filmnet.flows.dis import fusion_flows

    fw = torch.zeros(len(dx), 2, h, w)
    fw[:, 0] = torch.tensor(dx).view(-1, 1, 1)
    return fusion_flows(fw, -fw, levels)


# --- training triplets -------------------------------------------------------------------------------------------


def textured_triplet(size: int = 64, shift: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Smooth multi-scale texture; x0, y, x1 are crops translated by `shift` px per half step."""
    g = torch.Generator().manual_seed(seed)
    big = size + 2 * shift
    tex = sum(w * torch.nn.functional.interpolate(torch.rand(1, 3, big // k + 2, big // k + 2, generator=g), size=(big, big),
                                mode="bicubic", align_corners=False)
              for k, w in ((16, 0.5), (4, 0.3), (1, 0.2)))[0].clamp(0, 1)
    crop = lambda dx: tex[:, :size, dx:dx + size].contiguous()  # noqa: E731
    return {"x0": crop(0), "y": crop(shift), "x1": crop(2 * shift), "time": torch.tensor(0.5)}


class Triplets(torch.utils.data.Dataset):
    """`n` items cycling over `distinct` textured triplets (the data.py item format)."""

    def __init__(self, n: int = 8, distinct: int = 4, size: int = 64):
        self.items = [textured_triplet(size, seed=i) for i in range(distinct)]
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i % len(self.items)]


def tiny_cfg(out: Path, **kw):
    """A few-step CPU training config on film_tiny (fp32, no workers), `kw` overriding."""
    from filmnet.train.config import TrainConfig

    base = dict(model="film_tiny", steps=6, batch_size=2, crop=64, precision="fp32", num_workers=0, lr=1e-3,
                log_every=2, image_every=3, ckpt_every=2, val_every=3, keep_last=2, out=str(out), seed=0,
                channels_last=False, device="cpu")
    return TrainConfig(**{**base, **kw})


# --- clips (the batch tests' moving box over a ramp) -------------------------------------------------------------

H, W = 64, 64


def frame(i: int, seed: int = 0, cut_at: int | None = None) -> np.ndarray:
    """A moving box over a ramp; after `cut_at` a different picture (a scene cut)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 1] = np.linspace(0, 120, W, dtype=np.uint8)[None, :]
    img[..., 2] = (seed * 40 + i * 7) % 200
    x = (4 + 3 * i + 5 * seed) % (W - 16)
    img[20:36, x:x + 16] = 255
    if cut_at is not None and i >= cut_at:
        img = 255 - img[::-1]
    return img


def make_clip(path: Path, n: int = 8, *, seed: int = 0, rate=F(24), cut_at=None, repeat=(),
              codec="libx264", pix_fmt="yuv420p", lossless=False, gop=None) -> Path:
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = W, H, pix_fmt
        if gop:
            v.codec_context.gop_size = gop
        if lossless:  # repeated frames stay exact repeats
            v.options = {"qp": "0"}
        for i in range(n):
            img = frame(i - 1 if i in repeat else i, seed, cut_at)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            c.mux(v.encode(f))
        c.mux(v.encode(None))
    return path


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def same_frames(a: Path, b: Path) -> bool:
    fa, fb = decode(a), decode(b)
    return len(fa) == len(fb) > 0 and all(np.array_equal(x, y) for x, y in zip(fa, fb))


MODEL = dict(device="cpu", precision="fp32", flow="auto", max_memory="auto")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """`filmnet ARGS` in this process: (exit code, stdout, stderr)."""
    from filmnet.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err
