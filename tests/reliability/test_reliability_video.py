"""Rules 2, 3 and 9 of issue 16: resume verifies before it trusts; damaged input is an error, not a shorter
output; kills leave no orphans that last."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

av = pytest.importorskip("av")

import filmnet  # noqa: E402
from filmnet.cli import main  # noqa: E402
from filmnet.errors import InputError  # noqa: E402
from filmnet.inference.interpolator import Interpolator  # noqa: E402
from filmnet.inference.video import retime  # noqa: E402
from filmnet.io.atomic import make_temp, stale_temps  # noqa: E402
from helpers import save_tiny  # noqa: E402

H, W = 32, 48


@pytest.fixture(scope="module")
def interp():
    torch.manual_seed(0)
    return Interpolator(filmnet.FILM(filmnet.CONFIGS["film_tiny"]))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors", plain=True)


def image(i: int) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[..., 1] = np.linspace(0, 120, W, dtype=np.uint8)[None]
    img[8:20, (3 * i) % 30: (3 * i) % 30 + 10] = 255
    img[..., 2] = i * 11 % 250
    return img


def make_clip(path: Path, n: int, codec: str = "ffv1", pix_fmt: str = "yuv444p", options=None) -> Path:
    with av.open(str(path), "w", options=options or {}) as c:
        v = c.add_stream(codec, rate=24)
        v.width, v.height, v.pix_fmt = W, H, pix_fmt
        for i in range(n):
            c.mux(v.encode(av.VideoFrame.from_ndarray(image(i), format="rgb24")))
        c.mux(v.encode(None))
    return path


def pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def interrupted(src: Path, out: Path, interp, after: int) -> Path:
    """Run a job and stop it with Ctrl-C once `after` output frames are done; returns its work folder."""
    def stop(_read, written):
        if written >= after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retime(src, out, interpolator=interp, multi=2, segment_frames=2, on_progress=stop)
    return out.parent / f".{out.name}.filmnet-work"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- rule 2: resume verifies before it trusts -------------------------------------------------------------------

def test_resume_rerenders_a_segment_cut_short_and_counts_what_it_wrote(tmp_path, interp):
    src = make_clip(tmp_path / "in.mkv", 10)
    whole = retime(src, tmp_path / "whole", interpolator=interp, multi=2, segment_frames=2)
    work = interrupted(src, tmp_path / "out", interp, after=12)
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["version"] == 3 and {"frames", "size", "sha256"} <= set(manifest["segments"]["0"])
    seg = work / "segment_000000.mkv"
    seg.write_bytes(seg.read_bytes()[: seg.stat().st_size // 2])  # cut short, as a crash of the disk might
    (work / "segment_000001.mkv").unlink()
    resumed = retime(src, tmp_path / "out", interpolator=interp, multi=2, segment_frames=2, resume=True)
    notes = " ".join(resumed.notes)
    assert "segment 0 does not match its checksum" in notes and "segment 1 is missing" in notes
    assert resumed.segments_reused == len(manifest["segments"]) - 2
    frames = pngs(resumed.output)
    assert resumed.output_frames == len(frames) == whole.output_frames == 20
    assert all(np.array_equal(a, b) for a, b in zip(frames, pngs(whole.output)))
    assert sorted(os.listdir(tmp_path)) == ["in.mkv", "out", "whole"]


@pytest.mark.parametrize("damage", ["garbage", "wrong types", "folder", "work is a file"])
def test_unreadable_manifest_is_one_line_with_the_fix(tmp_path, capsys, interp, weights, damage):
    src = make_clip(tmp_path / "in.mkv", 6)
    work = interrupted(src, tmp_path / "out.mkv", interp, after=4)
    manifest = work / "manifest.json"
    if damage == "garbage":
        manifest.write_bytes(b"\x00{not json")
    elif damage == "wrong types":
        manifest.write_text(json.dumps({"version": 3, "key": "k", "segments": {"0": {"frames": "many"}}}))
    elif damage == "folder":
        manifest.unlink()
        manifest.mkdir()
    else:
        import shutil

        shutil.rmtree(work)
        work.write_text("x")
    code, _, err = run_cli(capsys, "video", src, "-o", tmp_path / "out.mkv", "--multi", 2, "--resume",
                           "--weights", weights)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "without --resume" in err and not (tmp_path / "out.mkv").exists()


def test_output_is_checked_against_the_plan(tmp_path, interp):
    """A manifest that lies (a valid but shorter segment with its own checksum) cannot make a short output."""
    from filmnet.inference.resume import file_digest

    src = make_clip(tmp_path / "in.mkv", 10)
    work = interrupted(src, tmp_path / "out", interp, after=12)
    data = json.loads((work / "manifest.json").read_text())
    short = work / "segment_000000.mkv"
    with av.open(str(short), "w") as c:  # one frame instead of four, same layout
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "bgr0"
        c.mux(v.encode(av.VideoFrame.from_ndarray(image(0), format="rgb24")))
        c.mux(v.encode(None))
    size, sha = file_digest(short)
    data["segments"]["0"] = {"frames": 4, "size": size, "sha256": sha}
    (work / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="hold 17 frames but the plan has 20"):
        retime(src, tmp_path / "out", interpolator=interp, multi=2, segment_frames=2, resume=True)
    assert not (tmp_path / "out").exists()


# --- rule 3: damaged input --------------------------------------------------------------------------------------

def truncated(path: Path, share: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def corrupted(path: Path) -> Path:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid: mid + 300] = bytes(300)
    path.write_bytes(bytes(data))
    return path


DAMAGED = {
    "truncated mkv (ffv1)": lambda p: truncated(make_clip(p / "t.mkv", 20)),
    "truncated mkv (h264)": lambda p: truncated(make_clip(p / "t.mkv", 20, "libx264", "yuv420p")),
    "truncated mp4 (moov first)": lambda p: truncated(make_clip(p / "t.mp4", 20, "libx264", "yuv420p",
                                                                {"movflags": "faststart"})),
    "truncated mp4": lambda p: truncated(make_clip(p / "t.mp4", 20, "libx264", "yuv420p")),
    "corrupt mkv (h264)": lambda p: corrupted(make_clip(p / "c.mkv", 20, "libx264", "yuv420p")),
    "corrupt mp4": lambda p: corrupted(make_clip(p / "c.mp4", 20, "libx264", "yuv420p")),
}


@pytest.mark.parametrize("kind", list(DAMAGED))
def test_damaged_input_is_an_error_not_a_shorter_output(tmp_path, capsys, weights, kind):
    src = DAMAGED[kind](tmp_path)
    out = tmp_path / "out.mkv"
    code, _, err = run_cli(capsys, "video", src, "-o", out, "--multi", 2, "--weights", weights, "--codec", "ffv1")
    lines = err.replace("\r", "\n").strip().split("\n")  # progress bar updates, then the error
    errors = [line for line in lines if line.startswith("error: ")]
    assert code == 1 and errors == lines[-1:] and "Traceback" not in err, err
    assert src.name in lines[-1] and (" frame " in lines[-1] or "not a readable video" in lines[-1])
    assert not out.exists() and sorted(os.listdir(tmp_path)) == [src.name]


@pytest.mark.parametrize("kind", [k for k in DAMAGED if not k.startswith("truncated mp4")])  # nothing decodes
def test_ignore_errors_holds_frames_and_reports_them(tmp_path, interp, kind):
    src = DAMAGED[kind](tmp_path)
    result = retime(src, tmp_path / "out", interpolator=interp, multi=2, ignore_errors=True)
    assert result.frames_skipped > 0 and any("skipped" in n and str(result.frames_skipped) in n
                                             for n in result.notes)
    assert result.output_frames == len(pngs(result.output)) == 40  # the plan of the 20-frame header


def test_ignore_errors_flag_reaches_the_cli(tmp_path, capsys, weights):
    src = truncated(make_clip(tmp_path / "t.mkv", 20))
    code, out, err = run_cli(capsys, "video", src, "-o", tmp_path / "out", "--multi", 2, "--weights", weights,
                             "--ignore-errors")
    assert code == 0, err
    assert "wrote 40 frames" in out and "skipped" in err and len(pngs(tmp_path / "out")) == 40


def test_damaged_frame_in_a_frame_folder(tmp_path, interp):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(image(i)).save(folder / f"{i:06d}.png")
    (folder / "000003.png").write_bytes((folder / "000003.png").read_bytes()[:40])  # cut inside the header
    with pytest.raises(InputError, match=r"frame 3 \(at 0\.120 s\).*000003\.png"):
        retime(folder, tmp_path / "out", interpolator=interp, multi=2, in_fps="25")
    assert not (tmp_path / "out").exists()
    result = retime(folder, tmp_path / "out", interpolator=interp, multi=2, in_fps="25", ignore_errors=True)
    frames = pngs(result.output)
    assert result.frames_skipped == 1 and result.output_frames == len(frames) == 12
    assert np.array_equal(frames[6], frames[4])  # frame 3 (output 6) holds frame 2 (output 4)


# --- rule 9: kills leave no orphans that last -------------------------------------------------------------------

def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.slow
def test_temporaries_of_killed_runs_are_removed_by_the_next_run(tmp_path, capsys, weights):
    pid = dead_pid()
    orphans = [tmp_path / f".out.mp4.{pid}-0123abcd.part.mp4", tmp_path / f".frames.{pid}-89abcdef.part",
               tmp_path / f".r.json.{pid}-00ff00ff.part"]
    orphans[0].write_bytes(b"half a video")
    orphans[1].mkdir()
    (orphans[1] / "000000.png").write_bytes(b"x")
    orphans[2].write_text("{")
    live = tmp_path / f".other.{os.getpid()}-0a0a0a0a.part"  # a run still going: left alone
    live.write_text("busy")
    user_file = tmp_path / ".notes.part"
    user_file.write_text("mine")
    assert sorted(stale_temps(tmp_path)) == sorted(orphans)
    for name in ("a.png", "b.png"):
        Image.fromarray(image(0)).save(tmp_path / name)
    code = subprocess.run([sys.executable, "-m", "filmnet.cli", "interpolate", str(tmp_path / "a.png"),
                           str(tmp_path / "b.png"), "--exp", "1", "-o", str(tmp_path / "result"), "--weights",
                           str(weights)], capture_output=True, text=True, timeout=300).returncode
    assert code == 0
    assert sorted(os.listdir(tmp_path)) == sorted([".notes.part", live.name, "a.png", "b.png", "result"])


def test_a_successful_run_leaves_nothing_behind(tmp_path, interp):
    src = make_clip(tmp_path / "in.mkv", 8)
    work = interrupted(src, tmp_path / "out.mkv", interp, after=6)
    assert work.is_dir()
    retime(src, tmp_path / "out.mkv", interpolator=interp, multi=2, segment_frames=2, resume=True, codec="ffv1")
    assert sorted(os.listdir(tmp_path)) == ["in.mkv", "out.mkv"]
    tmp = make_temp(tmp_path / "x.png")
    assert str(os.getpid()) in tmp.name
