"""A customer's history as one chronological list (`unmo customer timeline`): one query per
source table, each bounded by the customer and `--since` on its (customer_id, time) index, the
rows turned into events and merged in time order. Health is shown by its status transitions
only, found in SQL with LAG() (SQLite ≥ 3.25, PostgreSQL), so 10,000 checks that change
nothing never reach Python. Read through db/tables.py's Core clauses (the customer too, as a
plain row): a timeline builds none of the model classes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from unmo_cli import clock, metrics, money
from unmo_cli.db.tables import (
    alerts,
    api_keys,
    customer_changes,
    email_sendings,
    feedback,
    health_checks,
    mrr_changes,
    notes,
    onboarding_sessions,
    phase_changes,
    survey_invitations,
    tasks,
)
from unmo_cli.errors import InputError
from unmo_cli.services.customer_lookup import customer_row_session
from unmo_cli.text import address_hint, one_line
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.engine import Connection, Row

    from unmo_cli.workspace import Workspace

# Every kind of event, in the order events of one instant are listed (an alert after the
# feedback that raised it, an acknowledgement after its alert).
KINDS = ("onboarded", "phase", "mrr", "change", "churn", "reactivation", "key", "email",
         "survey", "feedback", "alert", "alert_ack", "health", "note", "task", "task_done")
_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
# How much of a free text (a comment, a note, a reason) the one-line summary quotes; details
# hold it whole.
SUMMARY_TEXT = 160
MAX_LIMIT = 1_000_000_000  # --limit: as feedback list's, more than any workspace holds


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened to the customer. `at` is naive UTC; `row_id` orders the events
    of one kind at one instant (the order they were recorded)."""

    at: datetime
    kind: str
    summary: str
    details: dict[str, Any] | None  # None when the timeline was asked without them
    row_id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "kind": self.kind, "summary": self.summary,
                "details": self.details}


def _iso(value: datetime | None) -> str | None:
    """clock.iso, with its common case (a naive UTC value, as both databases return them) first,
    without its conversions: a timeline of 10,000 events formats 14,000 of them."""
    if value is not None and value.tzinfo is None:
        return value.isoformat() + "Z"
    return clock.iso(value)


@dataclass(frozen=True)
class Timeline:
    customer: str
    events: list[Event]


@dataclass(frozen=True)
class _Query:
    """What every source is asked: this customer, from `since` on (naive UTC; None: from the
    start), at most the `limit` most recent rows (None: all)."""

    customer: Row[Any]  # the customers row (services.customer_lookup.customer_row)
    since: datetime | None
    limit: int | None
    details: bool = True  # False: events without their details (a table shows none)

    @property
    def id(self) -> int:
        assert self.customer.id is not None
        return self.customer.id

    def bounded(self, query: Select, at: Any, row_id: Any) -> Select:
        """`query` from `since` on, in time order; with a limit, the most recent rows first (the
        merge puts them back in order and keeps the last `limit` of all)."""
        if self.since is not None:
            query = query.where(at >= self.since)
        if self.limit is not None:
            return query.order_by(at.desc(), row_id.desc()).limit(self.limit)
        return query.order_by(at, row_id)


def parse_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """The kinds asked for (all when none is named); InputError naming the known ones."""
    asked: list[str] = []
    for given in kinds or ():
        for part in given.split(","):
            kind = part.strip().lower()
            if kind not in _RANK:
                raise InputError(f"--kind {part.strip()!r} is not one of {', '.join(KINDS)}.")
            asked.append(kind)
    return tuple(dict.fromkeys(asked)) if asked else KINDS


def customer_timeline(ws: Workspace | None, slug: str, *, since: str | None = None,
                      kinds: Iterable[str] | None = None, limit: int | None = None,
                      details: bool = True) -> Timeline:
    """`unmo customer timeline`: the customer's events of the `kinds` asked (all by default),
    from `since` on, oldest first; with `limit`, only the most recent `limit` of them. Without
    `details`, each event's `details` is None (the table's 10,000 rows build none)."""
    wanted = parse_kinds(kinds)
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"--limit {limit} must be between 1 and {MAX_LIMIT:,}.")
    ws = ws if ws is not None else load_workspace()
    start = clock.to_db(clock.parse_day_or_instant(since, ws.settings.timezone, what="--since")
                        ) if since is not None else None
    with customer_row_session(ws, slug) as (session, customer):
        asked = _Query(customer, start, limit, details)
        events: list[Event] = []
        for produces, source in SOURCES:
            chosen = [kind for kind in produces if kind in wanted]
            if chosen:
                events.extend(e for e in source(session, asked, chosen)
                              if start is None or e.at >= start)
        events.sort(key=lambda e: (e.at, _RANK[e.kind], e.row_id))
        if limit is not None:
            events = events[-limit:]
        return Timeline(customer.slug, events)


# --- the sources --------------------------------------------------------------------------------


def _cut(text: str | None, limit: int = SUMMARY_TEXT) -> str:
    """Free text as one line of at most `limit` characters, for a summary."""
    flat = text or ""
    if not flat.isprintable():  # line breaks, tabs, anything text_problem refuses
        flat = " ".join(one_line(flat).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _quoted(text: str | None) -> str:
    return f": “{_cut(text)}”" if text and text.strip() else ""


def _onboarded(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    c = asked.customer
    if asked.since is not None and c.created_at < asked.since:
        return []
    m, o = mrr_changes.c, onboarding_sessions.c
    start = session.execute(select(m.mrr_cents).where(m.customer_id == asked.id,
                                                      m.kind == "start")
                            .order_by(m.effective_at, m.id).limit(1)).scalar()
    cents = c.mrr_cents if start is None else start
    recorded = session.execute(
        select(o.mode, o.duration_s).where(o.customer_id == asked.id, o.outcome == "success")
        .order_by(o.finished_at, o.id).limit(1)).first()
    integration = c.integration + (f" ({c.platforms.replace(',', ', ')})" if c.platforms else "")
    leaving = "" if c.provider in ("none", "other") else f", leaving {c.provider}"
    return [Event(c.created_at, "onboarded",
                  f"onboarded {_cut(c.name)}: {integration} integration, "
                  f"{money.for_people(cents)} a month{leaving}",
                  {"name": c.name, "industry": c.industry, "integration": c.integration,
                   "platforms": [p for p in c.platforms.split(",") if p],
                   "provider": c.provider, "events_per_day": c.events_per_day,
                   "mrr": money.for_machines(cents),
                   "mode": recorded.mode if recorded else None,
                   "duration_s": round(recorded.duration_s, 4) if recorded else None})]


def _phases(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    p = phase_changes.c
    rows = session.execute(asked.bounded(
        select(p.id, p.changed_at, p.from_phase, p.to_phase).where(p.customer_id == asked.id),
        p.changed_at, p.id))
    return [Event(r.changed_at, "phase",
                  f"phase {r.from_phase} → {r.to_phase}" if r.from_phase else
                  f"in the {r.to_phase} phase (when phase history began; the phase before is "
                  "not recorded)",
                  {"from": r.from_phase, "to": r.to_phase} if asked.details else None, r.id)
            for r in rows]


def _record_changes(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    ch = customer_changes.c
    rows = session.execute(asked.bounded(
        select(ch.id, ch.field, ch.old_value, ch.new_value, ch.effective_at, ch.recorded_at)
        .where(ch.customer_id == asked.id), ch.effective_at, ch.id))
    return [Event(r.effective_at, "change",
                  f"{r.field} {_cut(r.old_value) or '—'} → {_cut(r.new_value) or '—'}",
                  {"field": r.field, "old": r.old_value, "new": r.new_value,
                   "recorded_at": _iso(r.recorded_at)} if asked.details else None, r.id)
            for r in rows]


def _lag_window(asked: _Query, table_at: Any, customer_column: Any) -> Any:
    """Where a LAG() window must start for the rows from `since` on to see the row before
    them: at the last time before `since` (None: no bound, when there is no `since`)."""
    if asked.since is None:
        return None
    before = select(func.max(table_at)).where(customer_column == asked.id,
                                              table_at < asked.since).scalar_subquery()
    return func.coalesce(before, asked.since)


_LEDGER_KINDS = {"mrr": "change", "churn": "churn", "reactivation": "reactivation"}


def _ledger(session: Connection, asked: _Query, kinds: Sequence[str]) -> list[Event]:
    m = mrr_changes.c
    previous = func.lag(m.mrr_cents).over(order_by=(m.effective_at, m.id)).label("previous")
    inner = select(m.id, m.kind, m.mrr_cents, m.effective_at, m.recorded_at, m.reason,
                   previous).where(m.customer_id == asked.id)
    window = _lag_window(asked, m.effective_at, m.customer_id)
    if window is not None:
        inner = inner.where(m.effective_at >= window)
    rows = inner.subquery()
    query = select(rows).where(rows.c.kind.in_([_LEDGER_KINDS[k] for k in kinds]))
    events = []
    for r in session.execute(asked.bounded(query, rows.c.effective_at, rows.c.id)):
        before = r.previous or 0
        moved, _cents = metrics.mrr_movement(before, r.kind, r.mrr_cents)
        details = {"movement": moved, "mrr_before": money.for_machines(before),
                   "mrr_after": money.for_machines(r.mrr_cents),
                   "recorded_at": _iso(r.recorded_at)} if asked.details else None
        if r.kind == "churn":
            if details is not None:
                details["reason"] = r.reason
            events.append(Event(r.effective_at, "churn",
                                f"churned, {money.for_people(before)} a month lost"
                                f"{_quoted(r.reason)}", details, r.id))
        elif r.kind == "reactivation":
            events.append(Event(r.effective_at, "reactivation",
                                f"reactivated at {money.for_people(r.mrr_cents)} a month",
                                details, r.id))
        else:
            what = "no change" if moved == "none" else moved
            events.append(Event(r.effective_at, "mrr",
                                f"MRR {money.for_people(before)} → "
                                f"{money.for_people(r.mrr_cents)} ({what})", details, r.id))
    return events


def _keys(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    """Keys issued after onboarding and keys revoked; a revocation and a new key of the same
    kind and environment at the same instant are one rotation."""
    k = api_keys.c
    query = select(k.id, k.kind, k.environment, k.hint, k.created_at, k.revoked_at).where(
        k.customer_id == asked.id,
        or_(k.created_at > asked.customer.created_at, k.revoked_at.is_not(None)))
    if asked.since is not None:
        query = query.where(or_(k.created_at >= asked.since, k.revoked_at >= asked.since))
    rows = list(session.execute(query.order_by(k.id)))
    revoked = {(r.kind, r.environment, r.revoked_at): r for r in rows if r.revoked_at}
    events = []
    for r in rows:
        if r.created_at <= asked.customer.created_at:
            continue
        old = revoked.pop((r.kind, r.environment, r.created_at), None)
        details = {"kind": r.kind, "environment": r.environment,
                   "old_hint": old.hint if old else None,
                   "new_hint": r.hint} if asked.details else None
        summary = (f"{r.kind} {r.environment} key rotated: {old.hint} → {r.hint}" if old
                   else f"new {r.kind} {r.environment} key {r.hint}")
        events.append(Event(r.created_at, "key", summary, details, r.id))
    for r in revoked.values():
        events.append(Event(r.revoked_at, "key", f"{r.kind} {r.environment} key {r.hint} "
                            "revoked", {"kind": r.kind, "environment": r.environment,
                                        "old_hint": r.hint, "new_hint": None}, r.id))
    return events


def _feedback(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    f = feedback.c
    rows = session.execute(asked.bounded(
        select(f.id, f.received_at, f.satisfaction, f.nps, f.category, f.comment, f.source)
        .where(f.customer_id == asked.id), f.received_at, f.id))
    events = []
    for r in rows:
        nps = f"NPS {r.nps}/10" if r.nps is not None else "no NPS answer"
        source = "" if r.source == "cli" else f" ({r.source})"
        events.append(Event(
            r.received_at, "feedback",
            f"feedback{source}: satisfaction {r.satisfaction}/10, {nps}, {r.category}"
            f"{_quoted(r.comment)}",
            {"id": r.id, "satisfaction": r.satisfaction, "nps": r.nps, "category": r.category,
             "comment": r.comment, "source": r.source} if asked.details else None, r.id))
    return events


def _alert_line(text: str) -> str:
    """An alert's text without its headline (the rule, the customer): what `alerts list` shows."""
    lines = text.split("\n", 2)
    return lines[1] if len(lines) > 1 else lines[0]


def _alerts(session: Connection, asked: _Query, kinds: Sequence[str]) -> list[Event]:
    a = alerts.c
    columns = (a.id, a.rule, a.text, a.score, a.created_at, a.notified_at, a.acked_at)
    events = []
    if "alert" in kinds:
        for r in session.execute(asked.bounded(select(*columns).where(
                a.customer_id == asked.id), a.created_at, a.id)):
            events.append(Event(r.created_at, "alert",
                                f"alert #{r.id} {r.rule}: {_cut(_alert_line(r.text))}",
                                {"id": r.id, "rule": r.rule, "score": r.score, "text": r.text,
                                 "notified_at": _iso(r.notified_at)} if asked.details else None,
                                r.id))
    if "alert_ack" in kinds:
        for r in session.execute(asked.bounded(select(*columns).where(
                a.customer_id == asked.id, a.acked_at.is_not(None)), a.acked_at, a.id)):
            events.append(Event(r.acked_at, "alert_ack", f"alert #{r.id} {r.rule} acknowledged",
                                {"id": r.id, "rule": r.rule, "raised_at": _iso(r.created_at)}
                                if asked.details else None, r.id))
    return events


def _health(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    """The checks whose status differs from the check before (the first check too).

    On SQLite the window reads only what ix_health_checks_customer_cover holds (customer,
    time, status, latency; the rowid is the id), so the 22,500 checks of a long history are
    never visited, and the transitions' HTTP status and error are read by primary key (EXPLAIN
    QUERY PLAN: a covering-index search, then one rowid search per transition). PostgreSQL's
    index does not hold the id, so it visits each check for it anyway, and the same join
    there is planned as a hash join over every customer's checks: it reads them in the
    window."""
    h = health_checks.c
    previous = func.lag(h.status).over(order_by=(h.checked_at, h.id)).label("previous")
    covered = session.dialect.name == "sqlite"
    inner = select(h.id, h.checked_at, h.status, h.latency_ms, previous,
                   *(() if covered else (h.http_status, h.error))).where(
        h.customer_id == asked.id)
    window = _lag_window(asked, h.checked_at, h.customer_id)
    if window is not None:
        inner = inner.where(h.checked_at >= window)
    rows = inner.subquery()
    if covered:
        detail = health_checks.alias("detail")
        changed = select(rows, detail.c.http_status, detail.c.error).join_from(
            rows, detail, detail.c.id == rows.c.id)
    else:
        changed = select(rows)
    changed = changed.where(or_(rows.c.previous.is_(None), rows.c.previous != rows.c.status))
    events = []
    for r in session.execute(asked.bounded(changed, rows.c.checked_at, rows.c.id)):
        how = f"HTTP {r.http_status}" if r.http_status is not None else None
        if r.error:
            how = f"{how}: {_cut(r.error, 100)}" if how else _cut(r.error, 100)
        summary = (f"health {r.previous} → {r.status}" if r.previous else
                   f"health: first check {r.status}") + (f" ({how})" if how and
                                                         r.status != "healthy" else "")
        events.append(Event(r.checked_at, "health", summary,
                            {"from": r.previous, "to": r.status, "http_status": r.http_status,
                             "latency_ms": r.latency_ms, "error": r.error}
                            if asked.details else None, r.id))
    return events


def _notes(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    n = notes.c
    rows = session.execute(asked.bounded(
        select(n.id, n.at, n.text, n.author, n.recorded_at).where(n.customer_id == asked.id),
        n.at, n.id))
    return [Event(r.at, "note", f"note{f' by {_cut(r.author, 60)}' if r.author else ''}"
                  f"{_quoted(r.text)}",
                  {"text": r.text, "author": r.author, "recorded_at": _iso(r.recorded_at)}
                  if asked.details else None, r.id) for r in rows]


def _task_details(r: Any) -> dict[str, Any]:
    return {"id": r.id, "title": r.title, "owner": r.owner,
            "due_on": r.due_on.isoformat() if r.due_on else None, "playbook": r.playbook,
            "status": r.status, "done_note": r.done_note}


def _tasks(session: Connection, asked: _Query, kinds: Sequence[str]) -> list[Event]:
    t = tasks.c
    columns = (t.id, t.title, t.owner, t.due_on, t.playbook, t.status, t.created_at, t.done_at,
               t.done_note)
    events = []
    if "task" in kinds:
        for r in session.execute(asked.bounded(select(*columns).where(
                t.customer_id == asked.id), t.created_at, t.id)):
            who = [f"for {_cut(r.owner, 60)}"] if r.owner else []
            who += [f"due {r.due_on.isoformat()}"] if r.due_on else []
            who += [f"playbook {r.playbook}"] if r.playbook else []
            events.append(Event(r.created_at, "task", f"task #{r.id}: {_cut(r.title)}"
                                + (f" ({', '.join(who)})" if who else ""),
                                _task_details(r) if asked.details else None, r.id))
    if "task_done" in kinds:
        for r in session.execute(asked.bounded(select(*columns).where(
                t.customer_id == asked.id, t.done_at.is_not(None)), t.done_at, t.id)):
            events.append(Event(r.done_at, "task_done", f"task #{r.id} done: {_cut(r.title)}"
                                f"{_quoted(r.done_note)}",
                                _task_details(r) if asked.details else None, r.id))
    return events


_OUTCOME = {"sent": "sent", "failed": "not sent", "unknown": "handed over without an answer "
            "(may have arrived)", "pending": "being sent"}


def _emails(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    """E-mails sent (or tried), addressed as output shows an address: its domain only."""
    e = email_sendings.c
    at = func.coalesce(e.sent_at, e.attempted_at).label("at")
    rows = list(session.execute(asked.bounded(
        select(e.id, e.kind, e.message_id, e.outcome, e.answer, e.attempts, e.attempted_at, at)
        .where(e.customer_id == asked.id), at, e.id)))
    address = _contact_address(session, asked.customer) if rows else None
    events = []
    for r in rows:
        to = address_hint(address(r.attempted_at))  # type: ignore[misc]
        answer = f" ({_cut(r.answer, 100)})" if r.answer and r.outcome != "sent" else ""
        events.append(Event(r.at, "email",
                            f"{r.kind} e-mail to {to} {_OUTCOME.get(r.outcome, r.outcome)}"
                            f"{answer}",
                            {"kind": r.kind, "message_id": r.message_id, "to": to,
                             "outcome": r.outcome, "attempts": r.attempts,
                             "answer": r.answer} if asked.details else None, r.id))
    return events


def _contact_address(session: Connection, customer: Row[Any]) -> Callable[[datetime], str]:
    """The contact address the customers row held at a real instant (an e-mail goes to the one
    it holds then): the latest effective change recorded by then, else the value the first
    recorded change replaced, else today's."""
    ch = customer_changes.c
    changes = list(session.execute(
        select(ch.id, ch.old_value, ch.new_value, ch.effective_at, ch.recorded_at)
        .where(ch.customer_id == customer.id, ch.field == "contact_email")
        .order_by(ch.recorded_at, ch.id)))

    def at(instant: datetime) -> str:
        known = [c for c in changes if c.recorded_at <= instant]
        if known:
            latest = max(known, key=lambda c: (c.effective_at, c.id))
            return latest.new_value or ""
        if changes:
            return changes[0].old_value or ""
        return customer.contact_email

    return at


def _surveys(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    s, f = survey_invitations.c, feedback.c
    rows = session.execute(asked.bounded(
        select(s.id, s.first_answered_at, s.answered_at, s.answers, f.satisfaction, f.nps)
        .select_from(survey_invitations.outerjoin(
            feedback, f.id == s.feedback_id))
        .where(s.customer_id == asked.id, s.first_answered_at.is_not(None)),
        s.first_answered_at, s.id))
    events = []
    for r in rows:
        scores = [f"satisfaction {r.satisfaction}/10"] if r.satisfaction is not None else []
        scores += [f"NPS {r.nps}/10"] if r.nps is not None else []
        again = f"; answered {r.answers} times" if r.answers > 1 else ""
        events.append(Event(r.first_answered_at, "survey",
                            f"survey answered{': ' + ', '.join(scores) if scores else ''}{again}",
                            {"answers": r.answers, "answered_at": _iso(r.answered_at),
                             "satisfaction": r.satisfaction, "nps": r.nps}, r.id))
    return events


Source = Callable[["Connection", _Query, Sequence[str]], list[Event]]
# Each source and the kinds it produces.
SOURCES: tuple[tuple[tuple[str, ...], Source], ...] = (
    (("onboarded",), _onboarded),
    (("phase",), _phases),
    (("mrr", "churn", "reactivation"), _ledger),
    (("change",), _record_changes),
    (("key",), _keys),
    (("email",), _emails),
    (("survey",), _surveys),
    (("feedback",), _feedback),
    (("alert", "alert_ack"), _alerts),
    (("health",), _health),
    (("note",), _notes),
    (("task", "task_done"), _tasks),
)
