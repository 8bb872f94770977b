"""HDR10 static metadata (mastering display, content light level) survives `video` where the encoder can write it
(libx265, libsvtav1), and a one-line note says where it cannot."""
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

import filmnet  # noqa: E402
from filmnet.inference.interpolator import Interpolator  # noqa: E402
from filmnet.inference.video import retime  # noqa: E402
from filmnet.io.media import hdr, probe_video  # noqa: E402

# BT.2020 primaries, D65, 1000 / 0.005 cd/m2 (x265 units: 1/50000 and 1/10000), MaxCLL 1000, MaxFALL 400.
MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"
EXPECTED = hdr.Hdr10(((F(34000, 50000), F(16000, 50000)), (F(13250, 50000), F(34500, 50000)),
                      (F(7500, 50000), F(3000, 50000))), (F(15635, 50000), F(16450, 50000)),
                     (F(50, 10000), F(1000)), 1000, 400)


def have(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
        return True
    except Exception:
        return False


needs_x265 = pytest.mark.skipif(not have("libx265"), reason="this PyAV build has no libx265 to make an HDR10 clip")


def hdr_clip(path: Path, n: int = 4) -> Path:
    """A 10-bit BT.2020 PQ HEVC clip whose SEI carries HDR10 static metadata, made with libx265."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx265", rate=24)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p10le"
        s.codec_context.color_primaries, s.codec_context.color_trc, s.codec_context.colorspace = 9, 16, 9
        s.options = {"x265-params": f"log-level=error:master-display={MASTER}:max-cll=1000,400"}
        for i in range(n):
            img = np.zeros((64, 64, 3), np.uint16)
            img[..., 1] = np.linspace(0, 50000, 64, dtype=np.uint16)[None]
            img[16:32, 4 + 6 * i:20 + 6 * i] = 60000
            f = av.VideoFrame.from_ndarray(img, format="rgb48le").reformat(format="yuv420p10le",
                                                                           dst_colorspace="bt2020")
            f.color_primaries, f.color_trc, f.colorspace, f.pts = 9, 16, 9, i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def first_frame(path: Path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frame = next(c.decode(stream))
        return stream.codec_context, frame


@pytest.fixture(scope="module")
def interp():
    torch.manual_seed(0)
    return Interpolator(filmnet.FILM(filmnet.CONFIGS["film_tiny"]), precision="fp32")


@needs_x265
def test_probe_reads_hdr10_metadata(tmp_path):
    info = probe_video(hdr_clip(tmp_path / "hdr.mkv"))
    assert info.depth == 10
    assert info.color[hdr.HDR_KEY] == EXPECTED


@needs_x265
@pytest.mark.parametrize("codec,suffix", [("libx265", ".mkv"), ("libx265", ".mp4"), ("libsvtav1", ".mkv")])
def test_video_keeps_hdr10_metadata_10_bit_and_tags(tmp_path, interp, codec, suffix):
    if not have(codec):
        pytest.skip(f"this PyAV build has no {codec}")
    src = hdr_clip(tmp_path / "hdr.mkv")
    result = retime(src, tmp_path / f"out{suffix}", interpolator=interp, multi=2, codec=codec)
    assert not any("HDR10" in note for note in result.notes)
    ctx, frame = first_frame(result.output)
    assert ctx.pix_fmt.endswith("10le")
    assert (frame.color_primaries, frame.color_trc, frame.colorspace) == (9, 16, 9)
    got = hdr.from_frame(frame)
    assert got is not None
    assert (got.max_cll, got.max_fall) == (1000, 400)
    # svt-av1 stores chromaticities in 1/65536 (x265: 1/50000) and luminance in fixed point: compare within that
    for (gx, gy), (ex, ey) in zip([*got.primaries, got.white], [*EXPECTED.primaries, EXPECTED.white]):
        assert abs(gx - ex) < 1e-4 and abs(gy - ey) < 1e-4
    assert abs(got.luminance[1] - 1000) < 1e-2 and abs(got.luminance[0] - F(5, 1000)) < 1e-3


@needs_x265
def test_encoders_that_cannot_write_it_say_so_in_one_line(tmp_path, interp):
    src = hdr_clip(tmp_path / "hdr.mkv")
    result = retime(src, tmp_path / "out.mkv", interpolator=interp, multi=2, codec="ffv1")
    notes = [n for n in result.notes if "HDR10" in n]
    assert len(notes) == 1 and "\n" not in notes[0] and "ffv1" in notes[0]
    assert hdr.from_frame(first_frame(result.output)[1]) is None


def test_encoder_options_format():
    opts = hdr.encoder_options("libx265", EXPECTED)
    assert opts == {"x265-params": f"master-display={MASTER}:max-cll=1000,400"}
    assert hdr.encoder_options("libx264", EXPECTED) == {}
    assert "content-light=1000,400" in hdr.encoder_options("libsvtav1", EXPECTED)["svtav1-params"]
