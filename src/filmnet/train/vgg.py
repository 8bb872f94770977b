"""VGG-19 feature stack for the perceptual and style losses (film_spec.md §3), without torchvision.

Only the 14 convs up to conv5_2 are built, as in the official `vgg19_loss.py`: the losses read nothing deeper.
Pooling is 2x2 *average* pooling ('SAME'). The stack takes MatConvNet-style input, image*255 - mean (RGB).
Weights come only from a local file; nothing is ever downloaded.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from ..io.atomic import atomic_target

log = logging.getLogger(__name__)

IMAGENET_MEAN_255 = (123.68, 116.779, 103.939)  # RGB, MatConvNet/official FILM
# Input convention of torchvision's vgg19-dcbb9e9d.pth: (x - mean) / std with x in [0, 1].
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)

# Index of each conv in the interleaved conv/relu/pool list; identical in torchvision and MatConvNet layouts.
CONV_LAYER_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30)
CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512)
POOL_AFTER = frozenset({1, 3, 7, 11})  # positions in CONV_CHANNELS: conv1_2, conv2_2, conv3_4, conv4_4
FEATURE_CONVS = (1, 3, 5, 9, 13)  # conv1_2, conv2_2, conv3_2, conv4_2, conv5_2
NATIVE_INPUT_TAG = "image*255-mean"  # safetensors metadata `input` value for weights in this module's convention

MISSING_WEIGHTS_HELP = (
    "VGG-19 weights are needed for the VGG and Style losses and are never downloaded. Provide one of:\n"
    "  * vgg19-dcbb9e9d.pth (torchvision's ImageNet VGG-19, "
    "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth), or a .safetensors with the same keys;\n"
    "  * imagenet-vgg-verydeep-19.mat (MatConvNet, the file official FILM uses, "
    "https://www.vlfeat.org/matconvnet/models/imagenet-vgg-verydeep-19.mat; reading it needs scipy).\n"
    "Pass its path as `vgg_weights` in the training config (or --vgg-weights)."
)


class VGG19Features(nn.Module):
    """VGG-19 convs up to conv5_2 with ReLU and average pooling.

    `forward(x)` takes preprocessed input (B, 3, H, W) = image*255 - IMAGENET_MEAN_255 and returns the five
    post-ReLU features conv1_2, conv2_2, conv3_2, conv4_2, conv5_2.
    """

    def __init__(self) -> None:
        super().__init__()
        widths = (3, *CONV_CHANNELS)
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(len(CONV_CHANNELS)))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB image -> image*255 - mean (no clipping, as in the official loss)."""
        return image * 255.0 - self.mean.to(image.dtype)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i in FEATURE_CONVS:
                feats.append(x)
            if i in POOL_AFTER:
                # ceil_mode + no padding counts only in-bounds pixels: TF 'SAME' average pooling.
                x = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        return feats


def load_vgg19(path: str | Path) -> VGG19Features:
    """Build VGG19Features from a local torchvision .pth, torchvision-keyed .safetensors or MatConvNet .mat."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"VGG-19 weights not found at {path}.\n{MISSING_WEIGHTS_HELP}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        convs, native = _read_matconvnet(path), True
    elif suffix == ".safetensors":
        convs, native = _read_safetensors(path)
    else:
        convs, native = _convs_from_torchvision(_torch_load(path), path), False
    model = VGG19Features()
    model.load_state_dict(_to_module_state(convs))
    if not native:
        fold_torchvision_normalization(model)
    return model.eval()


def save_vgg19(model: VGG19Features, path: str | Path) -> None:
    """Write `model` (native input convention) as safetensors in torchvision key layout, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {}
    for idx, conv in zip(CONV_LAYER_INDICES, model.convs):
        state[f"features.{idx}.weight"] = conv.weight.detach().contiguous()
        state[f"features.{idx}.bias"] = conv.bias.detach().contiguous()
    with atomic_target(path) as tmp:
        save_file(state, str(tmp), metadata={"input": NATIVE_INPUT_TAG})


def fold_torchvision_normalization(model: VGG19Features) -> None:
    """Make torchvision-trained conv1_1 accept image*255 - mean instead of (x - mean) / std.

    z = a*u + b per channel with u = image*255 - mean; folding a, b into conv1_1 is exact except in the
    1-pixel zero-padded border, where the difference is ~1e-3 of a unit input.
    """
    mean255 = torch.tensor(IMAGENET_MEAN_255, dtype=torch.float64)
    tv_mean = torch.tensor(TORCHVISION_MEAN, dtype=torch.float64)
    tv_std = torch.tensor(TORCHVISION_STD, dtype=torch.float64)
    scale = 1.0 / (255.0 * tv_std)
    shift = (mean255 / 255.0 - tv_mean) / tv_std
    conv = model.convs[0]
    with torch.no_grad():
        w = conv.weight.double()
        conv.bias.copy_((conv.bias.double() + (w.sum(dim=(2, 3)) * shift).sum(dim=1)).float())
        conv.weight.copy_((w * scale.view(1, 3, 1, 1)).float())


def _to_module_state(convs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    state = {}
    for i, ((w, b), cout) in enumerate(zip(convs, CONV_CHANNELS)):
        cin = 3 if i == 0 else CONV_CHANNELS[i - 1]
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(
                f"VGG-19 conv {i} has weight {tuple(w.shape)} / bias {tuple(b.shape)}, expected "
                f"({cout}, {cin}, 3, 3) / ({cout},): this is not a VGG-19 file.\n{MISSING_WEIGHTS_HELP}"
            )
        state[f"convs.{i}.weight"] = w.float()
        state[f"convs.{i}.bias"] = b.float()
    return state


def _torch_load(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses pickled code: report rather than fall back to unsafe loading
        raise WeightsError(f"cannot read {path} as a plain tensor state dict ({exc}).\n{MISSING_WEIGHTS_HELP}") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path} holds a {type(state).__name__}, not a state dict.\n{MISSING_WEIGHTS_HELP}")
    return state


def _convs_from_torchvision(state: dict, path: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    missing = [f"features.{i}.weight" for i in CONV_LAYER_INDICES if f"features.{i}.weight" not in state]
    missing += [f"features.{i}.bias" for i in CONV_LAYER_INDICES if f"features.{i}.bias" not in state]
    if missing:
        raise WeightsError(
            f"{path} is not in torchvision VGG-19 layout (missing {', '.join(missing[:4])}...).\n{MISSING_WEIGHTS_HELP}"
        )
    return [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i in CONV_LAYER_INDICES]


def _read_safetensors(path: Path) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], bool]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys() if k.startswith("features.")}
    return _convs_from_torchvision(state, path), metadata.get("input") == NATIVE_INPUT_TAG


def _read_matconvnet(path: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    try:
        import scipy.io
    except ImportError as exc:
        raise WeightsError(
            f"reading {path.name} needs scipy (`pip install scipy`), or convert it once to safetensors with "
            "filmnet.train.vgg.save_vgg19(load_vgg19(mat_path), out_path) on a machine that has scipy."
        ) from exc
    layers = scipy.io.loadmat(str(path))["layers"][0]
    convs = []
    for idx in CONV_LAYER_INDICES:
        layer = layers[idx][0][0]
        name = str(layer[0][0])
        if not name.startswith("conv"):
            raise WeightsError(f"{path}: layer {idx} is {name!r}, expected a conv; not imagenet-vgg-verydeep-19.mat")
        weight, bias = layer[2][0][0], layer[2][0][1]
        # MatConvNet kernels are HWIO; torch wants OIHW.
        convs.append((torch.from_numpy(weight).permute(3, 2, 0, 1).contiguous(), torch.from_numpy(bias).reshape(-1)))
    log.info("loaded MatConvNet VGG-19 from %s", path)
    return convs

