"""Surveys: invitations (one signed link per customer contact), the survey e-mail, and the
answers the survey page posts, recorded through the same service as `unmo feedback add`.

An invitation's token is `NONCE.EXPIRES.MAC` (signing.py); the database keeps the nonce, never
the token. One answer per invitation: a second one within ANSWER_CHANGE_WINDOW of the first
replaces it (the first feedback row is removed in the same transaction), a later one is refused.
The form carries a CSRF token tied to the survey token and to the number of answers so far, so
a form (or a replayed POST) is good for one answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid, parseaddr
from functools import cache
from html import escape
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from unmo_cli import clock
from unmo_cli.db import Database, open_database
from unmo_cli.db.models import Customer, EmailSending, Feedback, SurveyInvitation
from unmo_cli.errors import EnvironmentFailure, InputError, UnmoError
from unmo_cli.services.customer_folder import DEFAULT_SENDER, recipient_address
from unmo_cli.services.customers import ERASED, forgotten, get_customer, unknown_customer
from unmo_cli.services.feedback import CATEGORIES, add_feedback
from unmo_cli.services.mail import (
    WELCOME_REQUEST,
    Sending,
    address_hint,
    addressed,
    send_once,
    welcome_message,
)
from unmo_cli.signing import (
    BadToken,
    form_token,
    new_nonce,
    read_form_token,
    read_survey_token,
    signing_key,
    survey_token,
)
from unmo_cli.templates import render
from unmo_cli.workspace import Workspace

ANSWER_CHANGE_WINDOW = timedelta(hours=24)
# A form shown longer ago than this is stale: open the link again.
FORM_VALID_FOR = timedelta(hours=12)
SURVEY_TEMPLATES = ("email/survey.md.j2", "email/survey.html.j2")


# --- errors the survey page shows -------------------------------------------------------------


class SurveyRefused(UnmoError):
    """The page refuses the request: `status` is the HTTP status, `reason` names the page."""

    exit_code = 2
    status = 400
    reason = "invalid"


class TokenRefused(SurveyRefused):
    status, reason = 403, "forbidden"


class TokenExpired(SurveyRefused):
    status, reason = 403, "expired"


class AnswerClosed(SurveyRefused):
    status, reason = 409, "closed"


class StaleForm(SurveyRefused):
    status, reason = 409, "stale"


# --- sending ---------------------------------------------------------------------------------


@dataclass
class SurveyRun:
    sendings: list[Sending] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sendings": [s.to_json() for s in self.sendings], "failures": self.failures,
                "sent": sum(s.outcome == "sent" for s in self.sendings),
                "already_sent": sum(s.outcome == "already_sent" for s in self.sendings)}


def survey_link(ws: Workspace, token: str) -> str:
    return f"{public_url(ws)}/s/{token}"


def public_url(ws: Workspace) -> str:
    url = ws.settings.survey.public_url
    if not url:
        raise InputError("survey.public_url is not set: set it in unmo.yaml (or "
                         "UNMO_SURVEY_PUBLIC_URL) to the address customers reach `unmo survey "
                         "serve` at, e.g. https://feedback.example.com.")
    return url.rstrip("/")


def send_surveys(ws: Workspace, slugs: list[str], *, every: bool = False, dry_run: bool = False,
                 retry_unknown: bool = False) -> SurveyRun:
    """E-mail a survey link to each named customer's contact (or, with `every`, every active
    customer's). A customer with an open invitation (unanswered, not expired) gets that one: a
    request already sent is not sent again. One customer's failure does not stop the others;
    they are listed in `failures`."""
    if bool(slugs) == every:
        raise InputError("name the customers to survey, or pass --all for every active one "
                         "(not both).")
    base = public_url(ws)
    db = open_database(ws)
    run = SurveyRun()
    try:
        customers = _customers(db, slugs)
        key = None if dry_run else signing_key(ws)
        for customer in customers:
            try:
                run.sendings.append(_send_one(ws, db, key, base, customer, dry_run=dry_run,
                                              retry_unknown=retry_unknown))
            except EnvironmentFailure as exc:
                run.failures.append(str(exc))
    finally:
        db.dispose()
    return run


def _customers(db: Database, slugs: list[str]) -> list[Customer]:
    with db.session() as session:
        if not slugs:
            return list(session.execute(select(Customer).where(
                Customer.churned_at.is_(None), Customer.contact_email != ERASED)
                .order_by(Customer.created_at, Customer.id)).scalars())
        found, unknown = [], []
        for slug in dict.fromkeys(slugs):
            try:
                found.append(get_customer(session, slug))
            except InputError:
                unknown.append(slug)
        if unknown:
            raise unknown_customer(*unknown)
        for customer in found:
            if forgotten(customer):
                raise InputError(f"customer {customer.slug!r} was forgotten (customer forget): "
                                 "it has no contact to survey.")
        return found


def _open_invitation(ws: Workspace, db: Database, customer: Customer, *, create: bool
                     ) -> SurveyInvitation | None:
    """The customer's open invitation (unanswered, not expired), made now when there is none
    and `create`; None otherwise."""
    assert customer.id is not None
    now = clock.now()
    with db.session() as session:
        invitation = session.execute(
            select(SurveyInvitation).where(
                SurveyInvitation.customer_id == customer.id, SurveyInvitation.answers == 0,
                SurveyInvitation.expires_at > clock.to_db(now))
            .order_by(SurveyInvitation.id.desc())).scalars().first()
        if invitation is None and create:
            invitation = SurveyInvitation(
                nonce=new_nonce(), customer_id=customer.id, created_at=clock.to_db(now),
                expires_at=clock.to_db(now + timedelta(days=ws.settings.survey.valid_days)))
            session.add(invitation)
            session.flush()
        return invitation


def _link_of(base: str, key: bytes | None, invitation: SurveyInvitation | None
             ) -> tuple[str, datetime]:
    """The invitation's link and expiry (a stand-in link for a dry run's new invitation)."""
    if invitation is None or key is None:
        return f"{base}/s/…", clock.now()
    expires = clock.from_db(invitation.expires_at)
    assert expires is not None
    return f"{base}/s/{survey_token(key, invitation.nonce, expires)}", expires


def _send_one(ws: Workspace, db: Database, key: bytes | None, base: str, customer: Customer, *,
              dry_run: bool, retry_unknown: bool) -> Sending:
    invitation = _open_invitation(ws, db, customer, create=not dry_run)
    if invitation is not None and invitation.sending_id is not None:
        with db.session() as session:
            carrier = session.get(EmailSending, invitation.sending_id)
        if carrier is not None and carrier.kind != "survey" and carrier.outcome == "sent":
            # The link already went out with the welcome e-mail: that was this request.
            return Sending(customer.slug, "survey", carrier.message_id, "already_sent",
                           "", address_hint(customer.contact_email),
                           clock.from_db(carrier.sent_at), carrier.attempts, carrier.answer,
                           dry_run)
    link, expires = _link_of(base, key, invitation)
    if invitation is None:
        expires = clock.now() + timedelta(days=ws.settings.survey.valid_days)
        request_key, message_id = "survey:new", "<survey.new@unmogrowp.example>"
    else:
        request_key = f"survey:{invitation.nonce}"
        message_id = make_msgid(idstring=f"survey.{invitation.nonce}",
                                domain=_sender_domain(ws))
    message = survey_message(ws, customer, link, expires, message_id)
    return send_once(ws, db, customer, "survey", request_key, lambda: message,
                     dry_run=dry_run, retry_unknown=retry_unknown,
                     invitation_id=invitation.id if invitation is not None else None)


def send_welcome_with_survey(ws: Workspace, slug: str, *, dry_run: bool = False,
                             retry_unknown: bool = False) -> Sending:
    """The welcome e-mail onboarding wrote, with the customer's survey link added to its text
    and HTML: the survey request is then this welcome (`survey send` sends no second link while
    it is open). Once, like every sending."""
    base = public_url(ws)
    db = open_database(ws)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
        message = welcome_message(ws, customer)
        with db.session() as session:
            sent_before = session.execute(select(EmailSending.id).where(
                EmailSending.customer_id == customer.id, EmailSending.request_key == "welcome",
                EmailSending.outcome == "sent")).first()
        invitation = None
        if sent_before is None:  # a welcome sent already gets no new invitation
            invitation = _open_invitation(ws, db, customer, create=not dry_run)
        link, expires = _link_of(base, None if dry_run else signing_key(ws), invitation)
        with_link = with_survey_link(message, link, expires)
        return send_once(ws, db, customer, "welcome", WELCOME_REQUEST, lambda: with_link,
                         dry_run=dry_run, retry_unknown=retry_unknown,
                         invitation_id=invitation.id if invitation is not None else None)
    finally:
        db.dispose()


def with_survey_link(message: EmailMessage, link: str, expires: datetime) -> EmailMessage:
    """`message` (text + HTML) with a paragraph asking for the survey, in both parts."""
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    until = expires.date().isoformat()
    if text_part is not None:
        text = text_part.get_content().rstrip("\n")
        text_part.set_content(f"{text}\n\nOne minute to tell us how onboarding went: {link}\n"
                              f"(the link is yours alone and works until {until})\n",
                              cte="quoted-printable")
    if html_part is not None:
        html = html_part.get_content()
        paragraph = (f'<p>One minute to tell us how onboarding went: <a href="{escape(link)}">'
                     f"answer the survey</a> (the link is yours alone and works until "
                     f"{until}).</p>\n")
        at = html.rfind("</body>")
        html = html[:at] + paragraph + html[at:] if at != -1 else html + paragraph
        html_part.set_content(html, subtype="html", cte="quoted-printable")
    return message


def _sender_domain(ws: Workspace) -> str:
    sender = parseaddr(ws.settings.email.sender or DEFAULT_SENDER)[1]
    return sender.rpartition("@")[2] or "unmogrowp.example"


def survey_message(ws: Workspace, customer: Customer, link: str, expires: datetime,
                   message_id: str) -> EmailMessage:
    """The survey e-mail: text and HTML from templates/email/survey.{md,html}.j2, To the
    customer's contact, From `email.from` (or the team's address)."""
    context = {"customer": {"name": customer.name, "contact_name": customer.contact_name,
                            "slug": customer.slug},
               "survey": {"link": link, "expires_on": expires.date().isoformat(),
                          "valid_days": ws.settings.survey.valid_days}}
    text, html = (render(ws, name, context) for name in SURVEY_TEMPLATES)
    heading = next((line.lstrip("#").strip() for line in text.splitlines() if line.strip()), "")
    message = EmailMessage(policy=SMTP_POLICY.clone(cte_type="7bit"))
    local, _, domain = customer.contact_email.rpartition("@")
    message["To"] = recipient_address(customer.contact_name, local, domain)
    message["From"] = DEFAULT_SENDER
    message["Subject"] = heading.replace("\\", "") or "How is UnMoGrowP working for you?"
    message["Message-ID"] = message_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return addressed(ws, message)


# --- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """What the page needs to know about a token's invitation."""

    id: int
    nonce: str
    customer: str  # slug
    customer_name: str
    expires_at: datetime
    answers: int
    first_answered_at: datetime | None
    feedback_id: int | None

    def changeable_until(self) -> datetime | None:
        if self.first_answered_at is None:
            return None
        return self.first_answered_at + ANSWER_CHANGE_WINDOW

    def open(self, now: datetime) -> bool:
        until = self.changeable_until()
        return until is None or now < until


def find_invitation(ws: Workspace, token: str) -> Invitation:
    """The invitation behind a genuine, unexpired token; TokenRefused (forged, altered,
    unknown) or TokenExpired otherwise. Writes nothing."""
    nonce = _genuine_nonce(signing_key(ws), token)
    db = open_database(ws)
    try:
        with db.session() as session:  # a failing database: EnvironmentFailure, 503
            row = session.connection().execute(_invitation_statement(), {"nonce": nonce}).first()
    finally:
        db.dispose()
    if row is None:
        raise TokenRefused("this survey link is not valid: it was altered or never issued.")
    _still_open(row)  # the stored expiry too: `customer forget` closes the links
    _remember_owner(ws, nonce, row.id, row.slug)  # the answer then need not look it up
    return Invitation(row.id, row.nonce, row.slug, row.name,
                      clock.from_db(row.expires_at), row.answers,  # type: ignore[arg-type]
                      clock.from_db(row.first_answered_at), row.feedback_id)


@cache
def _invitation_statement() -> Any:
    # Core, built once: every page view reads one invitation.
    invitations: Any = SurveyInvitation.__table__
    customers: Any = Customer.__table__
    i = invitations.c
    return (select(i.id, i.nonce, i.expires_at, i.answers, i.first_answered_at, i.feedback_id,
                   customers.c.slug, customers.c.name)
            .join(customers, customers.c.id == i.customer_id)
            .where(i.nonce == bindparam("nonce")))


def form_token_for(ws: Workspace, token: str, invitation: Invitation) -> str:
    return form_token(signing_key(ws), token, invitation.answers, clock.now())


def previous_answer(ws: Workspace, invitation: Invitation) -> dict[str, Any] | None:
    """The answer a changeable invitation holds, to fill the form with."""
    if invitation.feedback_id is None:
        return None
    db = open_database(ws)
    try:
        with db.session() as session:
            row = session.get(Feedback, invitation.feedback_id)
            if row is None:
                return None
            return {"satisfaction": row.satisfaction, "nps": row.nps, "category": row.category,
                    "comment": row.comment or ""}
    finally:
        db.dispose()


@dataclass(frozen=True)
class Answer:
    feedback_id: int
    replaced: bool
    changeable_until: datetime
    alerts: list[str]


def record_answer(ws: Workspace, token: str, fields: dict[str, str]) -> Answer:
    """Record what the survey form posted, through the same service as `unmo feedback add`
    (its validation, alerts and playbooks), claiming the invitation in the same transaction.
    Refused with nothing written: a bad token (TokenRefused/TokenExpired), a form that is not
    this token's or was already used (StaleForm), an answer after the change window
    (AnswerClosed), a value out of range (InputError)."""
    key = signing_key(ws)
    nonce = _genuine_nonce(key, token)
    try:
        answers_then, issued = read_form_token(key, token, fields.get("form_token", ""))
    except BadToken:
        raise TokenRefused("this form was not issued for this survey link; open the link "
                           "again.") from None
    now = clock.now()
    if now - issued > FORM_VALID_FOR:
        raise StaleForm("this form was opened too long ago; open the link again to answer.")
    invitation_id, slug = _owner(ws, nonce)
    replaced: list[bool] = []
    first_answered: list[datetime] = []

    def claim(session: Any, row: Any) -> None:
        # One row, read and locked in one statement (FOR UPDATE on PostgreSQL; SQLite's
        # transaction holds the write lock already), then written: Core statements built once.
        read, write, drop = _claim_statements()
        connection = session.connection()
        current = connection.execute(read, {"invitation": invitation_id}).first()
        if current is None:
            raise TokenRefused("this survey link is not valid any more.")
        _still_open(current)
        first = clock.from_db(current.first_answered_at)
        if first is not None and now >= first + ANSWER_CHANGE_WINDOW:
            raise AnswerClosed("this survey was answered more than a day ago; the answer can "
                               "no longer be changed.")
        if current.answers != answers_then:
            raise StaleForm("this form was already sent; open the link again to change your "
                            "answer.")
        stamp = clock.to_db(now)
        first_at = current.first_answered_at or stamp
        connection.execute(write, {"invitation": invitation_id, "answers": current.answers + 1,
                                   "first_answered_at": first_at, "answered_at": stamp,
                                   "feedback_id": row.id})
        first_answered.append(clock.from_db(first_at))  # type: ignore[arg-type]
        if current.feedback_id is not None:
            connection.execute(drop, {"previous": current.feedback_id})
            replaced.append(True)

    result = add_feedback(ws, slug, satisfaction=fields.get("satisfaction"),
                          nps=fields.get("nps") or None, category=fields.get("category") or None,
                          comment=fields.get("comment") or None, source="survey",
                          within=claim)
    return Answer(result.feedback.id, bool(replaced), first_answered[0] + ANSWER_CHANGE_WINDOW,
                  [a.rule for a in result.alerts])


# Who an invitation belongs to never changes: (database URL, nonce) -> (invitation id, slug),
# so that an answer does not pay for a second lookup. Bounded; only genuine invitations enter.
_OWNERS: dict[tuple[str, str], tuple[int, str]] = {}
_OWNERS_MAX = 100_000


def _owner(ws: Workspace, nonce: str) -> tuple[int, str]:
    known = _OWNERS.get((ws.database_url, nonce))
    if known is not None:
        return known
    db = open_database(ws)
    try:
        with db.session() as session:  # a failing database: EnvironmentFailure, 503
            row = session.connection().execute(_owner_statement(), {"nonce": nonce}).first()
    finally:
        db.dispose()
    if row is None:
        raise TokenRefused("this survey link is not valid: it was altered or never issued.")
    _remember_owner(ws, nonce, int(row[0]), str(row[1]))
    return int(row[0]), str(row[1])


def _remember_owner(ws: Workspace, nonce: str, invitation_id: int, slug: str) -> None:
    if len(_OWNERS) >= _OWNERS_MAX:
        _OWNERS.clear()
    _OWNERS[(ws.database_url, nonce)] = (invitation_id, slug)


@cache
def _owner_statement() -> Any:
    invitations: Any = SurveyInvitation.__table__
    customers: Any = Customer.__table__
    return (select(invitations.c.id, customers.c.slug)
            .join(customers, customers.c.id == invitations.c.customer_id)
            .where(invitations.c.nonce == bindparam("nonce")))


@cache
def _claim_statements() -> tuple[Any, Any, Any]:
    """(read and lock the invitation, record the answer on it, delete the answer it replaces)."""
    invitations: Any = SurveyInvitation.__table__
    feedback: Any = Feedback.__table__
    by_id = invitations.c.id == bindparam("invitation")
    read = (select(invitations.c.first_answered_at, invitations.c.answers,
                   invitations.c.feedback_id, invitations.c.expires_at)
            .where(by_id).with_for_update())
    write = update(invitations).where(by_id)
    drop = delete(feedback).where(feedback.c.id == bindparam("previous"))
    return read, write, drop


def _genuine_nonce(key: bytes, token: str) -> str:
    """The nonce of a token this workspace signed and that has not expired."""
    try:
        nonce, expires = read_survey_token(key, token)
    except BadToken:
        raise TokenRefused("this survey link is not valid: it was altered or never issued.") \
            from None
    if clock.now() >= expires:
        raise TokenExpired("this survey link has expired.")
    return nonce


def _still_open(invitation: Any) -> None:
    """The stored expiry counts too, not only the token's: `customer forget` closes the links
    in the contact's mailbox by moving it to the erasure's instant."""
    expires = clock.from_db(invitation.expires_at)
    if expires is not None and clock.now() >= expires:
        raise TokenExpired("this survey link has expired.")


def categories() -> tuple[str, ...]:
    return CATEGORIES
