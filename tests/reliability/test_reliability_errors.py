"""Rule 8 of issue 16: every CLI failure is one line on stderr with a non-zero exit; unexpected errors also log
their traceback to a file whose path is printed; --debug (or FILMNET_DEBUG=1) shows it."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import filmnet.inference
from filmnet.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def images(tmp_path) -> list[Path]:
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for p in paths:
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    return paths


@pytest.fixture
def broken_interpolator(monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(filmnet.inference, "Interpolator", explode)


def test_unexpected_error_is_one_line_with_a_log_file(tmp_path, capsys, monkeypatch, images, broken_interpolator):
    monkeypatch.setenv("FILMNET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("FILMNET_DEBUG", raising=False)
    code, _, err = run(capsys, "interpolate", *images, "--exp", 1, "-o", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: unexpected RuntimeError: something nobody planned for")
    log = Path(re.search(r"traceback written to (\S+);", err).group(1))
    assert log.parent == tmp_path / "logs" and "Traceback" in log.read_text() and "explode" in log.read_text()
    assert "--debug" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, images, broken_interpolator, how):
    monkeypatch.setenv("FILMNET_LOG_DIR", str(tmp_path / "logs"))
    args = ["interpolate", *images, "--exp", 1, "-o", tmp_path / "out"]
    if how == "flag":
        monkeypatch.delenv("FILMNET_DEBUG", raising=False)
        args.insert(0, "--debug")
    else:
        monkeypatch.setenv("FILMNET_DEBUG", "1")
    code, _, err = run(capsys, *args)
    assert code == 1 and "Traceback (most recent call last)" in err and "explode" in err
    assert err.splitlines()[-1].startswith("error: unexpected RuntimeError")
    from filmnet.cli.crash import set_debug

    set_debug(False)


def test_expected_errors_stay_one_line_without_a_log(tmp_path, capsys, monkeypatch, images):
    monkeypatch.setenv("FILMNET_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("FILMNET_DEBUG", raising=False)
    code, _, err = run(capsys, "interpolate", images[0], tmp_path / "missing.png", "--exp", 1, "-o", tmp_path / "o")
    assert code == 1 and err.count("\n") == 1 and err.startswith("error: ") and "missing.png" in err
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_subprocess_has_no_traceback(tmp_path, images):
    """The console entry point: an unreadable file and an unknown option are both one line."""
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    for extra in ([str(bad)], ["--no-such-option"]):
        cmd = [sys.executable, "-m", "filmnet.cli", "interpolate", str(images[0]), *extra, "--exp", "1",
               "-o", str(tmp_path / "o")]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              env={**__import__("os").environ, "FILMNET_LOG_DIR": str(tmp_path / "logs")})
        assert done.returncode != 0 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
