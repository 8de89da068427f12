"""`unmo health`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from unmo_cli.completion import complete_customer_slug

if TYPE_CHECKING:
    from unmo_cli.services.health import HealthRun


class Format(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"


class FailOn(StrEnum):
    degraded = "degraded"
    down = "down"


def register(app: typer.Typer) -> None:
    app.command("health")(health)


def health(
    slugs: list[str] | None = typer.Argument(None, metavar="SLUG",
                                             help="Customers to check (default: every active "
                                             "customer, as --all).",
                                             autocompletion=complete_customer_slug),
    all_customers: bool = typer.Option(False, "--all", help="Every active (not churned) "
                                       "customer."),
    output_format: Format | None = typer.Option(None, "--format", case_sensitive=False,
                                                help="The format (default: table)."),
    json_output: bool = typer.Option(False, "--json", help="The same as --format json."),
    output: Path | None = typer.Option(None, "--output", "-o", metavar="FILE",
                                       help="Write the chosen format to this file; the table "
                                       "goes to stdout."),
    timeout: float | None = typer.Option(None, "--timeout", metavar="SECONDS",
                                         help="Seconds one attempt of a request may take in "
                                         "all: connect, headers and the whole body (default: "
                                         "api.timeout_s)."),
    concurrency: int = typer.Option(32, "--concurrency", metavar="N",
                                    help="Customers checked at once."),
    retries: int = typer.Option(2, "--retries", metavar="N", help="Attempts after the first on "
                                "connection errors, timeouts and 5xx other than 503 (backoff "
                                "0.1 s, doubling, at most 2 s)."),
    fail_on: FailOn = typer.Option(FailOn.degraded, "--fail-on", case_sensitive=False,
                                   help="degraded: exit 1 unless all healthy; down: tolerate "
                                   "degraded."),
    no_record: bool = typer.Option(False, "--no-record", help="Record nothing (no rows, no "
                                   "alerts)."),
) -> None:
    """Check each customer's integration against the attribution API; exit 1 if any fails.

    Checking is bounded in time: each attempt ends after --timeout seconds whatever the server
    does; a customer gets at most 1 + --retries attempts of GET /health (and as many of the
    analytics call in the launch phase), so its check ends within 2 × (1 + retries) × (timeout
    + 2 s), and the checks of a run within that × customers ÷ --concurrency, rounded up; the
    alerts they raise are posted afterwards, as `unmo alerts notify` does. An answer over 1 MiB
    (once inflated) or nested deeper than 32 levels is `down`."""
    from unmo_cli import console
    from unmo_cli.services.health import HealthRequest, health_document, junit_xml, run_health

    chosen = Format(console.chosen_format(None if output_format is None else output_format.value,
                                          json_output, default=Format.table.value))
    run = run_health(HealthRequest(
        slugs=tuple(slugs or ()), all_customers=all_customers, timeout_s=timeout,
        concurrency=concurrency, retries=retries, fail_on=fail_on.value, record=not no_record,
        output=output), progress=console.progress)
    text = {Format.json: lambda: console.to_json(health_document(run),
                                                 indent=None if output is None else False) + "\n",
            Format.junit: lambda: junit_xml(run), Format.table: lambda: None}[chosen]()
    _deliver(run, output, text)
    for warning in run.warnings:
        console.warn(warning)
    console.info(run.describe() + ("" if run.passed else f" Failing under --fail-on "
                                                          f"{run.fail_on}."))
    if not run.passed:
        raise typer.Exit(1)


def _deliver(run: HealthRun, output: Path | None, text: str | None) -> None:
    """The chosen format to --output (then the table on stdout for the log) or to stdout."""
    import sys

    from unmo_cli import console
    from unmo_cli.files import write_atomic

    if output is not None:
        write_atomic(output, text if text is not None else console.render_text(_table(run), 160))
        console.info(f"wrote {output}")
    if text is None or output is not None:
        console.print_out(_table(run))
    else:
        sys.stdout.write(text)


def _table(run: HealthRun):  # -> console.DataTable
    from rich.text import Text

    from unmo_cli import console

    styles = {"healthy": "green", "degraded": "yellow", "unauthorized": "red", "down": "red",
              "error": "magenta", "maintenance": "blue"}
    table = console.DataTable(
        f"Health at {run.checked_at:%Y-%m-%d %H:%M:%S} UTC (installs: yesterday, UTC)",
        [console.key("customer"), console.key("status"), console.number("HTTP"),
         console.number("latency"), console.text("unhealthy services", min_width=12),
         console.number("installs"), console.text("detail", wrap=True)])
    for r in run.results:
        # Text cells: server-supplied words must never be read as Rich markup.
        table.add_row(
            r.customer, Text(r.status, style=styles[r.status]),
            str(r.http_status or "—"), None if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
            ", ".join(r.unhealthy_services),
            None if r.installs is None else f"{r.installs:,}", r.error,
        )
    return table
