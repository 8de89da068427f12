"""The tables. Money is integer cents; timestamps are naive UTC (see clock.to_db)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict
from sqlalchemy import Column, Date, DateTime, Index, MetaData, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# A naming convention so Alembic's batch mode can find and alter constraints on SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)
# Timestamps are naive UTC (clock.to_db). Each datetime column names sa_type=DateTime because
# SQLModel >= 0.0.3x maps `datetime` to an aware type that refuses naive values and would not
# match the migrations' TIMESTAMP WITHOUT TIME ZONE on PostgreSQL.
metadata = SQLModel.metadata

_ = Column  # re-exported for migrations' readers; keeps the import honest


class Customer(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "customers"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    # The name folded to lowercase ASCII letters and digits: two names that differ only by case,
    # accents or punctuation collide here, and the database (not a read-then-write) refuses it.
    name_key: str = Field(max_length=200, unique=True)
    name: str = Field(max_length=200)
    industry: str = Field(max_length=32)
    integration: str = Field(max_length=16)
    platforms: str = Field(default="", max_length=64)  # comma-separated: "ios,android"
    provider: str = Field(max_length=32)
    events_per_day: int
    mrr_cents: int
    contact_name: str = Field(max_length=200)
    contact_email: str = Field(max_length=254)
    success_manager: str | None = Field(default=None, max_length=254)
    phase: str = Field(default="setup", max_length=16)
    created_at: datetime = Field(index=True, sa_type=DateTime)
    churned_at: datetime | None = Field(default=None, index=True, sa_type=DateTime)
    churn_reason: str | None = Field(default=None)
    # Migration 0008 (account history): the contracted service tier and the renewal date. The
    # current values; every change is kept in customer_changes with its effective date.
    tier: str = Field(default="standard", max_length=32)
    renewal_date: date | None = Field(default=None, sa_type=Date)


class ApiKey(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # publishable | secret
    environment: str = Field(max_length=8)  # live | test
    key_hash: str = Field(max_length=64, unique=True)  # SHA-256 hex of the whole key
    hint: str = Field(max_length=40)  # e.g. unmo_sk_live_…a9F2
    # Publishable keys ship inside apps, so the database may hold them; secret keys never.
    publishable_value: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(sa_type=DateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime)


class OnboardingSession(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "onboarding_sessions"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int | None = Field(
        default=None, foreign_key="customers.id", index=True, ondelete="SET NULL"
    )
    customer_name: str = Field(default="", max_length=200)
    mode: str = Field(max_length=16)  # interactive | flags | batch
    outcome: str = Field(max_length=16)  # success | failed | cancelled
    error: str | None = Field(default=None)
    started_at: datetime = Field(sa_type=DateTime)
    finished_at: datetime = Field(index=True, sa_type=DateTime)
    duration_s: float


class OnboardingStep(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "onboarding_steps"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="onboarding_sessions.id", index=True, ondelete="CASCADE")
    position: int
    name: str = Field(max_length=64)
    duration_s: float
    outcome: str = Field(max_length=16)  # success | failed | cancelled


class Feedback(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("customer_id", "external_id"),
        Index("ix_feedback_customer_received", "customer_id", "received_at"),
        # Covers the report's weekly aggregates (migration 0004).
        Index("ix_feedback_received_cover", "received_at", "customer_id", "satisfaction", "nps"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    received_at: datetime = Field(index=True, sa_type=DateTime)
    satisfaction: int
    nps: int | None = Field(default=None)
    category: str = Field(default="other", max_length=16)
    comment: str | None = Field(default=None)
    source: str = Field(default="cli", max_length=16)  # cli | import
    external_id: str | None = Field(default=None, max_length=200)


class Alert(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    # low_satisfaction | satisfaction_drop | detractor | health_failing | health_resolved
    rule: str = Field(max_length=32)
    text: str
    score: float | None = Field(default=None)
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id", ondelete="SET NULL")
    created_at: datetime = Field(index=True, sa_type=DateTime)
    notified_at: datetime | None = Field(default=None, index=True, sa_type=DateTime)
    acked_at: datetime | None = Field(default=None, sa_type=DateTime)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None)
    # A delivery run's claim (migration 0005): set by a conditional UPDATE before the post,
    # cleared with the outcome; a crashed run's claim lapses at claimed_until (real time).
    claimed_by: str | None = Field(default=None, max_length=40)
    claimed_until: datetime | None = Field(default=None, sa_type=DateTime)


class HealthCheck(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    __tablename__ = "health_checks"
    __table_args__ = (
        # Covers a customer's checks over a time range with the columns the SLA report reads
        # (migration 0010; it replaced the (customer_id, checked_at) index, a prefix of it).
        Index("ix_health_checks_customer_cover", "customer_id", "checked_at", "status",
              "latency_ms"),
        # Covers the report's weekly aggregates (migration 0004).
        Index("ix_health_checks_checked_cover", "checked_at", "customer_id", "status",
              "latency_ms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    checked_at: datetime = Field(index=True, sa_type=DateTime)
    # healthy | degraded | unauthorized | down | error | maintenance (inside a maintenance window)
    status: str = Field(max_length=16)
    http_status: int | None = Field(default=None)
    latency_ms: float | None = Field(default=None)
    error: str | None = Field(default=None)
    services: str | None = Field(default=None)  # JSON object: {"kafka": "unhealthy", ...}
    installs: int | None = Field(default=None)


class PhaseChange(SQLModel, table=True):
    model_config = ConfigDict(defer_build=True)
    """A customer's phase changing (migration 0006_phase_history), so that a report of a past
    week shows the phase the customer was in then. `from_phase` NULL: what the phase was before
    is unknown — the row migration 0006_phase_history wrote for each customer that existed
    before phases had a history."""

    __tablename__ = "phase_changes"
    __table_args__ = (Index("ix_phase_changes_customer_changed", "customer_id", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    changed_at: datetime = Field(sa_type=DateTime)
    from_phase: str | None = Field(default=None, max_length=16)
    to_phase: str = Field(max_length=16)


class EmailSending(SQLModel, table=True):
    """One e-mail unmo was asked to send (migration 0007), recorded before the SMTP transaction
    so that a retry finds it: `request_key` names the request (`welcome`, `survey:<nonce>`),
    one row per customer and request. The recipient is not stored: it is the customer's contact
    address, and `recipient_digest` (HMAC-SHA-256 under the workspace's signing key) only tells
    whether a later sending goes to the same address. `outcome`: pending (being sent) | sent |
    failed (certainly not delivered) | unknown (handed over, no answer: may have arrived)."""

    __tablename__ = "email_sendings"
    __table_args__ = (UniqueConstraint("customer_id", "request_key"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # welcome | survey
    request_key: str = Field(max_length=80)
    message_id: str = Field(max_length=200, unique=True)
    recipient_digest: str = Field(max_length=64)
    outcome: str = Field(max_length=16)
    answer: str | None = Field(default=None)
    attempts: int = Field(default=1)
    requested_at: datetime = Field(sa_type=DateTime)
    attempted_at: datetime = Field(sa_type=DateTime)
    sent_at: datetime | None = Field(default=None, index=True, sa_type=DateTime)


class SurveyInvitation(SQLModel, table=True):
    """One survey link given to a customer's contact (migration 0007): the signed token carries
    `nonce` and `expires_at`; the answer it brought is `feedback_id` (a second answer within a
    day of the first replaces it), `answers` counts them (the form's CSRF token is tied to it,
    so a replayed form is refused)."""

    __tablename__ = "survey_invitations"

    id: int | None = Field(default=None, primary_key=True)
    nonce: str = Field(max_length=32, unique=True)
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(sa_type=DateTime)
    expires_at: datetime = Field(sa_type=DateTime)
    answers: int = Field(default=0)
    first_answered_at: datetime | None = Field(default=None, index=True, sa_type=DateTime)
    answered_at: datetime | None = Field(default=None, sa_type=DateTime)
    feedback_id: int | None = Field(default=None, foreign_key="feedback.id", ondelete="SET NULL")
    # The e-mail that carries the link: its own survey e-mail, or the welcome e-mail.
    sending_id: int | None = Field(default=None, foreign_key="email_sendings.id", index=True,
                                   ondelete="SET NULL")


class MrrChange(SQLModel, table=True):
    """The MRR ledger (migration 0008): one row each time a customer's monthly recurring revenue
    changes, never updated in place. `mrr_cents` is the MRR in effect from `effective_at` on
    (0 after a churn); `kind`: start (onboarded) | change (an expansion or a contraction, by
    its sign against the row before it) | churn | reactivation. A customer's MRR at an instant
    is the `mrr_cents` of its last row effective before it (ties: the later id), so any past
    week can be recomputed, and a change recorded today with a past effective date moves the
    figures of the weeks after it. `recorded_at` is when unmo learned of it."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "mrr_changes"
    __table_args__ = (
        # Covers the reports' window over each customer's ledger in (effective_at, id) order
        # (migration 0011; it replaced the (customer_id, effective_at) index, a prefix of it).
        Index("ix_mrr_changes_customer_cover", "customer_id", "effective_at", "id", "kind",
              "mrr_cents"),
        Index("ix_mrr_changes_effective_at", "effective_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    kind: str = Field(max_length=16)
    mrr_cents: int
    effective_at: datetime = Field(sa_type=DateTime)
    recorded_at: datetime = Field(sa_type=DateTime)
    reason: str | None = Field(default=None)  # a churn's reason


class CustomerChange(SQLModel, table=True):
    """A change of a customer's record other than MRR (migration 0008): contact name and
    e-mail, success manager, renewal date, tier — `field`, the value before (as of
    `effective_at`) and after, as text (NULL: none). Never updated in place; the customers row
    holds the value of the latest effective change."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "customer_changes"
    __table_args__ = (
        Index("ix_customer_changes_customer_effective", "customer_id", "effective_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None)
    new_value: str | None = Field(default=None)
    effective_at: datetime = Field(sa_type=DateTime)
    recorded_at: datetime = Field(sa_type=DateTime)


class Note(SQLModel, table=True):
    """A note on a customer's timeline (migration 0008): a call, a meeting, a decision."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_customer_at", "customer_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    at: datetime = Field(sa_type=DateTime)
    text: str
    author: str | None = Field(default=None, max_length=254)
    recorded_at: datetime = Field(sa_type=DateTime)


class Task(SQLModel, table=True):
    """A task on a customer (migration 0008), added by hand or by a playbook. `playbook` names
    the playbook that made it (NULL: by hand); at most one open task per customer and playbook
    (a partial unique index), so a trigger that fires again updates that task (`fired` counts
    the firings) instead of adding another. `due_on` is a calendar date."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_customer_status", "customer_id", "status"),
        Index("ix_tasks_status_due", "status", "due_on"),
        Index("ix_tasks_owner_status", "owner", "status"),
        Index("uq_tasks_open_playbook", "customer_id", "playbook", unique=True,
              sqlite_where=text("status = 'open' AND playbook IS NOT NULL"),
              postgresql_where=text("status = 'open' AND playbook IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    owner: str | None = Field(default=None, max_length=254)
    due_on: date | None = Field(default=None, sa_type=Date)
    status: str = Field(default="open", max_length=8)  # open | done
    playbook: str | None = Field(default=None, max_length=80)
    fired: int = Field(default=1)
    created_at: datetime = Field(sa_type=DateTime)
    updated_at: datetime = Field(sa_type=DateTime)
    done_at: datetime | None = Field(default=None, sa_type=DateTime)
    done_note: str | None = Field(default=None)


class AuditEvent(SQLModel, table=True):
    """One audit event (migration 0009; recorded by unmo_cli/audit.py): who (`actor`), with
    which command line (personal and secret values redacted), on which customer (its slug, kept
    as text so the event outlives the row), what (`action`: `<table>.<insert|update|delete>`)
    and `details` (canonical JSON: the rows' values, before → after for an update, personal
    values redacted). `hash` chains it to the event before it; ids are consecutive."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_customer", "customer", "id"),
                      Index("ix_audit_events_at", "at"))

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=DateTime)
    actor: str = Field(max_length=254)
    command: str
    customer: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=64)
    details: str
    hash: str = Field(max_length=64)
class MaintenanceWindow(SQLModel, table=True):
    """A planned maintenance window (migration 0010): checks from start_at (inclusive) to end_at
    (exclusive) of its customers are recorded as `maintenance` and left out of availability,
    p95 and the SLA. `all_customers` covers every customer; otherwise its customers are the
    rows of maintenance_window_customers. A cancelled window (`cancelled_at`) covers nothing."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_end_start", "end_at", "start_at"),)

    id: int | None = Field(default=None, primary_key=True)
    start_at: datetime = Field(sa_type=DateTime)
    end_at: datetime = Field(sa_type=DateTime)
    reason: str
    all_customers: bool = Field(default=False)
    created_at: datetime = Field(sa_type=DateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=DateTime)


class MaintenanceWindowCustomer(SQLModel, table=True):
    """A customer a maintenance window covers (windows not for all customers)."""

    model_config = ConfigDict(defer_build=True)

    __tablename__ = "maintenance_window_customers"

    window_id: int = Field(foreign_key="maintenance_windows.id", primary_key=True,
                           ondelete="CASCADE")
    customer_id: int = Field(foreign_key="customers.id", primary_key=True, index=True,
                             ondelete="CASCADE")
