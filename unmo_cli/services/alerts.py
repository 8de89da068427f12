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

Over 500 lines as one module: every rule, the record and the at-least-once delivery share
the alert's life cycle; splitting is left to the owners of the alerts speed work."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    DateTime,
    and_,
    bindparam,
    case,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)

from unmo_cli import clock, metrics, testhooks
from unmo_cli.apikeys import hint
from unmo_cli.db import MAX_ROW_ID, bulk_insert, core_connection, open_database
from unmo_cli.db.tables import alerts as alerts_table
from unmo_cli.db.tables import feedback as feedback_table
from unmo_cli.errors import EnvironmentFailure, InputError, NotFound
from unmo_cli.services.alert_views import AlertView, alert_views, list_alerts  # noqa: F401
from unmo_cli.services.customer_lookup import open_existing
from unmo_cli.webhook import WebhookClient

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

    from unmo_cli.db import Database
    from unmo_cli.webhook import PostOutcome
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


def record_alert(session: Session | Connection, customer_id: int, rule: str, text: str,
                 score: float | None = None, *, feedback_id: int | None = None,
                 created_at: datetime | None = None) -> int:
    """Add one pending alert in the caller's transaction and return its id. Commit (end the
    session block) before calling `deliver_pending`, so the alert exists whatever the webhook
    does. `text` is what the webhook receives: say who, which rule, the score and why."""

    _check_rule(rule)
    stored = core_connection(session).execute(insert(alerts_table), {
        "customer_id": customer_id, "rule": rule, "text": redact_secret_keys(text),
        "score": score, "feedback_id": feedback_id,
        "created_at": clock.to_db(created_at or clock.now()), "attempts": 0})
    return int(stored.inserted_primary_key[0])


def record_alerts(session: Session, drafts: Sequence[AlertDraft],
                  created_at: datetime | None = None) -> list[int]:
    """Record many alerts with one bulk insert (imports); returns their ids, ascending."""
    if not drafts:
        return []

    stamp = clock.to_db(created_at or clock.now())
    rows = []
    for draft in drafts:
        _check_rule(draft.rule)
        rows.append({"customer_id": draft.customer_id, "rule": draft.rule,
                     "text": redact_secret_keys(draft.text), "score": draft.score,
                     "feedback_id": draft.feedback_id, "created_at": stamp, "attempts": 0})
    return sorted(bulk_insert(session, alerts_table, rows, returning_ids=True, in_row_order=False))


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


def satisfaction_windows(session: Session | Connection, customer_id: int, anchor: datetime
                         ) -> SatisfactionWindows:
    """The `satisfaction_drop` rule's two windows, anchored at a feedback's `received_at` T:

    - recent:   T − 30 days < received_at ≤ T   (includes the feedback at T itself)
    - previous: T − 60 days < received_at ≤ T − 30 days

    Both are half-open so no response counts twice. One SQL aggregate (SUM/COUNT with CASE) over
    the (customer_id, received_at) index; the means are compared as satisfaction_pct values."""

    at = clock.to_db(anchor)
    row = core_connection(session).execute(
        _windows_statement(),
        {"customer": customer_id, "at": at, "split": at - WINDOW, "start": at - 2 * WINDOW},
    ).one()
    return SatisfactionWindows(at, int(row[0] or 0), int(row[1] or 0), int(row[2] or 0),
                               int(row[3] or 0))


@cache
def _windows_statement() -> Any:
    # Built once per process with bound parameters (Core, not ORM): each feedback write runs it
    # once or twice, and building the CASE expressions cost more than running them.
    table = feedback_table
    column, split = table.c.received_at, bindparam("split", type_=DateTime())
    recent = and_(column > split, column <= bindparam("at", type_=DateTime()))
    previous = column <= split
    return select(
        func.sum(case((recent, table.c.satisfaction), else_=0)),
        func.sum(case((recent, 1), else_=0)),
        func.sum(case((previous, table.c.satisfaction), else_=0)),
        func.sum(case((previous, 1), else_=0)),
    ).where(table.c.customer_id == bindparam("customer"),
            column > bindparam("start", type_=DateTime()),
            column <= bindparam("at", type_=DateTime()))


@cache
def _latest_statement() -> Any:
    table = feedback_table
    return select(func.max(table.c.received_at)).where(
        table.c.customer_id == bindparam("customer"),
        table.c.received_at <= bindparam("at", type_=DateTime()))


def dropped_before(session: Session | Connection, customer_id: int, anchor: datetime,
                   threshold: float) -> bool:
    """Whether the drop condition already held at the customer's latest evaluation point before
    new feedback at `anchor` arrives: call it BEFORE writing the new rows. That point is the
    latest received_at among the customer's stored responses at or before `anchor` (none: no)."""

    prior = core_connection(session).execute(
        _latest_statement(), {"customer": customer_id, "at": clock.to_db(anchor)}).scalar()
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


# How long a delivery run's claim on an alert holds. One post takes at most about 16 s (three
# connection attempts of 5 s and their backoff; a post that went out is never repeated), so a
# live run never loses its claim; a crashed run's alert is posted again once this has passed.
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class DeliveryReport:
    """What a delivery run did. `pending` counts the alerts considered that are still not
    notified (failed ones and those not tried after the webhook failed); `in_flight` those left
    alone because another run holds their claim (it is posting them, or it stopped and its claim
    has not lapsed yet)."""

    configured: bool
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None  # the webhook's failure, e.g. "HTTP 500 after 3 attempts"
    in_flight: int = 0

    @property
    def considered(self) -> int:
        return self.delivered + self.pending

    def to_json(self) -> dict[str, Any]:
        return {"webhook": self.configured, "delivered": self.delivered, "failed": self.failed,
                "pending": self.pending, "in_flight": self.in_flight, "error": self.error}


def delivery_key(alert_id: int, created_at: datetime, text: str) -> str:
    """The `Idempotency-Key` of every post of one alert: the same in each run and process, and
    unlike another database's alert with the same id."""

    digest = hashlib.sha256(f"{alert_id}\n{clock.iso(clock.from_db(created_at))}\n{text}"
                            .encode()).hexdigest()
    return f"unmo-alert-{alert_id}-{digest[:24]}"


def _lease_clock() -> datetime:
    """Claims lapse in real time, whatever UNMO_NOW pins for the records' timestamps: a back-fill
    run with a pinned past must not see a live claim as lapsed (nor the reverse)."""

    return clock.to_db(datetime.now(UTC))


def _claimable(now: datetime) -> list[Any]:
    alert = alerts_table.c
    return [alert.notified_at.is_(None), alert.acked_at.is_(None),
            or_(alert.claimed_until.is_(None), alert.claimed_until <= now)]


def _claim_next(db: Database, run: str, chunk: Sequence[int] | None
                ) -> tuple[int, str, datetime] | None:
    """Claim the oldest claimable alert (of `chunk`, or of all) for this run, in one statement
    committed at once: (id, text, created_at), or None when none is left.

    One conditional UPDATE … WHERE id = (the oldest claimable) … RETURNING: on SQLite the write
    lock makes it atomic; on PostgreSQL the inner SELECT takes the row `FOR UPDATE SKIP LOCKED`,
    so a run never waits behind another's claim, and the outer WHERE re-checks the row."""

    now = _lease_clock()
    table = alerts_table
    oldest = select(table.c.id).where(*_claimable(now))
    if chunk is not None:
        oldest = oldest.where(table.c.id.in_(list(chunk)))
    oldest = oldest.order_by(table.c.id).limit(1).with_for_update(skip_locked=True)
    statement = (update(table).where(table.c.id == oldest.scalar_subquery(), *_claimable(now))
                 .values(claimed_by=run, claimed_until=now + CLAIM_LEASE)
                 .returning(table.c.id, table.c.text, table.c.created_at))
    with db.connection() as connection:
        row = connection.execute(statement).first()
    return None if row is None else (row[0], row[1], row[2])


def _record_outcome(db: Database, alert_id: int, outcome: PostOutcome) -> str | None:
    """Store a post's outcome and release the claim; returns the failure phrase (None: sent).
    A 2xx marks the alert notified even if the claim lapsed meanwhile: it was delivered."""

    tried = alerts_table.c.attempts + outcome.attempts
    released = {"claimed_by": None, "claimed_until": None}
    if outcome.delivered:
        values: dict[str, Any] = {"notified_at": clock.to_db(clock.now()), "last_error": None}
        error = None
    else:
        error = (f"{outcome.error} after sending it; the webhook may have received it, so it "
                 "is not retried in this run" if outcome.uncertain
                 else f"{outcome.error} after {outcome.attempts} attempts")
        values = {"last_error": error}
    with db.connection() as connection:
        connection.execute(update(alerts_table).where(alerts_table.c.id == alert_id)
                           .values(attempts=tried, **released, **values))
    return error


def deliver_pending(ws: Workspace, db: Database,
                    alert_ids: Iterable[int] | None = None) -> DeliveryReport:
    """Post pending alerts (not notified, not acknowledged) to `alerts.webhook_url`, oldest
    first, once each: `notified_at` is set on a 2xx; `attempts` counts every HTTP attempt; on
    failure `last_error` says why and the alert stays pending. `alert_ids` limits the run to
    those alerts (the ones a command just raised); None means every pending alert (`unmo alerts
    notify`).

    Each alert is claimed (`_claim_next`) before its post and released with its outcome, so
    runs at once (two notifies, a notify beside a feedback command or a health run) share the
    alerts and never post one twice; a run killed while holding a claim leaves that alert to a
    later run once CLAIM_LEASE has passed. The delivery promise (README, "Feedback and alerts"):
    at least once; a second post of one alert happens only after a post whose outcome is
    unknown (a timeout or dropped connection once the request went out: not retried in that
    run, posted again by a later `unmo alerts notify`) or a run killed between its post and
    recording it. Every post of one alert carries the same `Idempotency-Key`.

    When one alert fails the run stops and leaves the rest pending: a dead webhook then costs
    one timeout, not one per alert."""

    url = ws.settings.alerts.webhook_url
    wanted = None if alert_ids is None else sorted(set(alert_ids))
    if wanted == []:
        return DeliveryReport(configured=bool(url))
    if not url:
        return DeliveryReport(configured=False, pending=_count_pending(db, wanted))
    run = f"{os.getpid()}-{secrets.token_hex(6)}"
    delivered = 0
    with WebhookClient(url) as hook:
        for chunk in _chunks(wanted, 500) if wanted is not None else [None]:
            while (claimed := _claim_next(db, run, chunk)) is not None:
                alert_id, text, created_at = claimed
                testhooks.checkpoint("alert-claimed")
                outcome = hook.post(text, idempotency_key=delivery_key(alert_id, created_at,
                                                                       text))
                testhooks.checkpoint("alert-posted")
                error = _record_outcome(db, alert_id, outcome)
                if error is not None:
                    pending, in_flight = _count_open(db, wanted)
                    return DeliveryReport(True, delivered, 1, pending, error, in_flight)
                delivered += 1
    # Nothing was left to claim: what is open now is another run's (in flight), or one it
    # released unsent a moment ago (pending).
    pending, in_flight = _count_open(db, wanted)
    return DeliveryReport(True, delivered, 0, pending, None, in_flight)


def deliver_raised(ws: Workspace, alert_ids: Sequence[int]
                   ) -> tuple[DeliveryReport, list[AlertView]]:
    """After the commit that raised `alert_ids`: try to deliver them (deliver_pending), then
    read them back with the delivery's outcome. No alerts, no database work."""
    if not alert_ids:
        return DeliveryReport(configured=bool(ws.settings.alerts.webhook_url)), []

    db = open_database(ws)
    try:
        delivery = deliver_pending(ws, db, alert_ids)
        with db.connection() as connection:
            return delivery, alert_views(connection, alert_ids)
    finally:
        db.dispose()


def _count_open(db: Database, wanted: list[int] | None) -> tuple[int, int]:
    """(pending and claimable, pending but claimed by a run whose claim holds) among `wanted`
    (None: all)."""

    alert = alerts_table.c
    claimable = and_(*_claimable(_lease_clock()))
    query = (select(func.count(alert.id).filter(claimable),
                    func.count(alert.id).filter(not_(claimable)))
             .where(alert.notified_at.is_(None), alert.acked_at.is_(None)))
    pending = in_flight = 0
    with db.connection() as connection:
        for chunk in _chunks(wanted, 500) if wanted is not None else [None]:
            chosen = query if chunk is None else query.where(alert.id.in_(list(chunk)))
            row = connection.execute(chosen).one()
            pending, in_flight = pending + int(row[0] or 0), in_flight + int(row[1] or 0)
    return pending, in_flight


def _count_pending(db: Database, wanted: list[int] | None) -> int:
    alert = alerts_table.c
    query = select(func.count(alert.id)).where(alert.notified_at.is_(None),
                                               alert.acked_at.is_(None))
    with db.connection() as connection:
        if wanted is None:
            return int(connection.execute(query).scalar() or 0)
        return sum(int(connection.execute(query.where(alert.id.in_(chunk))).scalar() or 0)
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
class AckResult:
    acked: list[AlertView]
    already: list[AlertView]


def ack_alerts(ws: Workspace, ids: Sequence[int]) -> AckResult:
    """Acknowledge alerts by id (all or nothing: an unknown id changes nothing). Acknowledged
    alerts leave `--open` and are no longer sent by `unmo alerts notify`."""

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
        with db.connection() as connection:
            found = {view.id: view for view in alert_views(connection, ids)}
            missing = [str(i) for i in ids if i not in found]
            if missing:
                raise NotFound(f"no alert with id {', '.join(missing)}; see `unmo alerts list` "
                               "for the ids.")
            testhooks.checkpoint("alerts-ack")
            # Only alerts nobody acknowledged meanwhile: another `alerts ack` of the same id
            # between the read above and this write keeps its time and is reported as such.
            fresh = [found[i].id for i in dict.fromkeys(ids) if found[i].acked_at is None]
            won = set(connection.execute(
                update(alerts_table).where(alerts_table.c.id.in_(fresh),
                                           alerts_table.c.acked_at.is_(None))
                .values(acked_at=clock.to_db(clock.now())).returning(alerts_table.c.id))
                .scalars()) \
                if fresh else set()
            views = {view.id: view for view in alert_views(connection, list(dict.fromkeys(ids)))}
            acked = [views[i] for i in dict.fromkeys(ids) if i in won]
            already = [views[i] for i in dict.fromkeys(ids) if i not in won]
        return AckResult(acked, already)
    finally:
        db.dispose()


def notify_pending(ws: Workspace) -> DeliveryReport:
    """`unmo alerts notify`: send every pending alert once. No webhook configured with alerts
    waiting, or a webhook that fails, is an environment failure (exit 3) after the report."""

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
    stay = f"{report.pending} alert{'s stay' if report.pending != 1 else ' stays'} pending"
    if report.error is None:
        return EnvironmentFailure(f"{stay}: another unmo run could not deliver "
                                  f"{'them' if report.pending != 1 else 'it'}; see "
                                  "`unmo alerts list` for the reason.")
    return EnvironmentFailure(f"the webhook failed ({report.error}); {stay}.")


def in_flight_notice(report: DeliveryReport) -> str | None:
    """The note `unmo alerts notify` adds for alerts another run holds (None: there are none)."""
    if not report.in_flight:
        return None
    minutes = int(CLAIM_LEASE.total_seconds() // 60)
    return (f"{report.in_flight} alert{'s are' if report.in_flight != 1 else ' is'} being sent "
            f"by another unmo run; if that run stopped, `unmo alerts notify` sends "
            f"{'them' if report.in_flight != 1 else 'it'} once its claim lapses (at most "
            f"{minutes} minutes).")
