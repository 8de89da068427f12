"""`unmo alerts …`: list, acknowledge and (re-)send alerts."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, acknowledge and send alerts (low satisfaction, satisfaction "
                  "drops, NPS detractors, failing integrations).", no_args_is_help=True)


@app.command("list")
def list_(
    open_only: bool = typer.Option(False, "--open", help="Only alerts not acknowledged."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Alerts, oldest first, with their delivery status (pending, notified, acked)."""
    from unmo_cli import console
    from unmo_cli.services.alert_views import list_alerts
    from unmo_cli.workspace import load_workspace

    alerts = list_alerts(load_workspace(), open_only=open_only)
    if json_output:
        console.emit_json([alert.to_json() for alert in alerts])
        return
    columns = [console.key("id"), console.key("created (UTC)"), console.key("customer"),
               console.key("rule"), console.number("score"), console.key("status"),
               console.text("what")]
    failed = any(a.status == "pending" and a.last_error for a in alerts)
    if failed:
        columns.append(console.text("delivery"))
    table = console.DataTable(f"Alerts ({len(alerts)})", columns)
    for alert in alerts:
        row = [str(alert.id), alert.created_at.strftime("%Y-%m-%d %H:%M"), alert.customer,
               alert.rule, None if alert.score is None else f"{alert.score:g}", alert.status,
               alert.text.split("\n", 2)[1] if "\n" in alert.text else alert.text]
        if failed:
            row.append(f"{alert.attempts} tries: {alert.last_error}"
                       if alert.status == "pending" and alert.last_error else None)
        table.add_row(*row)
    console.print_out(table)


@app.command("ack")
def ack(ids: list[int] = typer.Argument(..., metavar="ID",
                                        help="Alert id(s), see `unmo alerts list`.")) -> None:
    """Acknowledge alerts: they leave `--open` and are not sent again."""
    from unmo_cli import console
    from unmo_cli.services.alerts import ack_alerts
    from unmo_cli.workspace import load_workspace

    result = ack_alerts(load_workspace(), ids)
    for alert in result.acked:
        console.info(f"acknowledged alert #{alert.id} ({alert.rule}, {alert.customer}).")
    for alert in result.already:
        console.info(f"alert #{alert.id} was already acknowledged at "
                     f"{alert.acked_at:%Y-%m-%d %H:%M} UTC.")


@app.command("notify")
def notify(json_output: bool = typer.Option(False, "--json", help="Print one JSON document.")
           ) -> None:
    """Send every pending alert to the webhook (exit 3 if some stay pending); safe to run
    several at once: each alert is claimed before it is posted."""
    from unmo_cli import console
    from unmo_cli.services.alerts import in_flight_notice, notify_failure, notify_pending
    from unmo_cli.workspace import load_workspace

    report = notify_pending(load_workspace())
    if json_output:
        console.emit_json(report.to_json())
    elif report.delivered or not report.pending:
        none = " (none pending)" if not report.delivered and not report.in_flight else ""
        console.info(f"sent {report.delivered} alert{'s' if report.delivered != 1 else ''}"
                     f"{none}.")
    notice = in_flight_notice(report)
    if notice is not None and not json_output:
        console.info(notice)
    failure = notify_failure(report)
    if failure is not None:
        raise failure
