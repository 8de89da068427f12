"""`unmo demo`."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    folder: Path | None = typer.Option(
        None, "--dir", metavar="DIR", help="Build the demo here (a new or empty folder) instead "
        "of a new temporary folder; the global --workspace does the same."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document (what was "
                                     "built, the last health run and the report)."),
) -> None:
    """A guided tour in a throwaway workspace: pilots, feedback, sandbox, health, report."""
    from unmo_cli import console
    from unmo_cli.files import write_atomic
    from unmo_cli.render_report import render_html, render_table
    from unmo_cli.services.demo import run_demo

    # Only an explicit --workspace counts: UNMO_WORKSPACE or the current folder are the user's
    # own workspace, which the demo never writes into.
    requested = folder or (ctx.parent.params.get("workspace") if ctx.parent else None)
    result = run_demo(requested, note=console.info)
    assert result.report is not None and result.html is not None
    write_atomic(result.html, render_html(result.workspace, result.report))
    if json_output:
        console.emit_json(result.as_json())
    else:
        console.print_out(render_table(result.report))
    console.info(f"HTML page of the report: {result.html}")
    console.info(f"Look around: unmo --workspace {result.root} customer show {result.customers[0]}"
                 f" (or cd {result.root}); delete the folder when done.")
