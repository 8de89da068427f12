"""`unmo report weekly|customer`."""

from __future__ import annotations

from pathlib import Path

import typer

from unmo_cli.commands.choices import ReportFormat, ReviewFormat, value
from unmo_cli.completion import complete_customer_slug

app = typer.Typer(help="Reports: the team lead's weekly executive summary.", no_args_is_help=True)


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
