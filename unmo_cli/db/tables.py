"""The tables a few fast paths read and write, as SQLAlchemy Core table clauses (names and types,
nothing else): onboarding's pre-flight and write path, and `alerts list`. Building the SQLModel
classes of db/models.py costs a process about 0.2 G instructions (a tenth of importing Typer,
SQLModel, Jinja2 and Rich, as much as an onboarding's own work); a statement on these clauses needs
none of it; `task list` and `customer timeline` read through them too (every table a timeline
reads), and `unmo health` and `unmo maintenance` read and write through them alone.
tests/test_db_tables.py holds every table here equal, column by column (names and types), to the
models' table of the same name, so the two cannot drift."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    column,
    table,
)

customers = table(
    "customers",
    column("id", Integer), column("slug", String), column("name_key", String),
    column("name", String), column("industry", String), column("integration", String),
    column("platforms", String), column("provider", String), column("events_per_day", Integer),
    column("mrr_cents", Integer), column("contact_name", String), column("contact_email", String),
    column("success_manager", String), column("phase", String), column("created_at", DateTime),
    column("churned_at", DateTime), column("churn_reason", String), column("tier", String),
    column("renewal_date", Date),
)

mrr_changes = table(
    "mrr_changes",
    column("id", Integer), column("customer_id", Integer), column("kind", String),
    column("mrr_cents", Integer), column("effective_at", DateTime),
    column("recorded_at", DateTime), column("reason", String),
)

api_keys = table(
    "api_keys",
    column("id", Integer), column("customer_id", Integer), column("kind", String),
    column("environment", String), column("key_hash", String), column("hint", String),
    column("publishable_value", String), column("created_at", DateTime),
    column("revoked_at", DateTime),
)

onboarding_sessions = table(
    "onboarding_sessions",
    column("id", Integer), column("customer_id", Integer), column("customer_name", String),
    column("mode", String), column("outcome", String), column("error", String),
    column("started_at", DateTime), column("finished_at", DateTime), column("duration_s", Float),
)

onboarding_steps = table(
    "onboarding_steps",
    column("id", Integer), column("session_id", Integer), column("position", Integer),
    column("name", String), column("duration_s", Float), column("outcome", String),
)

# A Table with its primary key, not a bare clause: an alert is inserted one at a time, and its
# id must come back from the insert itself (the audit trail names it too), on both databases.
alerts = Table(
    "alerts", MetaData(),
    Column("id", Integer, primary_key=True), Column("customer_id", Integer),
    Column("rule", String), Column("text", String), Column("score", Float),
    Column("feedback_id", Integer), Column("created_at", DateTime),
    Column("notified_at", DateTime), Column("acked_at", DateTime), Column("attempts", Integer),
    Column("last_error", String), Column("claimed_by", String),
    Column("claimed_until", DateTime),
)

phase_changes = table(
    "phase_changes",
    column("id", Integer), column("customer_id", Integer), column("changed_at", DateTime),
    column("from_phase", String), column("to_phase", String),
)

customer_changes = table(
    "customer_changes",
    column("id", Integer), column("customer_id", Integer), column("field", String),
    column("old_value", String), column("new_value", String), column("effective_at", DateTime),
    column("recorded_at", DateTime),
)

feedback = table(
    "feedback",
    column("id", Integer), column("customer_id", Integer), column("received_at", DateTime),
    column("satisfaction", Integer), column("nps", Integer), column("category", String),
    column("comment", String), column("source", String), column("external_id", String),
)

health_checks = table(
    "health_checks",
    column("id", Integer), column("customer_id", Integer), column("checked_at", DateTime),
    column("status", String), column("http_status", Integer), column("latency_ms", Float),
    column("error", String), column("services", String), column("installs", Integer),
)

email_sendings = table(
    "email_sendings",
    column("id", Integer), column("customer_id", Integer), column("kind", String),
    column("request_key", String), column("message_id", String),
    column("recipient_digest", String), column("outcome", String), column("answer", String),
    column("attempts", Integer), column("requested_at", DateTime),
    column("attempted_at", DateTime), column("sent_at", DateTime),
)

survey_invitations = table(
    "survey_invitations",
    column("id", Integer), column("nonce", String), column("customer_id", Integer),
    column("created_at", DateTime), column("expires_at", DateTime), column("answers", Integer),
    column("first_answered_at", DateTime), column("answered_at", DateTime),
    column("feedback_id", Integer), column("sending_id", Integer),
)

notes = table(
    "notes",
    column("id", Integer), column("customer_id", Integer), column("at", DateTime),
    column("text", String), column("author", String), column("recorded_at", DateTime),
)

tasks = table(
    "tasks",
    column("id", Integer), column("customer_id", Integer), column("title", String),
    column("owner", String), column("due_on", Date), column("status", String),
    column("playbook", String), column("fired", Integer), column("created_at", DateTime),
    column("updated_at", DateTime), column("done_at", DateTime), column("done_note", String),
)

# A Table with its primary key, as `alerts`: a window's id comes back from its insert.
maintenance_windows = Table(
    "maintenance_windows", MetaData(),
    Column("id", Integer, primary_key=True), Column("start_at", DateTime),
    Column("end_at", DateTime), Column("reason", String), Column("all_customers", Boolean),
    Column("created_at", DateTime), Column("cancelled_at", DateTime),
)

maintenance_window_customers = table(
    "maintenance_window_customers",
    column("window_id", Integer), column("customer_id", Integer),
)

TABLES = (customers, mrr_changes, api_keys, onboarding_sessions, onboarding_steps, alerts,
          phase_changes, customer_changes, feedback, health_checks, email_sendings,
          survey_invitations, notes, tasks, maintenance_windows, maintenance_window_customers)
