"""Seamless loops and ping-pong (`inference/loops.py`, `filmnet interpolate --loop/--pingpong`): exact frame
counts and positions, every output kind, and a wrap that is interpolated, not repeated."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import filmnet
from filmnet.inference import loops
from helpers import save_tiny, run_cli

BUNDLED = Path(filmnet.__file__).parent / "assets" / "film_lite.safetensors"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors", plain=True)


run = run_cli


def smooth_frames(folder: Path, n: int, shift: float = 3.0, size=(64, 64)) -> list[Path]:
    """Smooth low-frequency colour waves moving `shift` px right per frame."""
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float64)
    paths = []
    for k in range(n):
        x = xx - shift * k
        rgb = np.stack([0.5 + 0.35 * np.sin(2 * np.pi * x / 64), 0.5 + 0.35 * np.cos(2 * np.pi * (x + yy) / 96),
                        0.5 + 0.3 * np.sin(2 * np.pi * yy / 80)], axis=-1)
        paths.append(folder / f"in{k}.png")
        Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).save(paths[-1])
    return paths


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("per_pair", [1, 2, 3, 4, 8])
def test_counts_and_positions(n, per_pair):
    m = (n - 1) * per_pair
    assert loops.count_frames(n, per_pair) == m + 1
    assert loops.count_frames(n, per_pair, "loop") == n * per_pair
    assert loops.count_frames(n, per_pair, "pingpong") == 2 * m
    for mode in loops.MODES:
        assert len(loops.positions(n, per_pair, mode)) == loops.count_frames(n, per_pair, mode)
    loop = loops.positions(n, per_pair, "loop")
    assert loop[-1] == n - Fraction(1, per_pair) and len(set(loop)) == len(loop)  # no repeat: wraps to frame 0
    ping = loops.positions(n, per_pair, "pingpong")
    assert ping[:m + 1] == loops.positions(n, per_pair) and ping[m + 1:] == ping[1:m][::-1]
    assert ping.count(Fraction(0)) == 1 and ping.count(Fraction(n - 1)) == 1  # turning frames not repeated


def test_arrange_orders_frames():
    assert list(loops.arrange(iter(range(5)), "plain")) == [0, 1, 2, 3, 4]
    assert list(loops.arrange(iter(range(5)), "loop")) == [0, 1, 2, 3]
    assert list(loops.arrange(iter(range(5)), "pingpong")) == [0, 1, 2, 3, 4, 3, 2, 1]
    assert list(loops.sequence_inputs(iter("abc"), "loop")) == ["a", "b", "c", "a"]


def test_loop_and_pingpong_exclude_each_other(tmp_path, capsys, weights):
    inputs = smooth_frames(tmp_path, 2)
    code, _, err = run(capsys, "interpolate", *inputs, "--loop", "--pingpong", "-o", tmp_path / "o", "--weights",
                       weights)
    assert code != 0 and "exclude each other" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("suffix", ["", ".mp4", ".webm", ".gif"])
@pytest.mark.parametrize("flag,timing,expected", [("--loop", ("--exp", 2), 12), ("--pingpong", ("--multi", 3), 12),
                                                  ("--loop", ("--multi", 2), 6)])
def test_every_output_kind_gets_the_documented_count(tmp_path, capsys, weights, suffix, flag, timing, expected):
    """3 inputs: --loop --exp 2 -> 3*4 = 12; --pingpong --multi 3 -> 2*2*3 = 12; --loop --multi 2 -> 6."""
    inputs = smooth_frames(tmp_path, 3)
    out = tmp_path / f"out{suffix}"
    code, stdout, err = run(capsys, "interpolate", *inputs, flag, *timing, "-o", out, "--weights", weights)
    assert code == 0, err
    assert f"wrote {expected} frames" in stdout
    if suffix == "":
        assert sorted(p.name for p in out.iterdir()) == [f"{k:06d}.png" for k in range(expected)]
    else:
        av = pytest.importorskip("av")
        with av.open(str(out)) as container:
            assert sum(1 for _ in container.decode(video=0)) == expected


def test_wrap_is_interpolated_not_repeated(tmp_path, capsys):
    """--loop --multi 2 on 3 frames: frame 5 sits halfway from the last input back to the first; it differs from
    both and is close to their blend on this smooth motion. Ping-pong's back half is the forward half reversed."""
    inputs = smooth_frames(tmp_path, 3)
    src = [np.asarray(Image.open(p)).astype(np.float64) for p in inputs]
    out = tmp_path / "loop"
    code, _, err = run(capsys, "interpolate", *inputs, "--loop", "--multi", 2, "-o", out, "--weights", BUNDLED,
                       "--flow", "model", "--precision", "fp32")
    assert code == 0, err
    frames = [np.asarray(Image.open(out / f"{k:06d}.png")).astype(np.float64) for k in range(6)]
    for k in range(3):
        np.testing.assert_array_equal(frames[2 * k], src[k])  # inputs pass through
    wrap, last, first = frames[5], src[2], src[0]
    to_ends = min(np.abs(wrap - last).mean(), np.abs(wrap - first).mean())
    to_blend = np.abs(wrap - (last + first) / 2).mean()
    assert to_ends > 3.0, to_ends  # not a repeat of either end
    assert to_blend < to_ends / 3, (to_blend, to_ends)

    ping = tmp_path / "ping"
    code, _, err = run(capsys, "interpolate", *inputs, "--pingpong", "--multi", 2, "-o", ping, "--weights", BUNDLED,
                       "--flow", "model", "--precision", "fp32")
    assert code == 0, err
    back = [np.asarray(Image.open(ping / f"{k:06d}.png")).astype(np.float64) for k in range(8)]
    for k in range(5):
        np.testing.assert_array_equal(back[k], frames[k])  # the plain frames forward
    for k in range(5, 8):
        np.testing.assert_array_equal(back[k], back[8 - k])  # then back, without the turning frames


def test_batch_refuses_loop_in_one_line(tmp_path, capsys, weights):
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"not read")
    code, _, err = run(capsys, "batch", clip, "--multi", 2, "--loop", "-o", tmp_path / "o", "--weights", weights)
    assert code != 0 and "--loop is not supported by batch" in err and len(err.strip().splitlines()) == 1
    from filmnet.errors import InputError
    from filmnet.inference.ranges import render_range
    with pytest.raises(InputError, match="--loop"):
        render_range(clip, tmp_path / "w", interpolator=None, multi=2, loop=True)


def test_video_cli_loop_on_a_frame_folder(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    smooth_frames(folder, 4)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "video", folder, "--multi", 2, "--loop", "--in-fps", 24, "-o", out,
                            "--weights", BUNDLED, "--flow", "model", "--precision", "fp32")
    assert code == 0, err
    assert "wrote 8 frames" in stdout and "--loop: 1 frames interpolated" in err
    frames = [np.asarray(Image.open(out / f"{k:06d}.png")).astype(np.float64) for k in range(8)]
    wrap, last, first = frames[7], frames[6], frames[0]
    to_ends = min(np.abs(wrap - last).mean(), np.abs(wrap - first).mean())
    assert to_ends > 3.0 and np.abs(wrap - (last + first) / 2).mean() < to_ends / 3
