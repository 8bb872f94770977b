"""The one media layer: every image, video and frame-folder read and write (see docs/ARCHITECTURE.md).

- `formats`: the shared types (`VideoInfo`, `DecodedFrame`, `DecodeReport`), opening inputs, pixel-format traits,
  RGB array layouts, frame times. Every other media module builds on it; none imports a sibling's private names.
- `kinds`: the one home of media suffixes, and `media_kind` (image / video / unknown by content).
- `images`: still images <-> float RGB arrays or stored pixels with alpha/16 bits (`read_pixels`) (Pillow;
  16-bit colour through PyAV), quantisation, resizing.
- `decode`: probe (rate bounds, timestamp sanity, HDR10) and decode videos to uint8/uint16 RGB(A) frames with exact
  times; `read_frames` is the one reading dispatch (video file or frame folder); training-data decoding.
- `folders`: folders of frames as sources; PNG frames out with alpha and 16 bits.
- `hdr`: HDR10 static metadata, read from sources and written by the encoders that can.
- `encode`: encoder planning, `VideoEncoder` (colour tags, HDR10, rotation, audio), GIF palettes, lossless segments.
- `writers`: `open_writer(path)` picks a video, GIF or PNG-folder writer on top of `encode` and `folders`.
"""
from .formats import SWS_COLORSPACES, DecodedFrame, DecodeReport, VideoInfo, array_format, format_traits, open_input
from .kinds import (
    CONTAINER_FORMATS, IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, VIDEO_OUTPUT_SUFFIXES, is_image_demuxer, media_kind,
)
from .hdr import Hdr10
from .decode import (
    count_video_frames, first_rotation, iter_video_rgb, probe_video, read_frames, source_fingerprint,
)
from .encode import (
    AUDIO_ENCODER, CODEC_ALIASES, DEFAULT_CODECS, DEFAULT_CRF, PLAYABLE_420, EncodeOptions,
    EncoderSettings, FrameFormat, VideoEncoder, audio_packets, can_copy_audio, choose_pix_fmt, has_option, lossless_encoder,
    plan_encoder, quality_options, read_segment, resolve_codec,
)
from .folders import exif_orientation, frame_files, probe_frames, read_folder, write_png
from .seek import keyframe_table, prefetch, read_frames_from
from .images import (
    as_rgb_array, natural_key, read_image, read_image_size, read_pixels, resize_image, to_float_image, to_uint8, write_image,
)
from .writers import (
    FRAME_NAME, MAX_FPS, VIDEO_FORMATS, FolderWriter, FrameWriter, GifWriter, VideoWriter, as_pixels, check_output,
    open_writer, parse_fps, to_layout,
)
