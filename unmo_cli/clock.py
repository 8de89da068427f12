""""Now" for timestamps (honouring UNMO_NOW) and a monotonic clock for durations."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from unmo_cli.errors import InputError
from unmo_cli.text import shown


def parse_instant(text: str, *, what: str = "time") -> datetime:
    """Parse an ISO 8601 instant; a naive one is taken as UTC. Returns an aware UTC datetime."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"{what} {shown(text)} is not an ISO 8601 date or time (e.g. "
            "2026-11-23T10:00:00+01:00)."
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return in_utc(value, f"{what} {text!r}")


def parse_day(text: str, *, what: str) -> date:
    """A calendar date written YYYY-MM-DD (a renewal date, a task's due date); InputError
    naming `what` (the option, e.g. "--due") otherwise."""
    raw = text.strip()
    value = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            value = None
    if value is None:
        raise InputError(f"{what} {shown(text)} is not a date; use YYYY-MM-DD (e.g. 2027-03-31).")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise OutsideCalendar(f"{what} {text!r} is outside the years {MIN_YEAR} to {MAX_YEAR} "
                              "that unmo works with.")
    return value


def parse_day_or_instant(text: str, timezone: str, *, what: str) -> datetime:
    """A date (its midnight in the workspace's `timezone`) or an ISO 8601 instant, as `--since`,
    `--effective` and `--at` take them; aware UTC."""
    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        day = parse_day(raw, what=what)
        return in_utc(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)),
                      f"{what} {text!r} (midnight in {timezone})")
    try:
        return parse_instant(raw, what=what)
    except OutsideCalendar:
        raise
    except InputError:
        raise InputError(f"{what} {shown(text)} is not a date; use YYYY-MM-DD or an ISO 8601 "
                         "time.") from None


# The times unmo stores, filters on or pins "now" to: the years its weeks cover (a report looks 8
# weeks back, a customer's summary 60 days; Python's datetime ends at the years 1 and 9999).
MIN_YEAR, MAX_YEAR = 1900, 9998


class OutsideCalendar(InputError):
    """A time outside the years MIN_YEAR to MAX_YEAR in UTC."""


def in_utc(value: datetime, what: str) -> datetime:
    """`value` (aware) in UTC; OutsideCalendar (an InputError) when that falls outside the years
    MIN_YEAR to MAX_YEAR, as 0001-01-01T00:00:00+14:00 does (it does not even exist in UTC:
    Python raises OverflowError)."""
    try:
        converted = value.astimezone(UTC)
    except OverflowError:
        converted = None
    if converted is None or not MIN_YEAR <= converted.year <= MAX_YEAR:
        raise OutsideCalendar(f"{what} is outside the years {MIN_YEAR} to {MAX_YEAR} (in UTC) "
                              "that unmo works with.")
    return converted


# An instant pinned by `pinned()` for the code running in this context only (this thread, and
# the asyncio tasks it starts); other threads — the demo's sandbox server — keep the real clock.
_pinned: ContextVar[datetime | None] = ContextVar("unmo_pinned_now", default=None)


def now() -> datetime:
    """The current instant, aware and in UTC; `UNMO_NOW` pins it for tests, demos and backfills,
    and `pinned()` for a block of code."""
    instant = _pinned.get()
    if instant is not None:
        return instant
    pinned_text = os.environ.get("UNMO_NOW")
    if pinned_text:
        return parse_instant(pinned_text, what="UNMO_NOW")
    return datetime.now(UTC)


@contextmanager
def pinned(instant: datetime) -> Iterator[None]:
    """now() returns `instant` inside the block, in this thread only: unlike setting UNMO_NOW,
    nothing process-wide changes, so a server thread running meanwhile is not affected."""
    token = _pinned.set(instant.astimezone(UTC))
    try:
        yield
    finally:
        _pinned.reset(token)


def to_db(value: datetime) -> datetime:
    """Timestamps are stored as naive UTC so SQLite and PostgreSQL compare them the same way."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db(value: datetime | None) -> datetime | None:
    """The aware UTC datetime for a stored (naive UTC) timestamp."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with a trailing Z, the form every JSON output uses."""
    if value is None:
        return None
    if value.tzinfo is None:  # stored naive UTC: the aware form's text, without making it
        return value.isoformat() + "Z"
    aware = from_db(value)
    assert aware is not None
    return aware.isoformat().replace("+00:00", "Z")


monotonic = time.perf_counter
