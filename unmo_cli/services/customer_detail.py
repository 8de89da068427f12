"""What `customer show` displays — the record, the keys' hints, the latest onboarding, the
feedback and health summaries — read through db/tables.py's Core clauses on one
`Database.connection()`, so showing a customer imports neither the model classes, SQLModel,
pydantic nor SQLAlchemy's ORM (services/customers.py re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from unmo_cli import clock
from unmo_cli.db.tables import api_keys, onboarding_sessions, onboarding_steps
from unmo_cli.services.customer_lookup import customer_row_session
from unmo_cli.services.customer_record import customer_json
from unmo_cli.services.summaries import feedback_summary, health_summary
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.workspace import Workspace


@dataclass
class CustomerDetail:
    """What `customer show` displays. The feedback and health services each fill their own field
    (see customer_detail); the command renders whatever is present."""

    customer: dict[str, Any]
    directory: str
    keys: list[dict[str, Any]]
    onboarding: dict[str, Any] | None
    feedback: dict | None = None
    health: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def customer_detail(ws: Workspace | None, slug: str) -> CustomerDetail:
    """The detail view of one customer. Other areas add their part here, one line each, e.g.
    `detail.feedback = feedback_summary(connection, customer.id)`."""

    ws = ws or load_workspace()
    with customer_row_session(ws, slug) as (connection, customer):
        detail = CustomerDetail(
            customer=customer_json(customer),
            directory=ws.relative(ws.customer_dir(customer.slug)),
            keys=_keys(connection, customer.id),
            onboarding=_latest_onboarding(connection, customer.id),
        )
        detail.feedback = feedback_summary(connection, customer.id, clock.now())
        detail.health = health_summary(connection, customer, ws.settings, clock.now())
        return detail


def _keys(connection: Connection, customer_id: int) -> list[dict[str, Any]]:
    """key_json of each of the customer's keys, in services.customers.keys_of's order."""
    k = api_keys.c
    return [key_json(key) for key in connection.execute(
        select(k.kind, k.environment, k.hint, k.created_at, k.revoked_at)
        .where(k.customer_id == customer_id)
        .order_by(k.kind, k.environment, k.created_at, k.id))]


def key_json(key: Any) -> dict[str, Any]:
    """A key as `customer show` and `keys` print it (an ApiKey, or a row of its columns)."""
    return {
        "kind": key.kind,
        "environment": key.environment,
        "hint": key.hint,
        "status": "revoked" if key.revoked_at else "active",
        "created_at": clock.iso(key.created_at),
        "revoked_at": clock.iso(key.revoked_at),
    }


def _latest_onboarding(connection: Connection, customer_id: int) -> dict[str, Any] | None:
    """The newest successful onboarding and its steps."""
    o, s = onboarding_sessions.c, onboarding_steps.c
    record = connection.execute(
        select(o.id, o.mode, o.started_at, o.finished_at, o.duration_s)
        .where(o.customer_id == customer_id, o.outcome == "success")
        .order_by(o.finished_at.desc())).first()
    if record is None:
        return None
    steps = connection.execute(select(s.name, s.duration_s).where(s.session_id == record.id)
                               .order_by(s.position))
    return {
        "mode": record.mode,
        "started_at": clock.iso(record.started_at),
        "finished_at": clock.iso(record.finished_at),
        "duration_s": round(record.duration_s, 4),
        "steps": [{"name": step.name, "duration_s": round(step.duration_s, 4)} for step in steps],
    }
