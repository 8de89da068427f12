"""`unmo demo`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    folder: Path | None = typer.Option(
        None, "--dir", metavar="DIR", help="Build the demo here (a new or empty folder, kept "
        "afterwards) instead of a temporary folder; the global --workspace does the same."),
    keep: bool = typer.Option(False, "--keep", help="Keep the temporary folder (workspace, "
                              "HTML page) to look around afterwards; without it the folder is "
                              "removed when the demo ends, also on an error or Ctrl-C."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document (what was "
                                     "built, the last health run and the report)."),
) -> None:
    """A guided tour in a throwaway workspace: pilots, feedback, sandbox, health, report."""
    from unmo_cli import console
    from unmo_cli.files import write_atomic
    from unmo_cli.render_report import render_html, render_table
    from unmo_cli.services.demo import demo_session

    # Only an explicit --workspace counts: UNMO_WORKSPACE or the current folder are the user's
    # own workspace, which the demo never writes into.
    requested = folder or (ctx.parent.params.get("workspace") if ctx.parent else None)
    with _terminated_as_exit(), demo_session(requested, keep=keep, note=console.info) as result:
        assert result.report is not None and result.html is not None
        write_atomic(result.html, render_html(result.workspace, result.report))
        if not json_output:
            console.print_out(render_table(result.report))
    # The folder's fate is known only now (the `with` removed it or not).
    if json_output:
        console.emit_json(result.as_json())
    if result.removed:
        console.info(f"Removed the demo's temporary folder {result.root}; run `unmo demo "
                     "--keep` to keep it, with the report's HTML page, and look around.")
        return
    console.info(f"HTML page of the report: {result.html}")
    console.info(f"Look around: unmo --workspace {result.root} customer show {result.customers[0]}"
                 f" (or cd {result.root}); delete the folder when done.")


@contextmanager
def _terminated_as_exit() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`) ends the demo like Ctrl-C does, through the `with` blocks,
    so the temporary folder is removed; the previous handler is restored afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
