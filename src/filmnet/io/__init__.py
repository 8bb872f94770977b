"""File formats: the media layer `filmnet.io.media` (images, videos, frame folders) and atomic writes."""
import sys as _sys

from . import media
from .media import images, writers
from .media import (
    FolderWriter, FrameWriter, GifWriter, VideoWriter, as_rgb_array, check_output, open_writer, parse_fps, read_image,
    read_image_size, resize_image, to_float_image, to_uint8, write_image,
)

# Old module paths (`filmnet.io.images`, `filmnet.io.writers`, `filmnet.io.video`) keep working; new code imports
# from `filmnet.io.media`.
video = media
_sys.modules[__name__ + ".images"] = images
_sys.modules[__name__ + ".writers"] = writers
_sys.modules[__name__ + ".video"] = media

__all__ = [
    "as_rgb_array", "read_image", "read_image_size", "resize_image", "to_float_image", "to_uint8", "write_image",
    "FrameWriter", "FolderWriter", "GifWriter", "VideoWriter", "check_output", "open_writer", "parse_fps", "media",
]
