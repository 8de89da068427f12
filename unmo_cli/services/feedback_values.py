"""One feedback response's values, checked the same way for `feedback add` and every row of
an import: satisfaction 1..10, NPS 0..10, the category, the comment, the time and the id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from unmo_cli import clock
from unmo_cli.documents import whole_number
from unmo_cli.errors import InputError
from unmo_cli.services.alerts import (
    redact_secret_keys,
)
from unmo_cli.text import MAX_COMMENT, MAX_ID, length_problem, shown, text_problem

CATEGORIES = ("technical", "business", "support", "other")
EXTERNAL_ID_MAX = MAX_ID


class FieldError(ValueError):
    """One field's value is not accepted; the message names the field and what is accepted."""


SCORES = {str(n): n for n in range(11)}


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, str):
        quick = SCORES.get(value)
        if quick is not None and low <= quick <= high:
            return quick
        number = whole_number(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = None
    if number is None:
        raise FieldError(f"{name} {shown(value)} is not a whole number from {low} to {high}")
    if not low <= number <= high:
        raise FieldError(f"{name} {number} is out of range; use a whole number from {low} to "
                         f"{high}")
    return number


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_satisfaction(value: Any) -> int:
    if is_blank(value):
        raise FieldError("satisfaction is required (a whole number from 1 to 10)")
    return _whole(value, "satisfaction", 1, 10)


def check_nps(value: Any) -> int | None:
    return None if is_blank(value) else _whole(value, "nps", 0, 10)


def check_category(value: Any) -> str:
    if is_blank(value):
        return "other"
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in CATEGORIES:
            return folded
    raise FieldError(f"category {shown(value)} is not one of {', '.join(CATEGORIES)}")


def _storable(text: str, name: str, *, breaks: bool = True) -> str:
    """`text` if unmo may store it (see unmo_cli/text.py), else FieldError saying why."""
    problem = text_problem(text, allow_newlines=breaks)
    if problem:
        allowed = "tabs and line breaks are fine" if breaks else "one line of plain text"
        raise FieldError(f"{name} contains {problem}; send plain UTF-8 text ({allowed})")
    return text


def check_comment(value: Any) -> str | None:
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise FieldError(f"comment {shown(value)} must be text")
    text = value.strip()
    too_long = length_problem(text, MAX_COMMENT)
    if too_long:
        raise FieldError(f"comment {too_long}")
    return redact_secret_keys(_storable(text, "comment"))


def check_received_at(value: Any, default: datetime) -> datetime:
    """A naive UTC datetime for the database; blank means `default` (now)."""
    if is_blank(value):
        return clock.to_db(default)
    if not isinstance(value, str):
        raise FieldError(f"received_at {shown(value)} must be an ISO 8601 date and time, "
                         "e.g. 2026-11-23T10:00:00+01:00")
    try:
        return clock.to_db(clock.parse_instant(value, what="received_at"))
    except InputError as exc:
        raise FieldError(str(exc).rstrip(".")) from None


def check_external_id(value: Any) -> str | None:
    if is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError(f"id {shown(value)} must be text or a whole number")
    text = str(value).strip()
    too_long = length_problem(text, EXTERNAL_ID_MAX)
    if too_long:
        raise FieldError(f"id {too_long}")
    return _storable(text, "id", breaks=False)


