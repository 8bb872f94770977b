"""What a newcomer reads first: --help shows plain metavars and the ranges, and progress bars leave warm-up out
of their ETA."""
import io
import re

import pytest
import typer.main

from filmnet.cli import app, main

COMMANDS = sorted(typer.main.get_command(app).commands)


def help_text(capsys, *command: str) -> str:
    assert main([*command, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_no_python_types(capsys, name):
    text = help_text(capsys, name)
    leaked = re.findall(r"<[a-z][\w\[\]|, ]*>|\{[a-z_]+\}\.\.\.|<list\[", text)
    assert not leaked, f"filmnet {name} --help shows {leaked}"


def test_models_subcommands_show_no_python_types(capsys):
    for sub in ("list", "pull", "path", "rm"):
        assert not re.findall(r"<[a-z][\w\[\]|, ]*>", help_text(capsys, "models", sub)), sub


def test_help_shows_the_ranges_of_bounded_options(capsys):
    text = " ".join(help_text(capsys, "interpolate").split())
    assert "[1..10]" in text and "[2..1024]" in text  # --exp, --multi (bounds.py)
    video = " ".join(help_text(capsys, "video").split())
    assert "[2..64]" in video and "[1..6]" in video  # --multi, --exp for video


def test_serve_port_has_help_and_serve_says_which_model_is_the_default(capsys):
    text = " ".join(help_text(capsys, "serve").split())
    assert "--port N Port to listen on." in text
    assert "film_net when it is already cached, else the bundled film_lite" in text


def test_demo_takes_a_rational_fps(tmp_path, capsys):
    from helpers import save_tiny

    weights = save_tiny(tmp_path / "tiny.safetensors")
    code = main(["demo", "-o", str(tmp_path / "demo"), "--exp", "1", "--fps", "30000/1001", "--weights", str(weights),
                 "--precision", "fp32", "--flow", "model"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "demo" / "synthetic_demo_2X_29.97fps.mp4").is_file()


def test_eval_help_says_what_a_folder_holds(capsys):
    text = " ".join(help_text(capsys, "eval").split())
    assert "im1.png, im3.png -> im2.png" in text and "frame10.png, frame11.png -> frame10i11.png" in text


def test_progress_bar_says_warming_up_and_times_from_the_second_frame():
    from filmnet.inference.progress import WarmupBar

    bar = WarmupBar(total=3, desc="interpolating", file=io.StringIO())
    assert bar.desc.startswith("interpolating (warming up)")
    before = bar._time()
    bar.update(1)
    assert bar.desc.startswith("interpolating") and "warming" not in bar.desc
    assert bar.n == 1 and bar.start_t >= before  # the rate (and ETA) start after the first frame
    bar.update(2)
    assert bar.n == 3
    bar.close()
