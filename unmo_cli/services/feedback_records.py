"""One record of a survey export checked: the customer it names (every customer read once, a
row's `customer` a slug or a name), and its values (services/feedback_values.py), or what is
wrong with it. Used by `feedback import` for every row of a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from unmo_cli import clock
from unmo_cli.db.models import Customer
from unmo_cli.names import name_key  # the folding get_customer uses
from unmo_cli.services.alerts import redact_secret_keys
from unmo_cli.services.feedback_files import COLUMN_SET, COLUMNS, RawRow
from unmo_cli.services.feedback_invalid import InvalidRow
from unmo_cli.services.feedback_values import (
    CATEGORIES,
    EXTERNAL_ID_MAX,
    SCORES,
    FieldError,
    check_category,
    check_comment,
    check_external_id,
    check_nps,
    check_received_at,
    check_satisfaction,
    is_blank,
)
from unmo_cli.text import MAX_COMMENT, text_problem

if TYPE_CHECKING:
    from sqlmodel import Session

MEMO_LIMIT = 10_000  # distinct customer texts remembered (a file of random names stays bounded)


@dataclass
class CustomerRef:
    id: int
    slug: str
    name: str


class CustomerIndex:
    """Every customer, read with one query; a row's `customer` is a slug or a name (matched like
    `get_customer`: by its folded name key)."""

    def __init__(self, session: Session | None):
        self._by_slug: dict[str, CustomerRef] = {}
        self._by_key: dict[str, CustomerRef] = {}
        self._seen: dict[str, CustomerRef | None] = {}
        if session is None:
            return
        for cid, slug, name, key in session.execute(
                select(Customer.id, Customer.slug, Customer.name, Customer.name_key)):
            ref = CustomerRef(cid, slug, name)
            self._by_slug[slug] = ref
            self._by_key[key] = ref

    def find(self, text: str) -> CustomerRef | None:
        if text in self._seen:
            return self._seen[text]

        stripped = text.strip()
        ref = self._by_slug.get(stripped)
        if ref is None and stripped:
            ref = self._by_key.get(name_key(stripped))
        if len(self._seen) < MEMO_LIMIT:
            self._seen[text] = ref
        return ref

    def by_id(self) -> dict[int, CustomerRef]:
        return {ref.id: ref for ref in self._by_slug.values()}

    def known(self, text: Any) -> CustomerRef | None:
        """`find` for the fast path: a memo hit, or the full lookup."""
        ref = self._seen.get(text)
        return ref if ref is not None else self.find(text)


# (line, customer, received_at, satisfaction, nps, category, comment, external_id)
CheckedRow = tuple[int, CustomerRef, datetime, int, int | None, str, str | None, str | None]


_CATEGORY_OF: dict[Any, str] = {None: "other", "": "other", **{c: c for c in CATEGORIES}}


def check_record(raw: RawRow, customers: CustomerIndex, now: datetime
                  ) -> CheckedRow | InvalidRow:
    """One record's values, or what is wrong with it. A fast path takes the common case (clean
    strings from a CSV or JSON Lines); anything unusual goes through the field checks, which
    name every problem of the row."""
    values = raw.values
    if values is None:
        fields = raw.fields
        if fields is None:
            return InvalidRow(raw.line, f"the record {raw.problem}")
        if not fields.keys() <= COLUMN_SET:
            return _check_slowly(raw.line, fields, customers, now)
        values = tuple(map(fields.get, COLUMNS))
    who, satisfaction, nps, category, comment, received, external_id = values
    try:
        customer = customers.known(who)
        satisfaction = SCORES[satisfaction]
        nps = None if nps is None or nps == "" else SCORES[nps]
        category = _CATEGORY_OF[category]
        if comment is not None:
            if len(comment) > MAX_COMMENT or text_problem(comment, allow_newlines=True):
                raise ValueError  # the field check names the character
            comment = redact_secret_keys(comment.strip()) or None
        if received is None or received == "":
            received_at = clock.to_db(now)
        elif received[-1] == "Z":  # the usual export form: already UTC, parse it naive
            received_at = datetime.fromisoformat(received[:-1])
            if received_at.tzinfo is not None:
                raise ValueError
        else:
            received_at = datetime.fromisoformat(received)
            if received_at.tzinfo is not None:
                received_at = received_at.astimezone(UTC).replace(tzinfo=None)
        if not clock.MIN_YEAR <= received_at.year <= clock.MAX_YEAR:
            raise ValueError  # the field check says which years are accepted
        if external_id is not None:
            external_id = external_id.strip() or None
            if external_id is not None and (len(external_id) > EXTERNAL_ID_MAX
                                            or text_problem(external_id)):
                raise ValueError
        if customer is not None and satisfaction >= 1:
            return (raw.line, customer, received_at, satisfaction, nps, category, comment,
                    external_id)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        pass  # OverflowError: an offset that takes the time past the year 1 or 9999 in UTC
    return _check_slowly(raw.line, raw.fields or dict(zip(COLUMNS, values, strict=True)),
                         customers, now)


def _check_slowly(line: int, fields: dict[str, Any], customers: CustomerIndex, now: datetime
                  ) -> CheckedRow | InvalidRow:
    problems: list[str] = []
    unknown = [key for key in fields if key not in COLUMN_SET]
    if unknown:
        problems.append(f"unknown field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(k) for k in unknown)} (the fields are "
                        f"{', '.join(COLUMNS)})")
    who = fields.get("customer")
    customer = None
    if is_blank(who):
        problems.append("customer is required (a slug or the exact name)")
    elif not isinstance(who, str):
        problems.append(f"customer {who!r} must be a slug or a name")
    else:
        customer = customers.find(who)
        if customer is None:
            problems.append(f"unknown customer {who!r}")
    checked: list[Any] = []
    for check, key in _CHECKS:
        try:
            checked.append(check(fields.get(key)))
        except FieldError as exc:
            problems.append(str(exc))
    try:
        received_at = check_received_at(fields.get("received_at"), now)
    except FieldError as exc:
        problems.append(str(exc))
    if problems:
        return InvalidRow(line, "; ".join(problems))
    assert customer is not None
    satisfaction, nps, category, comment, external_id = checked
    return (line, customer, received_at, satisfaction, nps, category, comment, external_id)


_CHECKS: tuple[tuple[Callable[[Any], Any], str], ...] = (
    (check_satisfaction, "satisfaction"), (check_nps, "nps"), (check_category, "category"),
    (check_comment, "comment"), (check_external_id, "id"),
)
