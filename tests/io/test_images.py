"""io.media images (reading every common format, EXIF, large PNG text, corrupt files, atomic writes) and writers."""
import io
import os
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from filmnet.errors import InputError
from filmnet.io import (
    open_writer, parse_fps, read_image, read_image_size, resize_image, to_float_image, to_uint8, write_image,
)
from filmnet.io.media.images import orient


def rgb8(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def smooth(h: int, w: int, phase: float = 0.0) -> np.ndarray:
    """A smooth float frame (compresses well, so lossy codecs stay close)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.5 + 0.4 * np.sin(x / 9 + phase), 0.5 + 0.4 * np.cos(y / 7), 0.3 + 0 * x], axis=2)


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("ext", ["png", "tiff", "webp"])
def test_lossless_8bit_formats_round_trip(tmp_path, ext):
    a = rgb8()
    path = tmp_path / f"x.{ext}"
    Image.fromarray(a).save(path, **({"lossless": True} if ext == "webp" else {}))
    out = read_image(path)
    assert out.dtype == np.float32 and out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out, a / np.float32(255))


def test_jpeg_reads_close(tmp_path):
    a = (smooth(48, 64) * 255).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "x.jpg", quality=95)
    assert np.abs(read_image(tmp_path / "x.jpg") - a / 255).mean() < 0.01


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_colour_keeps_precision(tmp_path, ext):
    cv2 = pytest.importorskip("cv2")
    a = np.random.default_rng(1).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    path = tmp_path / f"x.{ext}"
    assert cv2.imwrite(str(path), a[..., ::-1])  # cv2 writes BGR
    np.testing.assert_allclose(read_image(path), a / 65535, atol=1e-6)  # 8-bit would be off by ~2e-3


def test_16bit_colour_without_opencv_uses_pyav(tmp_path, monkeypatch):
    cv2 = pytest.importorskip("cv2")
    pytest.importorskip("av")
    a = np.random.default_rng(2).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    assert cv2.imwrite(str(tmp_path / "x.png"), a[..., ::-1])
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)
    np.testing.assert_allclose(read_image(tmp_path / "x.png"), a / 65535, atol=1e-6)


def test_16bit_grey(tmp_path):
    a = np.random.default_rng(3).integers(0, 65536, (20, 30), dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode.startswith("I")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (20, 30, 3)
    np.testing.assert_allclose(out[..., 1], a / 65535, atol=1e-6)
    assert np.array_equal(out[..., 0], out[..., 2])


def test_rgba_drops_alpha(tmp_path):
    a = rgb8()
    alpha = np.zeros((48, 64, 1), np.uint8)  # fully transparent: colours must still come through
    Image.fromarray(np.concatenate([a, alpha], axis=2), "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), a / np.float32(255))


@pytest.mark.parametrize("mode", ["L", "LA", "P", "1"])
def test_grey_palette_and_bilevel_become_rgb(tmp_path, mode):
    src = Image.fromarray(rgb8()).convert(mode)
    src.save(tmp_path / "m.png")
    out = read_image(tmp_path / "m.png")
    want = np.asarray(src.convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_array_equal(out, want)


def test_exif_rotated_jpeg(tmp_path):
    a = np.zeros((32, 64, 3), np.uint8)  # wide: left half red, right half blue
    a[:, :32, 0] = 255
    a[:, 32:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    Image.fromarray(a).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = read_image(tmp_path / "r.jpg")
    assert out.shape == (64, 32, 3) and read_image_size(tmp_path / "r.jpg") == (64, 32)
    assert out[:28, :, 0].mean() > 0.9 and out[36:, :, 2].mean() > 0.9  # the left half is now on top


@pytest.mark.parametrize("orientation", range(1, 9))
def test_numpy_orientation_matches_pillow(orientation):
    im = Image.fromarray(rgb8(5, 7))
    im.getexif()[0x0112] = orientation
    want = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient(np.asarray(im), orientation), want)


def test_png_with_large_text_chunk(tmp_path):
    a = rgb8()
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", "0" * (3 << 20), zip=True)  # 3 MB once decompressed
    Image.fromarray(a).save(tmp_path / "t.png", pnginfo=info)
    with pytest.raises(ValueError, match="MAX_TEXT_CHUNK"):  # plain Pillow refuses it
        Image.open(tmp_path / "t.png").load()
    limits = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    np.testing.assert_array_equal(read_image(tmp_path / "t.png"), a / np.float32(255))
    assert read_image_size(tmp_path / "t.png") == (48, 64)
    assert (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) == limits  # restored


def test_demo_photos_with_6mb_metadata(data_dir):
    for name in ("one.png", "two.png"):
        img = read_image(data_dir / "demo_pairs" / "film_photos" / name)
        assert img.shape == (768, 1024, 3) and img.dtype == np.float32
        assert 0.05 < img.mean() < 0.95


def test_corrupt_truncated_and_missing_files(tmp_path):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    buf = io.BytesIO()
    Image.fromarray(rgb8()).save(buf, format="PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    for path in (garbage, truncated, tmp_path / "missing.png"):
        with pytest.raises(InputError) as err:
            read_image(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="garbage.png"):
        read_image_size(garbage)


def test_to_float_image_dtypes():
    a = rgb8(4, 5)
    np.testing.assert_array_equal(to_float_image(a), a / np.float32(255))
    np.testing.assert_allclose(to_float_image(a.astype(np.uint16) * 257), a / 255, atol=1e-7)
    assert to_float_image(np.full((4, 5, 4), 2.0)).max() == 1.0  # clipped, alpha dropped
    assert to_float_image(np.zeros((4, 5))).shape == (4, 5, 3)
    for bad in (np.zeros((4, 5, 3), np.int64), np.zeros((4, 5, 2)), np.full((4, 5, 3), np.nan)):
        with pytest.raises(InputError):
            to_float_image(bad)


def test_resize_image():
    a = smooth(40, 60)
    out = resize_image(a, (20, 30))
    assert out.shape == (20, 30, 3) and out.dtype == np.float32
    assert np.abs(out.mean(axis=(0, 1)) - a.mean(axis=(0, 1))).max() < 0.02
    assert resize_image(a, (40, 60)) is a


# ---------------------------------------------------------------- writing


def test_write_image_quantises_like_official_and_is_atomic(tmp_path):
    a = np.array([[[0.0, 0.5, 1.0], [-1.0, 2.0, 0.1 / 255]]], np.float32)
    path = write_image(tmp_path / "o.png", a)
    got = np.asarray(Image.open(path))
    np.testing.assert_array_equal(got, [[[0, 128, 255], [0, 255, 0]]])
    np.testing.assert_array_equal(to_uint8(a), got)
    assert os.listdir(tmp_path) == ["o.png"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_mp4_odd_size_is_padded_and_decodable(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "v.mp4"
    frames = [smooth(71, 91, phase=k) for k in range(5)]
    with open_writer(path, fps="30000/1001") as writer:
        for f in frames:
            writer.write(f)
    assert writer.count == 5 and os.listdir(tmp_path) == ["v.mp4"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == Fraction(30000, 1001)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (72, 92, 3)
    for got, want in zip(decoded, frames):
        assert np.abs(got[:71, :91] / 255 - want).mean() < 0.03
        assert np.abs(got[71, :91] / 255 - want[70]).mean() < 0.05  # edge-replicated row


def test_gif_loops_forever(tmp_path):
    path = tmp_path / "g.gif"
    with open_writer(path, fps=20) as writer:
        for k in range(4):
            writer.write(smooth(50, 60, phase=k))
    with Image.open(path) as im:
        assert im.n_frames == 4 and im.size == (60, 50)
        assert im.info["loop"] == 0 and im.info["duration"] == 50


def test_folder_frames_are_numbered(tmp_path):
    out = tmp_path / "frames"
    with open_writer(out) as writer:
        for k in range(3):
            writer.write(rgb8(10, 12, seed=k))
    assert sorted(os.listdir(out)) == ["000000.png", "000001.png", "000002.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "000002.png")), rgb8(10, 12, seed=2))
    assert os.listdir(tmp_path) == ["frames"]


@pytest.mark.parametrize("name", ["v.mp4", "g.gif", "frames"])
def test_failing_writer_leaves_nothing(tmp_path, name):
    with pytest.raises(RuntimeError):
        with open_writer(tmp_path / name) as writer:
            writer.write(smooth(64, 64))
            writer.write(smooth(64, 64, 1.0))
            raise RuntimeError("boom")
    with pytest.raises(InputError, match="expected 64x64"):
        with open_writer(tmp_path / name) as writer:
            writer.write(smooth(64, 64))
            writer.write(smooth(64, 66))
    with pytest.raises(InputError, match="no frames"):
        with open_writer(tmp_path / name):
            pass
    assert os.listdir(tmp_path) == []


def test_existing_outputs_need_overwrite(tmp_path):
    target = tmp_path / "v.gif"
    target.write_bytes(b"old")
    with pytest.raises(InputError, match="--force"):
        open_writer(target)
    with open_writer(target, overwrite=True) as writer:
        writer.write(smooth(16, 16))
    assert Image.open(target).format == "GIF"

    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "000007.png").write_bytes(b"stale")
    with open_writer(folder, overwrite=True) as writer:
        writer.write(smooth(16, 16))
    assert os.listdir(folder) == ["000000.png"]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="other than"):
        open_writer(folder, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["frames", "v.gif"]


def test_writer_refusals(tmp_path):
    with pytest.raises(InputError, match="unsupported output"):
        open_writer(tmp_path / "x.png")
    with pytest.raises(InputError, match="does not exist"):
        open_writer(tmp_path / "no" / "x.mp4")
    with pytest.raises(InputError, match="at most 1000"):
        open_writer(tmp_path / "x.gif", fps="1001")


@pytest.mark.parametrize("fps, rate", [
    ("30000/1001", Fraction(30000, 1001)), ("24000/1001", Fraction(24000, 1001)), ("25", Fraction(25)),
    (" 30 ", Fraction(30)), ("29.97", Fraction(2997, 100)), (29.97, Fraction(2997, 100)), (60, Fraction(60)),
    (23.976, Fraction(23976, 1000)), (Fraction(60000, 1001), Fraction(60000, 1001)), ("1000", Fraction(1000)),
])
def test_parse_fps(fps, rate):
    assert parse_fps(fps) == rate


@pytest.mark.parametrize("bad", ["abc", "", "0", "-5", "1/0", "1001", None, float("nan"), float("inf"), "1e-9"])
def test_parse_fps_refuses(bad):
    with pytest.raises(InputError, match="frame rate"):
        parse_fps(bad)


def test_parse_fps_without_cap():
    assert parse_fps("2000", max_fps=None) == 2000
    with pytest.raises(InputError, match="positive"):
        parse_fps("-5", max_fps=None)
