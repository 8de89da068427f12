"""A customer's personal data under the GDPR: everything unmo holds about a customer handed over
in one JSON document (access, art. 15: `customer export`), and the personal data erased while the
figures stay (erasure, art. 17: `customer forget`).

Personal data here: the contact's name and e-mail address (in the record and its history), the
free text customers wrote (feedback comments, and the alert texts that quote them), the team's
free text about the account (notes, churn reasons, the titles of tasks added by hand and the
notes closing tasks), and the SMTP servers' answers to e-mails sent to the contact (they may
name the address). The audit trail
redacts the same columns (audit.PERSONAL_COLUMNS: ERASED_COLUMNS and SECRET_COLUMNS cover
them, tests/test_privacy.py checks it), so erasing leaves no copy there. Scores, MRR, health
checks and counts are not personal and stay, so past reports keep their figures."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select, update

from unmo_cli import audit, clock, testhooks
from unmo_cli.db.models import (
    Alert,
    ApiKey,
    Customer,
    CustomerChange,
    EmailSending,
    Feedback,
    MrrChange,
    Note,
    OnboardingSession,
    OnboardingStep,
    SurveyInvitation,
    Task,
    metadata,
)
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.files import check_output_path, write_private
from unmo_cli.services.customer_folder import open_folder, refuse_linked_customers_dir
from unmo_cli.services.customers import (
    ERASED,
    customer_json,
    get_customer,
    lock_customer,
    open_existing,
    unknown_customer,
)
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.db import Database
    from unmo_cli.workspace import Workspace

EXPORT_FORMAT = "unmo.customer-export/1"
# Columns that are secrets, or only serve to recognise one, left out of an export: a secret
# key's hash, a survey link's nonce (the link is the token), the keyed digest of an address.
SECRET_COLUMNS = {("api_keys", "key_hash"), ("survey_invitations", "nonce"),
                  ("email_sendings", "recipient_digest")}
PERSONAL_FIELDS = ("contact_name", "contact_email")
# The personal columns `customer forget` erases (see _erase), by (table, column).
ERASED_COLUMNS = {("customers", "contact_name"), ("customers", "contact_email"),
                  ("customers", "churn_reason"), ("mrr_changes", "reason"),
                  ("customer_changes", "old_value"), ("customer_changes", "new_value"),
                  ("feedback", "comment"), ("alerts", "text"), ("notes", "text"),
                  ("tasks", "done_note"), ("tasks", "title"), ("email_sendings", "answer"),
                  ("email_sendings", "recipient_digest")}
COMMENT_MARK = "\nComment: “"  # how an alert's text quotes a feedback comment (services/alerts)


# --- export ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _rows(session: Session, table: Table, where: Any) -> list[dict[str, Any]]:
    columns = [c for c in table.columns if (table.name, c.name) not in SECRET_COLUMNS]
    query = select(*columns).where(where).order_by(*table.primary_key.columns)
    return [{k: _plain(v) for k, v in row.items()}
            for row in session.execute(query).mappings()]


def customer_tables() -> list[Table]:
    """Every table with a row per customer (a `customer_id` column), in the schema's order: an
    export covers the tables a later migration adds without being told about them."""
    return [t for t in metadata.sorted_tables if "customer_id" in t.columns]


def export_document(session: Session, customer: Customer) -> dict[str, Any]:
    """The export: `{"format", "exported_at", "customer", "tables": {name: [rows]}}`, each row
    with its columns as stored (timestamps ISO 8601 UTC, money in cents), secrets left out;
    `onboarding_steps` are those of the customer's onboarding sessions."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in customer_tables():
        tables[table.name] = _rows(session, table, table.c.customer_id == customer.id)
    steps = OnboardingStep.__table__
    sessions = select(OnboardingSession.id).where(OnboardingSession.customer_id == customer.id)
    tables["onboarding_steps"] = _rows(session, steps, steps.c.session_id.in_(sessions))
    return {"format": EXPORT_FORMAT, "exported_at": clock.iso(clock.now()),
            "customer": customer_json(customer), "tables": tables}


@dataclass
class ExportResult:
    customer: str
    output: str
    tables: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "output": self.output, "tables": self.tables}


def export_customer(ws: Workspace | None, slug: str, output: Path) -> ExportResult:
    """`unmo customer export SLUG -o FILE`: the document written whole, owner-only (it holds
    personal data), or not at all."""
    target = check_output_path(output, option="--output")
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
            document = export_document(session, customer)
    finally:
        db.dispose()
    write_private(target, json.dumps(document, ensure_ascii=False, indent=2,
                                     allow_nan=False) + "\n")
    return ExportResult(customer=customer.slug, output=str(output),
                        tables={name: len(rows) for name, rows in document["tables"].items()})


# --- forget ------------------------------------------------------------------------------------


@dataclass
class ForgetResult:
    customer: str
    erased: dict[str, int]
    keys_revoked: int
    folder_removed: bool
    backups: list[str] = field(default_factory=list)
    scrubbed: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "erased": self.erased,
                "keys_revoked": self.keys_revoked, "folder_removed": self.folder_removed,
                "scrubbed": self.scrubbed, "backups": self.backups}


def _erase(session: Session, customer: Customer) -> tuple[dict[str, int], int]:
    """Overwrite the customer's personal data in place (see the module's docstring); the
    number of values erased by kind, and of keys revoked."""
    cid = customer.id
    erased: dict[str, int] = {}
    personal = [customer.contact_name != ERASED, customer.contact_email != ERASED]
    erased["contact"] = sum(personal)
    customer.contact_name = ERASED
    customer.contact_email = ERASED
    session.add(customer)
    history = session.execute(
        update(CustomerChange)
        .where(CustomerChange.customer_id == cid, CustomerChange.field.in_(PERSONAL_FIELDS),
               CustomerChange.new_value != ERASED)
        .values(old_value=ERASED, new_value=ERASED))
    erased["record_history"] = history.rowcount
    comments = session.execute(
        update(Feedback).where(Feedback.customer_id == cid, Feedback.comment.is_not(None))
        .values(comment=None))
    erased["feedback_comments"] = comments.rowcount
    quoted = 0
    for alert in session.scalars(select(Alert).where(Alert.customer_id == cid,
                                                     Alert.text.contains(COMMENT_MARK))):
        alert.text = alert.text.split(COMMENT_MARK, 1)[0]
        session.add(alert)
        quoted += 1
    erased["alert_quotes"] = quoted
    notes = session.execute(update(Note).where(Note.customer_id == cid, Note.text != ERASED)
                            .values(text=ERASED))
    erased["notes"] = notes.rowcount
    churn_reason = customer.churn_reason not in (None, ERASED)
    if churn_reason:
        customer.churn_reason = ERASED
    ledger = session.execute(update(MrrChange).where(
        MrrChange.customer_id == cid, MrrChange.reason.is_not(None), MrrChange.reason != ERASED)
        .values(reason=ERASED))
    erased["reasons"] = int(churn_reason) + ledger.rowcount
    task_notes = session.execute(update(Task).where(
        Task.customer_id == cid, Task.done_note.is_not(None), Task.done_note != ERASED)
        .values(done_note=ERASED))
    erased["task_notes"] = task_notes.rowcount
    # A task added by hand is titled by the team ("Call Jane about the renewal"), like a note;
    # a playbook's task is titled by unmo.yaml and names no one: it stays.
    task_titles = session.execute(update(Task).where(
        Task.customer_id == cid, Task.playbook.is_(None), Task.title != ERASED)
        .values(title=ERASED))
    erased["task_titles"] = task_titles.rowcount
    answers = session.execute(
        update(EmailSending).where(EmailSending.customer_id == cid,
                                   EmailSending.recipient_digest != "")
        .values(answer=None, recipient_digest=""))
    erased["email_sendings"] = answers.rowcount
    now = clock.to_db(clock.now())
    revoked = session.execute(update(ApiKey).where(ApiKey.customer_id == cid,
                                                   ApiKey.revoked_at.is_(None))
                              .values(revoked_at=now))
    # The survey links in the contact's mailbox stop taking answers: an answer after the
    # erasure would be new personal data (a comment) about a customer meant to hold none.
    session.execute(update(SurveyInvitation).where(SurveyInvitation.customer_id == cid,
                                                   SurveyInvitation.expires_at > now)
                    .values(expires_at=now))
    return erased, revoked.rowcount


TOUCHED_TABLES = [m.__tablename__ for m in (Customer, CustomerChange, MrrChange, Feedback, Alert,
                                            Note, Task, EmailSending, ApiKey, SurveyInvitation)]


@contextmanager
def _folder_held(ws: Workspace, folder: Path) -> Iterator[bool]:
    """The customer's folder locked against a rotation or render while its data is erased
    (refused, exit 2, if it is or holds a link); yields whether there is one."""
    refuse_linked_customers_dir(ws.relative, ws.customers_dir)
    if not (folder.exists() or folder.is_symlink()):
        yield False
        return
    with open_folder(ws.relative, folder, customers_dir=ws.customers_dir) as writer:
        # A forget of the same customer that held the lock first has removed it meanwhile.
        yield writer.still_named()


def forget_customer(ws: Workspace | None, slug: str, *, yes: bool) -> ForgetResult:
    """`unmo customer forget SLUG --yes`: erase the customer's personal data, revoke its keys
    and remove `customers/<slug>/`, keeping what is not personal; then scrub the database's
    files. Running it again finishes what a failure left (the folder) and erases nothing new."""
    if not yes:
        raise InputError("customer forget erases the contact's name and e-mail, feedback "
                         "comments and notes for good; pass --yes to confirm.")
    ws = ws if ws is not None else load_workspace()
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
            folder = ws.customer_dir(customer.slug)
            with ExitStack() as stack:
                has_folder = stack.enter_context(_folder_held(ws, folder))
                lock_customer(session, customer)
                erased, revoked = _erase(session, customer)
                audit.record(session.connection(), "customer.forget", customer.id,
                             {"erased": erased, "keys_revoked": revoked,
                              "folder_removed": has_folder})
                testhooks.checkpoint("customer-forget")
                session.commit()
                trash = _move_aside(ws, folder) if has_folder else None
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
        scrubbed = db.scrub(TOUCHED_TABLES)
        return ForgetResult(customer=customer.slug, erased=erased, keys_revoked=revoked,
                            folder_removed=has_folder, backups=_backups(db), scrubbed=scrubbed)
    finally:
        db.dispose()


def _move_aside(ws: Workspace, folder: Path) -> Path:
    """Rename the folder out of the way (one step, so no half-removed folder keeps its name);
    EnvironmentFailure when it cannot be, saying the database part is done."""
    trash = ws.customers_dir / f".tmp-forget-{folder.name}-{secrets.token_hex(4)}"
    try:
        os.rename(folder, trash)
    except OSError as exc:
        raise EnvironmentFailure(
            f"the personal data in the database is erased, but {ws.relative(folder)} could not "
            f"be removed ({exc.strerror}); remove it by hand or run the command again.") from None
    return trash


def _backups(db: Database) -> list[str]:
    """The migration backups beside a SQLite file: copies made before the erasure, which
    still hold what it erased (the command warns; deleting them is the user's call)."""
    path = db.sqlite_path
    if path is None:
        return []
    return sorted(str(p) for p in path.parent.glob(f"{path.name}.backup-*"))
