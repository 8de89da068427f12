"""The quarterly business review of one customer (`unmo report customer SLUG`): its record as
of the quarter's end, MRR and its movements, satisfaction/NPS and availability/p95 per week,
the health score at the quarter's start and end, alerts, tasks and notes.

Quarters are calendar quarters in the workspace's time zone (1 January, 1 April, 1 July,
1 October, 00:00 local), converted to UTC instants as the weekly report's weeks are. The weeks
are the ISO weeks that meet the quarter, cut at its edges (the first and last are often short).
Everything is as of the quarter's end (now, for a quarter in progress): history effective later
— an MRR change, a record change, a phase, a churn, an acknowledgement, a task done — does not
show; history effective within the quarter, even if recorded later, does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from unmo_cli import clock, metrics, money
from unmo_cli.db.models import Alert, Feedback, HealthCheck, Note, PhaseChange, Task
from unmo_cli.errors import InputError
from unmo_cli.files import check_output_path
from unmo_cli.services.accounts import (
    RECORD_FIELDS,
    entry_before,
    field_changes,
    field_value_at,
    ledger,
    movement,
)
from unmo_cli.services.customers import customer_json, customer_session
from unmo_cli.services.reports import _count_if, _per_week, _value_at_rank, week_of
from unmo_cli.services.summaries import health_summary
from unmo_cli.text import shown
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.db.models import Customer, MrrChange

FORMATS = ("markdown", "html", "json")
MOVEMENTS = ("new", "expansion", "contraction", "churned", "reactivation")
_QUARTER_PATTERN = re.compile(r"(\d{4})-?Q(\d+)", re.IGNORECASE)
_JUST_BEFORE = timedelta(microseconds=1)


# --- quarters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int
    zone: str
    start: datetime  # aware UTC
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        return _next_quarter_day(self.year, self.number) - timedelta(days=1)


def _next_quarter_day(year: int, number: int) -> date:
    return date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)


def quarter_of(year: int, number: int, zone: str) -> Quarter:
    tz = ZoneInfo(zone)

    def utc_midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)

    return Quarter(year, number, zone, utc_midnight(date(year, 3 * number - 2, 1)),
                   utc_midnight(_next_quarter_day(year, number)))


def parse_quarter(text: str, zone: str) -> Quarter:
    """`2026-Q3` (also `2026Q3`, `2026-q3`) → its Quarter; InputError otherwise."""
    match = _QUARTER_PATTERN.fullmatch(text.strip())
    if not match:
        raise InputError(f"--quarter {shown(text)} is not a quarter; use YYYY-Qn, e.g. 2026-Q3.")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= 4:
        raise InputError(f"--quarter {text.strip()!r} does not exist: a year has quarters Q1 to "
                         "Q4.")
    if not 1900 <= year <= 9998:
        raise InputError(f"--quarter {text.strip()!r} is out of range; use a quarter of the "
                         "years 1900 to 9998.")
    return quarter_of(year, number, zone)


def quarter_containing(instant: datetime, zone: str) -> Quarter:
    day = instant.astimezone(ZoneInfo(zone)).date()
    return quarter_of(day.year, (day.month - 1) // 3 + 1, zone)


def last_complete_quarter(now: datetime, zone: str) -> Quarter:
    current = quarter_containing(now, zone)
    return quarter_of(current.year - 1, 4, zone) if current.number == 1 else quarter_of(
        current.year, current.number - 1, zone)


@dataclass(frozen=True)
class Span:
    """One ISO week of the quarter, cut at the quarter's edges."""

    label: str
    start: datetime
    end: datetime


def quarter_weeks(quarter: Quarter) -> list[Span]:
    local_first = quarter.first_day
    year, number, _ = local_first.isocalendar()
    week = week_of(year, number, quarter.zone)
    spans = []
    while week.start < quarter.end:
        spans.append(Span(week.label, max(week.start, quarter.start), min(week.end, quarter.end)))
        week = week.shifted(1)
    return spans


# --- MRR movements (a pure function: the ledger rows and an interval) ----------------------------


def mrr_movements(rows: list[MrrChange], start: datetime, end: datetime) -> dict[str, Any]:
    """The MRR in effect just before `start` and just before `end` (naive UTC), and the ledger
    rows effective in [start, end) classified by accounts.movement against the MRR in effect
    before each: start + new + expansion − contraction − churned + reactivation = end."""
    before = entry_before(rows, start - _JUST_BEFORE)
    running = before.mrr_cents if before is not None else 0
    opening = running
    totals = dict.fromkeys(MOVEMENTS, 0)
    entries = []
    for row in rows:
        if not start <= row.effective_at < end:
            continue
        kind, cents = movement(running, row)
        if kind in totals:
            totals[kind] += cents
        entries.append({"effective_at": clock.iso(row.effective_at), "movement": kind,
                        "amount_cents": cents, "mrr_cents": row.mrr_cents,
                        "reason": getattr(row, "reason", None)})
        running = row.mrr_cents
    return {"start_cents": opening, "end_cents": running, "totals_cents": totals,
            "entries": entries}


# --- the review ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerReview:
    timezone: str
    quarter: Quarter
    as_of: datetime  # aware UTC: the quarter's end, or now for one in progress
    complete: bool
    customer: dict[str, Any]
    mrr: dict[str, Any]
    weeks: list[dict[str, Any]]
    health: dict[str, Any]
    alerts: list[dict[str, Any]]
    tasks: dict[str, list[dict[str, Any]]]
    notes: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        mrr = self.mrr
        return {
            "quarter": self.quarter.label,
            "start": clock.iso(self.quarter.start),
            "end": clock.iso(self.quarter.end),
            "as_of": clock.iso(self.as_of),
            "timezone": self.timezone,
            "complete": self.complete,
            "customer": self.customer,
            "mrr": {
                "start": money.for_machines(mrr["start_cents"]),
                "end": money.for_machines(mrr["end_cents"]),
                "change": money.for_machines(mrr["end_cents"] - mrr["start_cents"]),
                **{kind: money.for_machines(cents)
                   for kind, cents in mrr["totals_cents"].items()},
                "movements": [{"effective_at": e["effective_at"], "movement": e["movement"],
                               "amount": money.for_machines(e["amount_cents"]),
                               "mrr": money.for_machines(e["mrr_cents"]),
                               "reason": e["reason"]} for e in mrr["entries"]],
                "weekly": [{"week": w["week"], "mrr": money.for_machines(w["mrr_cents"])}
                           for w in self.weeks],
            },
            "weeks": [{k: v for k, v in w.items() if k != "mrr_cents"} for w in self.weeks],
            "health": self.health,
            "alerts": self.alerts,
            "tasks": self.tasks,
            "notes": self.notes,
        }


def check_format(fmt: str) -> str:
    value = fmt.strip().lower()
    if value not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    return value


def customer_review(slug: str, *, quarter: str | None = None, fmt: str = "markdown",
                    output: Path | None = None, now: datetime | None = None) -> CustomerReview:
    """The review of `slug` over `quarter` (YYYY-Qn; default the last complete quarter in the
    workspace's time zone). Options are checked before the database is read; a quarter that has
    not started, or that ended before the customer existed, is InputError (exit 2)."""
    check_format(fmt)
    if output is not None:
        check_output_path(output)
    ws = load_workspace()
    zone = ws.settings.timezone
    now = now or clock.now()
    chosen = parse_quarter(quarter, zone) if quarter else last_complete_quarter(now, zone)
    if chosen.start > now:
        raise InputError(f"--quarter {chosen.label} has not started yet in {zone}; the last "
                         f"complete quarter is {last_complete_quarter(now, zone).label}.")
    with customer_session(ws, slug) as (session, customer):
        created = clock.from_db(customer.created_at)
        assert created is not None
        if created >= chosen.end:
            first = quarter_containing(created, zone)
            option = "--quarter" if quarter else "the default quarter"
            raise InputError(f"{option} {chosen.label} ended before {customer.slug} existed "
                             f"(onboarded {clock.iso(customer.created_at)}); its first quarter "
                             f"is {first.label}.")
        as_of = min(chosen.end, now)
        connection = session.connection()
        rows = ledger(session, customer.id)  # type: ignore[arg-type]
        spans = quarter_weeks(chosen)
        spans = [s for s in spans if s.start < as_of]
        mrr = mrr_movements(rows, clock.to_db(chosen.start), clock.to_db(as_of))
        weeks = _weekly(connection, customer.id, spans, as_of)  # type: ignore[arg-type]
        for week, span in zip(weeks, spans, strict=True):
            entry = entry_before(rows, clock.to_db(min(span.end, as_of)) - _JUST_BEFORE)
            week["mrr_cents"] = entry.mrr_cents if entry is not None else 0
        return CustomerReview(
            timezone=zone, quarter=chosen, as_of=as_of, complete=chosen.end <= now,
            customer=_record_as_of(session, customer, rows, as_of),
            mrr=mrr, weeks=weeks,
            health=_health_then_and_now(session, customer, ws.settings, chosen, as_of),
            alerts=_alerts(connection, customer.id, chosen, as_of),  # type: ignore[arg-type]
            tasks=_tasks(connection, customer.id, chosen, as_of),  # type: ignore[arg-type]
            notes=_notes(connection, customer.id, chosen, as_of))  # type: ignore[arg-type]


def _record_as_of(session: Any, customer: Customer, rows: list[MrrChange],
                  as_of: datetime) -> dict[str, Any]:
    """The customer object with the values in effect just before `as_of`."""
    instant = clock.to_db(as_of) - _JUST_BEFORE
    document = customer_json(customer)
    for name in RECORD_FIELDS:
        value = field_value_at(field_changes(session, customer.id, name),
                               getattr(customer, name), name, instant)
        document[name] = value.isoformat() if isinstance(value, date) else value
    effective = [row for row in rows if row.effective_at <= instant]
    contracted = next((row.mrr_cents for row in reversed(effective) if row.kind != "churn"), 0)
    document["mrr"] = money.for_machines(contracted)
    last = effective[-1] if effective else None
    churned = last is not None and last.kind == "churn"
    document["churned_at"] = clock.iso(last.effective_at) if churned else None  # type: ignore[union-attr]
    document["churn_reason"] = getattr(last, "reason", None) if churned else None
    p = PhaseChange.__table__.c
    later = session.execute(
        select(p.from_phase).where(p.customer_id == customer.id, p.changed_at > instant)
        .order_by(p.changed_at, p.id).limit(1)).first()
    if later is not None:
        document["phase"] = later.from_phase  # None: the phase then is unknown
    return document


def _weekly(connection: Connection, customer_id: int, spans: list[Span],
            as_of: datetime) -> list[dict[str, Any]]:
    """Per week: satisfaction % and NPS of the feedback received, availability % and the
    nearest-rank p95 latency of the checks made (each one aggregate per week: reports._per_week)."""
    f, h = Feedback.__table__.c, HealthCheck.__table__.c
    edges = [spans[0].start] + [min(s.end, as_of) for s in spans] if spans else []
    if not spans:
        return []
    feedback = _per_week(connection, f.received_at, edges, {
        "score_sum": func.coalesce(func.sum(f.satisfaction), 0),
        "answered": func.count(f.nps),
        "promoters": _count_if(f.nps >= 9),
        "detractors": _count_if(f.nps <= 6)}, where=f.customer_id == customer_id)
    checks = _per_week(connection, h.checked_at, edges, {
        "not_down": _count_if(h.status != "down"),
        "with_latency": func.count(h.latency_ms)}, where=h.customer_id == customer_id)
    weeks = []
    for index, span in enumerate(spans):
        fb, hc = feedback[index], checks[index]
        responses, answered = int(fb["rows"]), int(fb["answered"] or 0)
        count, with_latency = int(hc["rows"]), int(hc["with_latency"] or 0)
        in_week = ((h.customer_id == customer_id) & (h.checked_at >= clock.to_db(edges[index]))
                   & (h.checked_at < clock.to_db(edges[index + 1])) & h.latency_ms.isnot(None))
        p95 = _value_at_rank(connection, h.latency_ms, metrics.nearest_rank(with_latency, 95),
                             with_latency, in_week)
        weeks.append({
            "week": span.label, "start": clock.iso(span.start), "end": clock.iso(span.end),
            "responses": responses,
            "satisfaction_pct": metrics.satisfaction_pct(int(fb["score_sum"] or 0), responses),
            "nps": metrics.nps(int(fb["promoters"] or 0), int(fb["detractors"] or 0), answered),
            "checks": count,
            "availability_pct": metrics.availability_pct(int(hc["not_down"] or 0), count),
            "p95_latency_ms": None if p95 is None else float(metrics.round_half_up(p95, 1)),
        })
    return weeks


HEALTH_FIELDS = ("score", "color", "technical", "sentiment", "engagement")


def _health_then_and_now(session: Any, customer: Customer, settings: Any, quarter: Quarter,
                         as_of: datetime) -> dict[str, Any]:
    """The health score `customer show` would have shown just before the quarter began and just
    before its end (as_of), with its components."""
    def at(instant: datetime) -> dict[str, Any]:
        summary = health_summary(session, customer, settings, instant - _JUST_BEFORE)
        return {name: summary[name] for name in HEALTH_FIELDS}

    start, end = at(quarter.start), at(as_of)
    change = (None if start["score"] is None or end["score"] is None
              else end["score"] - start["score"])
    return {"start": start, "end": end, "change": change}


def _then(instant: datetime | None, as_of: datetime) -> str | None:
    return clock.iso(instant) if instant is not None and instant < clock.to_db(as_of) else None


def _alerts(connection: Connection, customer_id: int, quarter: Quarter,
            as_of: datetime) -> list[dict[str, Any]]:
    a = Alert.__table__.c
    rows = connection.execute(
        select(a.id, a.rule, a.text, a.score, a.created_at, a.notified_at, a.acked_at)
        .where(a.customer_id == customer_id, a.created_at >= clock.to_db(quarter.start),
               a.created_at < clock.to_db(as_of)).order_by(a.created_at, a.id))
    return [{"id": r.id, "rule": r.rule, "text": r.text,
             "score": None if r.score is None else float(r.score),
             "created_at": clock.iso(r.created_at), "notified_at": _then(r.notified_at, as_of),
             "acked_at": _then(r.acked_at, as_of)} for r in rows]


def _tasks(connection: Connection, customer_id: int, quarter: Quarter,
           as_of: datetime) -> dict[str, list[dict[str, Any]]]:
    """Tasks done within the quarter, and those open at its end (created by then, not done by
    then — a task done later was still open)."""
    t = Task.__table__.c
    end, start = clock.to_db(as_of), clock.to_db(quarter.start)
    rows = connection.execute(
        select(t.id, t.title, t.owner, t.due_on, t.playbook, t.created_at, t.done_at,
               t.done_note)
        .where(t.customer_id == customer_id, t.created_at < end)
        .order_by(t.created_at, t.id)).all()

    def task(r: Any, done: bool) -> dict[str, Any]:
        return {"id": r.id, "title": r.title, "owner": r.owner,
                "due_on": r.due_on.isoformat() if r.due_on else None, "playbook": r.playbook,
                "created_at": clock.iso(r.created_at),
                "done_at": clock.iso(r.done_at) if done else None,
                "done_note": r.done_note if done else None}

    done = [task(r, True) for r in rows
            if r.done_at is not None and start <= r.done_at < end]
    open_ = [task(r, False) for r in rows if r.done_at is None or r.done_at >= end]
    done.sort(key=lambda d: (d["done_at"], d["id"]))
    return {"done": done, "open": open_}


def _notes(connection: Connection, customer_id: int, quarter: Quarter,
           as_of: datetime) -> list[dict[str, Any]]:
    n = Note.__table__.c
    rows = connection.execute(
        select(n.at, n.text, n.author).where(
            n.customer_id == customer_id, n.at >= clock.to_db(quarter.start),
            n.at < clock.to_db(as_of)).order_by(n.at, n.id))
    return [{"at": clock.iso(r.at), "text": r.text, "author": r.author} for r in rows]
