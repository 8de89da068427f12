"""Turns a WeeklyReport (of a week or a month) into its five formats: Rich tables for the
terminal, Markdown and HTML through the editable Jinja templates (templates/report/), CSV with
the csv module, and JSON.

Figures are formatted here, once, so the templates only lay them out; the 8-week trend charts
are computed here as SVG coordinates and drawn by the HTML template (no JavaScript, no library).

Over 500 lines as one module: one WeeklyReport, five formats that must agree on every
figure; splitting is left to the owners of the report speed work."""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from unmo_cli import console, metrics
from unmo_cli import money as amounts
from unmo_cli.durations import duration_text, shown_seconds, unit_for
from unmo_cli.files import write_atomic
from unmo_cli.spreadsheet import csv_text
from unmo_cli.templates import render
from unmo_cli.wording import plural

if TYPE_CHECKING:
    from unmo_cli.services.report_figures import PortfolioRow, WeeklyReport
    from unmo_cli.workspace import Workspace

NO_CHECKS = "no checks recorded"
# The phase of a customer in a week before phases had a history (migration 0006_phase_history).
UNKNOWN_PHASE = "unknown"
NO_DATA = "—"
TERMINAL_PORTFOLIO_ROWS = 50
STATUS_STYLES = {"healthy": "green", "degraded": "yellow", "unauthorized": "red", "down": "red",
                 "error": "red"}

INTEGRATIONS = {"sdk": "SDK", "s2s": "Server-to-server", "hybrid": "Hybrid"}
PLATFORMS = {"ios": "iOS", "android": "Android"}
PROVIDERS = {"appsflyer": "AppsFlyer", "adjust": "Adjust", "branch": "Branch",
             "kochava": "Kochava", "singular": "Singular", "none": "None", "other": "Other"}

CSV_COLUMNS = ["week", "slug", "name", "industry", "integration", "platforms", "provider",
               "events_per_day", "mrr", "phase", "new", "created_at", "churned_at", "responses",
               "satisfaction_pct", "nps", "health_checks", "availability_pct", "health_status",
               "health_score", "health_color", "health_score_change",
               # From the MRR ledger (issue 11): MRR at the period's start and end, movements.
               "mrr_start", "mrr_end", "mrr_new", "mrr_expansion", "mrr_contraction",
               "mrr_churned", "mrr_reactivation", "surveys_sent", "surveys_answered",
               "survey_response_rate_pct"]


# --- formatting of single figures ----------------------------------------------------------------


def _number(value: float | int, places: int) -> str:
    rounded = metrics.round_half_up(value, places)
    return f"{rounded:,.{places}f}" if places else f"{int(rounded):,}"


def money(value: float | int | None) -> str:
    """An amount in dollars as every command shows money (unmo_cli.money): $12,500.00."""
    if value is None:
        return NO_DATA
    return amounts.for_people(amounts.cents_of_dollars(value))


def pct(value: float | None, places: int = 1) -> str:
    return NO_DATA if value is None else f"{_number(value, places)}%"


def signed(value: float | int | None, places: int = 0, unit: str = "") -> str:
    """+85, −20, 0 (a real minus sign reads better in a table)."""
    if value is None:
        return NO_DATA
    text = _number(abs(value), places)
    sign = "+" if value > 0 else ("−" if value < 0 else "")
    return f"{sign}{text}{unit}"


def milliseconds(value: float | None) -> str:
    return NO_DATA if value is None else f"{_number(value, 0)} ms"


def score_text(score: int | None, color: str | None) -> str:
    """The health score with its colour in words: "42 red"; — without a score."""
    return NO_DATA if score is None else f"{score} {color}"


def _duration(seconds: float | None) -> str:
    return duration_text(seconds)


def status_mark(met: bool | None) -> str:
    return {True: "✅ met", False: "❌ missed", None: "— no data"}[met]


def _day_span(report: WeeklyReport) -> str:
    week = report.week
    monday, sunday = week.first_day, week.last_day
    left = f"{monday:%a} {monday.day} {monday:%b}" + ("" if monday.year == sunday.year
                                                      else f" {monday.year}")
    return f"{left} – {sunday:%a} {sunday.day} {sunday:%b} {sunday.year}"


def _local_time(value: str | None, zone: str) -> str:
    if not value:
        return NO_DATA
    instant = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return f"{instant:%a} {instant.day} {instant:%b} {instant:%H:%M}"


# --- the view: every figure as the text the templates show -------------------------------------


@dataclass(frozen=True)
class Figure:
    """One headline figure with last week's value and the change, ready to show."""

    key: str
    label: str
    value: str
    previous: str
    change: str
    trend: str  # up | down | flat | none — the direction of the change
    good: bool | None  # whether that direction is good news (None: neutral or unknown)


def _figure(key: str, label: str, now: Any, before: Any, show: Any, show_delta: Any,
            as_shown: Any = None, higher_is_better: bool | None = True) -> Figure:
    """A headline figure; its change is the difference of the two values as shown (`as_shown`
    rounds a value to the precision `show` prints it with), so "99 ms" beside "99 ms" is
    unchanged, never "+1 ms"."""
    as_shown = as_shown or (lambda value: value)
    delta = metrics.change(None if now is None else as_shown(now),
                           None if before is None else as_shown(before))
    if delta is None or delta == 0:
        trend, good = ("none" if delta is None else "flat"), None
    else:
        trend = "up" if delta > 0 else "down"
        good = None if higher_is_better is None else (delta > 0) == higher_is_better
    return Figure(key, label, show(now), show(before), show_delta(delta), trend, good)


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def headline_figures(report: WeeklyReport) -> list[Figure]:
    cur, prev = report.current, report.previous

    def count(v: Any) -> str:
        return _number(v, 0)

    return [
        _figure("active", "Active customers", cur.customers.active, prev.customers.active,
                count, signed),
        _figure("new", "New customers", cur.customers.new, prev.customers.new, count, signed),
        _figure("churned", "Churned", cur.customers.churned, prev.customers.churned, count,
                signed, higher_is_better=False),
        _figure("mrr", "MRR", cur.mrr.current, prev.mrr.current, money,
                lambda v: NO_DATA if v is None else ("+" if v > 0 else "") + money(v)),
        _figure("onboarding", "Onboarding time (mean)", _seconds(cur.onboarding.mean_ms),
                _seconds(prev.onboarding.mean_ms), duration_text,
                lambda v: duration_text(v, signed=True), shown_seconds, False),
        _figure("satisfaction", "Satisfaction", cur.satisfaction.pct, prev.satisfaction.pct,
                pct, lambda v: signed(v, 1, " pts"), lambda v: metrics.round_half_up(v, 1)),
        _figure("nps", "NPS", cur.satisfaction.nps, prev.satisfaction.nps,
                lambda v: signed(v, 0), signed),
        _figure("availability", "Availability", cur.health.availability_pct,
                prev.health.availability_pct,
                lambda v: NO_CHECKS if v is None else pct(v, 2),
                lambda v: signed(v, 2, " pts"), lambda v: metrics.round_half_up(v, 2)),
        _figure("latency", "P95 API latency", cur.health.p95_latency_ms,
                prev.health.p95_latency_ms,
                lambda v: NO_CHECKS if v is None else milliseconds(v),
                lambda v: signed(v, 0, " ms"), lambda v: metrics.round_half_up(v, 0), False),
        _figure("survey_response", "Survey response rate", cur.surveys.response_rate_pct,
                prev.surveys.response_rate_pct, pct, lambda v: signed(v, 1, " pts"),
                lambda v: metrics.round_half_up(v, 1)),
        _figure("margin", "Gross margin", cur.finance.gross_margin_pct,
                prev.finance.gross_margin_pct, pct, lambda v: signed(v, 1, " pts"),
                lambda v: metrics.round_half_up(v, 1)),
    ]


def _plain(value: float | int) -> str:
    """A setting as written: 5, 99.9, 10,000 (no padding zeros)."""
    text = _number(value, 2)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _target_text(metric: str, target: float | int) -> str:
    shown = _plain(target)
    return {
        "new_customers_per_week": f"≥ {shown} {'customer' if target == 1 else 'customers'}",
        "onboarding_minutes": f"≤ {shown} min",
        "satisfaction_pct": f"≥ {shown}%",
        "nps": f"≥ {signed(target, 0)}",
        "p95_latency_ms": f"≤ {shown} ms",
        "availability_pct": f"≥ {shown}%",
        "mrr": f"≥ {money(target)}",
    }.get(metric, shown)


def _achieved_text(metric: str, achieved: float | int | None, report: WeeklyReport) -> str:
    if achieved is None:
        if metric in ("p95_latency_ms", "availability_pct") and report.current.health.checks == 0:
            return NO_CHECKS
        return NO_DATA
    return {
        "new_customers_per_week": lambda: plural(achieved, "customer"),
        "onboarding_minutes": lambda: _duration(_seconds(report.current.onboarding.mean_ms)),
        "satisfaction_pct": lambda: pct(achieved),
        "nps": lambda: signed(achieved, 0),
        "p95_latency_ms": lambda: milliseconds(achieved),
        "availability_pct": lambda: pct(achieved, 2),
        "mrr": lambda: money(achieved),
    }.get(metric, lambda: str(achieved))()


def _health_cell(row: PortfolioRow) -> str:
    if not row.health_checks:
        return NO_CHECKS
    return f"{pct(row.availability_pct, 2)} ({row.health_status})"


def _portfolio_view(row: PortfolioRow, zone: str) -> dict[str, Any]:
    integration = INTEGRATIONS.get(row.integration, row.integration)
    if row.platforms:
        integration += " (" + " + ".join(PLATFORMS.get(p, p) for p in row.platforms) + ")"
    return {
        "slug": row.slug,
        "name": row.name,
        "industry": row.industry.capitalize(),
        "integration": integration,
        "provider": PROVIDERS.get(row.provider, row.provider),
        "events_per_day": _number(row.events_per_day, 0),
        "mrr": money(row.mrr),
        "satisfaction": pct(row.satisfaction_pct),
        "responses": row.responses,
        "nps": signed(row.nps, 0),
        "health": _health_cell(row),
        "health_status": row.health_status or "none",
        "phase": (row.phase or UNKNOWN_PHASE) + (" (churned " + _local_time(row.churned_at, zone)
                                                 + ")" if row.churned_at else ""),
        "score": score_text(row.health_score, row.health_color),
        "score_change": NO_DATA if row.health_score_change is None
        else signed(row.health_score_change, 0),
        "color": row.health_color or "none",
        "new": row.new,
    }


def build_view(report: WeeklyReport, charts: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    """The formatted figures the Markdown and HTML templates lay out."""
    cur = report.current
    target_of = {row.metric: row.target for row in report.targets}
    nps_met = next(row.met for row in report.targets if row.metric == "nps")
    targets = [{"metric": row.metric, "label": row.label,
                "target": _target_text(row.metric, row.target),
                "achieved": _achieved_text(row.metric, row.achieved, report),
                "met": row.met, "status": status_mark(row.met)} for row in report.targets]
    with_data = [row for row in report.targets if row.met is not None]
    new_names = [row.name for row in report.portfolio if row.new]
    zone = report.timezone
    period = report.week
    return {
        "week": period.label,
        "noun": period.noun,
        "Noun": period.noun.capitalize(),
        "period": _day_span(report),
        "timezone": zone,
        "complete": report.complete,
        "command": f"unmo report {period.command} {period.option} {period.label}",
        "targets_met": sum(1 for row in with_data if row.met),
        "targets_with_data": len(with_data),
        "targets": targets,
        "figures": headline_figures(report),
        "customers": {
            "total": _number(cur.customers.total, 0),
            "active": _number(cur.customers.active, 0),
            "new": cur.customers.new,
            "churned": cur.customers.churned,
            "new_names": new_names[:10],
            "new_more": max(0, len(new_names) - 10),
        },
        "mrr": {"current": money(cur.mrr.current), "previous": money(cur.mrr.previous),
                "delta": ("+" if cur.mrr.delta > 0 else "") + money(cur.mrr.delta),
                "target": money(target_of["mrr"])},
        "movements": movements_view(report),
        "retention": retention_view(report.current.retention),
        "retention_before": retention_view(report.previous.retention),
        "tasks": tasks_view(report.current.tasks),
        "onboarding": {
            "count": cur.onboarding.count,
            "mean": _duration(_seconds(cur.onboarding.mean_ms)),
            "median": _duration(_seconds(cur.onboarding.median_ms)),
            "p95": _duration(_seconds(cur.onboarding.p95_ms)),
            "target": f"{_plain(cur.onboarding.target_s / 60)} min",
            "met": cur.onboarding.met,
            "status": status_mark(cur.onboarding.met),
        },
        "satisfaction": {
            "responses": cur.satisfaction.responses,
            "pct": pct(cur.satisfaction.pct),
            "target": f"{_plain(cur.satisfaction.target_pct)}%",
            "met": cur.satisfaction.met,
            "status": status_mark(cur.satisfaction.met),
            "nps": signed(cur.satisfaction.nps, 0),
            "nps_target": signed(target_of["nps"], 0),
            "nps_met": nps_met,
            "nps_status": status_mark(nps_met),
            "promoters": cur.satisfaction.promoters,
            "passives": cur.satisfaction.passives,
            "detractors": cur.satisfaction.detractors,
        },
        "surveys": {
            "sent": cur.surveys.sent,
            "answered": cur.surveys.answered,
            "rate": pct(cur.surveys.response_rate_pct),
        },
        "health": {
            "checks": cur.health.checks,
            "checks_text": _number(cur.health.checks, 0),
            "availability": pct(cur.health.availability_pct, 2),
            "healthy": pct(cur.health.healthy_pct, 2),
            "p95_latency": milliseconds(cur.health.p95_latency_ms),
        },
        "finance": {
            "revenue_week": money(cur.finance.revenue_week),
            "infra_cost_week": money(cur.finance.infra_cost_week),
            "gross_profit": money(None if cur.finance.revenue_week == 0 and cur.mrr.current == 0
                                  else metrics.round_half_up(cur.finance.revenue_week
                                                             - cur.finance.infra_cost_week, 2)),
            "gross_margin": pct(cur.finance.gross_margin_pct),
            "cost_per_1k_events": (NO_DATA if cur.finance.cost_per_1k_events is None
                                   else f"${cur.finance.cost_per_1k_events:,.4f}"),
        },
        "portfolio": [_portfolio_view(row, zone) for row in report.portfolio],
        "alerts": [{"when": _local_time(a.created_at, zone), "customer": a.customer,
                    "rule": a.rule.replace("_", " "), "text": a.text,
                    # The text without its headline (customer and rule have columns of their own)
                    "detail": " ".join(a.text.split("\n")[1:]) or a.text,
                    "state": "acknowledged" if a.acked_at else
                    ("notified" if a.notified_at else "pending")} for a in report.alerts],
        "charts": charts or [],
        "sla_at_risk": sla_at_risk_view(report),
    }


def sla_at_risk_view(report: WeeklyReport) -> list[dict[str, str]]:
    """The customers at risk of breaching their SLA this month (services/sla.py), formatted."""
    return [{"customer": r.slug, "tier": r.tier,
             "availability": f"{pct(r.availability_pct, 2)} (target "
                             f"{pct(r.availability_target_pct, 2)})",
             "p95": f"{milliseconds(r.p95_latency_ms)} (target "
                    f"{milliseconds(r.p95_latency_target_ms)})",
             "breached": ", ".join(b.replace("_", " ") for b in r.breached)}
            for r in report.sla_at_risk]


def markdown_cell(value: Any) -> str:
    """Text unmo wrote, safe inside a Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(value).split()).replace("|", "\\|")


# What can turn someone's text into markup: HTML and autolinks (< > &), links and images ([ ]),
# GFM's bare autolinks (the ":" of "https://", the "." of "www."), emphasis, code, strikethrough
# and math (* _ ` ~ $), table cells (|) and the escape itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_~\[\]<>&|:.$])")
_WORD_JOINER = "\u2060"


def markdown_text(value: Any) -> str:
    """Text unmo did not write (a customer's name, a comment quoted in an alert), shown in
    Markdown as typed: every character that could start markup is backslash-escaped, line
    breaks are folded, and an invisible word joiner before "@" stops GitHub from linking an
    e-mail address (its email autolinks see through escapes)."""
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return text.replace("@", _WORD_JOINER + "@")


_CUSTOMER_TEXT = {"portfolio": ("slug", "name"), "alerts": ("customer", "text", "detail"),
                  "sla_at_risk": ("customer",)}


def _markdown_view(view: dict[str, Any]) -> dict[str, Any]:
    view = dict(view)
    for section, fields in _CUSTOMER_TEXT.items():
        view[section] = [{k: (markdown_text(v) if k in fields else markdown_cell(v))
                          if isinstance(v, str) else v for k, v in row.items()}
                         for row in view[section]]
    view["customers"] = {**view["customers"],
                         "new_names": [markdown_text(n) for n in view["customers"]["new_names"]]}
    return view


# --- trend charts: coordinates computed here, drawn by the template ------------------------------

CHART_WIDTH, CHART_HEIGHT = 520, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 58, 18, 18, 34


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _axis(values: list[float], target: float | None) -> tuple[float, float, float]:
    points = [v for v in values if v is not None] + ([target] if target is not None else [])
    low, high = min(points), max(points)
    if low == high:
        low, high = low - (abs(low) * 0.1 or 1), high + (abs(high) * 0.1 or 1)
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def trend_chart(title: str, labels: list[str], values: list[float | None],
                show: Any, target: float | None = None, target_text: str = "",
                lower_is_better: bool = False) -> dict[str, Any]:
    """An SVG line chart's geometry: gridlines with labels, one polyline per run of weeks with
    data (a week without data is a gap), a dot per week with data, an optional dashed target."""
    inner_w = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    count = len(labels)
    xs = [PAD_LEFT + (inner_w * i / (count - 1) if count > 1 else inner_w / 2)
          for i in range(count)]
    chart: dict[str, Any] = {
        "title": title, "width": CHART_WIDTH, "height": CHART_HEIGHT,
        "left": PAD_LEFT, "right": CHART_WIDTH - PAD_RIGHT, "top": PAD_TOP,
        "bottom": CHART_HEIGHT - PAD_BOTTOM,
        "x_labels": [{"x": round(x, 1), "text": label.split("-")[-1]}
                     for x, label in zip(xs, labels, strict=True)],
        "latest": show(values[-1]) if values and values[-1] is not None else NO_DATA,
        "target_text": target_text, "lower_is_better": lower_is_better,
        "has_data": any(v is not None for v in values),
        "gridlines": [], "segments": [], "points": [], "target_y": None, "bars": [],
        "zero_y": None,
        "description": f"{title}, weeks {labels[0]} to {labels[-1]}: " + ", ".join(
            f"{label} {show(v) if v is not None else 'no data'}"
            for label, v in zip(labels, values, strict=True)),
    }
    if not chart["has_data"]:
        return chart
    y_of = _scale(chart, [v for v in values if v is not None], target, show)
    run: list[str] = []
    for x, label, value in zip(xs, labels, values, strict=True):
        if value is None:
            if run:
                chart["segments"].append(" ".join(run))
            run = []
            continue
        y = y_of(value)
        run.append(f"{x:.1f},{y:.1f}")
        chart["points"].append({"x": round(x, 1), "y": y, "text": show(value),
                                "label": label})
    if run:
        chart["segments"].append(" ".join(run))
    chart["segments"] = [s for s in chart["segments"] if " " in s]  # lone points: dots only
    if target is not None:
        chart["target_y"] = y_of(target)
    return chart


def _scale(chart: dict[str, Any], values: list[float], target: float | None,
           show: Any) -> Any:
    """The chart's vertical axis over `values` (and the target): its gridlines added to the
    chart; returns the function from a value to its y coordinate."""
    low, high, step = _axis(values, target)
    inner_h = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM

    def y_of(value: float) -> float:
        return round(PAD_TOP + inner_h * (1 - (value - low) / (high - low)), 1)

    tick = low
    while tick <= high + step / 1000:
        chart["gridlines"].append({"y": y_of(tick), "text": show(tick, axis=True)})
        tick += step
    return y_of


def _shown(formatter: Any) -> Any:
    def show(value: float, axis: bool = False) -> str:
        return formatter(value, axis)
    return show


def trend_charts(report: WeeklyReport) -> list[dict[str, Any]]:
    trends, targets = report.trends, {row.metric: row.target for row in report.targets}
    # The onboarding chart reads in the unit of its largest week (ms, s or min), so sessions
    # under a minute are not a flat line at "0.0 min"; the target line is drawn only when it
    # is on that scale (a 5-minute target over 130 ms sessions would flatten them again).
    measured = [v / 1000 for v in trends.onboarding_mean_ms if v is not None]
    unit, size = unit_for(max(measured)) if measured else ("min", 60.0)
    onboarding = [None if v is None else v / 1000 / size for v in trends.onboarding_mean_ms]
    target_s = float(targets.get("onboarding_minutes", 0)) * 60
    on_scale = not measured or target_s <= 3 * max(measured)
    return [
        trend_chart("Customer satisfaction", trends.weeks, trends.satisfaction_pct,
                    _shown(lambda v, axis: f"{_number(v, 0 if axis else 1)}%"),
                    targets.get("satisfaction_pct"),
                    f"target {_plain(targets.get('satisfaction_pct', 0))}%"),
        trend_chart("Net Promoter Score", trends.weeks, trends.nps,
                    _shown(lambda v, axis: signed(v, 0)), targets.get("nps"),
                    f"target {signed(targets.get('nps', 0), 0)}"),
        trend_chart("MRR at week end", trends.weeks, trends.mrr,
                    _shown(lambda v, axis: _short_money(v) if axis else money(v)),
                    targets.get("mrr"), f"target {money(targets.get('mrr'))}"),
        trend_chart("Onboarding time (mean)", trends.weeks, onboarding,
                    _shown(lambda v, axis: f"{_plain(v)} {unit}" if axis
                           else duration_text(v * size)),
                    target_s / size if on_scale else None,
                    f"target {_plain(targets.get('onboarding_minutes', 0))} min",
                    lower_is_better=True),
        movements_chart(report),
    ]


def _short_money(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"${_number(value / 1_000_000, 1)}M"
    if abs(value) >= 1_000:
        return f"${_number(value / 1_000, 1 if value % 1000 else 0)}K"
    return money(value)


# --- MRR movements, revenue retention and tasks (issue 11) ---------------------------------------

# The movements in the order the block adds them up: (key, label, sign).
MOVEMENT_ROWS = (("new", "New", "+"), ("expansion", "Expansion", "+"),
                 ("reactivation", "Reactivation", "+"), ("contraction", "Contraction", "−"),
                 ("churned", "Churned", "−"))
MOVEMENT_COLORS = {"new": "#2f855a", "expansion": "#68d391", "reactivation": "#3182ce",
                   "contraction": "#ed8936", "churned": "#c53030"}


def movements_view(report: WeeklyReport) -> list[dict[str, str]]:
    """The MRR-movements block, this period and the one before: MRR at the start, each movement
    with its sign, MRR at the end (start + movements = end)."""
    cur, prev = report.current.mrr, report.previous.mrr
    rows = [{"label": "MRR at the start", "sign": "", "current": money(cur.previous),
             "previous": money(prev.previous)}]
    rows += [{"label": label, "sign": sign, "current": money(getattr(cur, key)),
              "previous": money(getattr(prev, key))} for key, label, sign in MOVEMENT_ROWS]
    rows.append({"label": "MRR at the end", "sign": "=", "current": money(cur.current),
                 "previous": money(prev.current)})
    return rows


def retention_view(kept: Any) -> dict[str, Any]:
    return {"nrr": pct(kept.nrr_pct), "grr": pct(kept.grr_pct), "logo": pct(kept.logo_pct),
            "start": money(kept.start), "cohort": kept.cohort, "retained": kept.retained}


def tasks_view(tasks: Any) -> dict[str, Any]:
    return {"open": tasks.open, "overdue": tasks.overdue, "done": tasks.done,
            "owners": [{"owner": row.owner or "(no owner)", "open": row.open,
                        "overdue": row.overdue, "done": row.done} for row in tasks.by_owner]}


def movements_chart(report: WeeklyReport) -> dict[str, Any]:
    """An SVG bar chart of the trend periods' MRR movements: the additions (new, expansion,
    reactivation) stacked above the zero line, the losses (contraction, churned) below."""
    trends, noun = report.trends, report.week.noun
    ups = [("new", trends.mrr_new), ("expansion", trends.mrr_expansion),
           ("reactivation", trends.mrr_reactivation)]
    downs = [("contraction", trends.mrr_contraction), ("churned", trends.mrr_churned)]
    count = len(trends.weeks)
    tops = [sum(values[i] for _k, values in ups) for i in range(count)]
    bottoms = [-sum(values[i] for _k, values in downs) for i in range(count)]
    net = [t + b for t, b in zip(tops, bottoms, strict=True)]

    def show(value: float, axis: bool = False) -> str:
        if axis:
            return ("−" if value < 0 else "") + _short_money(abs(value))
        return signed_money(value)

    chart = trend_chart(f"MRR movements per {noun}", trends.weeks,
                        [None] * count, show)  # the frame; bars instead of a line
    chart["description"] = (f"MRR movements, {noun}s {trends.weeks[0]} to {trends.weeks[-1]}: "
                            + ", ".join(f"{label} net {signed_money(value)}"
                                        for label, value in zip(trends.weeks, net, strict=True)))
    chart["latest"] = signed_money(net[-1]) + " net"
    chart["target_text"] = "+ new, expansion, reactivation; − contraction, churned"
    if not any(tops) and not any(bottoms):
        return chart
    chart["has_data"] = True
    y_of = _scale(chart, [*tops, *bottoms, 0.0], None, show)
    chart["zero_y"] = y_of(0.0)
    slot = (CHART_WIDTH - PAD_LEFT - PAD_RIGHT) / count
    width = round(slot * 0.6, 1)
    for i, label in enumerate(trends.weeks):
        x = round(PAD_LEFT + slot * i + (slot - width) / 2, 1)
        for stack in (ups, downs):
            level = 0.0
            for key, values in stack:
                value = values[i] if stack is ups else -values[i]
                if not value:
                    continue
                y_a, y_b = y_of(level), y_of(level + value)
                chart["bars"].append({"x": x, "y": min(y_a, y_b), "width": width,
                                      "height": round(abs(y_b - y_a), 1),
                                      "color": MOVEMENT_COLORS[key],
                                      "text": f"{label} {key}: {money(abs(value))}"})
                level += value
    for item, label in zip(chart["x_labels"], trends.weeks, strict=True):
        item["x"] = round(PAD_LEFT + slot * trends.weeks.index(label) + slot / 2, 1)
    return chart


def signed_money(value: float) -> str:
    return ("+" if value > 0 else ("−" if value < 0 else "")) + money(abs(value))


def movements_tables(view: dict[str, Any]) -> list[Any]:
    """The terminal's MRR-movements and tasks blocks."""
    from rich.table import Table  # lazy: the JSON/CSV/HTML formats need no Rich
    from rich.text import Text

    noun = view["noun"]
    moves = Table(title="MRR movements", title_justify="left")
    for column, justify in (("", "left"), ("", "left"), (f"This {noun}", "right"),
                            (f"Last {noun}", "right")):
        moves.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in view["movements"]:
        moves.add_row(row["sign"], row["label"], row["current"], row["previous"])
    kept, before = view["retention"], view["retention_before"]
    # Short lines: in a pipe (80 columns) Rich does not wrap text.
    retention = Text(f"Revenue retention of the customers active at the {noun}'s start\n"
                     f"this {noun}: NRR {kept['nrr']} · GRR {kept['grr']} · logos {kept['logo']} "
                     f"({kept['retained']} of {kept['cohort']})\n"
                     f"last {noun}: NRR {before['nrr']} · GRR {before['grr']} · logos "
                     f"{before['logo']} ({before['retained']} of {before['cohort']})")
    tasks = view["tasks"]
    owners = Table(title=f"Tasks: {tasks['open']} open, {tasks['overdue']} overdue, "
                   f"{tasks['done']} done this {noun}", title_justify="left")
    for column, justify in (("Owner", "left"), ("Open", "right"), ("Overdue", "right"),
                            ("Done", "right")):
        owners.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in tasks["owners"]:
        owners.add_row(row["owner"], str(row["open"]), str(row["overdue"]), str(row["done"]))
    return [moves, retention, owners if tasks["owners"] else Text(owners.title or "")]


# --- the formats ---------------------------------------------------------------------------------


def render_markdown(workspace: Workspace, report: WeeklyReport) -> str:
    view = _markdown_view(build_view(report))
    return render(workspace, "report/weekly.md.j2", {"view": view, "report": report.as_json()})


def render_html(workspace: Workspace, report: WeeklyReport) -> str:
    view = build_view(report, trend_charts(report))
    return render(workspace, "report/weekly.html.j2", {"view": view, "report": report.as_json()})


def render_csv(report: WeeklyReport) -> str:
    """One row per customer of the portfolio; empty cells where there is no data."""

    def cells(row: PortfolioRow) -> list[Any]:
        values = {**row.as_json(), "week": report.week.label,
                  "platforms": ",".join(row.platforms), "new": "yes" if row.new else "no"}
        return [values[name] for name in CSV_COLUMNS]

    # A monthly report's first column is `month`; the weekly's stays `week`.
    header = [report.week.noun, *CSV_COLUMNS[1:]]
    return csv_text(header, map(cells, report.portfolio))


# The terminal portfolio's columns: (header, key, numeric, priority). Slugs, scores and
# statuses are what a reader types or acts on next: they are never cut or wrapped. When the
# line is too narrow, whole columns give way, the lowest priority first (the other formats
# have them all).
PORTFOLIO_COLUMNS = (
    ("Customer", "slug", False, 0),
    ("Score", "score", True, 0),
    ("Δ", "score_change", True, 3),
    ("Industry", "industry", False, 8),
    ("Events/day", "events_per_day", True, 7),
    ("MRR", "mrr", True, 2),
    ("Sat.", "satisfaction", True, 5),
    ("NPS", "nps", True, 6),
    ("Avail.", "availability", True, 4),
    ("Last check", "last_check", False, 1),
    ("Phase", "phase", False, 0),
)
SCORE_STYLES = {"green": "green", "yellow": "yellow", "red": "bold red"}


def _portfolio_cells(row: PortfolioRow, shown: dict[str, Any]) -> dict[str, Any]:
    from rich.text import Text  # lazy: the JSON/CSV/HTML formats need no Rich

    status = row.health_status or NO_DATA
    return {
        "slug": Text(row.slug + (" *" if row.new else "")),
        "score": Text(shown["score"], style=SCORE_STYLES.get(row.health_color or "", "dim")),
        "score_change": Text(shown["score_change"]),
        "industry": Text(row.industry),
        "events_per_day": Text(shown["events_per_day"]),
        "mrr": Text(shown["mrr"]),
        "satisfaction": Text(shown["satisfaction"]),
        "nps": Text(shown["nps"]),
        "availability": Text(pct(row.availability_pct, 1) if row.health_checks else NO_DATA),
        "last_check": Text(status, style=STATUS_STYLES.get(status, "dim")),
        "phase": Text("churned" if row.churned_at else row.phase or UNKNOWN_PHASE),
    }


class FittingPortfolio:
    """The portfolio table, laid out for the width it is printed at (a terminal, 80 columns in
    a pipe, or an --output file): every shown column is as wide as its widest cell, and columns
    are left out, lowest priority first, until the rest fits; a note names what was left out."""

    def __init__(self, title: str, rows: list[dict[str, Any]], noun: str = "week") -> None:
        self.title, self.rows, self.noun = title, rows, noun

    def _table(self, columns: list[tuple[str, str, bool, int]]) -> Any:
        from rich import box  # lazy: the JSON/CSV/HTML formats need no Rich
        from rich.table import Table

        table = Table(title=self.title, title_justify="left", box=box.SIMPLE_HEAD,
                      pad_edge=False, collapse_padding=True)
        for header, key, numeric, _priority in columns:
            widest = max([len(header), *(self.rows_width(key))])
            table.add_column(header, no_wrap=True, justify="right" if numeric else "left",
                             min_width=widest, max_width=widest)
        for row in self.rows:
            table.add_row(*(row[key] for _h, key, _n, _p in columns))
        return table

    def rows_width(self, key: str) -> list[int]:
        return [row[key].cell_len for row in self.rows]

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement  # lazy: the JSON/CSV/HTML formats need no Rich
        from rich.text import Text

        columns = list(PORTFOLIO_COLUMNS)
        left_out: list[str] = []
        while True:
            table = self._table(columns)
            wide = Measurement.get(console, options.update_width(10_000), table).maximum
            droppable = [c for c in columns if c[3] > 0]
            if wide <= options.max_width or not droppable:
                break
            lowest = max(droppable, key=lambda c: c[3])
            columns.remove(lowest)
            left_out.insert(0, "score change" if lowest[1] == "score_change"
                            else lowest[0].lower())
        yield table
        noun = self.noun
        yield Text(f"* new this {noun}; score: health at the {noun}'s end; Δ: its change in the "
                   f"{noun}", style="dim")
        if left_out:
            yield Text(f"(not shown at this width: {', '.join(left_out)}; see --format csv)",
                       style="dim")


def render_table(report: WeeklyReport) -> Any:
    """The terminal view: Rich tables (headline week over week, targets, portfolio, alerts)."""
    from rich.console import Group  # lazy: the JSON/CSV/HTML formats need no Rich
    from rich.table import Table
    from rich.text import Text

    view = build_view(report)
    noun, Noun = view["noun"], view["Noun"]
    state = "" if report.complete else " (in progress)"
    title = Text.assemble((f"{Noun} {view['week']}{state}", "bold"),
                          f"  {view['period']} · {view['timezone']}")
    headline = Table(title=f"{Noun} over {noun}", title_justify="left")
    for column, justify in (("Figure", "left"), (f"This {noun}", "right"),
                            (f"Last {noun}", "right"), ("Change", "right")):
        headline.add_column(column, justify=justify)  # type: ignore[arg-type]
    for figure in view["figures"]:
        style = {True: "green", False: "red"}.get(figure.good, "")
        headline.add_row(figure.label, figure.value, figure.previous,
                         Text(figure.change, style=style))
    targets = Table(title=f"Targets: {view['targets_met']} of {view['targets_with_data']} with "
                    "data met", title_justify="left")
    for column in ("Metric", "Target", "Achieved", "Status"):
        targets.add_column(column)
    for row in view["targets"]:
        style = {True: "green", False: "red"}.get(row["met"], "dim")
        targets.add_row(row["label"], row["target"], row["achieved"],
                        Text(row["status"], style=style))
    finance = view["finance"]
    # Two short lines, not one long one: in a pipe Rich does not wrap text.
    revenue = "this week" if noun == "week" else f"per week at the {noun}'s end"
    money_line = Text(f"Revenue {revenue} {finance['revenue_week']} · infrastructure "
                      f"{finance['infra_cost_week']}\nGross margin {finance['gross_margin']} · "
                      f"cost per 1K events {finance['cost_per_1k_events']}")
    portfolio = FittingPortfolio(
        f"Portfolio ({len(report.portfolio)} active in the {noun}; red accounts first)",
        [_portfolio_cells(row, shown) for row, shown in
         zip(report.portfolio[:TERMINAL_PORTFOLIO_ROWS],
             view["portfolio"][:TERMINAL_PORTFOLIO_ROWS], strict=True)], noun)
    parts: list[Any] = [title, headline, targets, money_line,
                        *movements_tables(view), portfolio]
    hidden = len(view["portfolio"]) - TERMINAL_PORTFOLIO_ROWS
    if hidden > 0:
        parts.append(Text(f"… and {plural(hidden, 'more customer', 'more customers')}: use "
                          "--format csv or markdown for all of them.", style="dim"))
    if view["alerts"]:
        # A list, not a table: an alert's detail quotes a comment, and at 80 columns a fifth
        # column leaves it a word per line. Text, never markup: "[/x]" in a comment is data.
        alerts = Text(f"Alerts ({len(view['alerts'])})\n", style="italic")
        for alert in view["alerts"]:
            alerts.append(f"{alert['when']}  {alert['customer']}  {alert['rule']}  "
                          f"[{alert['state']}]\n", style="bold")
            alerts.append(f"  {alert['detail']}\n")
        parts.append(alerts)
    else:
        parts.append(Text(f"No alerts this {noun}.", style="dim"))
    risk = sla_at_risk_view(report)
    parts.append(Text(f"\nAt risk of breaching the SLA this month ({len(risk)})", style="bold"))
    for row in risk:
        parts.append(Text(f"  {row['customer']} ({row['tier']}): {row['breached']}; "
                          f"availability {row['availability']}, p95 {row['p95']}"))
    return Group(*parts)


def deliver(workspace: Workspace, report: WeeklyReport, fmt: str, output: Path | None) -> None:
    """Print the report in `fmt`, or write it to `output` whole (nothing on stdout then).
    `workspace` is the one the report was computed in: its templates shape Markdown and HTML."""

    if fmt == "table":
        renderable = render_table(report)
        if output is None:
            console.print_out(renderable)
            return
        text = console.render_text(renderable)
    elif fmt == "json":
        if output is None:
            console.emit_json(report.json_document())
            return
        text = console.to_json(report.json_document(), indent=False) + "\n"
    elif fmt == "csv":
        text = render_csv(report)
    elif fmt == "markdown":
        text = render_markdown(workspace, report)
    else:
        text = render_html(workspace, report)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_atomic(output, text)
    console.info(f"wrote the {fmt} report of {report.week.label} to {output}")
