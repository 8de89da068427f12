"""An account's record after onboarding: changes kept with their effective dates (`customer
set`), churn and reactivation, and the ledger reads that answer "what was it then". MRR lives in
the `mrr_changes` ledger, the other record fields in `customer_changes`; the customers row holds
the values of the latest effective entries, so reading today's record stays one row."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from unmo_cli import clock, metrics, money, testhooks
from unmo_cli.db.models import Customer, CustomerChange, MrrChange
from unmo_cli.errors import InputError, UnmoError
from unmo_cli.services.customers import (
    ERASED,
    customer_json,
    customer_session,
    lock_customer,
    render_customers,
)
from unmo_cli.services.onboarding_input import (
    FieldError,
    parse_contact_name,
    parse_email,
    parse_mrr,
    parse_optional_email,
)
from unmo_cli.text import MAX_REASON, length_problem, shown, text_problem
from unmo_cli.tiers import TIER_RE, unknown_tier_problem
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace

# The record fields `customer set` changes besides MRR, in the order output lists them.
RECORD_FIELDS = ("contact_name", "contact_email", "success_manager", "renewal_date", "tier")
OPTION_OF = {"mrr": "--mrr", "contact_name": "--contact-name",
             "contact_email": "--contact-email", "success_manager": "--success-manager",
             "renewal_date": "--renewal-date", "tier": "--tier"}
LEDGER_KINDS = ("start", "change", "churn", "reactivation")


@dataclass(frozen=True)
class Change:
    """One change `customer set` (or reactivate, churn) recorded: `kind` is expansion or
    contraction for MRR, churn or reactivation for those, else `change`. Values as output shows
    them (MRR as a decimal string)."""

    field: str
    old: str | None
    new: str | None
    kind: str
    effective_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new, "kind": self.kind,
                "effective_at": clock.iso(self.effective_at)}


# --- the ledger ---------------------------------------------------------------------------------


def ledger(session: Session, customer_id: int) -> list[MrrChange]:
    """The customer's MRR ledger in effect order (ties: the order recorded)."""
    return list(session.scalars(select(MrrChange).where(MrrChange.customer_id == customer_id)
                                .order_by(MrrChange.effective_at, MrrChange.id)))


def entry_before(rows: list[MrrChange], instant: datetime) -> MrrChange | None:
    """The last ledger row effective at or before `instant` (naive UTC), or None."""
    found = None
    for row in rows:
        if row.effective_at > instant:
            break
        found = row
    return found


def mrr_at(rows: list[MrrChange], instant: datetime) -> int:
    """**MRR at an instant**: the `mrr_cents` of the last ledger row effective at or before it;
    0 before the first (the customer did not exist) and after a churn."""
    row = entry_before(rows, instant)
    return row.mrr_cents if row is not None else 0


def contracted_mrr(rows: list[MrrChange]) -> int:
    """The MRR of the latest entry that is not a churn: what the customer pays, or paid before
    it churned (the customers row's `mrr_cents`)."""
    for row in reversed(rows):
        if row.kind != "churn":
            return row.mrr_cents
    return 0


def movement(previous_cents: int, row: MrrChange) -> tuple[str, int]:
    """How one ledger row moves MRR, against the MRR in effect before it: (kind, cents ≥ 0) with
    kind new, expansion, contraction, churned or reactivation (the contract's `mrr.*` figures,
    metrics.mrr_movement); ("none", 0) for a change to the same amount."""
    return metrics.mrr_movement(previous_cents, row.kind, row.mrr_cents)


# --- when a change takes effect -----------------------------------------------------------------


def resolve_effective(text: str | None, customer: Customer, timezone: str,
                      what: str = "--effective") -> datetime:
    """The instant a change takes effect (naive UTC): now by default; a date is its midnight in
    the workspace's time zone, except the day the customer was onboarded, which means the moment
    it was. Not before the customer existed, not in the future (exit 2)."""
    created = customer.created_at
    now = clock.to_db(clock.now())
    if text is None:
        if now < created:  # UNMO_NOW pinned before the customer existed
            raise InputError(f"now ({clock.iso(now)}, UNMO_NOW) is before {customer.slug} "
                             f"existed (onboarded {clock.iso(created)}).")
        return now
    instant = clock.to_db(clock.parse_day_or_instant(text, timezone, what=what))
    if re.fullmatch(r"\s*\d{4}-\d{2}-\d{2}\s*", text):
        created_day = clock.from_db(created).astimezone(ZoneInfo(timezone)).date()  # type: ignore[union-attr]
        if created_day.isoformat() == text.strip():
            instant = created
    if instant < created:
        raise InputError(f"{what} {text.strip()} is before {customer.slug} existed (onboarded "
                         f"{clock.iso(created)}); give a later date.")
    if instant > now:
        raise InputError(f"{what} {text.strip()} is in the future; record a change when it "
                         "takes effect.")
    return instant


# --- parsing `customer set` ---------------------------------------------------------------------


def _parse_renewal(value: str) -> date | None:
    if not value.strip() or value.strip().lower() == "none":
        return None
    return clock.parse_day(value, what="--renewal-date")


def _parse_tier(value: str) -> str:
    tier = value.strip().lower()
    if not TIER_RE.fullmatch(tier):
        raise InputError(f"--tier {shown(value)} is not a tier name; use lowercase letters, "
                         "digits, - and _ (e.g. standard, enterprise).")
    return tier


def _parsed(option: str, parser: Any, value: str) -> Any:
    try:
        return parser(value)
    except FieldError as exc:
        raise InputError(f"{option} {exc}") from None


def parse_changes(*, mrr: str | None = None, contact_name: str | None = None,
                  contact_email: str | None = None, success_manager: str | None = None,
                  renewal_date: str | None = None, tier: str | None = None) -> dict[str, Any]:
    """The options given, parsed (MRR in cents; `""` or `none` clears the success manager and
    the renewal date); InputError for the first bad one, or when none is given."""
    wanted: dict[str, Any] = {}
    if mrr is not None:
        wanted["mrr"] = _parsed("--mrr", parse_mrr, mrr)
    if contact_name is not None:
        wanted["contact_name"] = _parsed("--contact-name", parse_contact_name, contact_name)
    if contact_email is not None:
        wanted["contact_email"] = _parsed("--contact-email", parse_email, contact_email)
    if success_manager is not None:
        cleared = success_manager.strip().lower() in ("", "none")
        wanted["success_manager"] = None if cleared else _parsed(
            "--success-manager", parse_optional_email, success_manager)
    if renewal_date is not None:
        wanted["renewal_date"] = _parse_renewal(renewal_date)
    if tier is not None:
        wanted["tier"] = _parse_tier(tier)
    if not wanted:
        raise InputError("nothing to change; give one or more of "
                         f"{', '.join(OPTION_OF.values())}.")
    return wanted


def _as_text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if field == "mrr":
        return money.for_machines(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _from_text(field: str, text: str | None) -> Any:
    if text is None:
        return None
    if field == "renewal_date":
        return date.fromisoformat(text)
    return text


# --- `customer set` -----------------------------------------------------------------------------


def field_changes(session: Session, customer_id: int, field: str) -> list[CustomerChange]:
    return list(session.scalars(
        select(CustomerChange).where(CustomerChange.customer_id == customer_id,
                                     CustomerChange.field == field)
        .order_by(CustomerChange.effective_at, CustomerChange.id)))


def field_value_at(changes: list[CustomerChange], current: Any, field: str,
                   instant: datetime) -> Any:
    """A record field's value at `instant`: the last change effective by then; before the first
    change, the value that change replaced; with no changes, today's value."""
    before = [c for c in changes if c.effective_at <= instant]
    if before:
        return _from_text(field, before[-1].new_value)
    if changes:
        return _from_text(field, changes[0].old_value)
    return current


def set_customer(ws: Workspace | None, slug: str, *, effective: str | None = None,
                 **options: str | None) -> dict[str, Any]:
    """`unmo customer set`: record each given field's change, effective at `effective` (now by
    default), in the history; the customers row follows when the change is the latest. A value
    equal to the one in effect then is no change. JSON: {"customer", "changes", "effective_at"}."""
    wanted = parse_changes(**options)
    ws = ws if ws is not None else load_workspace()
    if "tier" in wanted and (problem := unknown_tier_problem(ws.settings.tiers, wanted["tier"])):
        raise InputError(problem)
    with customer_session(ws, slug) as (session, customer):
        lock_customer(session, customer)
        timezone = ws.settings.timezone
        at = resolve_effective(effective, customer, timezone)
        testhooks.checkpoint("customer-change")
        recorded = clock.to_db(clock.now())
        changes: list[Change] = []
        if "mrr" in wanted:
            change = _set_mrr(session, customer, wanted["mrr"], at, recorded)
            if change is not None:
                changes.append(change)
        for field in RECORD_FIELDS:
            if field in wanted:
                change = _set_field(session, customer, field, wanted[field], at, recorded)
                if change is not None:
                    changes.append(change)
        session.add(customer)
        session.flush()
        result = {"customer": customer_json(customer),
                  "changes": [c.as_json() for c in changes], "effective_at": clock.iso(at)}
    if changes:
        result["folder"] = rerender(ws, result["customer"])
    return result


def rerender(ws: Workspace, record: dict[str, Any]) -> str | None:
    """After a committed change, customers/<slug>/ is rendered again so that its README and
    customer.yaml show the record in effect (as `unmo customer render SLUG` would). The change
    stands if that fails: the sentence saying so, for the command to warn with; None when the
    folder is up to date, or when there is none to render (a forgotten customer)."""
    slug = record["slug"]
    if record["contact_email"] == ERASED:
        return None
    try:
        render_customers(ws, [slug])
    except UnmoError as exc:
        return (f"{exc} The change is recorded; customers/{slug}/ still shows the old values: "
                f"run unmo customer render {slug}.")
    return None


def _set_mrr(session: Session, customer: Customer, cents: int, at: datetime,
             recorded: datetime) -> Change | None:
    assert customer.id is not None
    rows = ledger(session, customer.id)
    before = entry_before(rows, at)
    if before is None or before.kind == "churn":
        when = clock.iso(before.effective_at) if before else None
        raise InputError(f"{customer.slug} had churned by then ({when}); run unmo customer "
                         f"reactivate {customer.slug} first, or give an --effective date while "
                         "it was active.")
    if before.mrr_cents == cents:
        return None
    row = MrrChange(customer_id=customer.id, kind="change", mrr_cents=cents, effective_at=at,
                    recorded_at=recorded)
    session.add(row)
    session.flush()
    customer.mrr_cents = contracted_mrr(ledger(session, customer.id))
    kind, _ = movement(before.mrr_cents, row)
    return Change("mrr", _as_text("mrr", before.mrr_cents), _as_text("mrr", cents), kind, at)


def _set_field(session: Session, customer: Customer, field: str, value: Any, at: datetime,
               recorded: datetime) -> Change | None:
    assert customer.id is not None
    changes = field_changes(session, customer.id, field)
    old = field_value_at(changes, getattr(customer, field), field, at)
    if old == value:
        return None
    session.add(CustomerChange(customer_id=customer.id, field=field,
                               old_value=_as_text(field, old), new_value=_as_text(field, value),
                               effective_at=at, recorded_at=recorded))
    if not any(c.effective_at > at for c in changes):  # the latest: today's record follows
        setattr(customer, field, value)
    return Change(field, _as_text(field, old), _as_text(field, value), "change", at)


# --- churn and reactivation ---------------------------------------------------------------------


def _status_event_time(session: Session, customer: Customer, effective: str | None,
                       timezone: str, what: str) -> tuple[list[MrrChange], datetime]:
    """When a churn or reactivation takes effect: as resolve_effective, and not before the
    latest ledger entry (a status change inserted under later entries would rewrite them)."""
    assert customer.id is not None
    at = resolve_effective(effective, customer, timezone, what="--effective")
    rows = ledger(session, customer.id)
    if rows and at < rows[-1].effective_at:
        raise InputError(f"{customer.slug}'s MRR history has an entry effective "
                         f"{clock.iso(rows[-1].effective_at)}; a {what} must take effect after "
                         "it.")
    return rows, at


def churn(ws: Workspace | None, slug: str, reason: str, *,
          effective: str | None = None) -> dict[str, Any]:
    """`unmo customer churn`: the customer leaves at `effective` (now by default); the ledger
    records the MRR it had then as churned."""
    reason = reason.strip()
    ws = ws if ws is not None else load_workspace()
    if not reason:
        raise InputError("--reason must say why the customer left (it feeds the weekly report).")
    problem = text_problem(reason, allow_newlines=True)
    if problem:
        raise InputError(f"--reason contains {problem}; give plain text.")
    too_long = length_problem(reason, MAX_REASON)
    if too_long:
        raise InputError(f"--reason {too_long}.")
    with customer_session(ws, slug) as (session, customer):
        lock_customer(session, customer)
        if customer.churned_at is not None:
            raise InputError(f"customer {customer.slug!r} already churned on "
                             f"{clock.iso(customer.churned_at)}.")
        timezone = ws.settings.timezone
        _rows, at = _status_event_time(session, customer, effective, timezone, "churn")
        testhooks.checkpoint("customer-change")
        session.add(MrrChange(customer_id=customer.id, kind="churn", mrr_cents=0,
                              effective_at=at, recorded_at=clock.to_db(clock.now()),
                              reason=reason))
        customer.churned_at = at
        customer.churn_reason = reason
        session.add(customer)
        session.flush()
        return customer_json(customer)


def reactivate(ws: Workspace | None, slug: str, *, mrr: str | None = None,
               effective: str | None = None) -> dict[str, Any]:
    """`unmo customer reactivate`: a churned customer returns at `effective` (now by default),
    paying `mrr` (by default what it paid before it churned). JSON: {"customer", "changes",
    "effective_at"}."""
    cents = _parsed("--mrr", parse_mrr, mrr) if mrr is not None else None
    ws = ws if ws is not None else load_workspace()
    with customer_session(ws, slug) as (session, customer):
        lock_customer(session, customer)
        if customer.churned_at is None:
            raise InputError(f"customer {customer.slug!r} is active; only a churned customer "
                             "can be reactivated.")
        timezone = ws.settings.timezone
        rows, at = _status_event_time(session, customer, effective, timezone, "reactivation")
        if cents is None:
            cents = contracted_mrr(rows)
        testhooks.checkpoint("customer-change")
        session.add(MrrChange(customer_id=customer.id, kind="reactivation", mrr_cents=cents,
                              effective_at=at, recorded_at=clock.to_db(clock.now())))
        customer.churned_at = None
        customer.churn_reason = None
        customer.mrr_cents = cents
        session.add(customer)
        session.flush()
        change = Change("mrr", _as_text("mrr", 0), _as_text("mrr", cents), "reactivation", at)
        result = {"customer": customer_json(customer), "changes": [change.as_json()],
                  "effective_at": clock.iso(at)}
    result["folder"] = rerender(ws, result["customer"])
    return result
