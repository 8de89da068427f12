"""The periods a report covers: ISO weeks (`report weekly`) and calendar months (`report
monthly`) of the workspace's time zone, each with its edges as aware UTC instants.

A period is half-open, [start, end): local midnight of its first day up to local midnight of the
day after its last, converted to UTC, so a DST change shortens or lengthens it by an hour instead
of moving its edges. Week and Month share one interface (label, start, end, first_day,
last_day, shifted, noun, option), which is all the report machinery uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from unmo_cli.errors import InputError
from unmo_cli.text import shown

_WEEK_PATTERN = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)
_MONTH_PATTERN = re.compile(r"(\d{4})-(\d{1,2})")


def _utc_midnight(day: date, zone: str) -> datetime:
    """Local midnight of `day` in `zone` as an aware UTC instant. zoneinfo resolves a midnight
    that a DST change skips or repeats to its first instant."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True)
class Week:
    """One ISO week of the configured zone, with its edges as aware UTC instants."""

    year: int
    number: int
    zone: str
    start: datetime
    end: datetime

    noun = "week"
    option = "--week"
    command = "weekly"

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def first_day(self) -> date:
        return self.monday

    @property
    def last_day(self) -> date:
        return self.sunday

    def shifted(self, weeks: int) -> Week:
        year, number, _ = (self.monday + timedelta(weeks=weeks)).isocalendar()
        return week_of(year, number, self.zone)


@dataclass(frozen=True)
class Month:
    """One calendar month of the configured zone, with its edges as aware UTC instants."""

    year: int
    number: int
    zone: str
    start: datetime
    end: datetime

    noun = "month"
    option = "--month"
    command = "monthly"

    @property
    def label(self) -> str:
        return f"{self.year}-{self.number:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.number, 1)

    @property
    def last_day(self) -> date:
        return _first_of_next(self.year, self.number) - timedelta(days=1)

    def shifted(self, months: int) -> Month:
        index = self.year * 12 + (self.number - 1) + months
        return month_of(index // 12, index % 12 + 1, self.zone)


Period = Week | Month


def _first_of_next(year: int, month: int) -> date:
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def week_of(year: int, number: int, zone: str) -> Week:
    """The ISO week `year`-W`number` in `zone`: Monday 00:00 local up to the next Monday 00:00
    local."""
    monday = date.fromisocalendar(year, number, 1)
    return Week(year, number, zone, _utc_midnight(monday, zone),
                _utc_midnight(monday + timedelta(days=7), zone))


def month_of(year: int, number: int, zone: str) -> Month:
    """The month `year`-`number` in `zone`: the 1st 00:00 local up to the next 1st 00:00 local."""
    return Month(year, number, zone, _utc_midnight(date(year, number, 1), zone),
                 _utc_midnight(_first_of_next(year, number), zone))


def parse_week(text: str, zone: str) -> Week:
    """`2026-W46` (also `2026W46`, `2026-w46`) → its Week; an InputError names what is accepted."""
    match = _WEEK_PATTERN.fullmatch(text.strip())
    if not match:
        raise InputError(f"--week {shown(text)} is not an ISO week; use YYYY-Www, e.g. 2026-W46.")
    year, number = int(match.group(1)), int(match.group(2))
    # The report reaches eight weeks back and one forward: keep every date it touches valid.
    if not 1900 <= year <= 9998:
        raise InputError(f"--week {text!r} is out of range; use an ISO week of the years 1900 to "
                         "9998, e.g. 2026-W46.")
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        last = date(year, 12, 28).isocalendar().week
        raise InputError(f"--week {text!r} does not exist: ISO year {year} has weeks W01 to "
                         f"W{last}.") from None
    return week_of(year, number, zone)


def parse_month(text: str, zone: str) -> Month:
    """`2026-11` → its Month; an InputError names what is accepted."""
    match = _MONTH_PATTERN.fullmatch(text.strip())
    if not match:
        raise InputError(f"--month {shown(text)} is not a month; use YYYY-MM, e.g. 2026-11.")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= 12:
        raise InputError(f"--month {text.strip()!r} does not exist: months are 01 to 12.")
    # The report reaches eight months back and one forward: keep every date it touches valid.
    if not 1900 <= year <= 9998:
        raise InputError(f"--month {text.strip()!r} is out of range; use a month of the years "
                         "1900 to 9998, e.g. 2026-11.")
    return month_of(year, number, zone)


def last_complete_week(now: datetime, zone: str) -> Week:
    """The ISO week before the one `now` falls in, in `zone`."""
    local_day = now.astimezone(ZoneInfo(zone)).date()
    year, number, _ = (local_day - timedelta(days=7)).isocalendar()
    return week_of(year, number, zone)


def last_complete_month(now: datetime, zone: str) -> Month:
    """The calendar month before the one `now` falls in, in `zone`."""
    local_day = now.astimezone(ZoneInfo(zone)).date()
    return month_of(local_day.year, local_day.month, zone).shifted(-1)
