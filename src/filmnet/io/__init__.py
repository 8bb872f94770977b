"""File formats: still images and streaming frame writers (the only home of HWC numpy pixels)."""
from .images import (
    as_rgb_array, read_image, read_image_size, resize_image, to_float_image, to_uint8, write_image,
)
from .writers import FolderWriter, FrameWriter, GifWriter, VideoWriter, check_output, open_writer, parse_fps

__all__ = [
    "as_rgb_array", "read_image", "read_image_size", "resize_image", "to_float_image", "to_uint8", "write_image",
    "FrameWriter", "FolderWriter", "GifWriter", "VideoWriter", "check_output", "open_writer", "parse_fps",
]
