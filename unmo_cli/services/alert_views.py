"""Alerts as the commands show them (`AlertView`), and `unmo alerts list`. Read through the Core
table clauses of db/tables.py, so a listing builds none of the model classes (about 0.2 G
instructions, a tenth of the import floor `alerts list` is measured against);
services/alerts.py, which records, delivers and acknowledges alerts, re-exports these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from unmo_cli import clock
from unmo_cli.db import database_exists, open_database
from unmo_cli.db.tables import alerts, customers

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace


@dataclass(frozen=True)
class AlertView:
    id: int
    customer: str  # slug
    customer_name: str
    rule: str
    score: float | None
    text: str
    feedback_id: int | None
    created_at: datetime
    notified_at: datetime | None
    acked_at: datetime | None
    attempts: int
    last_error: str | None

    @property
    def status(self) -> str:
        if self.acked_at is not None:
            return "acked"
        return "notified" if self.notified_at is not None else "pending"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "customer_name": self.customer_name,
                "rule": self.rule, "score": self.score, "status": self.status,
                "text": self.text, "feedback_id": self.feedback_id,
                "created_at": clock.iso(self.created_at),
                "notified_at": clock.iso(self.notified_at), "acked_at": clock.iso(self.acked_at),
                "attempts": self.attempts, "last_error": self.last_error}


def _aware(value: datetime | None) -> datetime | None:
    """clock.from_db, with its common case (a naive UTC value, as both databases return them)
    first: three of these per alert listed."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return clock.from_db(value)


def _views(session: Session | Connection, *conditions: Any) -> list[AlertView]:
    # The columns a view shows, as plain rows: no Alert objects for the session to track.
    rows = session.execute(
        select(alerts.c.id, customers.c.slug, customers.c.name, alerts.c.rule, alerts.c.score,
               alerts.c.text, alerts.c.feedback_id, alerts.c.created_at, alerts.c.notified_at,
               alerts.c.acked_at, alerts.c.attempts, alerts.c.last_error)
        .select_from(alerts.join(customers, customers.c.id == alerts.c.customer_id))
        .where(*conditions).order_by(alerts.c.id)
    )
    aware = _aware
    return [AlertView(id_, slug, name, rule, score, text, feedback_id, aware(created_at),
                      aware(notified_at), aware(acked_at), attempts, last_error)
            for (id_, slug, name, rule, score, text, feedback_id, created_at, notified_at,
                 acked_at, attempts, last_error) in rows]


def alert_views(session: Session | Connection, ids: Sequence[int]) -> list[AlertView]:
    if not ids:
        return []
    return _views(session, alerts.c.id.in_(list(ids)))


def list_alerts(ws: Workspace, *, open_only: bool = False) -> list[AlertView]:
    """Every alert, oldest first; `open_only` keeps those not acknowledged. A workspace without
    a database has none (and gets no database)."""

    if not database_exists(ws):
        return []
    db = open_database(ws)
    try:
        with db.connection() as connection:
            return _views(connection, *([alerts.c.acked_at.is_(None)] if open_only else []))
    finally:
        db.dispose()
