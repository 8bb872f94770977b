"""Small builders shared by several test files."""
import torch

import filmnet


def tiny_model(seed: int = 0) -> filmnet.FILM:
    """Seeded tiny FILM whose output sits inside [0, 1], so clipping does not hide differences."""
    torch.manual_seed(seed)
    model = filmnet.FILM(filmnet.CONFIGS["film_tiny"])
    with torch.no_grad():
        model.fuse.output_conv.weight.mul_(0.05)
        model.fuse.output_conv.bias.fill_(0.5)
    return model.eval()
