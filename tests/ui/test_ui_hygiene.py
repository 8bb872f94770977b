"""`filmnet serve` hygiene (issue 25, items 6 and 8): image headers are checked before Gradio decodes anything,
a refusal is one log line (no traceback), and a SIGKILLed server's folder (with its uploads) is removed by the next
server."""
import os
import signal
import struct
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("gradio", reason='the web page needs gradio (pip install "filmnet[ui]")')
gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")
psutil = pytest.importorskip("psutil")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from ui_server import live_server, tiny_weights, write_pair  # noqa: E402

MB = 1024 * 1024


def huge_png(path: Path, width: int, height: int) -> Path:
    """A grey PNG whose header says width x height, of black rows: ~0.1 MB on disk, written row by row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate, row = zlib.compressobj(9), bytes(width + 1)
    data = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def peak_rss(pid: int) -> int:
    """The server process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/PID/status VmHWM here")


def server_process(url: str) -> psutil.Process:
    port = str(urlparse(url).port)
    found = [p for p in psutil.Process().children() if "serve" in p.cmdline() and port in p.cmdline()]
    assert len(found) == 1
    return found[0]


def test_checked_image_preprocess_never_opens_an_oversized_image(tmp_path, monkeypatch):
    """In process: the script endpoint's image refuses an 11000x11000 header before Pillow loads a pixel."""
    import gradio as gr
    from PIL import ImageFile

    from filmnet.ui import app as ui_app
    from filmnet.ui import handlers as H

    loads = []
    original = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or original(self))
    server = ui_app.Server(ui_app.ServeConfig(weights=str(tiny_weights(tmp_path)), temp_root=str(tmp_path / "r")))
    demo = ui_app.build_app(server)
    images = [b for b in demo.blocks.values() if isinstance(b, gr.Image) and b.label in ("image0", "image1")]
    assert len(images) == 2
    big = huge_png(tmp_path / "big.png", 11000, 11000)
    payload = gr.FileData(path=str(big), orig_name="big.png")
    with pytest.raises(gr.Error, match="big.png is 11000x11000, over this server's limit"):
        images[0].preprocess(payload)
    assert loads == []  # nothing decoded
    a, _ = write_pair(tmp_path)
    assert images[0].preprocess(gr.FileData(path=str(a), orig_name="a.png")) == str(a)
    with pytest.raises(gr.Error, match="cannot read image text.png: cannot identify image file .text.png."):  # the name, not the server's folders
        (tmp_path / "text.png").write_text("not an image")
        images[1].preprocess(gr.FileData(path=str(tmp_path / "text.png"), orig_name="text.png"))
    assert not any(size == (11000, 11000) for size in loads)
    with pytest.raises(H.InputError):
        H.check_image_upload(big, H.Limits())


@pytest.mark.slow
def test_refusals_are_one_log_line_with_bounded_memory_and_a_killed_servers_folder_goes(tmp_path):
    weights = tiny_weights(tmp_path)
    a, b = write_pair(tmp_path)
    big = huge_png(tmp_path / "big.png", 11000, 11000)
    assert big.stat().st_size < MB // 2
    text = tmp_path / "text.png"
    text.write_text("not an image")
    refusals = [((handle_file(str(text)), handle_file(str(a)), 1, ""), "cannot read image"),  # warms the server up
                ((handle_file(str(big)), handle_file(str(a)), 1, ""), "11000x11000, over this server's limit"),
                ((handle_file(str(a)), handle_file(str(b)), 1, "/etc/passwd"), "unknown model"),
                ((handle_file(str(big)), handle_file(str(a)), 1, ""), "11000x11000, over this server's limit")]
    with live_server(tmp_path, "--weights", str(weights), "--precision", "fp32", stop=signal.SIGKILL) as (url, tmp):
        process = server_process(url)
        client = Client(url, verbose=False)
        peaks = []
        for args, words in refusals:
            with pytest.raises(AppError, match=words):
                client.predict(*args, api_name="/interpolate_photos")
            peaks.append(peak_rss(process.pid))
        # decoding 11000x11000 grey (121 MB) and converting it to RGB (363 MB) is what the header check prevents
        assert peaks[1] - peaks[0] < 64 * MB, [p // MB for p in peaks]
        with open(a, "rb") as fh:  # an upload sits in the server's folder when it is killed
            assert httpx.post(url + "gradio_api/upload", files={"files": ("a.png", fh, "image/png")},
                              timeout=60).status_code == 200
        roots = [p for p in tmp.iterdir() if p.name.startswith("filmnet-serve-")]
        assert len(roots) == 1 and any(p.name == "a.png" for p in roots[0].rglob("*"))
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and "Warning" not in log, log
    assert [line for line in log.splitlines() if "refused" in line or "error" in line.lower()] == \
        [line for line in log.splitlines() if line.startswith("refused: ")]
    assert len([line for line in log.splitlines() if line.startswith("refused: ")]) == len(refusals)
    assert roots[0].exists()  # SIGKILL: nothing ran to remove it
    with live_server(tmp_path, "--weights", str(weights), "--precision", "fp32") as (url, tmp):
        now = [p for p in tmp.iterdir() if p.name.startswith("filmnet-serve-")]
        assert not roots[0].exists() and len(now) == 1, now
    assert not [p for p in tmp.iterdir() if p.name.startswith("filmnet-serve-")]


def test_sweep_keeps_live_servers_and_legacy_folders_until_they_are_old(tmp_path):
    import subprocess
    import sys
    import time

    from filmnet.ui import handlers as H

    live = H.new_server_root(tmp_path)  # this process: alive
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19] if \
        Path(f"/proc/{other.pid}/stat").exists() else "0"
    theirs = tmp_path / f"filmnet-serve-{other.pid}.{start}-abc"
    reused = tmp_path / f"filmnet-serve-{other.pid}.1-abc"  # same pid, another start time: a dead server's
    legacy_new, legacy_old = tmp_path / "filmnet-serve-new", tmp_path / "filmnet-serve-old"
    for path in (theirs, reused, legacy_new, legacy_old):
        path.mkdir()
    os.utime(legacy_old, (time.time() - H.LEGACY_ROOT_MAX_AGE_S - 10,) * 2)
    try:
        removed = H.sweep_dead_roots(tmp_path)
        expected = {legacy_old} | ({reused} if start != "0" else set())
        assert set(removed) == expected and live.exists() and theirs.exists() and legacy_new.exists()
    finally:
        other.kill()
        other.wait()
    assert theirs in H.sweep_dead_roots(tmp_path) and live.exists()
