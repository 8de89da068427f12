"""The Typer application: global options, the command nouns, and the one place where the
project's errors become a sentence on stderr and an exit code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from unmo_cli import __version__
from unmo_cli.errors import UnmoError


def report_error(exc: BaseException) -> int:
    """Print one sentence for `exc` on stderr and return the exit code it maps to."""
    if isinstance(exc, UnmoError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, KeyboardInterrupt):
        message, code = "interrupted.", 130
    else:
        message = (f"unexpected {type(exc).__name__}; this is a bug in unmo, run again with "
                   "UNMO_DEBUG=1 to see the traceback.")
        code = 3
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return code


# What a shell reports for a process killed by SIGPIPE (128 + 13), as `git log | head` does.
EXIT_BROKEN_PIPE = 141


def reader_went_away() -> int:
    """stdout's reader closed the pipe (`unmo … --json | head`): not an error of ours. Point
    stdout at /dev/null so the interpreter's final flush stays quiet, and exit like SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass
    return EXIT_BROKEN_PIPE


class UnmoGroup(TyperGroup):
    """Every command runs inside this invoke: our errors become exit codes here, once."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            raise typer.Exit(reader_went_away()) from None
        except Exception as exc:
            if os.environ.get("UNMO_DEBUG") == "1":
                raise
            raise typer.Exit(report_error(exc)) from None

    def list_commands(self, ctx: Any) -> list[str]:
        # Keep the order we registered in (the user's journey), not alphabetical.
        return list(self.commands)


app = typer.Typer(
    cls=UnmoGroup,
    name="unmo",
    help="Operate the UnMoGrowP attribution platform: onboard customers, collect feedback, "
    "report the week and check every integration.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"unmo {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_callback(
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", help="Workspace folder (default: $UNMO_WORKSPACE, the nearest "
        "folder with unmo.yaml, or the current folder).", file_okay=False,
    ),
    version: bool = typer.Option(
        False, "--version", "-V", help="Show the version and exit.", callback=_version,
        is_eager=True,
    ),
) -> None:
    from unmo_cli.workspace import set_workspace_override

    set_workspace_override(workspace)


def _register() -> None:
    """Command modules import only typer and light helpers at module level; services, the
    database, Jinja and httpx are imported inside each command, so `unmo --help` stays fast."""
    from unmo_cli.commands import (
        alerts,
        config,
        customer,
        db,
        demo,
        feedback,
        health,
        init,
        keys,
        onboard,
        report,
        sandbox,
    )

    onboard.register(app)
    app.add_typer(customer.app, name="customer")
    app.add_typer(keys.app, name="keys")
    app.add_typer(feedback.app, name="feedback")
    app.add_typer(alerts.app, name="alerts")
    app.add_typer(report.app, name="report")
    health.register(app)
    sandbox.register(app)
    demo.register(app)
    init.register(app)
    app.add_typer(config.app, name="config")
    app.add_typer(db.app, name="db")


_register()


def main() -> None:
    try:
        # One name however it was started (`unmo` or `python -m unmo_cli`): usage lines, and the
        # shell-completion protocol (_UNMO_COMPLETE), which is derived from it.
        app(prog_name="unmo")
    except BrokenPipeError:
        sys.exit(reader_went_away())
    except KeyboardInterrupt:
        sys.exit(report_error(KeyboardInterrupt()))
