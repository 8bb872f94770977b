"""HDR10 static metadata (SMPTE ST 2086 mastering display colour volume, CTA-861.3 content light level): read from a
source's first decoded frame (FFmpeg attaches it from SEI/OBU metadata or from the container's mdcv/clli boxes) and
handed to the encoders that can write it.

Only libx265 (`x265-params` master-display/max-cll) and libsvtav1 (`svtav1-params` mastering-display/content-light)
can write it through PyAV; PyAV cannot attach it to frames or streams, so every other encoder (libx264, libvpx-vp9,
ffv1, prores_ks, ...) and PNG folders drop it, with a note (`dropped_note`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

HDR_KEY = "hdr10"  # the key of `VideoInfo.color` / `FrameFormat.color` that holds an `Hdr10`
WRITERS = ("libx265", "libsvtav1")


@dataclass(frozen=True)
class Hdr10:
    """Chromaticities (x, y) of the mastering display's red, green, blue primaries and white point, its luminance
    range in cd/m2, and the content light levels (MaxCLL, MaxFALL in cd/m2; 0 when absent). None: not present."""

    primaries: tuple[tuple[Fraction, Fraction], ...] | None = None  # (R, G, B)
    white: tuple[Fraction, Fraction] | None = None
    luminance: tuple[Fraction, Fraction] | None = None  # (min, max)
    max_cll: int = 0
    max_fall: int = 0

    @property
    def has_light_level(self) -> bool:
        return bool(self.max_cll or self.max_fall)


def _rational(data: bytes, i: int) -> Fraction:
    num, den = struct.unpack_from("<ii", data, 8 * i)
    return Fraction(num, den) if den else Fraction(0)


def from_frame(frame) -> Hdr10 | None:
    """The HDR10 static metadata attached to a decoded frame (`AVMasteringDisplayMetadata` and
    `AVContentLightMetadata` side data), or None when it has neither."""
    from av.sidedata.sidedata import Type

    found = {}
    for data in frame.side_data:
        if data.type in (Type.MASTERING_DISPLAY_METADATA, Type.CONTENT_LIGHT_LEVEL):
            found[data.type] = bytes(data)
    mdcv, clli = found.get(Type.MASTERING_DISPLAY_METADATA), found.get(Type.CONTENT_LIGHT_LEVEL)
    primaries = white = luminance = None
    if mdcv is not None and len(mdcv) >= 88:
        has_primaries, has_luminance = struct.unpack_from("<ii", mdcv, 80)
        if has_primaries:
            primaries = tuple((_rational(mdcv, 2 * k), _rational(mdcv, 2 * k + 1)) for k in range(3))
            white = (_rational(mdcv, 6), _rational(mdcv, 7))
        if has_luminance:
            luminance = (_rational(mdcv, 8), _rational(mdcv, 9))
    cll = struct.unpack_from("<II", clli) if clli is not None and len(clli) >= 8 else (0, 0)
    meta = Hdr10(primaries, white, luminance, *cll)
    return meta if primaries or luminance or meta.has_light_level else None


def encoder_options(codec: str, meta: Hdr10) -> dict[str, str]:
    """The encoder option that writes `meta` (empty when `codec` cannot)."""
    if codec == "libx265":
        parts = []
        if meta.primaries and meta.luminance:  # x265 takes G, B, R, white in 1/50000 units, L in 1/10000 cd/m2
            (r, g, b), w = meta.primaries, meta.white
            xy = "".join(f"{n}({round(x * 50000)},{round(y * 50000)})" for n, (x, y) in
                         (("G", g), ("B", b), ("R", r), ("WP", w)))
            lo, hi = meta.luminance
            parts.append(f"master-display={xy}L({round(hi * 10000)},{round(lo * 10000)})")
        if meta.has_light_level:
            parts.append(f"max-cll={meta.max_cll},{meta.max_fall}")
        return {"x265-params": ":".join(parts)} if parts else {}
    if codec == "libsvtav1":
        parts = []
        if meta.primaries and meta.luminance:
            (r, g, b), w = meta.primaries, meta.white
            xy = "".join(f"{n}({float(x):.5f},{float(y):.5f})" for n, (x, y) in
                         (("G", g), ("B", b), ("R", r), ("WP", w)))
            lo, hi = meta.luminance
            parts.append(f"mastering-display={xy}L({float(hi):.4f},{float(lo):.4f})")
        if meta.has_light_level:
            parts.append(f"content-light={meta.max_cll},{meta.max_fall}")
        return {"svtav1-params": ":".join(parts)} if parts else {}
    return {}


def dropped_note(codec: str | None) -> str:
    """The one line telling the user where HDR10 metadata cannot be kept."""
    where = f"encoder {codec}" if codec else "a folder of PNG frames"
    return (f"HDR10 metadata (mastering display, content light level) dropped: {where} cannot write it "
            f"through PyAV; only {' and '.join(WRITERS)} outputs keep it (--codec h265 or av1)")
