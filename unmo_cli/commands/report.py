"""`unmo report weekly` and `unmo report monthly`."""

from __future__ import annotations

from pathlib import Path

import typer

from unmo_cli.commands.choices import ReportFormat, value

app = typer.Typer(help="Reports: the team lead's weekly (or monthly) executive summary.",
                  no_args_is_help=True)

# The options both reports take (Typer reads each default as the option's declaration).
FORMAT = typer.Option(None, "--format", "-f", case_sensitive=False,
                      help="The format (default: table); csv is one row per customer.")
JSON = typer.Option(False, "--json", help="The same as --format json.")
OUTPUT = typer.Option(None, "--output", "-o", metavar="FILE",
                      help="Write to this file instead of stdout (written whole or not at all).")


def _deliver(noun: str, period: str | None, fmt: ReportFormat | None, json_output: bool,
             output: Path | None) -> None:
    from unmo_cli import console
    from unmo_cli.render_report import deliver
    from unmo_cli.services.reports import check_format, period_report
    from unmo_cli.workspace import load_workspace

    chosen = console.chosen_format(value(fmt), json_output, default="table")
    ws = load_workspace()
    report = period_report(noun, period, chosen, output, ws, None)
    deliver(ws, report, check_format(chosen), output)


@app.command("weekly")
def weekly(
    week: str | None = typer.Option(None, "--week", metavar="YYYY-Www",
                                    help="ISO week in the configured time zone (default: the "
                                    "last complete week)."),
    fmt: ReportFormat | None = FORMAT,
    json_output: bool = JSON,
    output: Path | None = OUTPUT,
) -> None:
    """Customers, MRR, onboarding, satisfaction/NPS, health, finance and targets of one week,
    with last week's figures and the change."""
    _deliver("week", week, fmt, json_output, output)


@app.command("monthly")
def monthly(
    month: str | None = typer.Option(None, "--month", metavar="YYYY-MM",
                                     help="Calendar month in the configured time zone "
                                     "(default: the last complete month)."),
    fmt: ReportFormat | None = FORMAT,
    json_output: bool = JSON,
    output: Path | None = OUTPUT,
) -> None:
    """The weekly report's figures over one calendar month, with the month before and the
    change."""
    _deliver("month", month, fmt, json_output, output)
