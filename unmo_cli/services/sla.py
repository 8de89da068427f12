"""The monthly SLA (`unmo report sla`): per customer the month's checks, availability, p95 latency
and estimated downtime against its tier's promises, and the credit owed; and the customers at
risk of breaching the month still running (the weekly report's block)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select, type_coerce
from sqlalchemy.types import NullType

from unmo_cli import clock, json_output, metrics, money
from unmo_cli.db import database_exists, driver_batches, open_database, open_empty, tables
from unmo_cli.errors import InputError
from unmo_cli.files import check_output_path
from unmo_cli.services.latency_p95 import latency_p95
from unmo_cli.text import shown
from unmo_cli.tiers import Tier, tier_named
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.services.check_windows import MonthChecks
    from unmo_cli.workspace import Settings, Workspace

FORMATS = ("table", "markdown", "json", "csv", "html")
_MONTH_PATTERN = re.compile(r"(\d{4})-(\d{2})")
# Up to this many customers with checks, each one's p95 is read from the covering index alone
# (ORDER BY latency LIMIT 1 OFFSET): the database keeps a heap of a customer's top 5 %, and a
# dense month (1,000 customers checked every 15 minutes: 2.9 million checks) never reaches
# Python. Beyond it, per-statement costs win, and one read of the month's latencies
# (latency_p95) serves every customer.
PER_CUSTOMER_P95_UP_TO = 5_000


@dataclass(frozen=True)
class Month:
    """A calendar month of the workspace's time zone, its edges as aware UTC instants."""

    year: int
    month: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_of(year: int, month: int, zone: str) -> Month:
    tz = ZoneInfo(zone)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)

    def utc_midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)

    return Month(year, month, utc_midnight(first), utc_midnight(following))


def parse_month(text: str, zone: str) -> Month:
    match = _MONTH_PATTERN.fullmatch(text.strip())
    year, number = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or not 1 <= number <= 12:
        raise InputError(f"--month {shown(text)} is not a month; use YYYY-MM, e.g. 2026-11.")
    if not 1900 <= year <= 9998:
        raise InputError(f"--month {text.strip()} is out of range; use a month of the years 1900 "
                         "to 9998.")
    return month_of(year, number, zone)


def last_complete_month(now: datetime, zone: str) -> Month:
    """The month before the one `now` falls in, in `zone`."""
    local = now.astimezone(ZoneInfo(zone)).date().replace(day=1) - timedelta(days=1)
    return month_of(local.year, local.month, zone)


def month_at(now: datetime, zone: str) -> Month:
    local = now.astimezone(ZoneInfo(zone)).date()
    return month_of(local.year, local.month, zone)


@dataclass(slots=True)
class SlaRow:
    slug: str
    name: str
    tier: str
    checks: int  # in the month, maintenance left out
    healthy: int
    maintenance: int
    availability_pct: float | None
    availability_target_pct: float
    p95_latency_ms: float | None
    p95_latency_target_ms: float
    downtime_minutes: float | None
    met: bool | None  # None: no checks, nothing to judge
    breached: list[str]  # availability, p95_latency
    credit_pct: float
    mrr_cents: int
    credit_cents: int

    def as_json(self) -> dict[str, Any]:
        return {"slug": self.slug, "name": self.name, "tier": self.tier, "checks": self.checks,
                "healthy": self.healthy, "maintenance": self.maintenance,
                "availability_pct": self.availability_pct,
                "availability_target_pct": self.availability_target_pct,
                "p95_latency_ms": self.p95_latency_ms,
                "p95_latency_target_ms": self.p95_latency_target_ms,
                "downtime_minutes": self.downtime_minutes, "met": self.met,
                "breached": list(self.breached), "credit_pct": self.credit_pct,
                "mrr": money.for_machines(self.mrr_cents),
                "credit": money.for_machines(self.credit_cents)}

    def json_text(self) -> str:
        """as_json()'s object as compact JSON text, made without the dict (json_output.JsonRows).
        Keys and order as as_json's: tests/test_json_output.py holds the two to the same bytes."""
        string, number = json_output.optional_string, json_output.number
        return (f'{{"slug":{string(self.slug)},"name":{string(self.name)},'
                f'"tier":{string(self.tier)},"checks":{number(self.checks)},'
                f'"healthy":{number(self.healthy)},"maintenance":{number(self.maintenance)},'
                f'"availability_pct":{number(self.availability_pct)},'
                f'"availability_target_pct":{number(self.availability_target_pct)},'
                f'"p95_latency_ms":{number(self.p95_latency_ms)},'
                f'"p95_latency_target_ms":{number(self.p95_latency_target_ms)},'
                f'"downtime_minutes":{number(self.downtime_minutes)},'
                f'"met":{json_output.boolean(self.met)},'
                f'"breached":{json_output.strings(self.breached)},'
                f'"credit_pct":{number(self.credit_pct)},'
                f'"mrr":{string(money.for_machines(self.mrr_cents))},'
                f'"credit":{string(money.for_machines(self.credit_cents))}}}')


@dataclass(frozen=True)
class SlaReport:
    month: Month
    timezone: str
    complete: bool  # False for the month still running (figures so far)
    tiers: tuple[Tier, ...]
    rows: list[SlaRow] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, Any]:
        return {"customers": len(self.rows),
                "met": sum(1 for r in self.rows if r.met is True),
                "breached": sum(1 for r in self.rows if r.met is False),
                "no_checks": sum(1 for r in self.rows if r.met is None),
                "credit": money.for_machines(sum(r.credit_cents for r in self.rows))}

    def as_json(self) -> dict[str, Any]:
        document = self.json_document()
        document["customers"] = list(document["customers"])
        return document

    def json_document(self) -> dict[str, Any]:
        """as_json with the customers as a json_output.JsonRows: a writer that streams it
        (console.emit_json) writes each row's own text, never the row's dict."""
        return {"month": self.month.label, "start": clock.iso(self.month.start),
                "end": clock.iso(self.month.end), "timezone": self.timezone,
                "complete": self.complete, "tiers": [t.as_json() for t in self.tiers],
                "summary": self.summary, "customers": json_output.JsonRows(self.rows)}


def check_format(fmt: str) -> str:
    value = fmt.strip().lower()
    if value not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    return value


def sla_report(month: str | None = None, fmt: str = "table", output: Path | None = None,
               workspace: Workspace | None = None, now: datetime | None = None) -> SlaReport:
    """`unmo report sla`: the SLA of `month` (YYYY-MM in the workspace's time zone; default the
    last complete month). Options are checked first; reading creates no database."""
    check_format(fmt)
    if output is not None:
        check_output_path(output)
    ws = workspace or load_workspace()
    zone = ws.settings.timezone
    now = now or clock.now()
    chosen = parse_month(month, zone) if month else last_complete_month(now, zone)
    if chosen.start > now:
        raise InputError(f"--month {chosen.label} has not started yet in {zone}; the last "
                         f"complete month is {last_complete_month(now, zone).label}.")
    db = open_database(ws) if database_exists(ws) else open_empty()
    try:
        with db.connection(snapshot=True) as connection:
            rows = compute_sla(connection, ws.settings, chosen, now)
    finally:
        db.dispose()
    return SlaReport(month=chosen, timezone=zone, complete=chosen.end <= now,
                     tiers=ws.settings.service_tiers, rows=rows)


def at_risk(connection: Connection, settings: Settings, as_of: datetime,
            fees: dict[int, int] | None = None, p95: dict[int, float] | None = None,
            checks: dict[int, MonthChecks] | None = None,
            outages: Outages | None = None) -> list[SlaRow]:
    """The weekly report's "at risk of breaching this month": the month `as_of` falls in, its
    checks up to `as_of`; the customers whose figures so far miss their tier's promise. `fees`:
    the ledger's fees as of fees_at(that month), and `p95`, `checks` and `outages`: the p95
    latencies, the counts and the outage_gaps of checks_window(that month, as_of), when the
    caller has read them already."""
    month = month_at(as_of, settings.timezone)
    return [row for row in compute_sla(connection, settings, month, as_of, fees, p95,
                                       breaching_only=True, checks=checks, outages=outages)
            if row.met is False]


def fees_at(month: Month) -> datetime:
    """The instant (naive UTC) a month's fees are read as of (_fees): its end."""
    return clock.to_db(month.end)


def checks_window(month: Month, now: datetime) -> tuple[datetime, datetime]:
    """The checks an SLA of `month` judges at `now`: [start, min(end, now)), naive UTC."""
    return clock.to_db(month.start), clock.to_db(min(month.end, now))


# --- the queries ---------------------------------------------------------------------------------


def compute_sla(connection: Connection, settings: Settings, month: Month, now: datetime,
                fees: dict[int, int] | None = None, p95: dict[int, float] | None = None,
                breaching_only: bool = False, checks: dict[int, MonthChecks] | None = None,
                outages: Outages | None = None) -> list[SlaRow]:
    """A row per customer active at some time in the month (created before its end, not churned
    before its start), by slug; figures from the checks in [start, min(end, now))
    (checks_window). `fees`: _fees(connection, fees_at(month)), `p95`: latency_p95 of that
    window and `checks`: its counts per customer (check_windows.CheckWindows.month), if the
    caller has them (the weekly report reads the fees in its pass over the ledger,
    report_ledger.read_ledger, and the checks in one read with its other windows'), else read
    here. With `breaching_only`, only the rows whose `met` is False (the weekly report's
    at-risk block: at 100,000 customers most rows are not, and are neither made nor held)."""
    start, until = checks_window(month, now)
    h, c = tables.health_checks.c, tables.customers.c
    in_month = (h.checked_at >= start) & (h.checked_at < until)
    counted = h.status != "maintenance"
    aggregates: dict[int, Any] = checks if checks is not None else {
        row.customer_id: row for row in connection.execute(
            select(h.customer_id, func.count().label("every"),
                   func.sum(case((h.status == "maintenance", 1), else_=0)).label("maintenance"),
                   func.sum(case((h.status == "healthy", 1), else_=0)).label("healthy"),
                   func.sum(case((counted & h.latency_ms.isnot(None), 1), else_=0))
                   .label("with_latency"))
            .where(in_month).group_by(h.customer_id)).all()}
    if p95 is None:
        p95 = _p95(connection, aggregates, (start, until), in_month & counted)
    gaps, spans = outages if outages is not None else outage_gaps(connection, (start, until))
    tiers_then = _tiers_at(connection, clock.to_db(month.end))
    if fees is None:
        fees = _fees(connection, fees_at(month))
    # Last, every customer, in batches of the driver's own tuples (no Row object a customer),
    # made into rows as they are read (not all held first). The month's filter is applied here
    # on the instants in their stored form (on SQLite the DATETIME text the database compares):
    # in SQL, SQLite walks ix_customers_created_at over nearly every row, at 100,000 customers
    # 0.27-0.40 s against about 0.1 s for a plain scan.
    stored = c.created_at.type.dialect_impl(connection.dialect)
    to_stored = stored.bind_processor(connection.dialect) or (lambda value: value)
    created_before, churned_from = to_stored(clock.to_db(month.end)), to_stored(start)
    customers = chain.from_iterable(driver_batches(connection, select(
        c.id, c.slug, c.name, c.tier, c.mrr_cents, c.created_at, c.churned_at)))
    tiers = settings.service_tiers
    by_name: dict[str, Tier] = {}  # the few tier names, each looked up once
    rows = []
    for customer_id, slug, name, tier_now, mrr_cents, created_at, churned_at in customers:
        if created_at >= created_before or (churned_at is not None
                                            and churned_at < churned_from):
            continue
        figures = aggregates.get(customer_id)
        tier_name = tiers_then.get(customer_id, tier_now)
        tier = by_name.get(tier_name)
        if tier is None:
            tier = by_name[tier_name] = (tier_named(tiers, tier_name)
                                         or _unknown_tier(tier_name, tiers))
        latency = p95.get(customer_id)
        if breaching_only and not _breaches(tier, figures, latency):
            continue
        rows.append(_row(slug, name, tier, figures, latency, gaps.get(customer_id, []),
                         spans.get(customer_id), fees.get(customer_id, mrr_cents)))
    rows.sort(key=lambda r: r.slug)
    return rows


def _unknown_tier(name: str, tiers: tuple[Tier, ...]) -> Tier:
    """A customer whose tier `tiers:` no longer names is judged by the default tier's promises
    (the first configured), under its own name."""
    first = tiers[0]
    return Tier(name, first.availability_pct, first.p95_latency_ms, first.credits)


def _breaches(tier: Tier, figures: Any, p95: float | None) -> bool:
    """Whether _row's `met` is False — the same tests, without making the row: some checks,
    and the availability or the p95 latency misses the tier's promise."""
    if not figures:
        return False
    checks = int(figures.every) - int(figures.maintenance or 0)
    if not checks:
        return False
    if metrics.sla_availability_met(int(figures.healthy or 0), checks,
                                    tier.availability_pct) is False:
        return True
    return metrics.at_most(p95, tier.p95_latency_ms) is False


def _row(slug: str, name: str, tier: Tier, figures: Any, p95: float | None, gaps: list[int],
         span: tuple[int, int] | None, fee_cents: int) -> SlaRow:
    every = int(figures.every) if figures else 0
    maintenance = int(figures.maintenance or 0) if figures else 0
    healthy = int(figures.healthy or 0) if figures else 0
    checks = every - maintenance
    # The spacing only matters with outages (most customers have none in a month): `span`, the
    # first and last of its checks in the month (outage_gaps), is only known then.
    spacing = metrics.mean_spacing_us(span[0], span[1], every) if span and gaps else None
    availability_met = metrics.sla_availability_met(healthy, checks, tier.availability_pct)
    latency_met = metrics.at_most(p95, tier.p95_latency_ms) if checks else None
    breached = ([] if availability_met is not False else ["availability"]) + (
        [] if latency_met is not False else ["p95_latency"])
    credit = metrics.sla_credit_pct(healthy, checks, tier.credits)
    return SlaRow(
        slug=slug, name=name, tier=tier.name, checks=checks, healthy=healthy,
        maintenance=maintenance,
        availability_pct=metrics.sla_availability_pct(healthy, checks),
        availability_target_pct=tier.availability_pct,
        p95_latency_ms=None if p95 is None else float(metrics.round_half_up(p95, 1)),
        p95_latency_target_ms=tier.p95_latency_ms,
        downtime_minutes=metrics.downtime_minutes(gaps, spacing),
        met=None if not checks else not breached, breached=breached, credit_pct=credit,
        mrr_cents=fee_cents,
        credit_cents=int(metrics.round_half_up(Fraction(fee_cents) * Fraction(
            str(credit)) / 100)) if credit else 0)


def _us(instant: datetime) -> int:
    """A naive UTC instant from the database as whole microseconds since the epoch (exact)."""
    delta = instant - datetime(1970, 1, 1)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _p95(connection: Connection, aggregates: dict[int, Any], window: tuple[datetime, datetime],
         where: Any) -> dict[int, float]:
    """Per customer, the nearest-rank p95 (metrics.nearest_rank) of the latencies in `window`
    that `where` selects (its checks, maintenance left out)."""
    h = tables.health_checks.c
    counts = {i: int(row.with_latency or 0) for i, row in aggregates.items()
              if row.with_latency}
    if len(counts) > PER_CUSTOMER_P95_UP_TO:
        return latency_p95(connection, [window])[0]
    found = {}
    for customer_id, n in counts.items():
        # The rank counted from the top: the database keeps a small heap, not a sorted month.
        offset = n - metrics.nearest_rank(n, 95)
        value = connection.execute(
            select(h.latency_ms).where(where, h.customer_id == customer_id,
                                       h.latency_ms.isnot(None))
            .order_by(h.latency_ms.desc()).limit(1).offset(offset)).scalar()
        if value is not None:
            found[customer_id] = float(value)
    return found


# Per customer: the gaps after its outage checks, and the first and last of its checks.
Outages = tuple[dict[int, list[int]], dict[int, tuple[int, int]]]


def outage_gaps(connection: Connection, window: tuple[datetime, datetime]) -> Outages:
    """Per customer, for each check in the `window` [start, until) (naive UTC) neither healthy
    nor maintenance, the
    microseconds to the customer's next later check in the range (or to `until`); and for each
    customer with such checks, the first and the last of its checks in the range (every status;
    microseconds since the epoch: the spacing of metrics.mean_spacing_us). Each is one look-up
    of the (customer_id, checked_at) index, made for the few customers with outages rather
    than a MIN and MAX over every check of the month."""
    start, until = window
    table = tables.health_checks
    h = table.c
    following = table.alias("following")
    f = following.c
    mine = f.customer_id == h.customer_id
    next_at = (select(func.min(f.checked_at))
               .where(mine, f.checked_at > h.checked_at, f.checked_at < until)
               .scalar_subquery())
    first_at = (select(func.min(f.checked_at))
                .where(mine, f.checked_at >= start, f.checked_at < until).scalar_subquery())
    last_at = (select(func.max(f.checked_at))
               .where(mine, f.checked_at >= start, f.checked_at < until).scalar_subquery())
    # The first and last as the driver gives them (NullType), made datetimes once a customer.
    parse = h.checked_at.type.dialect_impl(connection.dialect).result_processor(
        connection.dialect, None) or (lambda value: value)
    gaps: dict[int, list[int]] = {}
    spans: dict[int, tuple[int, int]] = {}
    end_us = _us(until)
    for customer_id, at, later, first, last in connection.execute(
            select(h.customer_id, h.checked_at, next_at, type_coerce(first_at, NullType()),
                   type_coerce(last_at, NullType()))
            .where(and_(h.checked_at >= start, h.checked_at < until,
                        h.status.notin_(("healthy", "maintenance"))))).all():
        gaps.setdefault(customer_id, []).append(
            (end_us if later is None else _us(later)) - _us(at))
        if customer_id not in spans:
            spans[customer_id] = (_us(parse(first)), _us(parse(last)))
    return gaps, spans


def _tiers_at(connection: Connection, instant: datetime) -> dict[int, str]:
    """Each customer's tier at `instant` where its tier has a history (customer_changes): the
    last change effective before then, else the value the first change replaced."""
    ch = tables.customer_changes.c
    found: dict[int, str] = {}
    for customer_id, old, new, effective_at in connection.execute(
            select(ch.customer_id, ch.old_value, ch.new_value, ch.effective_at)
            .where(ch.field == "tier").order_by(ch.customer_id, ch.effective_at, ch.id)):
        if effective_at < instant:
            found[customer_id] = new
        elif customer_id not in found:
            found[customer_id] = old
    return {i: v for i, v in found.items() if v}


def _fees(connection: Connection, instant: datetime) -> dict[int, int]:
    """The month's fee each credit is a share of: the MRR in effect at the month's end, or for a
    customer churned within the month, the MRR it paid before the churn (the ledger,
    mrr_changes): its last row effective before `instant` that is not a churn. The weekly report
    computes the same in report_ledger.tally."""
    m = tables.mrr_changes.c
    fees: dict[int, int] = {}
    # In batches: a fetch per row costs SQLAlchemy several times what making the row does.
    for customer_id, kind, cents in chain.from_iterable(connection.execute(
            select(m.customer_id, m.kind, m.mrr_cents).where(m.effective_at < instant)
            .order_by(m.customer_id, m.effective_at, m.id)).partitions(10_000)):
        if kind != "churn":
            fees[customer_id] = int(cents)
    return fees
