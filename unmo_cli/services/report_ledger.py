"""The report's figures from the account history: customer counts, MRR and its movements from
the MRR ledger (mrr_changes), revenue retention, the SLA fees, and the tasks block — turned into
figures by unmo_cli.metrics.

The ledger is read once, in ledger order (customer_id, effective_at, id: the covering index
ix_mrr_changes_customer_cover, no sort), and folded in one Python pass (tally): the MRR before a
row classifies it (metrics.mrr_movement), and the row in effect at an instant t is the last one
effective before it (effective_at < t ≤ the next row's, metrics.ledger_row_at). A row's place
among the report's edges — one bisect — says at which edges it is in effect and which period its
movement falls in: the trend periods' figures, each customer's state in the report's period
(the portfolio and the retention cohorts) and the SLA fees all come from that one read. The
instants are compared in the column's stored form (its type's bind processor applied to the
edges; on SQLite the DATETIME text the database itself compares), so no row's timestamp is
parsed. (Two window-function statements and sla._fees' read did this before: on SQLite the one
read and pass cost about a quarter of their CPU; on PostgreSQL, for unmo's process, about the
same at 10,000 customers and less at 100,000; docs/performance.md.)"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select, type_coerce
from sqlalchemy.types import NullType

from unmo_cli import clock, metrics
from unmo_cli.db import driver_batches, tables

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.engine import Connection

# metrics.mrr_movement's names → their place in MrrMovements / CustomerLedger.movements.
_MOVEMENT_INDEX = {kind: index for index, kind in enumerate(metrics.MOVEMENT_KINDS)}
_NO_MOVEMENTS = (0,) * len(metrics.MOVEMENT_KINDS)


def _sum_if(condition: Any, value: Any = 1) -> Any:
    """SUM(CASE WHEN condition THEN value ELSE 0 END): an integer on both databases."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


@dataclass(frozen=True)
class PeriodLedger:
    """One period's figures from the ledger: counts at its end, MRR at its start and end, the
    movements between them (current = previous + movements.net(), always)."""

    total: int
    active: int
    new: int
    churned: int
    mrr_cents: int
    mrr_cents_before: int
    events_per_day: int
    movements: metrics.MrrMovements


@dataclass(slots=True)
class CustomerLedger:
    """One customer over the report's period [start, end): its state at the start and the end,
    the MRR it pays (or paid before a churn) at the end, when it churned if it is churned then,
    and its movements within the period."""

    active_before: bool  # at the previous period's start (the previous retention's cohort)
    mrr_before: int
    active_start: bool
    mrr_start: int
    active_end: bool
    mrr_end: int
    contracted_end: int
    churned_at: datetime | None
    entered: bool  # a start or a reactivation within the period
    movements: tuple[int, ...]  # cents, in the order of metrics.MOVEMENT_KINDS


@dataclass(frozen=True)
class LedgerFigures:
    """What the report reads from the ledger: `periods[i]` is [edges[i], edges[i+1]);
    `customers` each customer's CustomerLedger over the last period, with `before` the edge
    before it; `fees` the MRR each SLA credit is a share of (sla.compute_sla's `fees`)."""

    periods: list[PeriodLedger]
    customers: dict[int, CustomerLedger]
    fees: dict[int, int]


def read_ledger(connection: Connection, edges: list[datetime],
                fees_at: datetime | None = None) -> LedgerFigures:
    """The ledger's figures for the periods between `edges` (naive UTC, ascending, at least
    three; the report's are min(edge, now)), and the fees as of `fees_at` (naive UTC): one
    ordered read of the ledger and one of the customers' events per day."""
    m, c = tables.mrr_changes.c, tables.customers.c
    dialect = connection.dialect
    stored = m.effective_at.type.dialect_impl(dialect)
    to_stored = stored.bind_processor(dialect) or _same
    # The driver's own tuples (db.driver_batches), not Row objects: effective_at is wanted as
    # the driver gives it (NullType: on SQLite its DATETIME text, unparsed), the rest are ints
    # and the kind's text; a Row per ledger row cost more than the pass over it.
    events = dict(chain.from_iterable(driver_batches(connection,
                                                     select(c.id, c.events_per_day))))
    rows = chain.from_iterable(driver_batches(connection, select(
        m.customer_id, m.kind, m.mrr_cents, type_coerce(m.effective_at, NullType()))
        .order_by(m.customer_id, m.effective_at, m.id)))
    return tally(rows, [to_stored(edge) for edge in edges],
                 None if fees_at is None else to_stored(fees_at), events,
                 stored.result_processor(dialect, None) or _same)


def _same(value: Any) -> Any:
    return value


def tally(rows: Iterable[Sequence[Any]], edges: Sequence[Any], fees_at: Any,
          events: dict[int, int], to_datetime: Callable[[Any], Any] = _same) -> LedgerFigures:
    """The pass: `rows` (customer_id, kind, mrr_cents, effective_at) in ledger order, instants
    in one comparable form (`to_datetime` turns a churn's back into a datetime). A customer's
    events per day count in `periods` only if `events` has it (the customers table).

    `periods`: at the first edge, the customers created by then (`total`), active, their MRR
    and events per day; within each period the starts (`new`), churns and movements; each later
    edge's state is the one before plus its period's movements (a customer becomes active only
    by a start or a reactivation and stops only by a churn; its MRR moves only by the
    movements) — metrics' identity, current = previous + movements."""
    last = len(edges) - 1
    before, start = last - 2, last - 1  # the report's period is [edges[start], edges[last])
    first = edges[0]
    moves = [[0] * len(metrics.MOVEMENT_KINDS) for _ in edges]  # per period, by its end's index
    starts, arrivals, churns, events_moved = ([0] * len(edges) for _ in range(4))
    total = active = mrr = events_per_day = 0
    customers: dict[int, CustomerLedger] = {}
    fees: dict[int, int] = {}
    with_fees = fees_at is not None
    # fees_at at or after the first edge (the report's case): every row before that edge is
    # before fees_at too, and needs no comparison.
    early_fees = with_fees and not fees_at < first
    movement = metrics.mrr_movement
    for customer_id, entries in groupby(rows, itemgetter(0)):
        ev = events.get(customer_id)
        previous = 0
        # The rows in effect at the first edge, at `before`, `start` and the last edge:
        # (kind, mrr_cents, the MRR before it, effective_at).
        at_first = at_before = at_start = at_end = None
        fee = None
        entered = False
        own: list[int] | None = None  # the movements in the report's period
        for _, kind, cents, at in entries:
            if at < first:
                # Before the first edge (most rows): no movement of any period, and in effect
                # at every edge until a later row — at_before, at_start and at_end are set from
                # the last of them once, below, not from each.
                at_first = (kind, cents, previous, at)
                if kind != "churn" and (early_fees or with_fees and at < fees_at):
                    fee = cents
                previous = cents
                continue
            if at_end is None:
                at_before = at_start = at_end = at_first
            period = bisect_right(edges, at)  # the edges at or before `at`: 1 or more
            if period <= last:  # effective within [edges[period - 1], edges[period])
                row = (kind, cents, previous, at)
                at_end = row
                if period <= start:
                    at_start = row
                    if period <= before:
                        at_before = row
                name, amount = movement(previous, kind, cents)
                index = _MOVEMENT_INDEX.get(name)
                if ev is not None:
                    if index is not None:
                        moves[period][index] += amount
                    if kind == "start" or kind == "reactivation":
                        starts[period] += kind == "start"
                        arrivals[period] += 1
                        events_moved[period] += ev
                    elif kind == "churn":
                        churns[period] += 1
                        events_moved[period] -= ev
                if period == last:
                    if index is not None:
                        if own is None:
                            own = [0] * len(_NO_MOVEMENTS)
                        own[index] += amount
                    entered = entered or kind == "start" or kind == "reactivation"
            if with_fees and kind != "churn" and at < fees_at:
                fee = cents
            previous = cents
        if at_end is None:  # no row at or after the first edge
            at_before = at_start = at_end = at_first
        if at_first is not None and ev is not None:
            total += 1
            if at_first[0] != "churn":
                active += 1
                mrr += at_first[1]
                events_per_day += ev
        churned = at_end is not None and at_end[0] == "churn"
        # Positional (CustomerLedger's field order): 100,000 customers.
        customers[customer_id] = CustomerLedger(
            at_before is not None and at_before[0] != "churn",
            at_before[1] if at_before else 0,
            at_start is not None and at_start[0] != "churn",
            at_start[1] if at_start else 0,
            at_end is not None and not churned,
            at_end[1] if at_end else 0,
            (at_end[2] if churned else at_end[1]) if at_end else 0,  # contracted_end
            to_datetime(at_end[3]) if churned else None,  # type: ignore[index]
            entered, _NO_MOVEMENTS if own is None else tuple(own))
        if fee is not None:
            fees[customer_id] = fee
    periods = []
    for index in range(1, len(edges)):
        period_moves = metrics.MrrMovements(*moves[index])
        mrr_before = mrr
        total += starts[index]
        active += arrivals[index] - churns[index]
        mrr += period_moves.net()
        events_per_day += events_moved[index]
        periods.append(PeriodLedger(total=total, active=active, new=starts[index],
                                    churned=churns[index], mrr_cents=mrr,
                                    mrr_cents_before=mrr_before, events_per_day=events_per_day,
                                    movements=period_moves))
    return LedgerFigures(periods, customers, fees)


def retentions(ledgers: dict[int, CustomerLedger]) -> tuple[metrics.Retention,
                                                           metrics.Retention]:
    """The retention of the previous period (before → start) and of the report's (start →
    end), by metrics.retention_of over each customer's states."""
    values = ledgers.values()
    return (metrics.retention_of((x.active_before, x.mrr_before, x.active_start, x.mrr_start)
                                 for x in values),
            metrics.retention_of((x.active_start, x.mrr_start, x.active_end, x.mrr_end)
                                 for x in values))


# --- tasks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerTasks:
    owner: str | None
    open: int
    overdue: int
    done: int


@dataclass(frozen=True)
class TaskFigures:
    """**tasks** as of a period's end: `open` created before it and not done by it; `overdue`
    those of them due before the end's local date; `done` done within the period."""

    open: int = 0
    overdue: int = 0
    done: int = 0
    by_owner: list[OwnerTasks] = field(default_factory=list)


def task_figures(connection: Connection,
                 periods: list[tuple[datetime, datetime, date]]) -> list[TaskFigures]:
    """The tasks block of each period (start, as_of, as_of's local date) — one GROUP BY owner
    for all of them. Owners in name order, tasks without an owner last."""
    t = tables.tasks.c
    columns = []
    for index, (start, as_of, today) in enumerate(periods):
        is_open = (t.created_at < as_of) & or_(t.done_at.is_(None), t.done_at >= as_of)
        columns += [_sum_if(is_open).label(f"open_{index}"),
                    _sum_if(is_open & (t.due_on < today)).label(f"overdue_{index}"),
                    _sum_if((t.done_at >= start) & (t.done_at < as_of)).label(f"done_{index}")]
    rows = connection.execute(select(t.owner, *columns).group_by(t.owner)).mappings().all()
    rows = sorted(rows, key=lambda row: (row["owner"] is None, row["owner"] or ""))
    result = []
    for index in range(len(periods)):
        owners = [OwnerTasks(row["owner"], int(row[f"open_{index}"]),
                             int(row[f"overdue_{index}"]), int(row[f"done_{index}"]))
                  for row in rows]
        owners = [o for o in owners if o.open or o.done]
        result.append(TaskFigures(sum(o.open for o in owners), sum(o.overdue for o in owners),
                                  sum(o.done for o in owners), owners))
    return result


def naive(instant: datetime) -> datetime:
    return clock.to_db(instant)
