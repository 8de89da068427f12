"""Tasks on customers: adding one by hand, listing (open by default, due date first), marking one
done and assigning it (`unmo task …`). Playbooks open and update tasks too (services/triggers.py);
a task's `playbook` says which (none: added by hand). Reads go through db/tables.py's Core
clauses, so `task list` builds none of the model classes (a tenth of the import floor it is
measured against); the writes build them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from unmo_cli import clock, testhooks
from unmo_cli.db import MAX_ROW_ID
from unmo_cli.db.tables import customers, tasks
from unmo_cli.errors import InputError, NotFound
from unmo_cli.services.customer_lookup import customer_row, open_existing, unknown_customer
from unmo_cli.text import (
    MAX_REASON,
    MAX_TASK_TITLE,
    length_problem,
    plain_email,
    shown,
    text_problem,
)
from unmo_cli.workspace import ACTOR_ENV, actor, load_workspace

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace

# What `task list` shows: open tasks by default (like `gh issue list`).
STATES = ("open", "overdue", "done", "all")


def today(ws: Workspace) -> date:
    """Today's date in the workspace's time zone (UNMO_NOW pins it)."""
    return clock.now().astimezone(ZoneInfo(ws.settings.timezone)).date()


def _iso(value: datetime | None) -> str | None:
    """clock.iso of a stored (naive UTC) timestamp, without its conversions: a list of 10,000
    tasks formats 30,000 of them."""
    return None if value is None else value.isoformat() + "Z"


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task as the commands show it; timestamps naive UTC, as stored; `overdue`: open and due
    before today (workspace time zone)."""

    id: int
    customer: str  # slug
    customer_name: str
    title: str
    owner: str | None
    due_on: date | None
    status: str
    playbook: str | None
    fired: int
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    done_note: str | None
    overdue: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "customer_name": self.customer_name,
                "title": self.title, "owner": self.owner,
                "due_on": self.due_on.isoformat() if self.due_on else None,
                "status": self.status, "overdue": self.overdue, "playbook": self.playbook,
                "fired": self.fired, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at), "done_at": _iso(self.done_at),
                "done_note": self.done_note}


_t = tasks.c
_COLUMNS = (_t.id, customers.c.slug, customers.c.name, _t.title, _t.owner, _t.due_on, _t.status,
            _t.playbook, _t.fired, _t.created_at, _t.updated_at, _t.done_at, _t.done_note)


def _query(*conditions: Any) -> Any:
    return (select(*_COLUMNS)
            .select_from(tasks.join(customers, customers.c.id == _t.customer_id))
            .where(*conditions).order_by(_t.due_on.is_(None), _t.due_on, _t.id))


def _view(row: Any, day: date) -> TaskView:
    return TaskView(*row, row[6] == "open" and row[5] is not None and row[5] < day)


def task_views(session: Session, ids: list[int], day: date) -> list[TaskView]:
    if not ids:
        return []
    return [_view(row, day) for row in session.execute(_query(_t.id.in_(ids)))]


# --- checking what a person typed ---------------------------------------------------------------


def parse_title(value: str) -> str:
    title = value.strip()
    if not title:
        raise InputError("TITLE is empty; say what is to be done, e.g. 'Call about the renewal'.")
    problem = text_problem(title)
    if problem:
        raise InputError(f"TITLE contains {problem}; give one line of plain text.")
    too_long = length_problem(title, MAX_TASK_TITLE)
    if too_long:
        raise InputError(f"TITLE {too_long}.")
    return title


def parse_owner(value: str, what: str) -> str:
    """A task owner's address, lowercased whole: `--owner Ana@X.example` and `--mine` as
    ana@x.example are one person."""
    address = plain_email(value.strip())
    if address is None:
        raise InputError(f"{what} {shown(value)} is not an e-mail address (e.g. "
                         "ana@yourcompany.example).")
    return address.lower()


def check_task_id(task_id: int) -> None:
    if task_id < 1:
        raise InputError(f"task id {task_id} is not valid; ids are positive whole numbers (see "
                         "`unmo task list`).")
    if task_id > MAX_ROW_ID:  # no row has it, and the database cannot even be asked
        raise NotFound(f"no task with id {task_id}; see `unmo task list --all` for the ids.")


# --- the commands' services ---------------------------------------------------------------------


def add_task(ws: Workspace | None, slug: str, title: str, *, due: str | None = None,
             owner: str | None = None) -> TaskView:
    """`unmo task add`: an open task on the customer, by hand (no playbook). Every value is
    checked before the database is opened."""
    title = parse_title(title)
    owner = parse_owner(owner, "--owner") if owner is not None else None
    due_on = clock.parse_day(due, what="--due") if due is not None else None
    # lazy: a write builds the model classes, which `task list` does without
    from unmo_cli.db.models import Task
    from unmo_cli.services.customers import customer_session

    ws = ws if ws is not None else load_workspace()
    stamp = clock.to_db(clock.now())
    with customer_session(ws, slug) as (session, customer):
        task = Task(customer_id=customer.id, title=title, owner=owner, due_on=due_on,
                    status="open", playbook=None, fired=1, created_at=stamp, updated_at=stamp)
        session.add(task)
        session.flush()
        assert task.id is not None
        return task_views(session, [task.id], today(ws))[0]


def list_tasks(ws: Workspace | None, *, slug: str | None = None, owner: str | None = None,
               mine: bool = False, state: str = "open") -> list[TaskView]:
    """`unmo task list`: tasks in due-date order (no due date last; ties: oldest first), open
    ones by default; `state` overdue (open and due before today), done or all. `owner` or
    `mine` (UNMO_ACTOR, else user.email) keeps one person's."""
    if state not in STATES:
        raise InputError(f"state {state!r} is not one of {', '.join(STATES)}.")
    if owner is not None and mine:
        raise InputError("give --owner or --mine, not both.")
    ws = ws if ws is not None else load_workspace()
    if mine:
        owner = actor(ws.settings)
        if owner is None:
            raise InputError(f"--mine needs to know who you are: set {ACTOR_ENV} or user.email "
                             "in unmo.yaml (user:\\n  email: you@yourcompany.example).")
    elif owner is not None:
        owner = parse_owner(owner, "--owner")
    day = today(ws)
    conditions: list[Any] = []
    if state in ("open", "overdue"):
        conditions.append(_t.status == "open")
    if state == "overdue":
        conditions.append(_t.due_on < day)
    if state == "done":
        conditions.append(_t.status == "done")
    if owner is not None:
        conditions.append(_t.owner == owner)
    ws, db = open_existing(ws)
    if db is None:
        if slug is not None:
            raise unknown_customer(slug)
        return []
    try:
        # Plain rows on a Core connection, not through the ORM: 10,000 rows in one query.
        with db.connection(snapshot=True) as connection:
            if slug is not None:
                conditions.append(_t.customer_id == customer_row(connection, slug).id)
            return [_view(row, day) for row in connection.execute(_query(*conditions)).all()]
    finally:
        db.dispose()


def _found(session: Session, task_id: int, day: date) -> TaskView:
    views = task_views(session, [task_id], day)
    if not views:
        raise NotFound(f"no task with id {task_id}; see `unmo task list --all` for the ids.")
    return views[0]


def _task_session(ws: Workspace | None, task_id: int) -> tuple[Workspace, Any]:
    check_task_id(task_id)
    ws, db = open_existing(ws)
    if db is None:
        raise NotFound(f"no task with id {task_id}; there are no tasks yet.")
    return ws, db


def complete_task(ws: Workspace | None, task_id: int, *, note: str | None = None
                  ) -> tuple[TaskView, bool]:
    """`unmo task done`: mark an open task done (with a note); (the task, whether it was done
    already — then nothing changes, its first completion stands)."""
    if note is not None:
        note = note.strip() or None
    if note is not None:
        problem = text_problem(note, allow_newlines=True)
        if problem:
            raise InputError(f"--note contains {problem}; give plain text.")
        too_long = length_problem(note, MAX_REASON)
        if too_long:
            raise InputError(f"--note {too_long}.")
    ws, db = _task_session(ws, task_id)
    try:
        with db.session() as session:
            day = today(ws)
            _found(session, task_id, day)
            testhooks.checkpoint("task-done")
            stamp = clock.to_db(clock.now())
            # Only an open task: one marked done meanwhile keeps its time and note.
            won = session.execute(
                update(tasks).where(_t.id == task_id, _t.status == "open")
                .values(status="done", done_at=stamp, done_note=note, updated_at=stamp)
                .returning(_t.id)).first()
            return _found(session, task_id, day), won is None
    finally:
        db.dispose()


def assign_task(ws: Workspace | None, task_id: int, owner: str) -> TaskView:
    """`unmo task assign`: give the task to `owner` (`none`: nobody)."""
    cleared = owner.strip().lower() in ("", "none")
    address = None if cleared else parse_owner(owner, "EMAIL")
    ws, db = _task_session(ws, task_id)
    try:
        with db.session() as session:
            day = today(ws)
            if _found(session, task_id, day).owner != address:
                session.execute(update(tasks).where(_t.id == task_id)
                                .values(owner=address, updated_at=clock.to_db(clock.now())))
            return _found(session, task_id, day)
    finally:
        db.dispose()
