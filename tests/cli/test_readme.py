"""README.md lists every option that `filmnet <command> --help` shows, and says "exactly one of" where it applies."""
import re
from pathlib import Path

import pytest
import typer.main

from filmnet.cli import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
COMMANDS = typer.main.get_command(app).commands


def _section(name: str) -> str:
    """README text from the command's bold heading to the next command's heading."""
    start = README.index(f"**`filmnet {name}")
    end = README.find("\n**`filmnet ", start + 1)
    return README[start:end if end != -1 else len(README)]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_readme_lists_every_option_of_the_help(name):
    section = _section(name)
    missing = [opt for param in COMMANDS[name].params for opt in param.opts + param.secondary_opts
               if opt.startswith("--") and not re.search(re.escape(opt) + r"(?![\w-])", section)]
    assert not missing, f"README.md's `filmnet {name}` section does not mention {missing}"


@pytest.mark.parametrize("name, flags", [("interpolate", "--exp/--multi"), ("video", "--multi/--exp/--fps/--slowmo")])
def test_exactly_one_of_is_said_in_help_and_readme(name, flags):
    assert f"exactly one of `{flags.replace('/', '`/`')}`" in _section(name)
    assert f"exactly one of {flags}" in (COMMANDS[name].help or "")
