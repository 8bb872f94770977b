"""Image-quality metrics of the FILM evaluator (film_spec.md §4.4): PSNR, SSIM and Middlebury IE.

Inputs are (..., 3, H, W) RGB float tensors in [0, 1]; the prediction is clipped to [0, 1] first, as the official
`eval_cli` does. Every metric returns one value per image, shape (...), computed in float64.

SSIM reproduces `tf.image.ssim(max_val=1)`: 11x11 Gaussian (sigma 1.5) normalised to sum 1, VALID filtering (no
padding, the map is (H-10)x(W-10)), k1=0.01, k2=0.03, population (not sample) covariances, mean over the map and
then over channels. scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1, channel_axis=-1)` computes the same numbers (it crops the same border),
but it would add scikit-image + SciPy as dependencies for ten lines; torchmetrics is not a dependency either.
So it is written here in torch and tested against hand-computed values.

IE (interpolation error) follows Baker et al., "A Database and Evaluation Methodology for Optical Flow",
IJCV 2011, §3.3: the root-mean-square over pixels of the colour difference, where a pixel's colour difference
is the L2 norm of its RGB difference vector, on the 0-255 scale: IE = sqrt(mean_xy sum_c (255 (p - g))^2).
(Some VFI repositories report a per-channel RMS instead, which is IE / sqrt(3).)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io.media.images import to_uint8

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _prepare(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.shape != gt.shape or pred.dim() < 3:
        raise ValueError(f"pred and gt must have the same (..., C, H, W) shape, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    return pred.double().clamp(0.0, 1.0), gt.double()


def psnr(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """PSNR in dB with max value 1 over C, H, W (inf for identical images)."""
    pred, gt = _prepare(pred, gt)
    mse = (pred - gt).pow(2).mean(dim=(-3, -2, -1))
    return 10.0 * torch.log10(1.0 / mse)


def psnr_8bit(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR (dB) of two float arrays in [0, 1] of any one shape, both quantised to 8 bits first (`to_uint8`)."""
    p, g = (torch.from_numpy(to_uint8(np.asarray(a, dtype=np.float32)).astype(np.float64) / 255.0) for a in (pred, gt))
    return float(10.0 * torch.log10(1.0 / (p - g).pow(2).mean()))


def _gaussian_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    return g / g.sum()  # the 2-D TF kernel is the outer product of this with itself


def _blur_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, VALID, per channel: (N, C, H, W) -> (N, C, H-10, W-10)."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ssim(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """SSIM exactly as `tf.image.ssim(max_val=1)`; images need H, W >= 11."""
    pred, gt = _prepare(pred, gt)
    *batch, c, h, w = pred.shape
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {h}x{w}")
    x, y = pred.reshape(-1, c, h, w), gt.reshape(-1, c, h, w)
    g = _gaussian_1d().to(x.device)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_x, mu_y = _blur_valid(x, g), _blur_valid(y, g)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.pow(2) + mu_y.pow(2) + c1)
    cov_xy = _blur_valid(x * y, g) - mu_x * mu_y
    var_sum = _blur_valid(x * x + y * y, g) - mu_x.pow(2) - mu_y.pow(2)
    contrast_structure = (2 * cov_xy + c2) / (var_sum + c2)
    per_channel = (luminance * contrast_structure).mean(dim=(-2, -1))
    return per_channel.mean(dim=-1).reshape(batch)


def interpolation_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Middlebury IE: RMS over pixels of the RGB colour-difference norm, 0-255 scale (see module docstring)."""
    pred, gt = _prepare(pred, gt)
    colour_sq = (255.0 * (pred - gt)).pow(2).sum(dim=-3)
    return colour_sq.mean(dim=(-2, -1)).sqrt()
