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


@dataclass(slots=True)
class Event:
    """One thing that happened to the customer. `at` is naive UTC; `row_id` orders the events
    of one kind at one instant (the order they were recorded). Not frozen: that would set each
    field through object.__setattr__, four times the cost of building one."""

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


def _all(session: Connection, query: Select) -> Sequence[Row[Any]]:
    """The rows of `query`, read in one fetchall: psycopg's fetchone per row, which iterating a
    result costs, was a tenth of a 10,000-event timeline's reading on PostgreSQL."""
    return session.execute(query).all()


def _cut(text: str | None, limit: int = SUMMARY_TEXT) -> str:
    """Free text as one line of at most `limit` characters, for a summary."""
    flat = text or ""
    if not flat.isprintable():  # line breaks, tabs, anything text_problem refuses
        words = " ".join(flat.split())
        # one_line replaces white space (split drops it) and unprintable characters: when none
        # of those is left, these are its words, without its regular expression.
        flat = words if words.isprintable() else " ".join(one_line(flat).split())
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
    rows = _all(session, asked.bounded(
        select(p.id, p.changed_at, p.from_phase, p.to_phase).where(p.customer_id == asked.id),
        p.changed_at, p.id))
    return [Event(changed_at, "phase",
                  f"phase {from_phase} → {to_phase}" if from_phase else
                  f"in the {to_phase} phase (when phase history began; the phase before is "
                  "not recorded)",
                  {"from": from_phase, "to": to_phase} if asked.details else None, row_id)
            for row_id, changed_at, from_phase, to_phase in rows]


def _record_changes(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    ch = customer_changes.c
    rows = _all(session, asked.bounded(
        select(ch.id, ch.field, ch.old_value, ch.new_value, ch.effective_at, ch.recorded_at)
        .where(ch.customer_id == asked.id), ch.effective_at, ch.id))
    return [Event(effective_at, "change",
                  f"{field} {_cut(old) or '—'} → {_cut(new) or '—'}",
                  {"field": field, "old": old, "new": new,
                   "recorded_at": _iso(recorded_at)} if asked.details else None, row_id)
            for row_id, field, old, new, effective_at, recorded_at in rows]


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
    for row_id, kind, cents, effective_at, recorded_at, reason, previous in _all(
            session, asked.bounded(query, rows.c.effective_at, rows.c.id)):
        before = previous or 0
        moved, _cents = metrics.mrr_movement(before, kind, cents)
        details = {"movement": moved, "mrr_before": money.for_machines(before),
                   "mrr_after": money.for_machines(cents),
                   "recorded_at": _iso(recorded_at)} if asked.details else None
        if kind == "churn":
            if details is not None:
                details["reason"] = reason
            events.append(Event(effective_at, "churn",
                                f"churned, {money.for_people(before)} a month lost"
                                f"{_quoted(reason)}", details, row_id))
        elif kind == "reactivation":
            events.append(Event(effective_at, "reactivation",
                                f"reactivated at {money.for_people(cents)} a month",
                                details, row_id))
        else:
            what = "no change" if moved == "none" else moved
            events.append(Event(effective_at, "mrr",
                                f"MRR {money.for_people(before)} → "
                                f"{money.for_people(cents)} ({what})", details, row_id))
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
    rows = _all(session, query.order_by(k.id))
    # (kind, environment, revoked at): (id, hint) of the key revoked then
    revoked = {(kind, environment, revoked_at): (row_id, hint)
               for row_id, kind, environment, hint, _created, revoked_at in rows if revoked_at}
    events = []
    onboarded = asked.customer.created_at
    for row_id, kind, environment, hint, created_at, _revoked in rows:
        if created_at <= onboarded:
            continue
        old = revoked.pop((kind, environment, created_at), None)
        summary = (f"{kind} {environment} key rotated: {old[1]} → {hint}" if old
                   else f"new {kind} {environment} key {hint}")
        events.append(Event(created_at, "key", summary,
                            {"kind": kind, "environment": environment,
                             "old_hint": old[1] if old else None,
                             "new_hint": hint} if asked.details else None, row_id))
    for (kind, environment, revoked_at), (row_id, hint) in revoked.items():
        events.append(Event(revoked_at, "key", f"{kind} {environment} key {hint} revoked",
                            {"kind": kind, "environment": environment, "old_hint": hint,
                             "new_hint": None}, row_id))
    return events


def _feedback(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    f = feedback.c
    rows = _all(session, asked.bounded(
        select(f.id, f.received_at, f.satisfaction, f.nps, f.category, f.comment, f.source)
        .where(f.customer_id == asked.id), f.received_at, f.id))
    events = []
    for row_id, received_at, satisfaction, nps, category, comment, source in rows:
        answer = f"NPS {nps}/10" if nps is not None else "no NPS answer"
        via = "" if source == "cli" else f" ({source})"
        events.append(Event(
            received_at, "feedback",
            f"feedback{via}: satisfaction {satisfaction}/10, {answer}, {category}"
            f"{_quoted(comment)}",
            {"id": row_id, "satisfaction": satisfaction, "nps": nps, "category": category,
             "comment": comment, "source": source} if asked.details else None, row_id))
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
        for row_id, rule, text, score, created_at, notified_at, _acked in _all(
                session, asked.bounded(select(*columns).where(
                    a.customer_id == asked.id), a.created_at, a.id)):
            events.append(Event(created_at, "alert",
                                f"alert #{row_id} {rule}: {_cut(_alert_line(text))}",
                                {"id": row_id, "rule": rule, "score": score, "text": text,
                                 "notified_at": _iso(notified_at)} if asked.details else None,
                                row_id))
    if "alert_ack" in kinds:
        for row_id, rule, _text, _score, created_at, _notified, acked_at in _all(
                session, asked.bounded(select(*columns).where(
                    a.customer_id == asked.id, a.acked_at.is_not(None)), a.acked_at, a.id)):
            events.append(Event(acked_at, "alert_ack", f"alert #{row_id} {rule} acknowledged",
                                {"id": row_id, "rule": rule, "raised_at": _iso(created_at)}
                                if asked.details else None, row_id))
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
    # the same columns in the same order on both databases
    for row_id, checked_at, status, latency_ms, previous, http_status, error in _all(
            session, asked.bounded(changed, rows.c.checked_at, rows.c.id)):
        how = f"HTTP {http_status}" if http_status is not None else None
        if error:
            how = f"{how}: {_cut(error, 100)}" if how else _cut(error, 100)
        summary = (f"health {previous} → {status}" if previous else
                   f"health: first check {status}") + (f" ({how})" if how and
                                                       status != "healthy" else "")
        events.append(Event(checked_at, "health", summary,
                            {"from": previous, "to": status, "http_status": http_status,
                             "latency_ms": latency_ms, "error": error}
                            if asked.details else None, row_id))
    return events


def _notes(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    n = notes.c
    rows = _all(session, asked.bounded(
        select(n.id, n.at, n.text, n.author, n.recorded_at).where(n.customer_id == asked.id),
        n.at, n.id))
    return [Event(at, "note", f"note{f' by {_cut(author, 60)}' if author else ''}"
                  f"{_quoted(text)}",
                  {"text": text, "author": author, "recorded_at": _iso(recorded_at)}
                  if asked.details else None, row_id)
            for row_id, at, text, author, recorded_at in rows]


def _task_details(row: Row[Any]) -> dict[str, Any]:
    row_id, title, owner, due_on, playbook, status, _created, _done, done_note = row
    return {"id": row_id, "title": title, "owner": owner,
            "due_on": due_on.isoformat() if due_on else None, "playbook": playbook,
            "status": status, "done_note": done_note}


def _tasks(session: Connection, asked: _Query, kinds: Sequence[str]) -> list[Event]:
    t = tasks.c
    columns = (t.id, t.title, t.owner, t.due_on, t.playbook, t.status, t.created_at, t.done_at,
               t.done_note)
    events = []
    if "task" in kinds:
        for row in _all(session, asked.bounded(select(*columns).where(
                t.customer_id == asked.id), t.created_at, t.id)):
            row_id, title, owner, due_on, playbook, _status, created_at, _done, _note = row
            who = [f"for {_cut(owner, 60)}"] if owner else []
            who += [f"due {due_on.isoformat()}"] if due_on else []
            who += [f"playbook {playbook}"] if playbook else []
            events.append(Event(created_at, "task", f"task #{row_id}: {_cut(title)}"
                                + (f" ({', '.join(who)})" if who else ""),
                                _task_details(row) if asked.details else None, row_id))
    if "task_done" in kinds:
        for row in _all(session, asked.bounded(select(*columns).where(
                t.customer_id == asked.id, t.done_at.is_not(None)), t.done_at, t.id)):
            row_id, title, _owner, _due, _playbook, _status, _created, done_at, done_note = row
            events.append(Event(done_at, "task_done", f"task #{row_id} done: {_cut(title)}"
                                f"{_quoted(done_note)}",
                                _task_details(row) if asked.details else None, row_id))
    return events


_OUTCOME = {"sent": "sent", "failed": "not sent", "unknown": "handed over without an answer "
            "(may have arrived)", "pending": "being sent"}


def _emails(session: Connection, asked: _Query, _kinds: Sequence[str]) -> list[Event]:
    """E-mails sent (or tried), addressed as output shows an address: its domain only."""
    e = email_sendings.c
    at = func.coalesce(e.sent_at, e.attempted_at).label("at")
    rows = _all(session, asked.bounded(
        select(e.id, e.kind, e.message_id, e.outcome, e.answer, e.attempts, e.attempted_at, at)
        .where(e.customer_id == asked.id), at, e.id))
    address = _contact_address(session, asked.customer) if rows else None
    events = []
    for row_id, kind, message_id, outcome, answer, attempts, attempted_at, at in rows:
        to = address_hint(address(attempted_at))  # type: ignore[misc]
        why = f" ({_cut(answer, 100)})" if answer and outcome != "sent" else ""
        events.append(Event(at, "email",
                            f"{kind} e-mail to {to} {_OUTCOME.get(outcome, outcome)}{why}",
                            {"kind": kind, "message_id": message_id, "to": to,
                             "outcome": outcome, "attempts": attempts,
                             "answer": answer} if asked.details else None, row_id))
    return events


def _contact_address(session: Connection, customer: Row[Any]) -> Callable[[datetime], str]:
    """The contact address the customers row held at a real instant (an e-mail goes to the one
    it holds then): the latest effective change recorded by then, else the value the first
    recorded change replaced, else today's."""
    ch = customer_changes.c
    changes = _all(session,
        select(ch.id, ch.old_value, ch.new_value, ch.effective_at, ch.recorded_at)
        .where(ch.customer_id == customer.id, ch.field == "contact_email")
        .order_by(ch.recorded_at, ch.id))

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
    rows = _all(session, asked.bounded(
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
