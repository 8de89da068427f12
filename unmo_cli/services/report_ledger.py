"""The report's figures from the account history: customer counts, MRR and its movements from
the MRR ledger (mrr_changes), revenue retention, and the tasks block — SQL aggregates that
SQLite and PostgreSQL run alike, turned into figures by unmo_cli.metrics.

The ledger is read through one window over each customer's rows in ledger order (effective_at,
id): LAG gives the MRR before a row (to classify it, metrics.mrr_movement) and LEAD the instant
the next row takes over, so the row in effect at an instant t is the one with effective_at < t
≤ the next row's (metrics.ledger_row_at). Every figure is then a SUM(CASE …) over that window:
one pass for all the trend periods' edges and movements, one GROUP BY customer for the report's
period (the portfolio and the retention cohorts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select

from unmo_cli import clock, metrics
from unmo_cli.db import tables

if TYPE_CHECKING:
    from datetime import date

    from sqlalchemy.engine import Connection

NOT_A_CHANGE = ("start", "churn", "reactivation")


def _sum_if(condition: Any, value: Any = 1) -> Any:
    """SUM(CASE WHEN condition THEN value ELSE 0 END): an integer on both databases."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _ledger() -> Any:
    """Each ledger row with the MRR before it (`previous`, 0 for the first) and the instant the
    next row of its customer takes effect (`next_at`, NULL for the last)."""
    m = tables.mrr_changes.c
    order = {"partition_by": m.customer_id, "order_by": (m.effective_at, m.id)}
    return select(m.customer_id, m.kind, m.mrr_cents, m.effective_at,
                  func.coalesce(func.lag(m.mrr_cents).over(**order), 0).label("previous"),
                  func.lead(m.effective_at).over(**order).label("next_at")).subquery("ledger")


def _in_effect(ledger: Any, instant: datetime) -> Any:
    """The row in effect at `instant`: effective before it, and the next row not."""
    return and_(ledger.c.effective_at < instant,
                or_(ledger.c.next_at.is_(None), ledger.c.next_at >= instant))


def _movement_columns(ledger: Any, start: datetime, end: datetime, suffix: str) -> list[Any]:
    """The five movements of the rows effective within [start, end), as metrics.mrr_movement
    classifies them, summed."""
    c = ledger.c
    within = and_(c.effective_at >= start, c.effective_at < end)
    change = within & c.kind.notin_(NOT_A_CHANGE)
    return [_sum_if(within & (c.kind == "start"), c.mrr_cents).label(f"new{suffix}"),
            _sum_if(change & (c.mrr_cents > c.previous), c.mrr_cents - c.previous)
            .label(f"expansion{suffix}"),
            _sum_if(change & (c.mrr_cents < c.previous), c.previous - c.mrr_cents)
            .label(f"contraction{suffix}"),
            _sum_if(within & (c.kind == "churn"), c.previous).label(f"churned{suffix}"),
            _sum_if(within & (c.kind == "reactivation"), c.mrr_cents)
            .label(f"reactivation{suffix}")]


def _movements(row: Any, suffix: str) -> metrics.MrrMovements:
    return metrics.MrrMovements(*(int(row[f"{kind}{suffix}"])
                                  for kind in metrics.MOVEMENT_KINDS))


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


def period_figures(connection: Connection, edges: list[datetime]) -> list[PeriodLedger]:
    """For each period [edges[i], edges[i+1]) (naive UTC): at its end the customers created
    (`total`), active, their MRR and events per day; within it the customers created (`new`),
    the churns, and the MRR movements.

    One pass over the ledger rows that matter — those in effect at the first edge and those
    effective in the periods — grouped by the period they fall in; each later edge's state is
    the one before plus its period's movements (a customer becomes active only by a start or a
    reactivation and stops only by a churn; its MRR moves only by the movements), which is
    metrics' identity and saves a CASE per edge and row."""
    ledger = _ledger()
    c = ledger.c
    customers = tables.customers
    first, last = edges[0], edges[-1]
    bucket = case(*[(c.effective_at < edge, index) for index, edge in enumerate(edges)],
                  else_=len(edges)).label("bucket")
    # The bucket in a subquery, grouped by its name: PostgreSQL does not take a GROUP BY
    # expression with its own bound parameters for the SELECT's.
    rows_of = (select(bucket, c.kind, c.mrr_cents, c.previous, c.effective_at,
                      customers.c.events_per_day.label("events"))
               .select_from(ledger.join(customers, customers.c.id == c.customer_id))
               .where(or_(_in_effect(ledger, first),
                          and_(c.effective_at >= first, c.effective_at < last)))
               .subquery("bucketed"))
    b = rows_of.c
    live = b.kind != "churn"
    arrives, leaves = b.kind.in_(("start", "reactivation")), b.kind == "churn"
    rows = connection.execute(
        select(b.bucket, func.count().label("rows"), _sum_if(live).label("active"),
               _sum_if(live, b.mrr_cents).label("mrr"), _sum_if(live, b.events).label("events"),
               _sum_if(b.kind == "start").label("starts"), _sum_if(leaves).label("churns"),
               _sum_if(arrives).label("arrivals"),
               (_sum_if(arrives, b.events) - _sum_if(leaves, b.events)).label("events_moved"),
               *_movement_columns(rows_of, first, last, ""))
        .group_by(b.bucket)).mappings().all()
    found = {int(row["bucket"]): row for row in rows}
    start = found.get(0)
    total = int(start["rows"]) if start else 0
    active = int(start["active"]) if start else 0
    mrr = int(start["mrr"]) if start else 0
    events_per_day = int(start["events"]) if start else 0
    result = []
    for index in range(1, len(edges)):
        row = found.get(index)
        moves = _movements(row, "") if row else metrics.MrrMovements()
        starts, churns = (int(row["starts"]), int(row["churns"])) if row else (0, 0)
        before = mrr
        total += starts
        active += (int(row["arrivals"]) - churns) if row else 0
        mrr += moves.net()
        events_per_day += int(row["events_moved"]) if row else 0
        result.append(PeriodLedger(total=total, active=active, new=starts, churned=churns,
                                   mrr_cents=mrr, mrr_cents_before=before,
                                   events_per_day=events_per_day, movements=moves))
    return result


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


def customer_ledgers(connection: Connection, before: datetime, start: datetime,
                     end: datetime) -> dict[int, CustomerLedger]:
    """Per customer (one GROUP BY over the ledger): its state at `before` (the previous
    period's start), `start` and `end`, and its movements within [start, end)."""
    ledger = _ledger()
    c = ledger.c
    columns = []
    for name, instant in (("before", before), ("start", start), ("end", end)):
        in_effect = _in_effect(ledger, instant)
        columns += [_sum_if(in_effect & (c.kind != "churn")).label(f"active_{name}"),
                    _sum_if(in_effect, c.mrr_cents).label(f"mrr_{name}")]
    at_end = _in_effect(ledger, end)
    within = and_(c.effective_at >= start, c.effective_at < end)
    columns += [
        _sum_if(at_end, case((c.kind == "churn", c.previous), else_=c.mrr_cents))
        .label("contracted_end"),
        func.max(case((at_end & (c.kind == "churn"), c.effective_at))).label("churned_at"),
        _sum_if(within & c.kind.in_(("start", "reactivation"))).label("entered"),
        *_movement_columns(ledger, start, end, "")]
    result = {}
    # Rows superseded before `before` are in effect at none of the instants, nor within the
    # period: only the latest rows of each customer are aggregated.
    relevant = or_(c.next_at.is_(None), c.next_at >= before)
    # In batches, by position: a fetch per row, or a name per value, costs SQLAlchemy more than
    # making the row does (100,000 customers).
    for row in chain.from_iterable(connection.execute(
            select(c.customer_id, *columns).where(relevant).group_by(c.customer_id))
            .partitions(5_000)):
        (customer_id, active_before, mrr_before, active_start, mrr_start, active_end, mrr_end,
         contracted_end, churned_at, entered, *movements) = row
        if isinstance(churned_at, str):  # SQLite: MAX(CASE …) of a DATETIME loses its type
            churned_at = datetime.fromisoformat(churned_at)
        result[customer_id] = CustomerLedger(
            active_before=bool(active_before), mrr_before=int(mrr_before),
            active_start=bool(active_start), mrr_start=int(mrr_start),
            active_end=bool(active_end), mrr_end=int(mrr_end),
            contracted_end=int(contracted_end), churned_at=churned_at,
            entered=bool(entered), movements=tuple(int(cents) for cents in movements))
    return result


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
