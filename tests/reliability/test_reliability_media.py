"""Rules 5 and 6 of issue 16: oversized frames are refused from the header; multi-frame images given as photos
get a clear error."""
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from filmnet.cli import main
from filmnet.errors import InputError
from filmnet.io import read_image, read_image_size


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A small PNG whose header claims width x height (the pixel data is a few KB of zeros, cut short)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 200_000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_huge_png_refused_from_its_header(tmp_path):
    big = png_header_only(tmp_path / "big.png", 13000, 13000)
    for reader in (read_image, read_image_size):
        with pytest.raises(InputError, match=r"13000x13000 \(169 MP\), over the limit"):
            reader(big)


def test_huge_png_refusal_stays_small_in_memory(tmp_path):
    """Peak RSS growth while refusing the 13000x13000 PNG stays far below the 2 GB a decode would take."""
    big = png_header_only(tmp_path / "big.png", 13000, 13000)
    code = f"""
import json, resource
from filmnet.io import read_image
from filmnet.errors import InputError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_image({str(big)!r})
    refused = False
except InputError:
    refused = True
print(json.dumps([refused, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    refused, grown = json.loads(done.stdout.strip().splitlines()[-1])
    assert refused and grown < 300 * 2**20


def test_pixel_limit_is_configurable_and_cli_refuses_in_one_line(tmp_path, capsys, monkeypatch):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(p)
    monkeypatch.setenv("FILMNET_MAX_PIXELS", "1000")
    code, _, err = run(capsys, "interpolate", a, b, "--exp", 1, "-o", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1 and "50x40" in err and "FILMNET_MAX_PIXELS" in err
    assert not (tmp_path / "out").exists()


def test_huge_video_refused_from_its_header(tmp_path, monkeypatch):
    import av

    from filmnet.io.video import probe_video

    path = tmp_path / "v.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        for _ in range(2):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        c.mux(s.encode(None))
    assert probe_video(path).width == 64
    monkeypatch.setenv("FILMNET_MAX_PIXELS", "3000")
    with pytest.raises(InputError, match="64x48"):
        probe_video(path)


def frames(n: int) -> list[Image.Image]:
    return [Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)) for i in range(n)]


@pytest.mark.parametrize("name,kind", [("a.gif", "animated GIF"), ("a.webp", "animated WEBP"),
                                       ("a.png", "animated PNG"), ("a.tif", "multi-page TIFF")])
def test_multi_frame_images_are_not_photos(tmp_path, capsys, name, kind):
    path = tmp_path / name
    first, *rest = frames(3)
    first.save(path, save_all=True, append_images=rest, **({"duration": 40} if name != "a.tif" else {}))
    with pytest.raises(InputError, match=f"{kind} with 3 frames, not a still image"):
        read_image(path)
    still = tmp_path / f"still{Path(name).suffix}"
    first.save(still)
    assert read_image(still).shape == (16, 16, 3)
    code, _, err = run(capsys, "interpolate", path, still, "--exp", 1, "-o", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1 and kind in err and not (tmp_path / "out").exists()


def test_camera_mpo_jpeg_is_a_photo(tmp_path):
    """Multi-picture JPEGs (MPO) from cameras carry previews or depth after the photo: read as the photo."""
    path = tmp_path / "camera.jpg"
    first, second = frames(2)
    first.save(path, format="MPO", save_all=True, append_images=[second])
    with Image.open(path) as im:
        assert im.format == "MPO" and im.n_frames == 2
    assert read_image(path).shape == (16, 16, 3)
