"""`filmnet serve` on a loopback port, called with gradio_client through its stable endpoint names."""
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason='the web page needs gradio (pip install "filmnet[ui]")')
gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")  # a gradio_client dependency

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from ui_server import (SIZE, count_video_frames, free_port, live_server, tiny_weights, write_pair,  # noqa: E402
                       write_video)

pytestmark = pytest.mark.slow  # worker processes, a server, a browser or a cluster: in CI, not in the quick default run

LIMIT_MB = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    weights = tiny_weights(folder)
    with live_server(folder, "--weights", str(weights), "--max-file-size", str(LIMIT_MB), "--precision", "fp32",
                     "--queue-size", "4") as (url, tmp):
        assert [p.name[:14] for p in tmp.iterdir()] == ["filmnet-serve-"]  # its one temp root
        yield url, folder, tmp
    leftovers = [p.name for p in tmp.iterdir() if p.name.startswith("filmnet-serve-")]
    assert leftovers == [], "the server left its session folders behind after Ctrl-C"


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False, download_files=str(server[1] / "downloads"))


def test_interpolate_photos_endpoint(server, client):
    a, b = write_pair(server[1])
    mp4, gif, zip_path, message = client.predict(handle_file(str(a)), handle_file(str(b)), 2, "",
                                                 api_name="/interpolate_photos")
    assert mp4.endswith(".mp4") and count_video_frames(mp4) == 5  # (2 - 1) * 2^2 + 1
    with Image.open(gif) as preview:
        assert preview.n_frames == 5
    with zipfile.ZipFile(zip_path) as archive:
        assert len(archive.namelist()) == 5
    assert message == "5 frames"
    three = client.predict(handle_file(str(a)), handle_file(str(b)), 3, "weights", api_name="/interpolate_photos")
    assert count_video_frames(three[0]) == 9


def test_retime_video_endpoint(server, client):
    src = write_video(server[1] / "clip.mp4", frames=6, fps=10)
    mp4, message = client.predict(handle_file(str(src)), 2, "", api_name="/retime_video")
    assert mp4.endswith("clip_2X_20fps.mp4")
    assert count_video_frames(mp4) == 12 and message == "12 frames at 20 fps"


def test_pyramid_depth_on_the_endpoints(server, client):
    """The optional `pyramid_levels` (default "auto"): passed to the model; too deep or not a number is refused."""
    a, b = write_pair(server[1])
    images = (handle_file(str(a)), handle_file(str(b)))
    assert count_video_frames(client.predict(*images, 1, "", "6", api_name="/interpolate_photos")[0]) == 3
    with pytest.raises(AppError, match=r"^11 pyramid levels is out of range for 128x64 \(WxH\) input: use \d+\.\.7$"):
        client.predict(*images, 1, "", pyramid_levels="11", api_name="/interpolate_photos")
    src = write_video(server[1] / "depth.mp4", frames=4, fps=10)
    assert count_video_frames(client.predict(handle_file(str(src)), 2, "", "auto", api_name="/retime_video")[0]) == 8
    with pytest.raises(AppError, match="pyramid depth must be auto or a whole number of levels, got 'deep'"):
        client.predict(handle_file(str(src)), 2, "", "deep", api_name="/retime_video")


def test_mismatched_sizes_are_refused_with_the_cli_message(server, client):
    a, _ = write_pair(server[1])
    small = server[1] / "small.png"
    Image.fromarray(np.zeros((SIZE[0], 64, 3), np.uint8)).save(small)
    with pytest.raises(AppError, match=r"small.png is 64x64 but a.png is 96x64 \(WxH\)"):
        client.predict(handle_file(str(a)), handle_file(str(small)), 1, "", api_name="/interpolate_photos")


def test_upload_over_the_limit_is_refused(server, client):
    big = server[1] / "big.png"
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big)
    assert big.stat().st_size > LIMIT_MB * 1024 * 1024
    a, _ = write_pair(server[1])
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client reads the server's limit
        client.predict(handle_file(str(big)), handle_file(str(a)), 1, "", api_name="/interpolate_photos")
    with open(big, "rb") as fh:  # and the server refuses it when a client does not check
        response = httpx.post(server[0] + "gradio_api/upload", files={"files": ("big.png", fh, "image/png")},
                                 timeout=60)
    assert response.status_code == 413, response.text


def test_no_server_paths_or_remote_urls(server, client):
    a, b = write_pair(server[1])
    with pytest.raises(AppError, match="unknown model '/etc/passwd'; choose one of weights, film_net, film_lite"):
        client.predict(handle_file(str(a)), handle_file(str(b)), 1, "/etc/passwd", api_name="/interpolate_photos")
    for path in ("/etc/passwd", str(a), "https://example.com/x.png", "http%3A//example.com/x.png"):
        response = httpx.get(server[0] + "gradio_api/file=" + path, timeout=30)
        assert response.status_code == 403, path


def test_page_config(server):
    config = httpx.get(server[0] + "config", timeout=30).json()
    assert config["max_file_size"] == LIMIT_MB * 1024 * 1024
    named = {d.get("api_name") for d in config["dependencies"]}
    assert {"interpolate_photos", "retime_video"} <= named
    assert config.get("analytics_enabled") is False
    assert "fonts.googleapis" not in httpx.get(server[0], timeout=30).text


# ---------------------------------------------------------------- queue and cancel, on an in-process server


class GatedInterpolator:
    """The tiny model, but each frame waits for `gate`: a job that runs exactly as long as the test wants."""

    def __init__(self, inner, gate, started):
        self.inner, self.gate, self.started = inner, gate, started
        self.precision, self.device = inner.precision, inner.device

    def iter_sequence(self, frames, **kwargs):
        for frame in self.inner.iter_sequence(frames, **kwargs):
            self.started.set()
            assert self.gate.wait(120), "the test never opened the gate"
            yield frame


@pytest.fixture
def gated(tmp_path, monkeypatch):
    import threading

    import filmnet
    from filmnet.ui import app as ui_app
    from filmnet.ui import handlers as H
    from helpers import tiny_model

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-unused"))  # launch() points it at its own root
    config = ui_app.ServeConfig(port=free_port(), weights=str(tiny_weights(tmp_path)), queue_size=1,
                                temp_root=str(tmp_path / "root"))
    demo, server, url = ui_app.launch(config, block=False)
    gate, started = threading.Event(), threading.Event()
    inner = filmnet.Interpolator(tiny_model(), precision="fp32", max_memory=None)
    server.models = H.InterpolatorCache(factory=lambda choice, levels: GatedInterpolator(inner, gate, started))
    try:
        yield url, server, gate, started, tmp_path
    finally:
        gate.set()
        demo.close()
        server.folders.close_all()


def _wait_for(condition, what: str, limit_s: float = 120):
    import time

    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_a_full_queue_says_so(gated):
    from gradio_client.utils import Status

    url, server, gate, started, folder = gated
    a, b = write_pair(folder)
    args = (handle_file(str(a)), handle_file(str(b)), 1, "")
    running = Client(url, verbose=False).submit(*args, api_name="/interpolate_photos")
    _wait_for(started.is_set, "the first job to start")
    waiting = Client(url, verbose=False).submit(*args, api_name="/interpolate_photos")
    _wait_for(lambda: waiting.status().code == Status.IN_QUEUE, "the second job to queue")
    with pytest.raises(Exception, match="Queue is full"):
        Client(url, verbose=False).predict(*args, api_name="/interpolate_photos")
    gate.set()
    assert count_video_frames(running.result(timeout=120)[0]) == 3
    assert count_video_frames(waiting.result(timeout=120)[0]) == 3


def test_cancel_stops_the_job_and_keeps_nothing(gated):
    url, server, gate, started, folder = gated
    a, b = write_pair(folder)
    client = Client(url, verbose=False)
    job = client.submit(handle_file(str(a)), handle_file(str(b)), 3, "", api_name="/interpolate_photos")
    _wait_for(started.is_set, "the job to start")
    client.predict(api_name="/cancel")
    gate.set()
    with pytest.raises(Exception):
        job.result(timeout=120)
    jobs = list((server.folders.root / "sessions").glob("*/job-*"))
    assert jobs, "the job had no session folder"
    _wait_for(lambda: all(not any(j.iterdir()) for j in jobs), "the cancelled job's files to go")
