"""The `filmnet` command line: parses arguments, calls the Python API and prints where results went.

Every refusal is one line on stderr (`error: ...`) and a non-zero exit, with no output written. Each command
lives in its own module here and registers itself on `app`; `main()` is the console-script entry point.
"""
from __future__ import annotations

from typing import Optional

import typer
from typer.exceptions import TyperException

from . import convert, demo, eval_cmd, export, interpolate, train, video  # noqa: F401  (registers the commands)
from . import models  # noqa: F401  (registers `filmnet models`)
from . import serve  # noqa: F401  (the web page; Gradio is imported only when it runs)
from . import batch  # noqa: F401  (filmnet batch)
from .common import one_line, app

__all__ = ["app", "command", "main"]


def command():
    """The Click command tree of `app`, with plain metavars and ranges in its help (`helptext.tidy`)."""
    from .helptext import tidy

    return tidy(typer.main.get_command(app))


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point; returns the exit code."""
    from ..inference.memory import tune_allocator

    tune_allocator()
    try:
        code = command().main(args=argv, prog_name="filmnet", standalone_mode=False)
    except TyperException as err:  # usage errors: unknown option, bad number, missing argument
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        if type(err).__name__ == "NoArgsIsHelpError":  # bare `filmnet`: the message is the help text
            typer.echo(message, err=True)
        else:
            typer.echo(f"error: {one_line(message)} (see --help)", err=True)
        return getattr(err, "exit_code", 2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 130
    except Exception as err:  # outside any command (start-up, option parsing): still one line, traceback logged
        from .crash import debug_enabled, describe_unexpected, print_traceback

        if debug_enabled():
            print_traceback(err)
        typer.echo(f"error: {one_line(describe_unexpected(err))}", err=True)
        return 1
    return code if isinstance(code, int) else 0
