"""`unmo report weekly` and `unmo report sla`."""

from __future__ import annotations

from pathlib import Path

import typer

from unmo_cli.commands.choices import ReportFormat, value

app = typer.Typer(help="Reports: the team lead's weekly summary and the monthly SLA.",
                  no_args_is_help=True)


@app.command("weekly")
def weekly(
    week: str | None = typer.Option(None, "--week", metavar="YYYY-Www",
                                    help="ISO week in the configured time zone (default: the "
                                    "last complete week)."),
    fmt: ReportFormat | None = typer.Option(None, "--format", "-f", case_sensitive=False,
                                            help="The format (default: table); csv is one row "
                                            "per customer."),
    json_output: bool = typer.Option(False, "--json", help="The same as --format json."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                       help="Write to this file instead of stdout (written "
                                       "whole or not at all)."),
) -> None:
    """Customers, MRR, onboarding, satisfaction/NPS, health, finance and targets of one week,
    with last week's figures and the change."""
    from unmo_cli import console
    from unmo_cli.render_report import deliver
    from unmo_cli.services.reports import check_format, weekly_report
    from unmo_cli.workspace import load_workspace

    chosen = console.chosen_format(value(fmt), json_output, default="table")
    ws = load_workspace()
    report = weekly_report(week=week, fmt=chosen, output=output, workspace=ws)
    deliver(ws, report, check_format(chosen), output)


@app.command("sla")
def sla(
    month: str | None = typer.Option(None, "--month", metavar="YYYY-MM",
                                     help="Month in the configured time zone (default: the last "
                                     "complete month)."),
    fmt: ReportFormat | None = typer.Option(None, "--format", "-f", case_sensitive=False,
                                            help="The format (default: table); csv is one row "
                                            "per customer."),
    json_output: bool = typer.Option(False, "--json", help="The same as --format json."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                       help="Write to this file instead of stdout (written "
                                       "whole or not at all)."),
) -> None:
    """Per customer the month's checks, availability, p95 latency and estimated downtime against
    its tier's SLA, met or breached, and the credit owed."""
    from unmo_cli import console
    from unmo_cli.render_sla import deliver
    from unmo_cli.services.sla import check_format, sla_report

    chosen = console.chosen_format(value(fmt), json_output, default="table")
    report = sla_report(month=month, fmt=chosen, output=output)
    deliver(report, check_format(chosen), output)
