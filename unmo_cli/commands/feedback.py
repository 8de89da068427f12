"""`unmo feedback …`: record, import and list customer feedback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from unmo_cli.commands.choices import Category, FeedbackFormat, choices, completer, value
from unmo_cli.completion import complete_customer_slug

if TYPE_CHECKING:
    from unmo_cli.services.alerts import DeliveryReport
    from unmo_cli.services.feedback_import import ImportResult, InvalidReport

app = typer.Typer(help="Record, import and list customer feedback (satisfaction and NPS).",
                  no_args_is_help=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document.")


def _delivery_notes(report: DeliveryReport | None) -> None:
    from unmo_cli import console
    from unmo_cli.services.alerts import delivery_notice

    notice = delivery_notice(report) if report is not None else None
    if notice and report is not None and report.configured:
        console.warn(notice)
    elif notice:
        console.info(f"note: {notice}")


@app.command("add")
def add(
    customer: str = typer.Argument(..., metavar="SLUG", help="Customer slug or exact name.",
                                   autocompletion=complete_customer_slug),
    satisfaction: str = typer.Option(..., "--satisfaction", "-s", metavar="1..10",
                                     help="Satisfaction score."),
    nps: str | None = typer.Option(None, "--nps", metavar="0..10", help="NPS answer."),
    # A string, not the enum: a bad category is named together with every other bad value.
    category: str | None = typer.Option(None, "--category", metavar=choices(Category),
                                        autocompletion=completer(Category),
                                        help="What it is about (default other)."),
    comment: str | None = typer.Option(None, "--comment", "-m", metavar="TEXT",
                                       help="What they said."),
    received_at: str | None = typer.Option(
        None, "--received-at", metavar="TIME", help="ISO 8601 time with offset (default: now)."),
    external_id: str | None = typer.Option(
        None, "--id", metavar="ID", help="Your survey tool's id for it (unique per customer)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Record one response; alerts it raises go to the webhook."""
    from unmo_cli import console
    from unmo_cli.services.feedback import add_feedback
    from unmo_cli.workspace import load_workspace

    result = add_feedback(load_workspace(), customer, satisfaction=satisfaction, nps=nps,
                          category=category, comment=comment, received_at=received_at,
                          external_id=external_id)
    if json_output:
        console.emit_json({"feedback": result.feedback.to_json(),
                           "alerts": [a.to_json() for a in result.alerts],
                           "delivery": result.delivery.to_json()})
    else:
        from rich.text import Text

        row = result.feedback
        nps_part = f", NPS {row.nps}" if row.nps is not None else ""
        console.print_out(Text(f"Recorded feedback #{row.id} for {row.customer_name}: "
                               f"satisfaction {row.satisfaction}/10{nps_part} ({row.category})."))
        for alert in result.alerts:
            console.print_out(Text(f"Alert #{alert.id} raised: {alert.rule} ({alert.status})."))
    _delivery_notes(result.delivery)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., metavar="FILE",
                                help="CSV, JSON (a list of objects) or JSON Lines file."),
    fmt: FeedbackFormat | None = typer.Option(None, "--format", case_sensitive=False,
                                              help="The file's format (default: by its "
                                              "extension)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid",
                                      help="Import the valid rows and report the others."),
    no_alerts: bool = typer.Option(False, "--no-alerts",
                                   help="Raise no alerts (for backfills of old surveys)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Import a survey export (CSV, JSON or JSON Lines).

    Columns: customer (slug or exact name), satisfaction, nps, category, comment, received_at,
    id. Nothing is written unless every row is valid (or --skip-invalid); rows whose id is
    already stored are skipped, so importing twice changes nothing."""
    from unmo_cli import console
    from unmo_cli.services.feedback import InvalidRows, import_feedback
    from unmo_cli.workspace import load_workspace

    try:
        result = import_feedback(load_workspace(), file, fmt=value(fmt), skip_invalid=skip_invalid,
                                 raise_alerts=not no_alerts, progress=console.progress)
    except InvalidRows as refused:
        if json_output:  # a script sees every bad line, and that nothing was imported
            console.emit_json(refused.result().json_document())
        _list_invalid(refused.file, refused.invalid)
        raise
    if json_output:
        console.emit_json(result.json_document())  # the invalid rows written one by one
    else:
        _print_imported(result)
    _list_invalid(result.file, result.invalid, skipped=True)
    _delivery_notes(result.delivery)


def _print_imported(result: ImportResult) -> None:
    from rich.text import Text

    from unmo_cli import console

    console.print_out(Text(f"Imported {result.imported} of {result.rows} rows from "
                           f"{result.file}: {result.duplicates} duplicates skipped, "
                           f"{len(result.invalid)} invalid, {len(result.alerts)} alerts "
                           "raised."))


def _list_invalid(name: str, invalid: InvalidReport, *, skipped: bool = False) -> None:
    """Each bad row on stderr as FILE:LINE: problem, the way compilers and linters do; with
    `skipped` (--skip-invalid imported the rest), a warning counting them."""
    from unmo_cli import console

    console.info_lines(f"{name}:{row.line}: {row.error}" for row in invalid)
    if skipped and invalid:
        console.warn(f"skipped {len(invalid)} invalid row{'s' if len(invalid) != 1 else ''}.")


@app.command("list")
def list_(
    customer: str | None = typer.Argument(None, metavar="SLUG",
                                          help="Only this customer (slug or name).",
                                          autocompletion=complete_customer_slug),
    since: str | None = typer.Option(None, "--since", metavar="DATE", help="From this date "
                                     "(YYYY-MM-DD, in the workspace timezone) or ISO 8601 time."),
    limit: int | None = typer.Option(None, "--limit", metavar="N",
                                     help="At most this many, newest first."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Responses, newest first."""
    from unmo_cli import console
    from unmo_cli.services.feedback import list_feedback
    from unmo_cli.workspace import load_workspace

    rows = list_feedback(load_workspace(), customer, since=since, limit=limit)
    if json_output:
        console.emit_json([row.to_json() for row in rows])
        return
    table = console.DataTable(f"Feedback ({len(rows)})", [
        console.key("id"), console.key("received (UTC)"), console.key("customer"),
        console.number("sat."), console.number("NPS"), console.key("category"),
        console.key("source"), console.text("comment")])
    for row in rows:
        table.add_row(str(row.id), row.received_at.strftime("%Y-%m-%d %H:%M"), row.customer,
                      str(row.satisfaction), None if row.nps is None else str(row.nps),
                      row.category, row.source, row.comment)
    console.print_out(table)
