"""`unmo maintenance …`: planned maintenance windows (checks inside one are `maintenance`)."""

from __future__ import annotations

from typing import Any

import typer

from unmo_cli.completion import complete_customer_slug

app = typer.Typer(help="Plan maintenance windows: checks inside one are recorded as "
                  "maintenance and left out of availability, p95 and the SLA.",
                  no_args_is_help=True)


@app.command("add")
def add(
    slugs: list[str] | None = typer.Argument(None, metavar="SLUG",
                                             help="Customers in maintenance (or --all).",
                                             autocompletion=complete_customer_slug),
    start: str = typer.Option(..., "--start", metavar="DATE|TIME",
                              help="ISO 8601 time, or a date (midnight in the workspace's time "
                              "zone)."),
    end: str = typer.Option(..., "--end", metavar="DATE|TIME",
                            help="When it ends (exclusive); after --start and not yet past."),
    all_customers: bool = typer.Option(False, "--all", help="Every customer."),
    reason: str = typer.Option(..., "--reason", metavar="TEXT", help="Why (recorded with each "
                               "check inside the window)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Plan a maintenance window for some customers or all of them."""
    from unmo_cli import console
    from unmo_cli.services.maintenance import add_window

    window = add_window(None, start=start, end=end, slugs=slugs or (),
                        all_customers=all_customers, reason=reason)
    if json_output:
        console.emit_json(window)
        return
    console.info(f"maintenance window #{window['id']} from {window['start']} to {window['end']} "
                 f"for {_whom(window)}: {window['reason']}")


@app.command("list")
def list_(json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every maintenance window, newest first, with its state (scheduled, active, over,
    cancelled)."""
    from unmo_cli import console
    from unmo_cli.services.maintenance import list_windows

    windows = list_windows()
    if json_output:
        console.emit_json(windows)
        return
    table = console.DataTable(f"Maintenance windows ({len(windows)})", [
        console.key("id"), console.key("start (UTC)"), console.key("end (UTC)"),
        console.key("state"), console.text("customers", wrap=True),
        console.text("reason", wrap=True)])
    for w in windows:
        table.add_row(str(w["id"]), w["start"], w["end"], w["state"], _whom(w), w["reason"])
    console.print_out(table)


@app.command("cancel")
def cancel(window_id: int = typer.Argument(..., metavar="ID",
                                           help="Window id, see `unmo maintenance list`."),
           json_output: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Cancel a window not yet over: from now on it covers nothing."""
    from unmo_cli import console
    from unmo_cli.services.maintenance import cancel_window

    window = cancel_window(None, window_id)
    if json_output:
        console.emit_json(window)
        return
    console.info(f"cancelled maintenance window #{window['id']} ({_whom(window)}).")


def _whom(window: dict[str, Any]) -> str:
    return "all customers" if window["all_customers"] else ", ".join(window["customers"])
