"""Low-level ops with TF-faithful numerics: padded conv, warp, pyramids, resizes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Conv2d(nn.Sequential):
    """A conv with TF 'same' padding and an optional LeakyReLU(0.2).

    Subclasses Sequential so the weight key is `<name>.0.weight`, matching the dajes v1.0.2+ layout.
    Even kernels are padded bottom/right only, as TF does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: bool = True):
        padding = kernel_size // 2 if kernel_size % 2 else 0
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))
        self.activation = activation
        self.even = kernel_size % 2 == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.even:
            k = self[0].kernel_size[0] - 1
            x = F.pad(x, (0, k, 0, k))
        x = self[0](x)
        # In place: the conv output is fresh and conv backward does not need it.
        return F.leaky_relu_(x, 0.2) if self.activation else x


def avg_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pool, stride 2, 'valid' (floor)."""
    return F.avg_pool2d(x, 2, 2)


def image_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.append(avg_pool(pyramid[-1]))
    return pyramid


def upsample_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flow to a finer level: x2 first, then half-pixel bilinear resize to the exact size."""
    flow = 2 * flow
    if tuple(flow.shape[-2:]) == tuple(size):
        return flow
    return F.interpolate(flow, size=size, mode="bilinear", align_corners=False)


def resize_nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TF2 half-pixel nearest neighbour (torch 'nearest-exact')."""
    return F.interpolate(x, size=size, mode="nearest-exact")


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels_last if `x` is stored that way (and not also plain contiguous), else contiguous_format."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype convs produce for `x`: the autocast dtype when autocast is on for its device, else x.dtype."""
    device = x.device.type
    if x.is_floating_point() and torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def cat_as(parts: list[torch.Tensor], dtype: torch.dtype, layout: torch.memory_format) -> torch.Tensor:
    """torch.cat along channels into `dtype` and memory format `layout`.

    A cat of mixed dtypes or layouts takes a slow generic path (and a mixed one promotes to float32); here
    each part is converted while it is copied into place, with no converted temporaries.
    """
    if torch.jit.is_tracing() or all(p.dtype == dtype and memory_format(p) == layout for p in parts):
        return torch.cat(parts, dim=1)
    b, _, h, w = parts[0].shape
    channels = [p.shape[1] for p in parts]
    out = torch.empty((b, sum(channels), h, w), dtype=dtype, device=parts[0].device, memory_format=layout)
    start = 0
    for part, c in zip(parts, channels):
        out[:, start:start + c].copy_(part)
        start += c
    return out


def warp(image: torch.Tensor, flow: torch.Tensor, dtype: torch.dtype | None = None,
         origin: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Backward bilinear warp: out[y, x] = image[y + flow_y, x + flow_x], coordinates clamped to the edges.

    flow is (B, 2, h, w) with channels (dx, dy); it covers the window of `image` whose top-left pixel is `origin`
    (top, left), the whole image by default (tiles warp whole-frame features). The clamp is explicit, so no backend
    needs padding_mode='border'. Sampling runs in float32 whatever the input dtype; the result has `dtype`
    (default: image's) and image's memory format. channels_last images are sampled by a row gather that
    keeps the layout (grid_sample returns NCHW, and the transpose back costs more than the sampling).
    """
    b, _, h, w = image.shape
    flow = flow.float()
    (top, left), (fh, fw) = origin, flow.shape[-2:]
    ys = torch.arange(top, top + fh, device=flow.device, dtype=torch.float32).view(1, fh, 1)
    xs = torch.arange(left, left + fw, device=flow.device, dtype=torch.float32).view(1, 1, fw)
    x = (xs + flow[:, 0]).clamp(0, w - 1)
    y = (ys + flow[:, 1]).clamp(0, h - 1)
    if memory_format(image) == torch.channels_last and not torch.jit.is_tracing():
        out = _gather_bilinear(image.float(), x, y)
    else:
        gx = x * (2.0 / max(w - 1, 1)) - 1.0
        gy = y * (2.0 / max(h - 1, 1)) - 1.0
        grid = torch.stack((gx, gy), dim=-1)
        out = F.grid_sample(image.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.to(dtype or image.dtype)


def _gather_bilinear(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a channels_last `image` at in-range pixel coordinates x, y (B, H, W): channels_last.

    Each output pixel is a weighted sum of 4 contiguous channel rows, i.e. an embedding bag of size 4.
    """
    b, c, h, w = image.shape
    x0, y0 = x.floor(), y.floor()
    ax, ay = x - x0, y - y0
    bx, by = 1 - ax, 1 - ay
    x0i, y0i = x0.long(), y0.long()
    x1i, y1i = (x0i + 1).clamp_(max=w - 1), (y0i + 1).clamp_(max=h - 1)  # weight 0 where clamped
    row0 = y0i * w + torch.arange(b, device=x.device).view(b, 1, 1) * (h * w)
    row1 = row0 + (y1i - y0i) * w
    index = torch.stack((row0 + x0i, row0 + x1i, row1 + x0i, row1 + x1i), dim=-1).view(-1, 4)
    weights = torch.stack((by * bx, by * ax, ay * bx, ay * ax), dim=-1).view(-1, 4)
    rows = image.permute(0, 2, 3, 1).reshape(b * h * w, c)  # a view for channels_last
    out = F.embedding_bag(index, rows, per_sample_weights=weights, mode="sum")
    return out.view(b, *x.shape[-2:], c).permute(0, 3, 1, 2)
