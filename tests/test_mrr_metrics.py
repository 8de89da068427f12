"""The MRR movement and retention definitions (unmo_cli.metrics) on random ledgers built by the
rules `customer set`, `churn` and `reactivate` follow: past-effective MRR changes inserted under
later entries, churns and reactivations after the latest entry, ties at one instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from unmo_cli import metrics

T0 = datetime(2026, 1, 5)


@dataclass
class Row:
    id: int
    customer_id: int
    kind: str
    mrr_cents: int
    effective_at: datetime


def _ordered(rows: list[Row], customer: int) -> list[Row]:
    return sorted((r for r in rows if r.customer_id == customer),
                  key=lambda r: (r.effective_at, r.id))


def _in_effect(entries: list[Row], instant: datetime) -> Row | None:
    """The row in effect at `instant` as `customer set` sees it (at or before)."""
    found = None
    for row in entries:
        if row.effective_at > instant:
            break
        found = row
    return found


operation = st.tuples(st.sampled_from(["onboard", "set", "churn", "reactivate"]),
                      st.integers(0, 4),  # which customer
                      st.integers(0, 60),  # days after T0 (or back from the latest entry)
                      st.integers(0, 500_000))  # cents


@st.composite
def ledgers(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    created: dict[int, datetime] = {}
    for op, customer, days, cents in draw(st.lists(operation, max_size=40)):
        at = T0 + timedelta(days=days, hours=draw(st.sampled_from([0, 0, 7])))
        entries = _ordered(rows, customer)
        if op == "onboard":
            if customer in created:
                continue
            created[customer] = at
            kind = "start"
        elif customer not in created or at < created[customer]:
            continue
        elif op == "set":  # may be effective in the past, under later entries
            before = _in_effect(entries, at)
            if before is None or before.kind == "churn" or before.mrr_cents == cents:
                continue
            kind = "change"
        else:
            latest = entries[-1]
            at = max(at, latest.effective_at)  # not before the latest entry (ties allowed)
            churned = latest.kind == "churn"
            if (op == "churn") == churned:
                continue
            kind = "churn" if op == "churn" else "reactivation"
            cents = 0 if op == "churn" else cents
        rows.append(Row(len(rows) + 1, customer, kind, cents, at))
    return rows


instants = st.integers(-2, 70).map(lambda d: T0 + timedelta(days=d))


@settings(max_examples=200, deadline=None)
@given(ledgers(), instants, instants)
def test_current_is_previous_plus_the_movements(rows: list[Row], a: datetime,
                                                b: datetime) -> None:
    start, end = min(a, b), max(a, b)
    moves = metrics.mrr_movements(rows, start, end)
    assert min(moves.new, moves.expansion, moves.contraction, moves.churned,
               moves.reactivation) >= 0
    assert (metrics.total_mrr_at(rows, end)
            == metrics.total_mrr_at(rows, start) + moves.new + moves.expansion
            - moves.contraction - moves.churned + moves.reactivation)


@settings(max_examples=200, deadline=None)
@given(ledgers(), instants, instants)
def test_retention_bounds_and_its_cohort(rows: list[Row], a: datetime, b: datetime) -> None:
    start, end = min(a, b), max(a, b)
    kept = metrics.retention(rows, start, end)
    customers = {r.customer_id for r in rows}
    cohort = [c for c in customers if metrics.active_at(_ordered(rows, c), start)]
    assert kept.cohort == len(cohort)
    assert kept.start == sum(metrics.mrr_at(_ordered(rows, c), start) for c in cohort)
    # NRR's numerator is the cohort's MRR at the end; new customers are in neither.
    assert (kept.start - kept.contraction - kept.churned + kept.expansion
            == sum(metrics.mrr_at(_ordered(rows, c), end) for c in cohort))
    if kept.start == 0:
        assert kept.nrr_pct is None and kept.grr_pct is None
    else:
        assert 0 <= kept.grr_pct <= 100
        assert kept.grr_pct <= kept.nrr_pct
    if kept.cohort:
        assert 0 <= kept.logo_pct <= 100
    else:
        assert kept.logo_pct is None


def _row(id: int, kind: str, cents: int, day: int, customer: int = 1) -> Row:
    return Row(id, customer, kind, cents, T0 + timedelta(days=day))


def test_each_movement_of_a_scripted_history() -> None:
    rows = [_row(1, "start", 100_00, 0), _row(2, "change", 150_00, 10),
            _row(3, "change", 120_00, 20), _row(4, "churn", 0, 30),
            _row(5, "reactivation", 90_00, 40), _row(6, "start", 50_00, 12, customer=2)]
    week = (T0 + timedelta(days=7), T0 + timedelta(days=14))
    assert metrics.mrr_movements(rows, *week) == metrics.MrrMovements(new=50_00,
                                                                      expansion=50_00)
    assert metrics.mrr_movements(rows, T0 + timedelta(days=14), T0 + timedelta(days=45)) == \
        metrics.MrrMovements(contraction=30_00, churned=120_00, reactivation=90_00)
    # A row effective exactly at an edge belongs to the period that starts there.
    assert metrics.mrr_at(_ordered(rows, 1), T0 + timedelta(days=10)) == 100_00
    assert metrics.mrr_movements(rows, T0 + timedelta(days=10), T0 + timedelta(days=11)) == \
        metrics.MrrMovements(expansion=50_00)
    # Churned and back within the period: retained, the difference a contraction.
    kept = metrics.retention(rows, T0 + timedelta(days=25), T0 + timedelta(days=45))
    assert (kept.cohort, kept.retained, kept.start) == (2, 2, 170_00)
    assert (kept.contraction, kept.churned, kept.nrr_pct, kept.grr_pct, kept.logo_pct) == \
        (30_00, 0, 82.4, 82.4, 100.0)
    # Churned at the end: its start MRR churned, not the MRR it had when it churned.
    kept = metrics.retention(rows, T0 + timedelta(days=5), T0 + timedelta(days=35))
    assert (kept.cohort, kept.retained, kept.churned, kept.grr_pct, kept.logo_pct) == \
        (1, 0, 100_00, 0.0, 0.0)
