"""Turns an SlaReport into its five formats: a Rich table, Markdown, CSV (unmo_cli.spreadsheet),
self-contained HTML and JSON. Built here rather than from templates so a workspace whose own
templates/ predates the SLA report still renders it; figures are formatted once (_cells)."""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmo_cli import console
from unmo_cli import money as amounts
from unmo_cli.files import write_atomic
from unmo_cli.render_report import NO_DATA, markdown_cell, markdown_text, pct
from unmo_cli.spreadsheet import csv_text

if TYPE_CHECKING:
    from unmo_cli.services.sla import SlaReport, SlaRow

CSV_COLUMNS = ["month", "slug", "name", "tier", "checks", "healthy", "maintenance",
               "availability_pct", "availability_target_pct", "p95_latency_ms",
               "p95_latency_target_ms", "downtime_minutes", "met", "breached", "credit_pct",
               "mrr", "credit"]
HEADERS = ("Customer", "Tier", "Checks", "Availability", "Target", "p95", "Target",
           "Downtime", "SLA", "Credit")


def _ms(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:,.1f} ms"


def verdict(row: SlaRow) -> str:
    if row.met is None:
        return "no checks"
    if row.met:
        return "met"
    return "breached: " + ", ".join(b.replace("_", " ") for b in row.breached)


def _cells(row: SlaRow) -> list[str]:
    credit = (f"{row.credit_pct:g}% = {amounts.for_people(row.credit_cents)}"
              if row.credit_pct else NO_DATA)
    return [row.slug, row.tier, f"{row.checks:,}", pct(row.availability_pct, 2),
            pct(row.availability_target_pct, 2), _ms(row.p95_latency_ms),
            _ms(row.p95_latency_target_ms),
            NO_DATA if row.downtime_minutes is None else f"{row.downtime_minutes:,.1f} min",
            verdict(row), credit]


def _title(report: SlaReport) -> str:
    running = "" if report.complete else " (month still running: figures so far)"
    return f"SLA of {report.month.label} ({report.timezone}){running}"


def _summary_line(report: SlaReport) -> str:
    s = report.summary
    return (f"{s['customers']} customers: {s['met']} met, {s['breached']} breached, "
            f"{s['no_checks']} without checks; credits owed "
            f"{amounts.for_people(sum(r.credit_cents for r in report.rows))}.")


def render_table(report: SlaReport) -> Any:
    table = console.DataTable(_title(report), [
        console.key(HEADERS[0]), console.key(HEADERS[1]),
        *[console.number(h) for h in HEADERS[2:8]], console.text(HEADERS[8], wrap=True),
        console.number(HEADERS[9])])
    for row in report.rows:
        table.add_row(*_cells(row))
    return table


def render_markdown(report: SlaReport) -> str:
    lines = [f"# {_title(report)}", "", _summary_line(report), "",
             "| " + " | ".join(HEADERS) + " |",
             "|" + "|".join("---" if i < 2 or i == 8 else "---:" for i in range(len(HEADERS)))
             + "|"]
    for row in report.rows:
        cells = _cells(row)
        lines.append("| " + " | ".join([markdown_text(cells[0]), *map(markdown_cell, cells[1:])])
                     + " |")
    return "\n".join(lines) + "\n"


def render_html(report: SlaReport) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in _cells(row))
                   + "</tr>\n" for row in report.rows)
    title = html.escape(_title(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>body{{font-family:sans-serif}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
            "td:nth-child(n+3){text-align:right}</style></head><body>\n"
            f"<h1>{title}</h1>\n<p>{html.escape(_summary_line(report))}</p>\n"
            f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>\n"
            "</body></html>\n")


def render_csv(report: SlaReport) -> str:
    def cells(row: SlaRow) -> list[Any]:
        values = {**row.as_json(), "month": report.month.label,
                  "met": NO_DATA if row.met is None else ("yes" if row.met else "no"),
                  "breached": ",".join(row.breached)}
        values["met"] = "" if row.met is None else values["met"]
        return [values[name] for name in CSV_COLUMNS]

    return csv_text(CSV_COLUMNS, map(cells, report.rows))


def deliver(report: SlaReport, fmt: str, output: Path | None) -> None:
    """Print the report in `fmt`, or write it to `output` whole (nothing on stdout then)."""
    if fmt == "table":
        if output is None:
            console.print_out(render_table(report))
            console.info(_summary_line(report))
            return
        text = console.render_text(render_table(report)) + _summary_line(report) + "\n"
    elif fmt == "json":
        if output is None:
            console.emit_json(report.json_document())
            return
        text = console.to_json(report.json_document(), indent=False) + "\n"
    else:
        text = {"csv": render_csv, "markdown": render_markdown, "html": render_html}[fmt](report)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(output, text)
    console.info(f"wrote the {fmt} SLA report of {report.month.label} to {output}")
