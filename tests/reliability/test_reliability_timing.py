"""Timing sanity (issue 25 items 5 and 9): rates of 0 or over 1e6 fps are refused everywhere, timestamps that cannot
give frames in order are refused before any rendering, AVI dropped-frame entries repeat the previous frame (not
damage), while a gap in a constant-rate stream elsewhere stays damage; the real sample clips all pass."""
from fractions import Fraction as F
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

av = pytest.importorskip("av")

from conftest import DATA  # noqa: E402
from filmnet.cli import main  # noqa: E402
from filmnet.errors import InputError  # noqa: E402
from filmnet.inference.timing import plan_retime  # noqa: E402
from filmnet.io.media import DecodeReport, keyframe_table, probe_video, read_frames  # noqa: E402
from filmnet.io.media.decode import check_timestamps  # noqa: E402

REAL = DATA / "real_videos"
TREE = REAL / "opencv_tree.avi"
S = 32


def packets(n: int) -> list[bytes]:
    """`n` FFV1 (intra-only) frames of a growing grey level, as raw packets."""
    cc = av.CodecContext.create("ffv1", "w")
    cc.width = cc.height = S
    cc.pix_fmt, cc.time_base = "yuv444p", F(1, 25)
    out = []
    for i in range(n):
        f = av.VideoFrame.from_ndarray(np.full((S, S, 3), 20 * i % 250, np.uint8), format="rgb24").reformat(format="yuv444p")
        f.pts = i
        out += [bytes(p) for p in cc.encode(f)]
    return out + [bytes(p) for p in cc.encode(None)]


def mux(path: Path, fmt: str, rate, pts: list[int], dts: list[int] | None = None) -> Path:
    """Packets muxed as given (the container's time base is 1 / rate): hostile timestamps included."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width = s.height = S
        s.pix_fmt = "yuv444p"
        s.time_base = 1 / F(rate)
        for i, data in enumerate(packets(len(pts))):
            p = av.Packet(data)
            p.stream, p.pts, p.dts, p.time_base = s, pts[i], (dts or pts)[i], s.time_base
            c.mux(p)
    return path


def encoded(path: Path, fmt: str, pts: list[int], rate=24) -> Path:
    """An FFV1 clip whose frames are encoded with the given pts (the muxer writes what it must for the gaps)."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("ffv1", rate=rate)
        s.width = s.height = S
        s.pix_fmt = "yuv444p"
        for k, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(np.full((S, S, 3), 40 * k % 250, np.uint8), format="rgb24")
            f.pts = p
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from helpers import save_tiny

    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors")


def decoded_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# --- rates: 0 and over 1e6 fps are refused, in and out ------------------------------------------------------------

def test_million_fps_with_repeated_timestamps_is_refused_not_an_empty_output(tmp_path, capsys, weights):
    src = mux(tmp_path / "fast.nut", "nut", 1_000_000, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4], [0] * 10)
    out = tmp_path / "out.mp4"
    code, text = run(capsys, "video", src, "-o", out, "--multi", "2", "--weights", weights, "--precision", "fp32")
    assert code != 0 and not out.exists()
    assert "decode timestamp" in text and "Traceback" not in text


def test_output_rate_over_a_million_is_refused_before_rendering(tmp_path, capsys, weights):
    src = mux(tmp_path / "fast.nut", "nut", 1_000_000, list(range(6)))
    assert probe_video(src).rate == 1_000_000  # at the bound: a valid (high-speed) input
    out = tmp_path / "out.mp4"
    code, text = run(capsys, "video", src, "-o", out, "--multi", "2", "--weights", weights, "--precision", "fp32")
    assert code != 0 and not out.exists()
    assert "2000000 fps" in text and "limit" in text
    with pytest.raises(InputError, match="limit"):
        plan_retime(F(10**6), slowmo=2)
    with pytest.raises(InputError, match="limit"):
        plan_retime(F(600_000), multi=2)
    assert plan_retime(F(500_000), multi=2).output_rate == 10**6


def test_input_rate_over_a_million_is_refused(tmp_path):
    with pytest.raises(InputError, match="over the limit of 1e\\+06 fps"):
        probe_video(mux(tmp_path / "faster.nut", "nut", 2_000_000, list(range(6))))


def test_header_rate_of_zero_is_refused_not_taken_as_25(tmp_path):
    import struct

    src = encoded(tmp_path / "ok.avi", "avi", list(range(5)))
    data = bytearray(src.read_bytes())
    at = data.index(b"strh")
    struct.pack_into("<I", data, at + 32, 0)  # dwRate = 0 (FFmpeg then assumes 25 fps)
    bad = tmp_path / "rate0.avi"
    bad.write_bytes(bytes(data))
    assert probe_video(src).rate == 24
    with pytest.raises(InputError, match="frame rate of 0"):
        probe_video(bad)


# --- timestamps: checked from the packets before any decoding ------------------------------------------------------

def fake(pts, dts):
    pk = [SimpleNamespace(size=10, pts=p, dts=d) for p, d in zip(pts, dts)]
    return SimpleNamespace(demux=lambda _stream: iter(pk))


def test_presentation_timestamps_that_collapse_are_refused():
    with pytest.raises(InputError, match="same presentation timestamp"):
        check_timestamps(fake([7] * 5, [None] * 5), None, Path("x.mkv"))
    with pytest.raises(InputError, match="decode timestamps must increase"):
        check_timestamps(fake([0, 1, 2, 3], [0, 1, 1, 2]), None, Path("x.mkv"))
    check_timestamps(fake([0, 3, 1, 2, 6, 4, 5], [-1, 0, 1, 2, 3, 4, 5]), None, Path("x.mp4"))  # B-frames: fine


def test_b_frames_pass_the_checks(tmp_path):
    from helpers import make_clip

    src = make_clip(tmp_path / "b.mp4", n=12)  # libx264 default: B-frames, pts out of decode order
    with av.open(str(src)) as c:
        pts = [p.pts for p in c.demux(video=0) if p.size]
    assert pts != sorted(pts)
    info = probe_video(src)
    assert [f.index for f in read_frames(info)] == list(range(12))


# --- gaps: AVI dropped frames repeat, a constant-rate gap elsewhere is damage --------------------------------------

def test_avi_dropped_frame_entries_repeat_the_previous_frame(tmp_path, capsys, weights):
    src = encoded(tmp_path / "gaps.avi", "avi", [0, 1, 4, 5, 6])  # the muxer writes 2 zero-size entries
    report = DecodeReport()
    frames = list(read_frames(probe_video(src), report=report))
    assert [f.time for f in frames] == [F(i, 24) for i in range(7)]
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 40, 40, 40, 80, 120, 160]
    assert (report.repeated, report.skipped) == (2, 0)
    assert keyframe_table(probe_video(src)) is None  # ranges cannot seek by packet index here: read from the start
    out = tmp_path / "out.mp4"
    code, text = run(capsys, "video", src, "-o", out, "--multi", "2", "--weights", weights, "--precision", "fp32")
    assert code == 0, text
    assert decoded_count(out) == 14


def test_a_gap_in_a_constant_rate_stream_elsewhere_stays_damage(tmp_path):
    src = encoded(tmp_path / "gaps.mkv", "matroska", [0, 1, 4, 5, 6])
    with pytest.raises(InputError, match="2 frames are missing"):
        list(read_frames(probe_video(src)))


def test_a_gap_in_an_indexed_container_is_variable_rate_timing(tmp_path):
    """MP4 lists every frame in its sample table (a lost one cannot vanish silently): a timestamp gap there is timing,
    retimed by the timestamps, as in dlib's MOT20-05 clip (its last frame 2 periods after the one before)."""
    src = encoded(tmp_path / "gaps.mp4", "mp4", [0, 1, 4, 5, 6])
    frames = list(read_frames(probe_video(src)))
    assert [f.time for f in frames] == [F(p, 24) for p in (0, 1, 4, 5, 6)]


def test_avi_cut_short_is_still_damage(tmp_path):
    src = encoded(tmp_path / "whole.avi", "avi", [0, 1, 4, 5, 6, 7, 8, 9, 10, 11])
    cut = tmp_path / "cut.avi"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size * 9 // 10])  # the index and the last frames lost
    with pytest.raises(InputError, match="header promises 4 more frames; the file is truncated"):
        list(read_frames(probe_video(cut)))


# --- the real sample clips ----------------------------------------------------------------------------------------

def test_opencv_tree_avi_has_444_frames_of_which_68_are_real():
    if not TREE.exists():
        pytest.skip(f"{TREE} not found (../shared)")
    report = DecodeReport()
    info = probe_video(TREE)
    frames = list(read_frames(info, report=report))
    assert len(frames) == info.frames == 444 and report.repeated == 444 - 68 and report.skipped == 0
    assert all(b.time - a.time == 1 / info.rate for a, b in zip(frames, frames[1:]))


def real_videos() -> list[Path]:
    return sorted(p for p in REAL.glob("*") if p.suffix.lower() in (".mp4", ".avi", ".mkv")) if REAL.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("src", real_videos(), ids=lambda p: p.name)
def test_every_real_sample_clip_retimes(tmp_path, capsys, weights, src):
    """`filmnet video` through probe, plan, decode (damage checks), render, encode and the written-count check; at
    the input's own rate every output frame lands on an input, so the model is not run and all eight clips fit."""
    out = tmp_path / "out.mp4"
    rate = str(probe_video(src).rate)
    code, text = run(capsys, "video", src, "-o", out, "--fps", rate, "--weights", weights, "--precision", "fp32")
    assert code == 0, text
    assert decoded_count(out) == len(list(read_frames(probe_video(src)))) > 0


@pytest.mark.slow
def test_batch_retimes_tree_avi(tmp_path, capsys, weights):
    if not TREE.exists():
        pytest.skip(f"{TREE} not found (../shared)")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / TREE.name).write_bytes(TREE.read_bytes())
    code, text = run(capsys, "batch", folder, "-o", tmp_path / "out", "--fps", "1000000/66667", "--weights", weights,
                     "--precision", "fp32")
    assert code == 0, text
    assert "damaged" not in text
    outs = list((tmp_path / "out").glob("*.mp4"))
    assert len(outs) == 1 and decoded_count(outs[0]) == 444


def train_videos() -> list[Path]:
    from filmnet.io.media import VIDEO_INPUT_SUFFIXES

    root = DATA / "train_video"
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_INPUT_SUFFIXES) if root.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("src", train_videos(), ids=lambda p: p.name)
def test_every_training_video_passes_decode_planning_and_timestamp_checks(src):
    info = probe_video(src)  # rate bounds and timestamp checks
    plan = plan_retime(info.rate, multi=2)
    report = DecodeReport()
    frames = 0
    last = None
    for frame in read_frames(info, report=report):  # damage checks
        assert last is None or frame.time > last
        last, frames = frame.time, frames + 1
    assert frames > 1 and report.skipped == 0
    assert plan.output_rate == 2 * info.rate
