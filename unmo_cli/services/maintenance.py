"""Planned maintenance windows (`unmo maintenance add/list/cancel`) and the question `unmo health`
asks of them: which customers are inside a window at an instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select

from unmo_cli import clock
from unmo_cli.db import lock_for_update, open_database
from unmo_cli.db.models import Customer, MaintenanceWindow, MaintenanceWindowCustomer
from unmo_cli.errors import InputError, NotFound
from unmo_cli.services.customers import get_customer, open_existing, unknown_customer
from unmo_cli.text import MAX_REASON, length_problem, text_problem
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace

STATES = ("scheduled", "active", "over", "cancelled")


def window_state(window: MaintenanceWindow, now: datetime) -> str:
    """cancelled (by `maintenance cancel`), else scheduled before start_at, active from start_at
    until end_at, over from end_at on."""
    at = clock.to_db(now)
    if window.cancelled_at is not None and window.cancelled_at <= at:
        return "cancelled"
    if at < window.start_at:
        return "scheduled"
    return "active" if at < window.end_at else "over"


def _window_json(window: MaintenanceWindow, customers: list[str], now: datetime
                 ) -> dict[str, Any]:
    return {"id": window.id, "start": clock.iso(window.start_at),
            "end": clock.iso(window.end_at), "reason": window.reason,
            "all_customers": window.all_customers, "customers": customers,
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
        with db.session() as session:
            ids = _customer_ids(session, names)
            window = MaintenanceWindow(start_at=clock.to_db(start_at), end_at=clock.to_db(end_at),
                                       reason=text, all_customers=all_customers,
                                       created_at=clock.to_db(now))
            session.add(window)
            session.flush()
            if ids:
                session.execute(insert(MaintenanceWindowCustomer),
                                [{"window_id": window.id, "customer_id": i} for i in ids])
            result = _window_json(window, sorted(ids.values()), now)
            session.commit()
    finally:
        db.dispose()
    return result


def _customer_ids(session: Session, names: list[str]) -> dict[int, str]:
    found: dict[int, str] = {}
    unknown = []
    for name in names:
        try:
            customer = get_customer(session, name)
        except NotFound:
            unknown.append(name)
            continue
        assert customer.id is not None
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
        with db.session() as session:
            windows = list(session.scalars(select(MaintenanceWindow).order_by(
                MaintenanceWindow.start_at.desc(), MaintenanceWindow.id.desc())))
            slugs: dict[int, list[str]] = {}
            for window_id, slug in session.execute(
                    select(MaintenanceWindowCustomer.window_id, Customer.slug)
                    .join(Customer, Customer.id == MaintenanceWindowCustomer.customer_id)
                    .order_by(Customer.slug)):
                slugs.setdefault(window_id, []).append(slug)
            return [_window_json(w, slugs.get(w.id or 0, []), now) for w in windows]
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
        with db.session() as session:
            # Two cancels at once take turns: the second reads the first's cancellation.
            lock_for_update(session, MaintenanceWindow, [window_id])
            window = session.execute(
                select(MaintenanceWindow).where(MaintenanceWindow.id == window_id)).scalar()
            if window is None:
                raise NotFound(f"no maintenance window {window_id}; run unmo maintenance list.")
            state = window_state(window, now)
            if state == "cancelled":
                raise InputError(f"maintenance window {window_id} is already cancelled.")
            if state == "over":
                raise InputError(f"maintenance window {window_id} is over (it ended "
                                 f"{clock.iso(window.end_at)}); there is nothing to cancel.")
            window.cancelled_at = clock.to_db(now)
            session.add(window)
            session.flush()
            slugs = list(session.scalars(
                select(Customer.slug).join(MaintenanceWindowCustomer,
                                           Customer.id == MaintenanceWindowCustomer.customer_id)
                .where(MaintenanceWindowCustomer.window_id == window_id)
                .order_by(Customer.slug)))
            result = _window_json(window, slugs, now)
            session.commit()
    finally:
        db.dispose()
    return result


def windows_at(session: Session, customer_ids: Iterable[int], at: datetime
               ) -> dict[int, MaintenanceWindow]:
    """The window each of `customer_ids` is inside at `at` (start_at ≤ at < end_at, not
    cancelled by then); the earliest-created when several overlap. Customers in none are
    absent."""
    instant = clock.to_db(at)
    ids = set(customer_ids)
    open_then = (select(MaintenanceWindow).where(
        MaintenanceWindow.start_at <= instant, MaintenanceWindow.end_at > instant,
        or_(MaintenanceWindow.cancelled_at.is_(None), MaintenanceWindow.cancelled_at > instant))
        .order_by(MaintenanceWindow.id))
    windows = list(session.scalars(open_then))
    if not windows or not ids:
        return {}
    covered: dict[int, MaintenanceWindow] = {}
    named = {w.id: w for w in windows if not w.all_customers}
    members: dict[int, list[int]] = {}
    if named:
        for window_id, customer_id in session.execute(
                select(MaintenanceWindowCustomer.window_id, MaintenanceWindowCustomer.customer_id)
                .where(MaintenanceWindowCustomer.window_id.in_(list(named)))):
            members.setdefault(window_id, []).append(customer_id)
    for window in windows:
        chosen = ids if window.all_customers else ids & set(members.get(window.id or 0, []))
        for customer_id in chosen:
            covered.setdefault(customer_id, window)
    return covered
