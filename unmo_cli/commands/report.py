"""`unmo report weekly`."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Reports: the team lead's weekly executive summary.", no_args_is_help=True)


@app.command("weekly")
def weekly(
    week: str | None = typer.Option(None, "--week", help="ISO week YYYY-Www in the configured "
                                    "time zone (default: the last complete week)."),
    fmt: str = typer.Option("table", "--format", "-f",
                            help="table, markdown, json, csv (one row per customer) or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead "
                                       "of stdout (written whole or not at all)."),
) -> None:
    """Customers, MRR, onboarding, satisfaction/NPS, health, finance and targets of one week,
    with last week's figures and the change."""
    from unmo_cli.render_report import deliver
    from unmo_cli.services.reports import check_format, weekly_report
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    report = weekly_report(week=week, fmt=fmt, output=output, workspace=ws)
    deliver(ws, report, check_format(fmt), output)
