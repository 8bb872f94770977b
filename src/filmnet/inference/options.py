"""Option groups shared by the CLI and the API: frozen dataclasses.

`RetimeOptions` is `filmnet video` <-> `retime`. `EncodeOptions` (codec, crf, pix_fmt; with the encoder in
`filmnet.io.media.encode`) is re-exported here. The model's options are `filmnet.model_options.ModelOptions`, a layer
above (it builds the `Interpolator`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction

from ..io.media.encode import EncodeOptions

__all__ = ["EncodeOptions", "RetimeOptions", "split_keywords"]

@dataclass(frozen=True)
class RetimeOptions:
    """How `retime` changes a video's timing and runs the job.

    multi / exp / fps / slowmo: exactly one (see `timing.plan_retime`). in_fps: frame rate of a frame-folder source
    (default 25, with a note). scene_threshold: scene-cut score above which pairs are held (`filmnet.scenes`).
    dedupe: drop near-duplicate input frames first. resume: reuse finished segments of an interrupted run.
    force: replace an existing output. keep_audio: with a changed duration, stretch the audio instead of dropping
    it. segment_frames: input frames per resumable segment. ignore_errors: hold the previous frame in place of a
    damaged input frame (counted in `RetimeResult.frames_skipped`) instead of stopping. loop: interpolate the last
    frame into the first over the last frame's slot (instead of holding it), so the clip loops seamlessly
    (`loops.py`; not for `filmnet batch`'s ranges).
    """

    multi: int | None = None
    exp: int | None = None
    fps: str | Fraction | None = None
    slowmo: int | None = None
    in_fps: str | Fraction | None = None
    scene_threshold: float | None = None
    dedupe: bool = False
    resume: bool = False
    force: bool = False
    keep_audio: bool = False
    segment_frames: int = 64
    ignore_errors: bool = False
    loop: bool = False


_RETIME = {f.name for f in fields(RetimeOptions)}
_ENCODE = {f.name for f in fields(EncodeOptions)}


def split_keywords(options: RetimeOptions | None, encode: EncodeOptions | None,
                   keywords: dict) -> tuple[RetimeOptions, EncodeOptions]:
    """`options` and `encode` with the old flat keywords (`multi=2, crf=18, ...`) applied on top of them."""
    unknown = set(keywords) - _RETIME - _ENCODE
    if unknown:
        raise TypeError(f"retime() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    options = replace(options or RetimeOptions(), **{k: v for k, v in keywords.items() if k in _RETIME})
    encode = replace(encode or EncodeOptions(), **{k: v for k, v in keywords.items() if k in _ENCODE})
    return options, encode
