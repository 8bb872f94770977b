"""`filmnet interpolate` / `filmnet convert`: success paths per output kind and every refusal (one line, no output)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import filmnet
from helpers import save_tiny, write_images, run_cli


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("w") / "tiny.safetensors", plain=True)


run = run_cli


def test_folder_output_with_exp(tmp_path, capsys, weights):
    inputs = write_images(tmp_path, 3, size=(64, 80))
    out = tmp_path / "frames"
    code, stdout, _ = run(capsys, "interpolate", *inputs, "--exp", 2, "-o", out, "--weights", weights)
    assert code == 0 and "frames" in stdout and "9 frames" in stdout
    names = sorted(os.listdir(out))
    assert names == [f"{k:06d}.png" for k in range(9)]
    for k, src in zip((0, 4, 8), inputs):  # inputs pass through unchanged
        np.testing.assert_array_equal(np.asarray(Image.open(out / names[k])), np.asarray(Image.open(src)))


def test_mp4_output_with_multi_and_odd_size(tmp_path, capsys, weights):
    av = pytest.importorskip("av")
    inputs = write_images(tmp_path, 2, size=(65, 81))
    out = tmp_path / "v.mp4"
    code, _, _ = run(capsys, "interpolate", *inputs, "--multi", 3, "--fps", "24000/1001", "-o", out,
                     "--weights", weights, "--precision", "fp32")
    assert code == 0
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 4 and (frames[0].height, frames[0].width) == (66, 82)


@pytest.mark.parametrize("suffix, codec", [(".webm", "vp9"), (".m4v", "h264")])
def test_other_video_containers_match_filmnet_video(tmp_path, capsys, weights, suffix, codec):
    av = pytest.importorskip("av")
    inputs = write_images(tmp_path, 2, size=(64, 80))
    out = tmp_path / f"v{suffix}"
    code, _, err = run(capsys, "interpolate", *inputs, "--exp", 2, "-o", out, "--weights", weights)
    assert code == 0, err
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == codec
        frames = list(container.decode(video=0))
    assert len(frames) == 5 and (frames[0].height, frames[0].width) == (64, 80)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_neither_exp_nor_multi_means_exp_4(tmp_path, capsys, weights):
    """`filmnet interpolate a.png b.png -o out` works as typed: --exp 4, 2^4 - 1 new frames (issue 15)."""
    out = tmp_path / "frames"
    code, stdout, _ = run(capsys, "interpolate", *write_images(tmp_path, 2, size=(64, 80)), "-o", out, "--weights", weights)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(17)]
    assert "wrote 17 frames" in stdout


def test_webm_output_with_exp_1(tmp_path, capsys, weights):
    av = pytest.importorskip("av")
    out = tmp_path / "x.webm"
    code, _, err = run(capsys, "interpolate", *write_images(tmp_path, 2, size=(64, 80)), "--exp", 1, "-o", out, "--weights", weights)
    assert code == 0, err
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "vp9"
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"  # plays in browsers
        assert sum(1 for _ in container.decode(video=0)) == 3


def test_webm_output_keeps_alpha(tmp_path, capsys, weights):
    av = pytest.importorskip("av")
    inputs = []
    for k, level in enumerate((60, 200)):
        rgba = np.zeros((48, 64, 4), np.uint8)
        rgba[..., :3], rgba[..., 3] = 120 + 20 * k, level
        inputs.append(tmp_path / f"in{k}.png")
        Image.fromarray(rgba, "RGBA").save(inputs[-1])
    out = tmp_path / "x.webm"
    code, _, err = run(capsys, "interpolate", *inputs, "--multi", 4, "-o", out, "--weights", weights)
    assert code == 0, err
    with av.open(str(out)) as container:  # FFmpeg's own VP9 decoder ignores alpha; libvpx reads it
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = [f for packet in container.demux(stream) if packet.size for f in decoder.decode(packet)]
        frames += decoder.decode(None)
    alphas = [float(f.to_ndarray(format="rgba")[..., 3].mean()) for f in frames]
    assert frames[0].format.name == "yuva420p" and len(frames) == 5
    assert np.allclose(alphas, [60, 95, 130, 165, 200], atol=2)  # alpha moves with the picture: fades with t


def test_png_folder_keeps_alpha_and_16_bits(tmp_path, capsys, weights):
    """The PNG-folder rule of `filmnet video`: inputs pass through bit-exactly, new frames keep 16 bits and take
    alpha that moves with the picture (uniform here: it fades with t)."""
    pytest.importorskip("av")
    from filmnet.io.media import read_pixels, write_png

    yy, xx = np.mgrid[0:48, 0:64]
    base = np.stack([20000 + 300 * xx + 7 * yy, 40000 - 250 * yy + 3 * xx, 30000 + 150 * (xx + yy), 0 * xx], -1)
    images = [base.astype(np.uint16), np.roll(base, 3, axis=1).astype(np.uint16)]
    images[0][..., 3], images[1][..., 3] = 20000, 60000
    inputs = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, image in zip(inputs, images):
        write_png(path, image)
    out = tmp_path / "frames"
    bundled = Path(filmnet.__file__).parent / "assets" / "film_lite.safetensors"  # a trained model: smooth output
    code, _, err = run(capsys, "interpolate", *inputs, "--multi", 4, "-o", out, "--weights", bundled,
                       "--precision", "fp32")
    assert code == 0, err
    frames = [read_pixels(out / f"{k:06d}.png") for k in range(5)]
    assert sorted(p.name for p in out.iterdir()) == [f"{k:06d}.png" for k in range(5)]
    assert all(f.dtype == np.uint16 and f.shape == (48, 64, 4) for f in frames)
    np.testing.assert_array_equal(frames[0], images[0])
    np.testing.assert_array_equal(frames[4], images[1])
    assert [int(f[..., 3].min()) for f in frames[1:4]] == [30000, 40000, 50000]  # t = 1/4, 1/2, 3/4
    assert [int(f[..., 3].max()) for f in frames[1:4]] == [30000, 40000, 50000]
    assert (frames[2][..., :3] % 257 != 0).mean() > 0.5  # 16-bit values, not 8-bit ones scaled up


def test_gif_output_and_force(tmp_path, capsys, weights):
    inputs = write_images(tmp_path, 2, size=(64, 80))
    out = tmp_path / "a.gif"
    out.write_bytes(b"old")
    assert run(capsys, "interpolate", *inputs, "--exp", 1, "-o", out, "--weights", weights)[0] != 0
    assert out.read_bytes() == b"old"
    code, _, _ = run(capsys, "interpolate", *inputs, "--exp", 1, "-o", out, "--weights", weights, "--force")
    assert code == 0
    with Image.open(out) as im:
        assert im.n_frames == 3 and im.info["loop"] == 0


def test_resize_allows_mismatched_sizes(tmp_path, capsys, weights):
    a, = write_images(tmp_path, 1, size=(64, 80))
    b = tmp_path / "big.png"
    Image.fromarray(np.zeros((70, 100, 3), np.uint8)).save(b)
    out = tmp_path / "frames"
    assert run(capsys, "interpolate", a, b, "--exp", 1, "-o", out, "--weights", weights, "--resize")[0] == 0
    assert Image.open(out / "000002.png").size == (80, 64)


def _refusal_cases(tmp: Path, weights: Path):
    a, b = write_images(tmp, 2, size=(64, 80))
    other = tmp / "other.png"
    Image.fromarray(np.zeros((70, 90, 3), np.uint8)).save(other)
    corrupt = tmp / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    png = (tmp / "in1.png").read_bytes()
    truncated = tmp / "truncated.png"
    truncated.write_bytes(png[: len(png) // 2])  # header reads fine; decoding fails after frame 0 is out
    w = ["--weights", weights]
    out = tmp / "out.mp4"
    return {
        "mismatched sizes": ([a, other, "--exp", 1, "-o", out, *w], "--resize"),
        "corrupt image": ([a, corrupt, "--exp", 1, "-o", out, *w], "corrupt.png"),
        "truncated image": ([a, truncated, "--exp", 1, "-o", out, *w], "truncated.png"),
        "missing image": ([a, tmp / "nope.png", "--exp", 1, "-o", out, *w], "not found"),
        "output is an input": ([a, b, "--exp", 1, "-o", b, *w], "also an input"),
        "one input": ([a, "--exp", 1, "-o", out, *w], "at least 2"),
        "both exp and multi": ([a, b, "--exp", 1, "--multi", 2, "-o", out, *w], "exactly one"),
        "exp not a number": ([a, b, "--exp", "two", "-o", out, *w], "--exp"),
        "exp out of range": ([a, b, "--exp", 0, "-o", out, *w], "--exp"),
        "multi too small": ([a, b, "--multi", 1, "-o", out, *w], "--multi"),
        "bad fps": ([a, b, "--exp", 1, "--fps", "fast", "-o", out, *w], "frame rate"),
        "zero fps": ([a, b, "--exp", 1, "--fps", "0", "-o", out, *w], "frame rate"),
        "bad precision": ([a, b, "--exp", 1, "--precision", "fp64", "-o", out, *w], "--precision"),
        "unsupported output": ([a, b, "--exp", 1, "-o", tmp / "out.png", *w], "unsupported output"),
        "missing weights": ([a, b, "--exp", 1, "-o", out, "--weights", tmp / "none.safetensors"], "none.safetensors"),
        "missing output option": ([a, b, "--exp", 1, *w], "--output"),
    }


def test_refusals_are_one_line_and_write_nothing(tmp_path, capsys, weights):
    cases = _refusal_cases(tmp_path, weights)
    before = sorted(os.listdir(tmp_path))
    for name, (args, needle) in cases.items():
        code, stdout, stderr = run(capsys, "interpolate", *args)
        assert code != 0, name
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (name, stderr)
        assert needle in lines[0], (name, lines[0])
        assert "Traceback" not in stderr + stdout, name
        assert sorted(os.listdir(tmp_path)) == before, name


def test_existing_output_is_refused_without_force(tmp_path, capsys, weights):
    a, b = write_images(tmp_path, 2, size=(64, 80))
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "000000.png").write_bytes(b"x")
    code, _, stderr = run(capsys, "interpolate", a, b, "--exp", 1, "-o", folder, "--weights", weights)
    assert code != 0 and "--force" in stderr and os.listdir(folder) == ["000000.png"]


def test_convert(tmp_path, capsys, weights):
    dst = tmp_path / "copy.safetensors"
    code, stdout, _ = run(capsys, "convert", weights, "-o", dst)
    assert code == 0 and str(dst) in stdout and dst.is_file()
    code, _, stderr = run(capsys, "convert", weights, "-o", dst)
    assert code != 0 and len(stderr.strip().splitlines()) == 1 and stderr.startswith("error:")
    code, _, stderr = run(capsys, "convert", tmp_path / "missing.bin", "-o", tmp_path / "x.safetensors")
    assert code != 0 and len(stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["copy.safetensors"]


@pytest.mark.slow
def test_console_entry_point_runs_in_a_subprocess(tmp_path, weights):
    a, b = write_images(tmp_path, 2, size=(64, 80))
    cmd = [sys.executable, "-m", "filmnet.cli", "interpolate", str(a), str(b), "--exp", "1",
           "-o", str(tmp_path / "f"), "--weights", str(weights)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(os.listdir(tmp_path / "f")) == 3
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # output exists, no --force
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
