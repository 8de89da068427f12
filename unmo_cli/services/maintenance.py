"""Planned maintenance windows (`unmo maintenance add/list/cancel`) and the question `unmo health`
asks of them: which customers are inside a window at an instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select, update

from unmo_cli import clock
from unmo_cli.db import lock_for_update, open_database
from unmo_cli.db.tables import customers, maintenance_window_customers, maintenance_windows
from unmo_cli.errors import InputError, NotFound
from unmo_cli.services.customer_lookup import customer_row, open_existing, unknown_customer
from unmo_cli.text import MAX_REASON, length_problem, text_problem
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from unmo_cli.workspace import Workspace

STATES = ("scheduled", "active", "over", "cancelled")
# Statements in Core on db/tables.py's clauses, rows as plain rows: `unmo health` asks
# windows_at on every run without building the model classes.
_window = maintenance_windows.c
_member = maintenance_window_customers.c


def window_state(window: Row[Any], now: datetime) -> str:
    """cancelled (by `maintenance cancel`), else scheduled before start_at, active from start_at
    until end_at, over from end_at on."""
    at = clock.to_db(now)
    if window.cancelled_at is not None and window.cancelled_at <= at:
        return "cancelled"
    if at < window.start_at:
        return "scheduled"
    return "active" if at < window.end_at else "over"


def _window_json(window: Row[Any], slugs: list[str], now: datetime) -> dict[str, Any]:
    return {"id": window.id, "start": clock.iso(window.start_at),
            "end": clock.iso(window.end_at), "reason": window.reason,
            "all_customers": window.all_customers, "customers": slugs,
            "state": window_state(window, now), "created_at": clock.iso(window.created_at),
            "cancelled_at": clock.iso(window.cancelled_at)}


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InputError("--reason is empty; say why the customers are in maintenance.")
    problem = text_problem(reason) or length_problem(reason, MAX_REASON)
    if problem:
        raise InputError(f"--reason contains {problem}." if text_problem(reason)
                         else f"--reason {problem}.")
    return reason


def add_window(ws: Workspace | None, *, start: str, end: str, slugs: Iterable[str] = (),
               all_customers: bool = False, reason: str) -> dict[str, Any]:
    """`unmo maintenance add`: a window from `start` to `end` (dates are midnight in the
    workspace's time zone) for the customers named, or all of them. Refused, writing nothing:
    both or neither of customers and --all, an unknown customer, an end not after the start or
    already past, an empty reason."""
    ws = ws or load_workspace()
    names = list(dict.fromkeys(slugs))
    if names and all_customers:
        raise InputError("pass customer slugs or --all, not both.")
    if not names and not all_customers:
        raise InputError("name the customers in maintenance, or pass --all.")
    zone = ws.settings.timezone
    start_at = clock.parse_day_or_instant(start, zone, what="--start")
    end_at = clock.parse_day_or_instant(end, zone, what="--end")
    if end_at <= start_at:
        raise InputError(f"--end {end.strip()} is not after --start {start.strip()}.")
    now = clock.now()
    if end_at <= now:
        raise InputError(f"--end {end.strip()} has already passed; a window only changes checks "
                         "recorded while it is open.")
    text = _reason(reason)
    if names:
        ws, existing = open_existing(ws)
        if existing is None:
            raise unknown_customer(*names)
        existing.dispose()
    db = open_database(ws)
    try:
        with db.connection() as connection:
            ids = _customer_ids(connection, names)
            window_id = connection.execute(insert(maintenance_windows), {
                "start_at": clock.to_db(start_at), "end_at": clock.to_db(end_at),
                "reason": text, "all_customers": all_customers,
                "created_at": clock.to_db(now)}).inserted_primary_key[0]
            if ids:
                connection.execute(insert(maintenance_window_customers),
                                   [{"window_id": window_id, "customer_id": i} for i in ids])
            result = _window_json(_window_row(connection, window_id), sorted(ids.values()), now)
    finally:
        db.dispose()
    return result


def _window_row(connection: Connection, window_id: int) -> Row[Any] | None:
    return connection.execute(select(maintenance_windows).where(_window.id == window_id)).first()


def _customer_ids(connection: Connection, names: list[str]) -> dict[int, str]:
    found: dict[int, str] = {}
    unknown = []
    for name in names:
        try:
            customer = customer_row(connection, name)
        except NotFound:
            unknown.append(name)
            continue
        found[customer.id] = customer.slug
    if unknown:
        raise unknown_customer(*unknown)
    return found


def list_windows(ws: Workspace | None = None) -> list[dict[str, Any]]:
    """`unmo maintenance list`: every window, newest start first, with its state now."""
    ws, db = open_existing(ws)
    if db is None:
        return []
    now = clock.now()
    try:
        with db.connection() as connection:
            windows = connection.execute(select(maintenance_windows).order_by(
                _window.start_at.desc(), _window.id.desc())).all()
            slugs: dict[int, list[str]] = {}
            for window_id, slug in connection.execute(
                    select(_member.window_id, customers.c.slug)
                    .join(customers, customers.c.id == _member.customer_id)
                    .order_by(customers.c.slug)):
                slugs.setdefault(window_id, []).append(slug)
            return [_window_json(w, slugs.get(w.id, []), now) for w in windows]
    finally:
        db.dispose()


def cancel_window(ws: Workspace | None, window_id: int) -> dict[str, Any]:
    """`unmo maintenance cancel ID`: from now on the window covers nothing. Checks it already
    marked stay `maintenance`; a window already over or cancelled is refused (exit 2)."""
    ws, db = open_existing(ws)
    if db is None:
        raise NotFound(f"no maintenance window {window_id}; run unmo maintenance list.")
    now = clock.now()
    try:
        with db.connection() as connection:
            # Two cancels at once take turns: the second reads the first's cancellation.
            lock_for_update(connection, maintenance_windows, [window_id])
            window = _window_row(connection, window_id)
            if window is None:
                raise NotFound(f"no maintenance window {window_id}; run unmo maintenance list.")
            state = window_state(window, now)
            if state == "cancelled":
                raise InputError(f"maintenance window {window_id} is already cancelled.")
            if state == "over":
                raise InputError(f"maintenance window {window_id} is over (it ended "
                                 f"{clock.iso(window.end_at)}); there is nothing to cancel.")
            connection.execute(update(maintenance_windows).where(_window.id == window_id)
                               .values(cancelled_at=clock.to_db(now)))
            slugs = list(connection.scalars(
                select(customers.c.slug).join(maintenance_window_customers,
                                              customers.c.id == _member.customer_id)
                .where(_member.window_id == window_id)
                .order_by(customers.c.slug)))
            result = _window_json(_window_row(connection, window_id), slugs, now)
    finally:
        db.dispose()
    return result


def windows_at(connection: Connection, customer_ids: Iterable[int], at: datetime
               ) -> dict[int, Row[Any]]:
    """The window each of `customer_ids` is inside at `at` (start_at ≤ at < end_at, not
    cancelled by then); the earliest-created when several overlap. Customers in none are
    absent."""
    instant = clock.to_db(at)
    ids = set(customer_ids)
    open_then = (select(maintenance_windows).where(
        _window.start_at <= instant, _window.end_at > instant,
        or_(_window.cancelled_at.is_(None), _window.cancelled_at > instant))
        .order_by(_window.id))
    windows = connection.execute(open_then).all()
    if not windows or not ids:
        return {}
    covered: dict[int, Row[Any]] = {}
    named = {w.id: w for w in windows if not w.all_customers}
    members: dict[int, list[int]] = {}
    if named:
        for window_id, customer_id in connection.execute(
                select(_member.window_id, _member.customer_id)
                .where(_member.window_id.in_(list(named)))):
            members.setdefault(window_id, []).append(customer_id)
    for window in windows:
        chosen = ids if window.all_customers else ids & set(members.get(window.id, []))
        for customer_id in chosen:
            covered.setdefault(customer_id, window)
    return covered
