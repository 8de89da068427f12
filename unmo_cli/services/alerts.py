"""Alerts: the feedback rules, recording an alert, delivering pending ones to the webhook, listing
and acknowledging them. Other domains (health) record their own rules through `record_alert` and
deliver through `deliver_pending`.

An alert is committed to the database before any delivery is tried, so a dead webhook can delay
an alert but never lose it: `notified_at` is set only when the webhook answered 2xx.

Feedback rules (thresholds from `unmo.yaml`, `alerts.*`):

- `low_satisfaction`: a satisfaction score below `alerts.satisfaction_below`; score = the answer.
- `detractor`: an NPS answer of 0–6; score = the answer.
- `satisfaction_drop`: see `satisfaction_windows` and `drop_crossed`; score = the recent
  satisfaction_pct.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from unmo_cli import clock, metrics
from unmo_cli.errors import EnvironmentFailure, InputError, NotFound

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.db import Database
    from unmo_cli.workspace import AlertSettings, Workspace

FEEDBACK_RULES = ("low_satisfaction", "satisfaction_drop", "detractor")
HEALTH_RULES = ("health_failing", "health_resolved")
RULES = FEEDBACK_RULES + HEALTH_RULES
WINDOW = timedelta(days=30)
COMMENT_IN_TEXT = 300  # characters of a comment quoted in an alert

_SECRET_KEY_RE = re.compile(r"unmo_sk_(?:live|test)_[0-9A-Za-z]+")


def redact_secret_keys(text: str) -> str:
    """Secret keys pasted into a comment or a message become their hint (`unmo_sk_live_…a9F2`):
    a secret never reaches the database in clear, an alert, or the webhook."""
    if "unmo_sk_" not in text:
        return text
    from unmo_cli.apikeys import hint

    return _SECRET_KEY_RE.sub(lambda match: hint(match.group(0)), text)


# --- recording ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertDraft:
    """An alert about to be recorded (the feedback rules build these; see `record_alerts`)."""

    customer_id: int
    rule: str
    text: str
    score: float | None = None
    feedback_id: int | None = None


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown alert rule {rule!r}; known rules: {', '.join(RULES)}")


def record_alert(session: Session, customer_id: int, rule: str, text: str,
                 score: float | None = None, *, feedback_id: int | None = None,
                 created_at: datetime | None = None) -> int:
    """Add one pending alert in the caller's transaction and return its id. Commit (end the
    session block) before calling `deliver_pending`, so the alert exists whatever the webhook
    does. `text` is what the webhook receives: say who, which rule, the score and why."""
    from unmo_cli.db.models import Alert

    _check_rule(rule)
    alert = Alert(customer_id=customer_id, rule=rule, text=redact_secret_keys(text), score=score,
                  feedback_id=feedback_id, created_at=clock.to_db(created_at or clock.now()),
                  attempts=0)
    session.add(alert)
    session.flush()
    assert alert.id is not None
    return alert.id


def record_alerts(session: Session, drafts: Sequence[AlertDraft],
                  created_at: datetime | None = None) -> list[int]:
    """Record many alerts with one bulk insert (imports); returns their ids, ascending."""
    if not drafts:
        return []
    from unmo_cli.db import bulk_insert
    from unmo_cli.db.models import Alert

    stamp = clock.to_db(created_at or clock.now())
    rows = []
    for draft in drafts:
        _check_rule(draft.rule)
        rows.append({"customer_id": draft.customer_id, "rule": draft.rule,
                     "text": redact_secret_keys(draft.text), "score": draft.score,
                     "feedback_id": draft.feedback_id, "created_at": stamp, "attempts": 0})
    table: Any = Alert.__table__
    return sorted(bulk_insert(session, table, rows, returning_ids=True, in_row_order=False))


# --- the feedback rules ------------------------------------------------------------------------


def headline(rule: str, customer_name: str, slug: str) -> str:
    """The first line of every alert's text: which rule, which customer."""
    return f"unmo alert · {rule} · {customer_name} ({slug})"


def _quoted_comment(comment: str | None) -> str:
    if not comment:
        return ""
    flat = " ".join(comment.split())
    if len(flat) > COMMENT_IN_TEXT:
        flat = flat[: COMMENT_IN_TEXT - 1] + "…"
    return f"\nComment: “{flat}”"


def _context(category: str, received_at: datetime, *, satisfaction: int | None = None,
             nps: int | None = None, nps_answered: bool = False) -> str:
    parts = []
    if satisfaction is not None:
        parts.append(f"satisfaction {satisfaction}/10")
    if nps_answered:
        parts.append(f"NPS {nps}/10" if nps is not None else "no NPS answer")
    parts += [f"category {category}", f"received {clock.iso(received_at)}"]
    return ", ".join(parts)


def feedback_alerts(settings: AlertSettings, *, customer_id: int, customer_name: str, slug: str,
                    feedback_id: int | None, satisfaction: int, nps: int | None, category: str,
                    comment: str | None, received_at: datetime) -> list[AlertDraft]:
    """The per-response rules (`low_satisfaction`, `detractor`) for one feedback row; pure, so an
    import evaluates them in memory over its validated rows."""
    drafts: list[AlertDraft] = []
    if satisfaction < settings.satisfaction_below:
        context = _context(category, received_at, nps=nps, nps_answered=True)
        drafts.append(AlertDraft(
            customer_id, "low_satisfaction",
            f"{headline('low_satisfaction', customer_name, slug)}\n"
            f"Satisfaction {satisfaction}/10, below the alert threshold of "
            f"{settings.satisfaction_below:g} ({context}).{_quoted_comment(comment)}",
            float(satisfaction), feedback_id))
    if nps is not None and metrics.nps_class(nps) == "detractor":
        context = _context(category, received_at, satisfaction=satisfaction)
        drafts.append(AlertDraft(
            customer_id, "detractor",
            f"{headline('detractor', customer_name, slug)}\n"
            f"NPS {nps}/10, a detractor (0–6) ({context}).{_quoted_comment(comment)}",
            float(nps), feedback_id))
    return drafts


@dataclass(frozen=True)
class SatisfactionWindows:
    """A customer's satisfaction in two adjacent 30-day windows ending at `anchor`."""

    anchor: datetime  # naive UTC, as stored
    recent_sum: int
    recent_responses: int
    previous_sum: int
    previous_responses: int

    @property
    def recent_pct(self) -> float | None:
        return metrics.satisfaction_pct(self.recent_sum, self.recent_responses)

    @property
    def previous_pct(self) -> float | None:
        return metrics.satisfaction_pct(self.previous_sum, self.previous_responses)

    @property
    def drop_points(self) -> float | None:
        return metrics.satisfaction_drop_points(self.previous_sum, self.previous_responses,
                                                self.recent_sum, self.recent_responses)

    def dropped(self, threshold: float) -> bool:
        points = self.drop_points
        return points is not None and Decimal(str(points)) >= Decimal(str(threshold))


def satisfaction_windows(session: Session, customer_id: int, anchor: datetime
                         ) -> SatisfactionWindows:
    """The `satisfaction_drop` rule's two windows, anchored at a feedback's `received_at` T:

    - recent:   T − 30 days < received_at ≤ T   (includes the feedback at T itself)
    - previous: T − 60 days < received_at ≤ T − 30 days

    Both are half-open so no response counts twice. One SQL aggregate (SUM/COUNT with CASE) over
    the (customer_id, received_at) index; the means are compared as satisfaction_pct values."""
    from sqlalchemy import and_, case, func, select

    from unmo_cli.db.models import Feedback

    at = clock.to_db(anchor)
    split, start = at - WINDOW, at - 2 * WINDOW
    column = Feedback.received_at
    recent = and_(column > split, column <= at)
    previous = column <= split
    row = session.execute(
        select(
            func.sum(case((recent, Feedback.satisfaction), else_=0)),
            func.sum(case((recent, 1), else_=0)),
            func.sum(case((previous, Feedback.satisfaction), else_=0)),
            func.sum(case((previous, 1), else_=0)),
        ).where(Feedback.customer_id == customer_id, column > start, column <= at)
    ).one()
    return SatisfactionWindows(at, int(row[0] or 0), int(row[1] or 0), int(row[2] or 0),
                               int(row[3] or 0))


def dropped_before(session: Session, customer_id: int, anchor: datetime,
                   threshold: float) -> bool:
    """Whether the drop condition already held at the customer's latest evaluation point before
    new feedback at `anchor` arrives: call it BEFORE writing the new rows. That point is the
    latest received_at among the customer's stored responses at or before `anchor` (none: no)."""
    from sqlalchemy import func, select

    from unmo_cli.db.models import Feedback

    at = clock.to_db(anchor)
    prior = session.execute(
        select(func.max(Feedback.received_at))
        .where(Feedback.customer_id == customer_id, Feedback.received_at <= at)
    ).scalar()
    if prior is None:
        return False
    return satisfaction_windows(session, customer_id, prior).dropped(threshold)


def drop_crossed(before: bool, after: SatisfactionWindows, threshold: float) -> bool:
    """`satisfaction_drop` fires on the crossing only: the condition holds after the new feedback
    (windows anchored at its received_at — for an import, the customer's latest imported
    received_at) and did not hold at the latest evaluation point before it (`dropped_before`).
    While the drop persists, later feedback raises nothing; once the windows recover, a new
    drop alerts again."""
    return after.dropped(threshold) and not before


def drop_alert(settings: AlertSettings, windows: SatisfactionWindows, *, customer_id: int,
               customer_name: str, slug: str, feedback_id: int | None) -> AlertDraft:
    return AlertDraft(
        customer_id, "satisfaction_drop",
        f"{headline('satisfaction_drop', customer_name, slug)}\n"
        f"Satisfaction {windows.recent_pct:.1f}% over the 30 days to {clock.iso(windows.anchor)} "
        f"({windows.recent_responses} responses), down {windows.drop_points:.1f} points from "
        f"{windows.previous_pct:.1f}% over the 30 days before ({windows.previous_responses} "
        f"responses); the alert threshold is {settings.drop_points:g} points.",
        windows.recent_pct, feedback_id)


# --- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    """What a delivery run did. `pending` counts the alerts considered that are still not
    notified (failed ones and those not tried after the webhook failed)."""

    configured: bool
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None  # the webhook's failure, e.g. "HTTP 500 after 3 attempts"

    @property
    def considered(self) -> int:
        return self.delivered + self.pending

    def to_json(self) -> dict[str, Any]:
        return {"webhook": self.configured, "delivered": self.delivered, "failed": self.failed,
                "pending": self.pending, "error": self.error}


def deliver_pending(ws: Workspace, db: Database,
                    alert_ids: Iterable[int] | None = None) -> DeliveryReport:
    """Post pending alerts (not notified, not acknowledged) to `alerts.webhook_url`, oldest
    first, once each: `notified_at` is set on a 2xx; `attempts` counts every HTTP attempt; on
    failure `last_error` says why and the alert stays pending. `alert_ids` limits the run to
    those alerts (the ones a command just raised); None means every pending alert (`unmo alerts
    notify`).

    When one alert fails after its retries the run stops and leaves the rest pending: a dead
    webhook then costs one timeout, not one per alert. Each outcome is committed right after its
    post, so an interrupted run re-sends at most the alert in flight."""
    from sqlalchemy import select, update

    from unmo_cli.db.models import Alert
    from unmo_cli.webhook import WebhookClient

    url = ws.settings.alerts.webhook_url
    wanted = None if alert_ids is None else sorted(set(alert_ids))
    if wanted == []:
        return DeliveryReport(configured=bool(url))
    if not url:
        return DeliveryReport(configured=False, pending=_count_pending(db, wanted))
    query = (select(Alert.id, Alert.text)
             .where(Alert.notified_at.is_(None), Alert.acked_at.is_(None)).order_by(Alert.id))
    with db.session() as session:
        pending: list[tuple[int, str]] = []
        for chunk in _chunks(wanted, 500) if wanted is not None else [None]:
            chosen = query if chunk is None else query.where(Alert.id.in_(chunk))
            pending.extend((row[0], row[1]) for row in session.execute(chosen))
    delivered = 0
    with WebhookClient(url) as hook:
        for position, (alert_id, text) in enumerate(pending):
            outcome = hook.post(text)
            with db.session() as session:
                tried = Alert.attempts + outcome.attempts
                if outcome.delivered:
                    session.execute(update(Alert).where(Alert.id == alert_id).values(
                        notified_at=clock.to_db(clock.now()), attempts=tried, last_error=None))
                else:
                    session.execute(update(Alert).where(Alert.id == alert_id).values(
                        attempts=tried,
                        last_error=f"{outcome.error} after {outcome.attempts} attempts"))
            if not outcome.delivered:
                return DeliveryReport(True, delivered, 1, len(pending) - position,
                                      f"{outcome.error} after {outcome.attempts} attempts")
            delivered += 1
    return DeliveryReport(True, delivered, 0, 0)


def deliver_raised(ws: Workspace, alert_ids: Sequence[int]
                   ) -> tuple[DeliveryReport, list[AlertView]]:
    """After the commit that raised `alert_ids`: try to deliver them (deliver_pending), then
    read them back with the delivery's outcome. No alerts, no database work."""
    if not alert_ids:
        return DeliveryReport(configured=bool(ws.settings.alerts.webhook_url)), []
    from unmo_cli.db import open_database

    db = open_database(ws)
    try:
        delivery = deliver_pending(ws, db, alert_ids)
        with db.session() as session:
            return delivery, alert_views(session, alert_ids)
    finally:
        db.dispose()


def _count_pending(db: Database, wanted: list[int] | None) -> int:
    from sqlalchemy import func, select

    from unmo_cli.db.models import Alert

    query = select(func.count(Alert.id)).where(Alert.notified_at.is_(None),
                                               Alert.acked_at.is_(None))
    with db.session() as session:
        if wanted is None:
            return int(session.execute(query).scalar() or 0)
        return sum(int(session.execute(query.where(Alert.id.in_(chunk))).scalar() or 0)
                   for chunk in _chunks(wanted, 500))


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def delivery_notice(report: DeliveryReport) -> str | None:
    """The one stderr line a feedback command prints about delivery, or None when all went."""
    if report.pending == 0:
        return None
    what = f"{report.pending} alert{'s' if report.pending != 1 else ''}"
    if not report.configured:
        return (f"{what} stay{'s' if report.pending == 1 else ''} pending: no webhook is "
                "configured (set alerts.webhook_url in unmo.yaml or UNMO_ALERT_WEBHOOK), "
                "then run `unmo alerts notify`.")
    return (f"could not deliver {what} to the webhook ({report.error}); "
            f"{'it stays' if report.pending == 1 else 'they stay'} pending: "
            "run `unmo alerts notify` later.")


# --- commands' services ------------------------------------------------------------------------


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


def _views(session: Session, *conditions: Any) -> list[AlertView]:
    from sqlalchemy import select

    from unmo_cli.db.models import Alert, Customer

    rows = session.execute(
        select(Alert, Customer.slug, Customer.name)
        .join(Customer, Customer.id == Alert.customer_id)
        .where(*conditions).order_by(Alert.id)
    )
    return [AlertView(a.id, slug, name, a.rule, a.score, a.text, a.feedback_id,
                      clock.from_db(a.created_at), clock.from_db(a.notified_at),
                      clock.from_db(a.acked_at), a.attempts, a.last_error)
            for a, slug, name in rows]


def alert_views(session: Session, ids: Sequence[int]) -> list[AlertView]:
    from unmo_cli.db.models import Alert

    if not ids:
        return []
    return _views(session, Alert.id.in_(list(ids)))


def list_alerts(ws: Workspace, *, open_only: bool = False) -> list[AlertView]:
    """Every alert, oldest first; `open_only` keeps those not acknowledged."""
    from unmo_cli.db.models import Alert
    from unmo_cli.services.customers import open_existing

    ws, db = open_existing(ws)
    if db is None:
        return []
    try:
        with db.session() as session:
            return _views(session, *([Alert.acked_at.is_(None)] if open_only else []))
    finally:
        db.dispose()


@dataclass(frozen=True)
class AckResult:
    acked: list[AlertView]
    already: list[AlertView]


def ack_alerts(ws: Workspace, ids: Sequence[int]) -> AckResult:
    """Acknowledge alerts by id (all or nothing: an unknown id changes nothing). Acknowledged
    alerts leave `--open` and are no longer sent by `unmo alerts notify`."""
    from sqlalchemy import update

    from unmo_cli.db import MAX_ROW_ID
    from unmo_cli.db.models import Alert
    from unmo_cli.services.customers import open_existing

    for alert_id in ids:
        if alert_id < 1:
            raise InputError(f"alert id {alert_id} is not valid; ids are positive whole numbers "
                             "(see `unmo alerts list`).")
        if alert_id > MAX_ROW_ID:  # no row has it, and the database cannot even be asked
            raise NotFound(f"no alert with id {alert_id}; see `unmo alerts list` for the ids.")
    ws, db = open_existing(ws)
    if db is None:
        raise NotFound(f"no alert with id {', '.join(map(str, ids))}; there are no alerts yet.")
    try:
        with db.session() as session:
            found = {view.id: view for view in alert_views(session, ids)}
            missing = [str(i) for i in ids if i not in found]
            if missing:
                raise NotFound(f"no alert with id {', '.join(missing)}; see `unmo alerts list` "
                               "for the ids.")
            fresh = [found[i] for i in dict.fromkeys(ids) if found[i].acked_at is None]
            already = [found[i] for i in dict.fromkeys(ids) if found[i].acked_at is not None]
            if fresh:
                session.execute(update(Alert).where(Alert.id.in_([v.id for v in fresh]))
                                .values(acked_at=clock.to_db(clock.now())))
            acked = alert_views(session, [v.id for v in fresh])
        return AckResult(acked, already)
    finally:
        db.dispose()


def notify_pending(ws: Workspace) -> DeliveryReport:
    """`unmo alerts notify`: send every pending alert once. No webhook configured with alerts
    waiting, or a webhook that fails, is an environment failure (exit 3) after the report."""
    from unmo_cli.services.customers import open_existing

    ws, db = open_existing(ws)
    if db is None:
        return DeliveryReport(configured=bool(ws.settings.alerts.webhook_url))
    try:
        return deliver_pending(ws, db)
    finally:
        db.dispose()


def notify_failure(report: DeliveryReport) -> EnvironmentFailure | None:
    """The error `unmo alerts notify` ends with when alerts remain pending."""
    if report.pending == 0:
        return None
    if not report.configured:
        return EnvironmentFailure(
            f"{report.pending} pending alert{'s' if report.pending != 1 else ''} not sent: no "
            "webhook is configured; set alerts.webhook_url in unmo.yaml or UNMO_ALERT_WEBHOOK.")
    return EnvironmentFailure(
        f"the webhook failed ({report.error}); {report.pending} alert"
        f"{'s stay' if report.pending != 1 else ' stays'} pending.")
