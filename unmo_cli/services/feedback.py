"""Customer feedback: recording one response (`feedback add`) and listing them (`feedback
list`). Importing a survey export lives in services/feedback_import.py (its file formats in
feedback_files.py, the value checks in feedback_values.py) and is re-exported here; the 30-day
summary `customer show` displays is services/summaries.py. Each write evaluates the alert
rules (services/alerts.py) in the same transaction and tries delivery after the commit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from unmo_cli import audit, clock
from unmo_cli.db.models import Customer, Feedback
from unmo_cli.errors import InputError
from unmo_cli.names import name_key
from unmo_cli.services.alerts import (
    AlertView,
    DeliveryReport,
    deliver_raised,
    drop_alert,
    drop_crossed,
    dropped_before,
    feedback_alerts,
    record_alert,
    satisfaction_windows,
)
from unmo_cli.services.customer_lookup import lookup_text, open_existing, unknown_customer
from unmo_cli.services.customers import customer_session
from unmo_cli.services.feedback_files import (  # noqa: F401 (re-exported)
    COLUMNS,
    EXTENSIONS,
    FORMATS,
    RawRow,
    import_format,
    read_csv,
    read_feedback_file,
    read_json_lines,
    read_json_list,
)
from unmo_cli.services.feedback_import import (  # noqa: F401 (re-exported)
    ImportResult,
    InvalidRow,
    InvalidRows,
    import_feedback,
    lock_customers,
)
from unmo_cli.services.feedback_values import (  # noqa: F401 (re-exported)
    CATEGORIES,
    FieldError,
    check_category,
    check_comment,
    check_external_id,
    check_nps,
    check_received_at,
    check_satisfaction,
)
from unmo_cli.services.summaries import SUMMARY_WINDOW, feedback_summary  # noqa: F401 (re-exported)
from unmo_cli.services.triggers import fire_playbooks
from unmo_cli.text import shown

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace


MAX_LIMIT = 1_000_000_000  # --limit: more rows than any workspace holds, and fits every SQL LIMIT


# --- add ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackView:
    id: int
    customer: str  # slug
    customer_name: str
    received_at: datetime
    satisfaction: int
    nps: int | None
    category: str
    comment: str | None
    source: str
    external_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "customer_name": self.customer_name,
                "received_at": clock.iso(self.received_at), "satisfaction": self.satisfaction,
                "nps": self.nps, "category": self.category, "comment": self.comment,
                "source": self.source, "external_id": self.external_id}


@dataclass(frozen=True)
class AddResult:
    feedback: FeedbackView
    alerts: list[AlertView]
    delivery: DeliveryReport


def add_feedback(ws: Workspace, customer: str, *, satisfaction: Any, nps: Any = None,
                 category: Any = None, comment: Any = None, received_at: Any = None,
                 external_id: Any = None, source: str = "cli",
                 within: Callable[[Session, Any], None] | None = None) -> AddResult:
    """Record one response (source `cli`, or `survey` from the survey page), raise its alerts,
    commit, then try to deliver them. Every value is checked before the database is opened; a
    bad one writes nothing. `within(session, view)` (the stored row's FeedbackView) runs in the
    same transaction once the row is stored and before the alert rules read: the survey page
    claims its invitation there (and drops the answer it replaces); whatever it raises rolls
    everything back."""

    values, problems = _checked_values({
        "satisfaction": (check_satisfaction, satisfaction), "nps": (check_nps, nps),
        "category": (check_category, category), "comment": (check_comment, comment),
        "received_at": (lambda v: check_received_at(v, clock.now()), received_at),
        "external_id": (check_external_id, external_id),
    })
    if problems:
        raise InputError("; ".join(problems) + ".")
    settings = ws.settings.alerts
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(customer)
    try:
        with db.session() as session:
            found = customer_ref(session, customer)
            audit.customers_known(session.connection(), {found.id: found.slug})
            # The id check and the drop rule read, then write.
            lock_customers(session, {found.id})
            if values["external_id"] is not None:
                _refuse_known_id(session, found.id, found.slug, values["external_id"])
            before = dropped_before(session, found.id, values["received_at"],
                                    settings.drop_points)
            try:
                stored = session.connection().execute(
                    _insert_statement(), {"customer_id": found.id, "source": source, **values})
            except IntegrityError:  # the same id stored by another command a moment ago
                raise InputError(f"feedback id {values['external_id']!r} is already recorded "
                                 f"for {found.slug}; ids are unique per customer.") from None
            received = clock.from_db(values["received_at"])
            assert received is not None
            view = FeedbackView(int(stored.inserted_primary_key[0]), found.slug, found.name,
                                received, values["satisfaction"], values["nps"],
                                values["category"], values["comment"], source,
                                values["external_id"])
            if within is not None:
                within(session, view)
            drafts = feedback_alerts(settings, customer_id=found.id, customer_name=found.name,
                                     slug=found.slug, feedback_id=view.id,
                                     satisfaction=view.satisfaction, nps=view.nps,
                                     category=view.category, comment=view.comment,
                                     received_at=values["received_at"])
            windows = satisfaction_windows(session, found.id, values["received_at"])
            if drop_crossed(before, windows, settings.drop_points):
                drafts.append(drop_alert(settings, windows, customer_id=found.id,
                                         customer_name=found.name, slug=found.slug,
                                         feedback_id=view.id))
            ids = [record_alert(session, d.customer_id, d.rule, d.text, d.score,
                                feedback_id=d.feedback_id) for d in drafts]
            fire_playbooks(session, ws.settings, [(d.customer_id, d.rule) for d in drafts])
    finally:
        db.dispose()
    # Committed: the alerts exist whatever the webhook does now.
    delivery, alerts = deliver_raised(ws, ids)
    return AddResult(view, alerts, delivery)


@cache
def _insert_statement() -> Any:
    # Core, built once: the row's id is all the write needs back, not an ORM object to track.
    table: Any = Feedback.__table__
    return insert(table)


@dataclass(frozen=True)
class CustomerRef:
    """Who a feedback write is about, as plain columns: no ORM object to load and track."""

    id: int
    slug: str
    name: str


def customer_ref(session: Session, slug_or_name: str) -> CustomerRef:
    """get_customer's match (the slug, then the folded name; NotFound otherwise), read by
    statements built once: every survey answer comes through here."""
    text = lookup_text(slug_or_name)
    by_slug, by_key = _customer_statements()
    connection = session.connection()
    row = connection.execute(by_slug, {"wanted": text}).first()
    if row is None and text:
        key = name_key(text)
        if key:
            row = connection.execute(by_key, {"wanted": key}).first()
    if row is None:
        raise unknown_customer(slug_or_name)
    return CustomerRef(int(row[0]), row[1], row[2])


@cache
def _customer_statements() -> tuple[Any, Any]:
    table: Any = Customer.__table__
    columns = select(table.c.id, table.c.slug, table.c.name)
    return (columns.where(table.c.slug == bindparam("wanted")),
            columns.where(table.c.name_key == bindparam("wanted")))


def _checked_values(checks: dict[str, tuple[Callable[[Any], Any], Any]]
                    ) -> tuple[dict[str, Any], list[str]]:
    """Every field checked, so one error sentence names every bad value at once."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (check, raw) in checks.items():
        try:
            values[name] = check(raw)
        except FieldError as exc:
            problems.append(str(exc))
    return values, problems


def _refuse_known_id(session: Session, customer_id: int, slug: str, external_id: str) -> None:
    known = session.execute(select(Feedback.id).where(
        Feedback.customer_id == customer_id, Feedback.external_id == external_id)).first()
    if known is not None:
        raise InputError(f"feedback id {external_id!r} is already recorded for {slug} "
                         f"(feedback #{known[0]}); ids are unique per customer.")


# --- list --------------------------------------------------------------------------------------


def parse_since(text: str, timezone: str) -> datetime:
    """`--since`: a date (midnight in the workspace's timezone) or an ISO 8601 instant."""

    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise InputError(f"--since {text!r} is not a date; use YYYY-MM-DD or an ISO 8601 "
                             "time.") from None
        return clock.in_utc(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)),
                            f"--since {text!r} (midnight in {timezone})")
    try:
        return clock.parse_instant(raw, what="--since")
    except clock.OutsideCalendar:
        raise
    except InputError:
        raise InputError(f"--since {shown(text)} is not a date; use YYYY-MM-DD or an ISO 8601 "
                         "time.") from None


def list_feedback(ws: Workspace, customer: str | None = None, *, since: str | None = None,
                  limit: int | None = None) -> list[FeedbackView]:
    """Responses, newest first; for one customer and/or since a date."""

    start = parse_since(since, ws.settings.timezone) if since else None
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"--limit {limit} must be between 1 and {MAX_LIMIT:,}.")
    if customer is not None:
        with customer_session(ws, customer) as (session, found):
            return _listed(session, found.id, start, limit)
    ws, db = open_existing(ws)
    if db is None:
        return []
    try:
        with db.session() as session:
            return _listed(session, None, start, limit)
    finally:
        db.dispose()


def _listed(session: Session, customer_id: int | None, start: datetime | None,
            limit: int | None) -> list[FeedbackView]:
    query = (select(Feedback, Customer.slug, Customer.name)
             .join(Customer, Customer.id == Feedback.customer_id)
             .order_by(Feedback.received_at.desc(), Feedback.id.desc()))
    if customer_id is not None:
        query = query.where(Feedback.customer_id == customer_id)
    if start is not None:
        query = query.where(Feedback.received_at >= clock.to_db(start))
    if limit is not None:
        query = query.limit(limit)
    return [_view(row, slug, name) for row, slug, name in session.execute(query)]


def _view(row: Any, slug: str, name: str) -> FeedbackView:
    received = clock.from_db(row.received_at)
    assert received is not None
    return FeedbackView(row.id, slug, name, received, row.satisfaction, row.nps, row.category,
                        row.comment, row.source, row.external_id)
