"""`unmo report weekly|monthly|customer|sla`."""

from __future__ import annotations

from pathlib import Path

import typer

from unmo_cli.commands.choices import ReportFormat, ReviewFormat, value
from unmo_cli.completion import complete_customer_slug

app = typer.Typer(help="Reports: the team lead's weekly (or monthly) executive summary, one "
                  "customer's quarterly review, and the monthly SLA.",
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
    from unmo_cli.services.reports import check_format, period_report
    from unmo_cli.workspace import load_workspace

    chosen = console.chosen_format(value(fmt), json_output, default="table")
    ws = load_workspace()
    report = period_report(noun, period, chosen, output, ws, None)
    chosen = check_format(chosen)
    if chosen == "json" and output is None:
        # The report's own document, streamed: render_report (the other formats, their
        # templates and tables: 0.1 G instructions to import) is not needed for it.
        console.emit_json(report.json_document())
        return
    from unmo_cli.render_report import deliver

    deliver(ws, report, chosen, output)


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


@app.command("customer")
def customer(
    slug: str = typer.Argument(..., metavar="SLUG", help="Slug or name of the customer.",
                               autocompletion=complete_customer_slug),
    quarter: str | None = typer.Option(None, "--quarter", metavar="YYYY-Qn",
                                       help="Calendar quarter in the configured time zone "
                                       "(default: the last complete quarter)."),
    fmt: ReviewFormat | None = typer.Option(None, "--format", "-f", case_sensitive=False,
                                            help="The format (default: markdown)."),
    json_output: bool = typer.Option(False, "--json", help="The same as --format json."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                       help="Write to this file instead of stdout (written "
                                       "whole or not at all)."),
) -> None:
    """One customer's quarter: MRR and its movements, satisfaction/NPS and availability/p95
    per week, health score then and now, alerts, tasks and notes."""
    from unmo_cli import console
    from unmo_cli.render_review import deliver_review
    from unmo_cli.services.review import customer_review
    from unmo_cli.workspace import load_workspace

    chosen = console.chosen_format(value(fmt), json_output, default="markdown")
    review = customer_review(slug, quarter=quarter, fmt=chosen, output=output)
    deliver_review(load_workspace(), review, chosen, output)


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
