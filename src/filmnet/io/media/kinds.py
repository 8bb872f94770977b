"""The one home of media file suffixes, and telling an image from a video by its content (not its name)."""
from __future__ import annotations

from pathlib import Path

# Still images read as frames of a frame folder (and written as PNG).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
# Output containers filmnet writes, and the FFmpeg muxer for each.
CONTAINER_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".gif": "gif"}
VIDEO_OUTPUT_SUFFIXES = tuple(s for s in CONTAINER_FORMATS if s != ".gif")  # video writers (GIF has its own)
MP4_FAMILY = (".mp4", ".m4v", ".mov")  # ISO base media files (the same codec and audio rules)
# Files looked for as video inputs in folders (batch, training data); the content decides in the end.
VIDEO_INPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif", ".mpg", ".mpeg", ".ts", ".flv",
                        ".wmv", ".h264", ".h265", ".264", ".265", ".hevc")

# FFmpeg demuxers that read one still image (a "video" of one frame, or two with a trailing duplicate).
_IMAGE_DEMUXERS = ("image2", "apng")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"qoif")


def is_image_demuxer(name: str) -> bool:
    """Whether an FFmpeg container format name (e.g. `png_pipe`) is a still-image reader."""
    return any(part.endswith("_pipe") or part in _IMAGE_DEMUXERS for part in name.split(","))


def media_kind(path: str | Path) -> str:
    """"image", "video" or "unknown" from the file's content: a still-image signature or an image demuxer is an
    image (whatever the suffix); a container with a video stream is a video (an animated GIF is a video); anything
    unreadable is unknown. Reads the header only."""
    import av

    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return "unknown"
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    try:
        with av.open(str(path), mode="r") as container:
            if is_image_demuxer(container.format.name):
                return "image"
            return "video" if container.streams.video else "unknown"
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        return "unknown"
