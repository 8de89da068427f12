"""Each customer's health checks over several time windows from one read of the checks: the
weekly report's two health-score windows (checks, not down, p95 latency), its SLA month (every
check, maintenance, healthy, with a latency, p95 latency), the portfolio's week (checks, not
down, the status of the last check) and the headline totals of the week and the one before.

One range read of the time index per stretch of time the windows cover (usually one; cut at the
week's edges): each check as a key computed in SQL — the customer, the bitmask of the windows
holding it, its status and whether it measured a latency — and its latency; no timestamp reaches
Python. The week's checks come in the order recorded (by time, then id: the time index's own
order but for ties), so each customer's last key there is its last check's. Python gathers the
latencies per key (packed doubles); the counts are the lengths. This replaces four aggregates
over the same rows (the score windows', the SLA month's, the portfolio's week joined back for
the last status, the weekly totals) and latency_p95's read."""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import BigInteger, and_, case, cast, func, literal_column, select

from unmo_cli import metrics
from unmo_cli.db import driver_batches, tables
from unmo_cli.services.latency_p95 import stretches, window_mask

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Window = tuple[datetime, datetime]  # [start, end), naive UTC

# services/health.py's statuses, each a code in the key; any other text is OTHER (counted as a
# check neither healthy nor down; its name, if it is a week's last, read back from the table).
STATUSES = ("healthy", "degraded", "unauthorized", "down", "error", "maintenance")
OTHER = len(STATUSES)
_HEALTHY_CODE, _DOWN_CODE, _MAINTENANCE_CODE = (STATUSES.index(s)
                                                for s in ("healthy", "down", "maintenance"))
_STATUS_BITS = 4  # 3 for the status code, 1 for "measured a latency"

# Each customer's counts in a window, packed into one int (a field per count, FIELD bits wide):
# a key adds its count times its status's increment in one addition.
FIELD = 40
_MASK = (1 << FIELD) - 1
# Each field's place: the count of maintenance-free checks, of those not down, healthy and with
# a latency, and of maintenance checks.
_CHECKS_AT, _NOT_DOWN_AT, _HEALTHY_AT, _WITH_LATENCY_AT, _MAINTENANCE_AT = (
    FIELD * k for k in range(5))


def _increment(code: int) -> int:
    """The counts one check adds, from its key's low bits (status code · 2 + latency)."""
    status, measured = code >> 1, code & 1
    if status == _MAINTENANCE_CODE:
        return 1 << _MAINTENANCE_AT
    return ((1 << _CHECKS_AT) + (measured << _WITH_LATENCY_AT)
            + ((status != _DOWN_CODE) << _NOT_DOWN_AT) + ((status == _HEALTHY_CODE) << _HEALTHY_AT))


_INCREMENTS = tuple(_increment(code) for code in range(1 << _STATUS_BITS))
# Whether a key's latencies count in the p95s: measured, outside maintenance.
_MEASURED = tuple(bool(code & 1) and code >> 1 != _MAINTENANCE_CODE
                  for code in range(1 << _STATUS_BITS))


def _field(packed: int, at: int) -> int:
    return packed >> at & _MASK


class MonthChecks(NamedTuple):
    """sla.compute_sla's figures of a customer's checks in the month."""

    every: int  # maintenance included
    maintenance: int
    healthy: int
    with_latency: int  # maintenance left out


class WeekChecks(NamedTuple):
    """The portfolio's figures of a customer's checks in the week, maintenance left out."""

    checks: int
    not_down: int
    status: str  # of the last check (at the same instant, the later-recorded one)


class CheckWindows:
    """What read_checks found, per window (by its place in the windows given)."""

    def __init__(self, held: dict[int, list[Any]], slots: list[int | None], width: int,
                 last_status: dict[int, str], last_status_in: int | None) -> None:
        # Per customer: each distinct window's packed counts, then each one's p95 (or None).
        self._held = held
        self._slots = slots
        self._width = width
        self._last_status = last_status
        self._last_status_in = last_status_in

    def checks_and_not_down(self, window: int) -> dict[int, tuple[int, int]]:
        """Per customer with checks in the window (maintenance left out): (checks, not down)."""
        at = self._slots[window]
        if at is None:
            return {}
        return {customer: (packed & _MASK, packed >> FIELD & _MASK)
                for customer, entry in self._held.items() if (packed := entry[at]) & _MASK}

    def p95(self, window: int) -> dict[int, float]:
        """Per customer with a latency in the window (maintenance left out): the nearest-rank
        p95 — for the windows of read_checks' `p95_in`."""
        at = self._slots[window]
        if at is None:
            return {}
        at += self._width
        return {customer: entry[at] for customer, entry in self._held.items()
                if entry[at] is not None}

    def month(self, window: int) -> dict[int, MonthChecks]:
        """Per customer with any check in the window, maintenance included."""
        at = self._slots[window]
        found: dict[int, MonthChecks] = {}
        if at is None:
            return found
        for customer, entry in self._held.items():
            packed = entry[at]
            if packed:
                maintenance = _field(packed, _MAINTENANCE_AT)
                found[customer] = MonthChecks((packed & _MASK) + maintenance, maintenance,
                                              _field(packed, _HEALTHY_AT),
                                              _field(packed, _WITH_LATENCY_AT))
        return found

    def week(self) -> dict[int, WeekChecks]:
        """Per customer with checks in read_checks' `last_status_in` window (maintenance left
        out), with the status of its last one."""
        if self._last_status_in is None:
            raise ValueError("read_checks was given no last_status_in window")
        at, status = self._slots[self._last_status_in], self._last_status
        if at is None:
            return {}
        return {customer: WeekChecks(packed & _MASK, packed >> FIELD & _MASK, status[customer])
                for customer, entry in self._held.items() if (packed := entry[at]) & _MASK}

    def release(self) -> None:
        """Drop the figures (taken by now): at 100,000 customers some 25 MB."""
        self._held, self._last_status = {}, {}

    def totals(self, window: int) -> dict[str, int]:
        """The window's checks, not down, healthy and with a latency, maintenance left out, over
        every customer."""
        at = self._slots[window]
        packed = 0 if at is None else sum(entry[at] for entry in self._held.values())
        return {"checks": packed & _MASK, "not_down": _field(packed, _NOT_DOWN_AT),
                "healthy": _field(packed, _HEALTHY_AT),
                "with_latency": _field(packed, _WITH_LATENCY_AT)}


def read_checks(connection: Connection, windows: Sequence[Window], *,
                p95_in: Collection[int] = (), last_status_in: int | None = None
                ) -> CheckWindows:
    """Every customer's counts in each of `windows`, the nearest-rank p95 latency (maintenance
    left out, metrics.nearest_rank) in those of `p95_in`, and for `last_status_in` the status
    of each customer's last check in it that is not maintenance: the later-recorded (higher id)
    of two at that instant, whatever their statuses — as the aggregate joined back on the last
    instant that this replaces gave it (_last_statuses)."""

    distinct = sorted({w for w in windows if w[0] < w[1]})
    bits = len(distinct)
    slot = {w: bit for bit, w in enumerate(distinct)}
    gathered: defaultdict[int, array[float]] = defaultdict(partial(array, "d"))
    week = windows[last_status_in] if last_status_in is not None else None
    if week is not None and week not in slot:
        week = None
    shift = bits + _STATUS_BITS
    newest: dict[int, int] = {}  # per customer, its last key of the week
    for low, high, in_week in _pieces(stretches(distinct), week):
        statement = _read(low, high, distinct, bits, ordered=in_week)
        rows = chain.from_iterable(driver_batches(connection, statement))
        if in_week:
            # In time order, and at one instant in the order recorded: a customer's last key
            # is its last check's.
            for key, latency in rows:
                gathered[key].append(latency)
                newest[key >> shift] = key
        else:
            for key, latency in rows:
                gathered[key].append(latency)
    held = _per_customer(gathered, bits, {slot[windows[k]] for k in p95_in if windows[k] in slot})
    statuses: dict[int, str] = {}
    if week is not None:
        statuses = _last_statuses(connection, week, newest, held, slot[week])
    return CheckWindows(held, [slot.get(w) for w in windows], bits, statuses, last_status_in)


def _pieces(stretches: list[Window], week: Window | None) -> list[tuple[datetime, datetime, bool]]:
    """The stretches cut at the edges of `week`: (start, end, whether within the week)."""
    pieces = []
    for start, end in stretches:
        cuts = sorted({start, end} | ({edge for edge in week if start < edge < end}
                                      if week is not None else set()))
        for low, high in zip(cuts, cuts[1:], strict=False):
            pieces.append((low, high, week is not None and week[0] <= low and high <= week[1]))
    return pieces


def _per_customer(gathered: dict[int, array[float]], bits: int, wanted: set[int]
                  ) -> dict[int, list[Any]]:
    """The gathered keys per customer: a list of each window's packed counts, then each
    window's p95 latency (None where not wanted or without latencies). Takes `gathered` over:
    emptied as it goes."""
    shift = bits + _STATUS_BITS
    masks = (1 << bits) - 1
    members = [tuple(bit for bit in range(bits) if mask >> bit & 1) for mask in range(1 << bits)]
    ranked_in = [tuple(bit + bits for bit in windows if bit in wanted) for windows in members]
    held: dict[int, list[Any]] = {}
    empty: list[Any] = [0] * bits + [None] * bits
    while gathered:
        key, values = gathered.popitem()
        customer = key >> shift
        entry = held.get(customer)
        if entry is None:
            entry = held[customer] = empty.copy()
        mask, code = key >> _STATUS_BITS & masks, key & 15
        increment = _INCREMENTS[code] * len(values)
        for bit in members[mask]:
            entry[bit] += increment
        if _MEASURED[code]:
            for at in ranked_in[mask]:
                other = entry[at]
                # A new array when a second key adds to it: `values` may be another window's.
                entry[at] = values if other is None else other + values
    rank = metrics.nearest_rank
    spots = [bit + bits for bit in sorted(wanted)]
    for entry in held.values():
        for at in spots:
            values = entry[at]
            if values is None:
                continue
            if len(values) == 1:  # most customers' windows at 100,000 customers: no sort
                entry[at] = values[0]
            else:
                ranked = sorted(values)  # a list for this customer only, dropped at once
                entry[at] = ranked[rank(len(ranked), 95) - 1]
    return held


def _read(start: datetime, end: datetime, windows: list[Window], bits: int, *,
          ordered: bool) -> Any:
    """The checks in [start, end) (a piece of a stretch): the key ((customer_id · 2^bits + the
    mask of `windows` holding the check) · 8 + its status code) · 2 + whether it measured a
    latency, and the latency (0 when none); `ordered`, by time and at one instant by id (the
    order recorded) — the time index's own order, but for ties."""
    h = tables.health_checks.c
    mask = window_mask(start, end, windows)
    status = case({name: code for code, name in enumerate(STATUSES)}, value=h.status,
                  else_=OTHER)
    # (BIGINT: on PostgreSQL an INTEGER id times 2^(bits+4) could overflow 32 bits.)
    key = ((cast(h.customer_id, BigInteger) * (1 << bits) + mask) * (1 << _STATUS_BITS)
           + status * 2 + case((h.latency_ms.isnot(None), 1), else_=0))
    statement = (select(key, func.coalesce(h.latency_ms, 0.0))
                 .where(h.checked_at >= start, h.checked_at < end))
    return statement.order_by(h.checked_at, h.id) if ordered else statement


def _last_statuses(connection: Connection, week: Window, newest: dict[int, int],
                   held: dict[int, list[Any]], at: int) -> dict[int, str]:
    """Each customer's last status in `week` from its last key there (`newest`). Where that
    is not certain — a status named by no code, or a maintenance check in the week (the last
    key may be one; and one recorded at the last instant, later, wins, as it did in the
    aggregate joined back on that instant that this replaces) — the customers' statuses are
    read back that way (_last_status_read)."""
    unsure = {customer for customer, entry in held.items()
              if _field(entry[at], _MAINTENANCE_AT)}
    found = {}
    for customer, key in newest.items():
        code = key >> 1 & 7
        if code == OTHER:
            unsure.add(customer)
        elif customer not in unsure:
            found[customer] = STATUSES[code]
    if unsure:
        found.update(_last_status_read(connection, week, unsure))
    return found


def _last_status_read(connection: Connection, week: Window, customers: set[int]
                      ) -> dict[int, str]:
    """The status of the last check in `week` that is not maintenance, of each of `customers`:
    one GROUP BY joined back on (customer_id, checked_at), which the composite index answers;
    of two checks at that instant, the later-recorded one (higher id) wins."""
    h, table = tables.health_checks.c, tables.health_checks
    chosen = None if len(customers) > 500 else sorted(customers)
    # customer_id + 0: SQLite reads the week's range of the time index, not the customer index.
    h_customer = (h.customer_id + literal_column("0")).label("customer_id")
    conditions = [h.checked_at >= week[0], h.checked_at < week[1], h.status != "maintenance"]
    if chosen is not None:
        conditions.append(h.customer_id.in_(chosen))
    grouped = (select(h_customer, func.max(h.checked_at).label("last_at"))
               .where(*conditions).group_by(h_customer).subquery())
    found = {}
    for customer, status in connection.execute(
            select(grouped.c.customer_id, h.status)
            .join(table, and_(h.customer_id == grouped.c.customer_id,
                              h.checked_at == grouped.c.last_at))
            .order_by(grouped.c.customer_id, h.id)):
        if customer in customers:
            found[customer] = status
    return found
