"""E-mail to customers: the welcome message onboarding generated (customers/<slug>/email/
welcome.eml) and the survey message, each sent once per request.

The promise: a sending is recorded (with its Message-ID) and committed before the SMTP
transaction starts, and its outcome after it. A request already sent is not sent again; one
that certainly failed (no connection, refused) may be tried again with the same Message-ID; one
whose outcome is unknown (the server took the message and then did not answer in time, or a run
was killed in the middle) is not sent again unless the operator says so (`--retry-unknown`),
since the message may have arrived."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from unmo_cli import clock, mailer
from unmo_cli.db import Database, open_database
from unmo_cli.db.models import Customer, EmailSending, SurveyInvitation
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services.customer_folder import WELCOME_EML
from unmo_cli.services.customers import get_customer
from unmo_cli.signing import recipient_digest, signing_key
from unmo_cli.text import address_hint
from unmo_cli.workspace import SMTP_PASSWORD_ENV, Workspace

KINDS = ("welcome", "survey")
WELCOME_REQUEST = "welcome"
# A run that recorded a sending and then died leaves it pending; after this long it counts as
# unknown (the message may have gone out just before the run died).
PENDING_LAPSES_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Sending:
    """What happened to one request: `outcome` is sent (now), already_sent (earlier: nothing
    sent now) or would_send (--dry-run)."""

    customer: str
    kind: str
    message_id: str
    outcome: str
    subject: str
    to: str  # the address's domain only, e.g. "…@acme-games.example": enough to tell which
    sent_at: Any = None
    attempts: int = 0
    answer: str | None = None
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "kind": self.kind, "message_id": self.message_id,
                "outcome": self.outcome, "subject": self.subject, "to": self.to,
                "sent_at": clock.iso(self.sent_at), "attempts": self.attempts,
                "answer": self.answer, "dry_run": self.dry_run}


def server_for(ws: Workspace) -> mailer.SmtpServer:
    """The configured server (exit 3 when there is none, or its password is missing)."""
    email = ws.settings.email
    return mailer.smtp_server(email.smtp_url, os.environ.get(SMTP_PASSWORD_ENV),
                              email.timeout_s)


def addressed(ws: Workspace, message: EmailMessage) -> EmailMessage:
    """`message` with the workspace's From and Reply-To, when set."""
    email = ws.settings.email
    if email.sender:
        del message["From"]
        message["From"] = email.sender
    if email.reply_to:
        del message["Reply-To"]
        message["Reply-To"] = email.reply_to
    return message


def welcome_message(ws: Workspace, customer: Customer) -> EmailMessage:
    """The welcome e-mail exactly as onboarding wrote it into the customer's folder, addressed
    with the workspace's sender settings."""
    path = ws.customer_dir(customer.slug) / WELCOME_EML
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EnvironmentFailure(f"{ws.relative(path)} is missing; run unmo customer render "
                                 f"{customer.slug} to write it again.") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {ws.relative(path)}: {exc.strerror}.") from None
    message = message_from_bytes(data, _class=EmailMessage, policy=SMTP_POLICY)
    if not message["Message-ID"] or not message["To"]:
        raise EnvironmentFailure(f"{ws.relative(path)} has no Message-ID or To; run unmo "
                                 f"customer render {customer.slug} to write it again.")
    return addressed(ws, message)


def send_welcome(ws: Workspace, slug: str, *, dry_run: bool = False,
                 retry_unknown: bool = False) -> Sending:
    """Send the customer's welcome e-mail, once (see the module's promise)."""
    db = open_database(ws)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
        message = welcome_message(ws, customer)
        return send_once(ws, db, customer, "welcome", WELCOME_REQUEST, lambda: message,
                         dry_run=dry_run, retry_unknown=retry_unknown)
    finally:
        db.dispose()


def send_once(ws: Workspace, db: Database, customer: Customer, kind: str, request_key: str,
              build: Callable[[], EmailMessage], *, dry_run: bool, retry_unknown: bool,
              invitation_id: int | None = None) -> Sending:
    """Send what `build` makes for `request_key` unless that request was sent already: record
    it, commit, hand it to the server, record the outcome. EnvironmentFailure (exit 3) when it
    was not sent, saying whether it may have arrived; nothing is then marked sent.
    `invitation_id`: the survey invitation whose link the message carries, tied to the sending
    in the same transaction that records it."""
    assert customer.id is not None
    message = build()
    subject = str(message["Subject"] or "")
    to = address_hint(customer.contact_email)
    with db.session() as session:
        row = _sending(session, customer.id, request_key)
    if row is not None and row.outcome == mailer.SENT:
        return Sending(customer.slug, kind, row.message_id, "already_sent", subject, to,
                       clock.from_db(row.sent_at), row.attempts, row.answer, dry_run)
    if dry_run:
        message_id = row.message_id if row is not None else str(message["Message-ID"])
        return Sending(customer.slug, kind, message_id, "would_send", subject, to,
                       dry_run=True)
    server = server_for(ws)
    digest = recipient_digest(signing_key(ws), customer.contact_email)
    row = _claim(db, customer, kind, request_key, str(message["Message-ID"]), digest,
                 retry_unknown, invitation_id)
    del message["Message-ID"]
    message["Message-ID"] = row.message_id  # a retry carries the first attempt's id
    del message["Date"]
    message["Date"] = format_datetime(clock.now())
    attempt = mailer.send(server, message)
    done_at = clock.to_db(clock.now())
    with db.session() as session:
        session.execute(update(EmailSending).where(EmailSending.id == row.id).values(
            outcome=attempt.outcome, answer=attempt.answer,
            sent_at=done_at if attempt.outcome == mailer.SENT else None))
    if attempt.outcome == mailer.FAILED:
        raise EnvironmentFailure(f"the {kind} e-mail to {customer.slug} was not sent: "
                                 f"{attempt.answer}; nothing was marked sent, so running the "
                                 "command again tries again.")
    if attempt.outcome == mailer.UNKNOWN:
        raise EnvironmentFailure(f"the {kind} e-mail to {customer.slug} may or may not have "
                                 f"arrived: {attempt.answer} after it was handed over; it is "
                                 "recorded as unknown and will not be sent again unless you "
                                 "run the command with --retry-unknown.")
    return Sending(customer.slug, kind, row.message_id, mailer.SENT, subject, to,
                   clock.from_db(done_at), row.attempts, attempt.answer)


def _sending(session: Any, customer_id: int, request_key: str) -> EmailSending | None:
    return session.execute(select(EmailSending).where(
        EmailSending.customer_id == customer_id,
        EmailSending.request_key == request_key)).scalars().first()


def _claim(db: Database, customer: Customer, kind: str, request_key: str, message_id: str,
           digest: str, retry_unknown: bool, invitation_id: int | None) -> EmailSending:
    """Record the sending as pending (a new row, or a failed/unknown one taken over by a
    conditional UPDATE), committed before any byte goes to the server. Two runs at once: one
    wins, the other is told the message is being sent."""
    assert customer.id is not None
    now = clock.to_db(clock.now())
    with db.session() as session:
        row = _sending(session, customer.id, request_key)
        if row is None:
            row = EmailSending(customer_id=customer.id, kind=kind, request_key=request_key,
                               message_id=message_id, recipient_digest=digest,
                               outcome="pending", attempts=1, requested_at=now,
                               attempted_at=now)
            session.add(row)
            try:
                session.flush()
                _link(session, invitation_id, row)
                return row
            except IntegrityError:
                session.rollback()
                row = _sending(session, customer.id, request_key)
                if row is None:  # the Message-ID itself is taken: another request's
                    raise EnvironmentFailure(
                        f"the Message-ID {message_id} was already used by another sending; "
                        "render the customer again.") from None
        lapsed = clock.to_db(clock.now() - PENDING_LAPSES_AFTER)
        takeable = [EmailSending.outcome == mailer.FAILED]
        if retry_unknown:
            takeable += [EmailSending.outcome == mailer.UNKNOWN,
                         (EmailSending.outcome == "pending") & (EmailSending.attempted_at < lapsed)]
        claimed = session.execute(update(EmailSending).where(
            EmailSending.id == row.id, or_(*takeable)).values(
            outcome="pending", attempts=EmailSending.attempts + 1, attempted_at=now,
            recipient_digest=digest))
        if claimed.rowcount == 1:
            session.refresh(row)
            _link(session, invitation_id, row)
            return row
        session.refresh(row)
    when = clock.iso(row.attempted_at)
    if row.outcome == mailer.SENT:
        raise EnvironmentFailure(f"the {kind} e-mail to {customer.slug} was sent meanwhile by "
                                 "another run; nothing sent again.")
    if row.outcome == "pending" and row.attempted_at >= lapsed:
        raise EnvironmentFailure(f"another run is sending the {kind} e-mail to {customer.slug} "
                                 f"right now (since {when}); nothing sent.")
    why = row.answer or "the run stopped"
    raise EnvironmentFailure(f"the {kind} e-mail to {customer.slug} may already have arrived: "
                             f"the attempt at {when} ended without an answer ({why}); "
                             "check the mailbox, then run the command again with "
                             "--retry-unknown to send it again (same Message-ID).")


def _link(session: Any, invitation_id: int | None, row: EmailSending) -> None:
    if invitation_id is not None:
        session.execute(update(SurveyInvitation).where(SurveyInvitation.id == invitation_id)
                        .values(sending_id=row.id))


def recipients(message: EmailMessage) -> list[str]:
    return [address for _name, address in getaddresses(message.get_all("To", []))]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"{kind!r} is not an e-mail unmo sends; use one of {', '.join(KINDS)}.")
    return kind
