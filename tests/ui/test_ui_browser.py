"""The web page in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium.

Opens the page, uploads two photos, sets "times to interpolate" to 2, clicks Run, waits for the video, checks it
plays (a non-zero duration once its metadata loads), and saves a screenshot to $FILMNET_TEST_ARTIFACTS (default: the
test's tmp folder). Skips, saying why, only when Chromium or its driver cannot be found.
"""
import os
import signal
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason='the web page needs gradio (pip install "filmnet[ui]")')
pytest.importorskip("selenium", reason="the browser test needs selenium (pip install -e '.[test]')")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from filmnet.demo import render_synthetic_pair  # noqa: E402
from filmnet.io import write_image  # noqa: E402
from ui_server import live_server  # noqa: E402

pytestmark = pytest.mark.slow  # worker processes, a server, a browser or a cluster: in CI, not in the quick default run

CHROMIUM = [os.environ.get("FILMNET_CHROMIUM", ""), "/usr/bin/chromium", "/usr/bin/chromium-browser"]
DRIVER = [os.environ.get("FILMNET_CHROMEDRIVER", ""), "/usr/bin/chromedriver"]
WAIT_S = 240  # a generous ceiling for a busy machine, not a timing assertion


def _find(candidates):
    return next((p for p in candidates if p and Path(p).is_file() and os.access(p, os.X_OK)), None)


@pytest.fixture
def browser(tmp_path):
    chromium, driver = _find(CHROMIUM), _find(DRIVER)
    if chromium is None or driver is None:
        pytest.skip("Chromium not found (/usr/bin/chromium and /usr/bin/chromedriver): "
                    "apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", "--disable-extensions", "--mute-audio",
                 "--window-size=1280,1500", f"--user-data-dir={profile}",
                 # nothing but the loopback server resolves, so the page cannot reach the internet
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    service = Service(executable_path=driver, log_output=str(tmp_path / "chromedriver.log"))
    drv = webdriver.Chrome(service=service, options=options)
    try:
        yield drv
    finally:
        drv.quit()


def artifacts_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("FILMNET_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def requested_urls(driver) -> list[str]:
    """URLs of every request the browser sent (Chrome's DevTools performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_photos_to_a_playing_video(tmp_path, browser):
    photos = [tmp_path / "first.png", tmp_path / "second.png"]
    for path, frame in zip(photos, render_synthetic_pair(width=320, height=192)):  # the `filmnet demo` scene
        write_image(path, frame)
    with live_server(tmp_path, "--model", "film_lite", "--precision", "fp32",  # the bundled model
                     stop=signal.SIGTERM) as (url, tmp):
        browser.get(url)
        wait = WebDriverWait(browser, WAIT_S)
        upload = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photos-files input[type=file]")))
        upload.send_keys("\n".join(str(p) for p in photos))
        wait.until(lambda d: all(p.stem in d.find_element(By.ID, "photos-files").text for p in photos))  # uploaded

        times = browser.find_element(By.CSS_SELECTOR, "#photos-exp input[type=number]")
        times.clear()
        times.send_keys("2")
        times.send_keys("\t")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#photos-exp input[type=range]")
                   .get_attribute("value") == "2")

        browser.find_element(By.ID, "photos-run").click()
        video = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photos-video video[src]")))
        duration = browser.execute_async_script(
            """
            const [video, done] = arguments;
            const report = () => done(video.duration);
            if (video.readyState >= 1) { report(); } else {
                video.addEventListener('loadedmetadata', report, {once: true});
                video.addEventListener('error', () => done(-1), {once: true});
                video.load();
            }
            """, video)
        wait.until(lambda d: "5 frames" in d.find_element(By.ID, "photos-status").text)  # (2 - 1) * 2^2 + 1
        status = browser.find_element(By.ID, "photos-status").text
        browser.execute_script("window.scrollTo(0, 0)")
        shot = artifacts_dir(tmp_path) / "serve.png"
        browser.save_screenshot(str(shot))
        requested = requested_urls(browser)

        sessions = list(tmp.glob("filmnet-serve-*/sessions/*"))
        assert len(sessions) == 1 and list(sessions[0].glob("job-*/*.mp4")), "no session folder with the result"
        browser.get("about:blank")  # closing the tab ends the session: its folder goes
        wait.until(lambda d: not sessions[0].exists())

    assert list(tmp.glob("filmnet-serve-*")) == [], "SIGTERM left the server's temp folder behind"
    assert duration and duration > 0, f"the video did not load (duration {duration})"
    assert "320x192" in status
    assert shot.stat().st_size > 10_000
    assert any("/gradio_api/file=" in u for u in requested), "the request log missed the video's request"
    network = [u for u in requested if u.startswith(("http:", "https:", "ws:", "wss:"))]  # not chrome://, data:
    remote = [u for u in network if not u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:"))]
    assert remote == [], f"the page asked for remote resources: {remote[:5]}"
