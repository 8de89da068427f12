"""`unmo audit verify|list|export`: the tamper-evident trail of every change."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Check, list and export the audit trail of every change (hash-chained).",
                  no_args_is_help=True)


@app.command("verify")
def verify(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Check the hash chain; exit 1 naming the first event that was tampered with."""
    from unmo_cli import console
    from unmo_cli.errors import CheckFailed
    from unmo_cli.services.audit import verify as verify_chain

    verdict = verify_chain()
    if json_output:
        console.emit_json(verdict.to_json())
    if not verdict.holds:
        raise CheckFailed(f"the audit trail is broken: {verdict.problem}.")
    if not json_output:
        console.info(f"the audit trail holds: {verdict.events} events, the newest #"
                     f"{verdict.head_id} with hash {verdict.head_hash}."
                     if verdict.events else "the audit trail holds: no events yet.")


@app.command("list")
def list_(
    customer: str | None = typer.Option(None, "--customer", metavar="SLUG",
                                        help="Only events on this customer."),
    actor: str | None = typer.Option(None, "--actor", metavar="ACTOR",
                                     help="Only events by this actor (UNMO_ACTOR or user@host)."),
    since: str | None = typer.Option(None, "--since", metavar="DATE",
                                     help="Only events from this date (YYYY-MM-DD in the "
                                     "workspace timezone) or ISO 8601 time on."),
    limit: int = typer.Option(100, "--limit", metavar="N", help="At most the newest N."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Audit events, oldest first (the newest --limit of them)."""
    from unmo_cli import console
    from unmo_cli.services.audit import list_events

    events = list_events(customer=customer, actor=actor, since=since, limit=limit)
    if json_output:
        console.emit_json([event.to_json() for event in events])
        return
    table = console.DataTable(f"Audit events ({len(events)})", [
        console.key("id"), console.key("at (UTC)"), console.key("actor"),
        console.key("customer"), console.key("action"), console.text("command")])
    for event in events:
        table.add_row(str(event.id), event.shown_at(), event.actor,
                      event.customer, event.action, event.command)
    console.print_out(table)


@app.command("export")
def export(
    since: str = typer.Option(..., "--since", metavar="DATE",
                              help="Events from this date (YYYY-MM-DD in the workspace "
                              "timezone) or ISO 8601 time on."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE",
                                help="The JSON Lines file to write (whole or not at all)."),
    json_output: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export events as JSON Lines with their hashes, for an auditor to check without unmo."""
    from unmo_cli import console
    from unmo_cli.services.audit import export_events

    result = export_events(None, since, output)
    if json_output:
        console.emit_json(result.to_json())
        return
    console.info(f"{result.events} events written to {result.output}.")
