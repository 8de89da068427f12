"""Playbooks at work: when a trigger fires for a customer, each playbook on it opens a task — or,
when that playbook's task for the customer is still open, updates it (Gainsight's CTA rule: a
storm of detractors is one call to make, not twenty). The alert triggers fire where their alert
is raised, in its transaction (`fire_playbooks`); `renewal_due` and `silent` when `unmo task
sweep` finds them true (`sweep`).

One open task per customer and playbook is the database's rule (the partial unique index on
tasks): each firing is one INSERT … ON CONFLICT DO UPDATE against it, so two processes firing at
once end with one task whose `fired` counts both, on SQLite and PostgreSQL alike. An update
counts the firing (`fired`), sets `updated_at`, moves the due date earlier if the new firing's
is earlier (never later), and keeps the title and the owner (someone may have reassigned it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select, text

from unmo_cli import clock, testhooks
from unmo_cli.db import core_connection
from unmo_cli.db.tables import customers, feedback, tasks
from unmo_cli.playbooks import ALERT_TRIGGERS, SUCCESS_MANAGER, Playbook, add_business_days
from unmo_cli.services.customer_lookup import open_existing
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

    from unmo_cli.workspace import Settings, Workspace

OPEN_PLAYBOOK_TASK = "status = 'open' AND playbook IS NOT NULL"  # uq_tasks_open_playbook


@dataclass(frozen=True)
class Fired:
    """One playbook's firing for one customer: the task it opened or updated (`task_id`, None in
    a dry run) and why it fired."""

    customer: str
    trigger: str
    playbook: str
    title: str
    reason: str
    task_id: int | None = None
    created: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "trigger": self.trigger, "playbook": self.playbook,
                "title": self.title, "reason": self.reason, "task": self.task_id,
                "action": ("would fire" if self.task_id is None
                           else "created" if self.created else "updated")}


def _local_day(instant: datetime, timezone: str) -> date:
    return clock.from_db(clock.to_db(instant)).astimezone(ZoneInfo(timezone)).date()  # type: ignore[union-attr]


def upsert_task(session: Session | Connection, playbook: Playbook, customer_id: int,
                owner: str | None, now: datetime, timezone: str, *, count: int = 1,
                unless_since: datetime | None = None) -> tuple[int, bool] | None:
    """Open `playbook`'s task for the customer, or update its open one (`count` firings at
    once): (task id, created). `unless_since` (naive UTC) leaves an open task updated at or after
    it alone (a sweep's condition that already fired): None then."""
    stamp = clock.to_db(now)
    due = add_business_days(_local_day(now, timezone), playbook.due_business_days)
    table = tasks
    # Only the dialect the engine has loaded already: importing the PostgreSQL one at the top
    # would cost every feedback and health command on SQLite a third of a second.
    if core_connection(session).dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # lazy: loaded by the engine
    else:
        from sqlalchemy.dialects.sqlite import insert  # lazy: loaded by the engine
    statement = insert(table).values(
        customer_id=customer_id, title=playbook.task, owner=owner, due_on=due, status="open",
        playbook=playbook.key, fired=count, created_at=stamp, updated_at=stamp)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.customer_id, table.c.playbook],
        index_where=text(OPEN_PLAYBOOK_TASK),
        set_={"fired": table.c.fired + new.fired, "updated_at": new.updated_at,
              "owner": func.coalesce(table.c.owner, new.owner),
              "due_on": case((table.c.due_on.is_(None), new.due_on),
                             (new.due_on < table.c.due_on, new.due_on), else_=table.c.due_on)},
        where=None if unless_since is None else table.c.updated_at < unless_since,
    ).returning(table.c.id, table.c.fired)
    testhooks.checkpoint("task-fire")
    row = session.execute(statement).first()
    if row is None:
        return None
    return row[0], row[1] == count


def _owner_of(playbook: Playbook, success_manager: str | None) -> str | None:
    if playbook.owner != SUCCESS_MANAGER:
        return playbook.owner
    return success_manager.lower() if success_manager else None  # owners are lowercased


def fire_playbooks(session: Session | Connection, settings: Settings,
                   firings: Iterable[tuple[int, str]], *, now: datetime | None = None) -> list[int]:
    """The playbooks on the alert rules that just fired — (customer id, rule) pairs, as recorded
    in this transaction — open or update their tasks; returns the tasks' ids. Nothing to do (no
    playbook on these rules) costs no query."""
    playbooks = [p for p in settings.playbooks if p.on in ALERT_TRIGGERS]
    if not playbooks:
        return []
    counts = Counter((customer_id, p) for customer_id, rule in firings
                     for p in playbooks if p.on == rule)
    if not counts:
        return []
    now = now or clock.now()
    ids = sorted({customer_id for customer_id, _ in counts})
    managers = dict(session.execute(select(customers.c.id, customers.c.success_manager)
                                    .where(customers.c.id.in_(ids))).all())
    task_ids = []
    for (customer_id, playbook), count in sorted(counts.items(),
                                                  key=lambda item: (item[0][0], item[0][1].key)):
        found = upsert_task(session, playbook, customer_id,
                            _owner_of(playbook, managers.get(customer_id)), now,
                            settings.timezone, count=count)
        assert found is not None
        task_ids.append(found[0])
    return task_ids


# --- the time triggers: `unmo task sweep` ---------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """A time trigger found true for a customer: since when (naive UTC; a task of its playbook
    touched since then means this occasion has fired already) and why."""

    customer_id: int
    slug: str
    success_manager: str | None
    since: datetime
    reason: str


def _midnight(day: date, timezone: str) -> datetime:
    return clock.to_db(datetime.combine(day, time(), ZoneInfo(timezone)))


def _renewals(session: Session, playbook: Playbook, now: datetime, timezone: str) -> list[_Due]:
    """Active customers whose renewal date is at most `days` days away (and not past)."""
    assert playbook.days is not None
    day = _local_day(now, timezone)
    rows = session.execute(
        select(customers.c.id, customers.c.slug, customers.c.success_manager,
               customers.c.renewal_date)
        .where(customers.c.churned_at.is_(None), customers.c.renewal_date.is_not(None),
               customers.c.renewal_date >= day,
               customers.c.renewal_date <= day + timedelta(days=playbook.days))
        .order_by(customers.c.id))
    return [_Due(r[0], r[1], r[2], _midnight(r[3] - timedelta(days=playbook.days), timezone),
                 f"renewal on {r[3].isoformat()} (in {(r[3] - day).days} days)")
            for r in rows]


def _silences(session: Session, playbook: Playbook, now: datetime) -> list[_Due]:
    """Active customers without feedback for `days` days: since their latest response, or since
    they were onboarded when they never answered."""
    assert playbook.days is not None
    at = clock.to_db(now)
    cutoff = at - timedelta(days=playbook.days)
    latest = (select(feedback.c.customer_id, func.max(feedback.c.received_at).label("last"))
              .where(feedback.c.received_at <= at).group_by(feedback.c.customer_id).subquery())
    last = func.coalesce(latest.c.last, customers.c.created_at)
    rows = session.execute(
        select(customers.c.id, customers.c.slug, customers.c.success_manager, last, latest.c.last)
        .outerjoin(latest, latest.c.customer_id == customers.c.id)
        .where(customers.c.churned_at.is_(None), last <= cutoff).order_by(customers.c.id))
    found = []
    for r in rows:
        days = (at - r[3]).days
        why = (f"no feedback since {r[4]:%Y-%m-%d} ({days} days)" if r[4] is not None
               else f"no feedback since onboarding on {r[3]:%Y-%m-%d} ({days} days)")
        found.append(_Due(r[0], r[1], r[2], r[3] + timedelta(days=playbook.days), why))
    return found


def _already(session: Session, playbook: Playbook, due: _Due) -> bool:
    """Whether this occasion fired already: a task of the playbook for the customer (open or
    done) was touched since the condition became true."""
    return session.execute(
        select(tasks.c.id).where(tasks.c.customer_id == due.customer_id,
                              tasks.c.playbook == playbook.key, tasks.c.updated_at >= due.since)
        .limit(1)).first() is not None


def sweep(ws: Workspace | None = None, *, dry_run: bool = False) -> list[Fired]:
    """`unmo task sweep`: fire the `renewal_due` and `silent` playbooks whose condition holds
    now, once per occasion (a renewal date; a silence, which new feedback ends): a task of the
    playbook touched since the condition became true — open, or done since — means it fired
    already, so running it hourly changes nothing more. Churned customers are left out."""
    ws = ws if ws is not None else load_workspace()
    playbooks = [p for p in ws.settings.playbooks if p.on not in ALERT_TRIGGERS]
    if not playbooks:
        return []
    ws, db = open_existing(ws)
    if db is None:
        return []
    now, timezone = clock.now(), ws.settings.timezone
    fired: list[Fired] = []
    try:
        with db.session() as session:
            for playbook in playbooks:
                found = (_renewals(session, playbook, now, timezone)
                         if playbook.on == "renewal_due" else _silences(session, playbook, now))
                for due in found:
                    if _already(session, playbook, due):
                        continue
                    if dry_run:
                        fired.append(Fired(due.slug, playbook.on, playbook.key, playbook.task,
                                           due.reason))
                        continue
                    done = upsert_task(session, playbook, due.customer_id,
                                       _owner_of(playbook, due.success_manager), now, timezone,
                                       unless_since=due.since)
                    if done is not None:  # None: another sweep fired it a moment ago
                        fired.append(Fired(due.slug, playbook.on, playbook.key, playbook.task,
                                           due.reason, done[0], done[1]))
            if dry_run:
                session.rollback()
    finally:
        db.dispose()
    return fired
