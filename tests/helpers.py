"""Small builders shared by several test files."""
import warnings

import torch
from torch import nn

import filmnet


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
