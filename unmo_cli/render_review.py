"""Turns a CustomerReview (services/review.py) into its formats: Markdown and HTML through the
editable templates (templates/report/review.md.j2, review.html.j2), JSON. Figures are formatted
here once, with the weekly report's formatters, Markdown escaping and SVG chart geometry
(render_report), so the templates only lay them out."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from unmo_cli import console
from unmo_cli.files import write_atomic
from unmo_cli.render_report import (
    NO_DATA,
    _short_money,
    _shown,
    markdown_cell,
    markdown_text,
    milliseconds,
    money,
    pct,
    score_text,
    signed,
    trend_chart,
)
from unmo_cli.templates import render

if TYPE_CHECKING:
    from pathlib import Path

    from unmo_cli.services.review import CustomerReview
    from unmo_cli.workspace import Workspace

MOVEMENT_LABELS = {"new": "New", "expansion": "Expansion", "contraction": "Contraction",
                   "churned": "Churned", "reactivation": "Reactivation", "none": "No change"}
# Text the customer or a person typed: escaped for Markdown (HTML autoescapes everything).
_PEOPLES_TEXT = ("name", "contact_name", "contact_email", "success_manager", "churn_reason",
                 "text", "title", "owner", "done_note", "author", "reason", "tier", "rule")


def _dollars(amount: str | None) -> str:
    return NO_DATA if amount is None else money(float(amount))


def build_view(review: CustomerReview, charts: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    document = review.as_json()
    c, mrr, health = document["customer"], document["mrr"], document["health"]
    q = review.quarter
    period = f"{q.first_day:%-d %b %Y} – {q.last_day:%-d %b %Y}"
    return {
        "quarter": q.label, "period": period, "timezone": review.timezone,
        "complete": review.complete, "as_of": document["as_of"],
        "customer": {**c, "mrr": _dollars(c["mrr"])},
        "record": [("Slug", c["slug"]), ("Industry", c["industry"]),
                   ("Integration", c["integration"]), ("Provider", c["provider"]),
                   ("Phase", c["phase"] or "unknown"), ("Tier", c["tier"]),
                   ("Success manager", c["success_manager"] or NO_DATA),
                   ("Renewal date", c["renewal_date"] or NO_DATA),
                   ("Contact", f"{c['contact_name']} <{c['contact_email']}>"),
                   ("Onboarded", (c["created_at"] or "")[:10]),
                   ("Churned", (c["churned_at"] or "")[:10] or NO_DATA)],
        "mrr": {
            "start": _dollars(mrr["start"]), "end": _dollars(mrr["end"]),
            "change": _signed_dollars(mrr["change"]),
            "totals": [(MOVEMENT_LABELS[k], _dollars(mrr[k]))
                       for k in ("new", "expansion", "contraction", "churned", "reactivation")],
            "movements": [{"date": m["effective_at"][:10],
                           "movement": MOVEMENT_LABELS.get(m["movement"], m["movement"]),
                           "amount": _dollars(m["amount"]), "mrr": _dollars(m["mrr"]),
                           "reason": m["reason"] or ""} for m in mrr["movements"]],
        },
        "weeks": [{"week": w["week"], "responses": w["responses"],
                   "satisfaction": pct(w["satisfaction_pct"]),
                   "nps": signed(w["nps"], 0) if w["nps"] is not None else NO_DATA,
                   "checks": w["checks"], "availability": pct(w["availability_pct"]),
                   "p95": milliseconds(w["p95_latency_ms"]),
                   "mrr": _dollars(m["mrr"])}
                  for w, m in zip(document["weeks"], mrr["weekly"], strict=True)],
        "health": {
            "start": score_text(health["start"]["score"], health["start"]["color"]),
            "end": score_text(health["end"]["score"], health["end"]["color"]),
            "start_color": health["start"]["color"] or "none",
            "end_color": health["end"]["color"] or "none",
            "change": NO_DATA if health["change"] is None else signed(health["change"], 0),
        },
        "alerts": [{**a, "state": "acknowledged" if a["acked_at"] else
                    "notified" if a["notified_at"] else "pending",
                    "created": (a["created_at"] or "")[:10]} for a in document["alerts"]],
        "tasks_done": [{**t, "done": (t["done_at"] or "")[:10], "due": t["due_on"] or NO_DATA,
                        "owner": t["owner"] or NO_DATA} for t in document["tasks"]["done"]],
        "tasks_open": [{**t, "due": t["due_on"] or NO_DATA, "owner": t["owner"] or NO_DATA}
                       for t in document["tasks"]["open"]],
        "notes": [{**n, "date": n["at"][:10], "author": n["author"] or NO_DATA}
                  for n in document["notes"]],
        "charts": charts or [],
        "command": f"unmo report customer {c['slug']} --quarter {q.label}",
    }


def _signed_dollars(amount: str) -> str:
    value = float(amount)
    return ("+" if value > 0 else "−" if value < 0 else "±") + money(abs(value))


def review_charts(review: CustomerReview) -> list[dict[str, Any]]:
    """The five charts of the HTML page; each headed by its last week with data."""
    weeks = review.weeks
    labels = [w["week"] for w in weeks]
    charts = [
        trend_chart("Customer satisfaction", labels, [w["satisfaction_pct"] for w in weeks],
                    _shown(lambda v, axis: f"{v:.0f}%" if axis else pct(v))),
        trend_chart("Net Promoter Score", labels, [w["nps"] for w in weeks],
                    _shown(lambda v, axis: signed(v, 0))),
        trend_chart("Availability", labels, [w["availability_pct"] for w in weeks],
                    _shown(lambda v, axis: f"{v:.0f}%" if axis else pct(v))),
        trend_chart("P95 API latency", labels, [w["p95_latency_ms"] for w in weeks],
                    _shown(lambda v, axis: f"{v:.0f} ms" if axis else milliseconds(v)),
                    lower_is_better=True),
        trend_chart("MRR at week end", labels, [w["mrr_cents"] / 100 for w in weeks],
                    _shown(lambda v, axis: _short_money(v) if axis else money(v))),
    ]
    for chart in charts:
        if chart["points"]:
            last = chart["points"][-1]
            chart["latest"] = f"{last['text']} ({last['label'].split('-')[-1]})"
    return charts


def _markdown_view(view: dict[str, Any]) -> dict[str, Any]:
    def clean(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (markdown_text(v) if k in _PEOPLES_TEXT else markdown_cell(v))
                if isinstance(v, str) else v for k, v in row.items()}

    view = dict(view)
    view["customer"] = clean(view["customer"])
    view["record"] = [(label, markdown_text(value)) for label, value in view["record"]]
    view["mrr"] = {**view["mrr"], "movements": [clean(m) for m in view["mrr"]["movements"]]}
    for section in ("alerts", "tasks_done", "tasks_open", "notes"):
        view[section] = [clean(row) for row in view[section]]
    return view


def render_markdown(workspace: Workspace, review: CustomerReview) -> str:
    return render(workspace, "report/review.md.j2",
                  {"view": _markdown_view(build_view(review)), "review": review.as_json()})


def render_html(workspace: Workspace, review: CustomerReview) -> str:
    return render(workspace, "report/review.html.j2",
                  {"view": build_view(review, review_charts(review)),
                   "review": review.as_json()})


def deliver_review(workspace: Workspace, review: CustomerReview, fmt: str,
                   output: Path | None) -> None:
    """Print the review in `fmt`, or write it to `output` whole (nothing on stdout then)."""
    if fmt == "json":
        if output is None:
            console.emit_json(review.as_json())
            return
        text = console.to_json(review.as_json(), indent=False) + "\n"
    elif fmt == "markdown":
        text = render_markdown(workspace, review)
    else:
        text = render_html(workspace, review)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(output, text)
    console.info(f"wrote the {fmt} review of {review.customer['slug']}, "
                 f"{review.quarter.label}, to {output}")
