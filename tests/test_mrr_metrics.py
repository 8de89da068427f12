"""The MRR movement and retention definitions (unmo_cli.metrics) on random ledgers built by the
rules `customer set`, `churn` and `reactivate` follow: past-effective MRR changes inserted under
later entries, churns and reactivations after the latest entry, ties at one instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from unmo_cli import metrics
from unmo_cli.services import report_ledger

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


# --- the report's one pass over the ledger (report_ledger.tally) ---------------------------------

EVENTS = {customer: 1_000 * (customer + 1) for customer in range(5)}


def _fee(entries: list[Row], instant: datetime) -> int | None:
    """sla's fee: the MRR of the last row effective before `instant` that is not a churn."""
    paid = [row.mrr_cents for row in entries if row.effective_at < instant and row.kind != "churn"]
    return paid[-1] if paid else None


@settings(max_examples=300, deadline=None)
@given(ledgers(), st.lists(instants, min_size=3, max_size=9).map(sorted), instants)
def test_the_reports_one_pass_gives_the_definitions(rows: list[Row], edges: list[datetime],
                                                    fees_at: datetime) -> None:
    """Every figure report_ledger.tally folds from the ordered rows equals the definitions
    above over the same rows (edges may repeat, as min(edge, now) makes them; rows fall on
    edges and tie with each other)."""
    ordered = sorted(rows, key=lambda r: (r.customer_id, r.effective_at, r.id))
    figures = report_ledger.tally([(r.customer_id, r.kind, r.mrr_cents, r.effective_at)
                                   for r in ordered], edges, fees_at, EVENTS)
    entries = {c: _ordered(rows, c) for c in sorted({r.customer_id for r in rows})}
    assert len(figures.periods) == len(edges) - 1
    for period, start, end in zip(figures.periods, edges[:-1], edges[1:], strict=True):
        within = [r for r in rows if start <= r.effective_at < end]
        assert period.movements == metrics.mrr_movements(rows, start, end)
        assert period.mrr_cents_before == metrics.total_mrr_at(rows, start)
        assert period.mrr_cents == metrics.total_mrr_at(rows, end)
        assert period.mrr_cents == period.mrr_cents_before + period.movements.net()
        assert period.total == sum(metrics.ledger_row_at(e, end) is not None
                                   for e in entries.values())
        active = [c for c, e in entries.items() if metrics.active_at(e, end)]
        assert period.active == len(active)
        assert period.events_per_day == sum(EVENTS[c] for c in active)
        assert period.new == sum(r.kind == "start" for r in within)
        assert period.churned == sum(r.kind == "churn" for r in within)
    before, start, end = edges[-3:]
    assert list(figures.customers) == list(entries)
    for customer, own in entries.items():
        ledger = figures.customers[customer]
        at_end = metrics.ledger_row_at(own, end)
        churned = at_end is not None and at_end.kind == "churn"
        assert (ledger.active_before, ledger.mrr_before) == (
            metrics.active_at(own, before), metrics.mrr_at(own, before))
        assert (ledger.active_start, ledger.mrr_start) == (
            metrics.active_at(own, start), metrics.mrr_at(own, start))
        assert (ledger.active_end, ledger.mrr_end) == (
            metrics.active_at(own, end), metrics.mrr_at(own, end))
        assert ledger.churned_at == (at_end.effective_at if churned else None)
        # The MRR paid at the end, or before the churn in effect then (the row before it).
        assert ledger.contracted_end == (own[own.index(at_end) - 1].mrr_cents if churned
                                         else metrics.mrr_at(own, end))
        assert ledger.entered == any(r.kind in ("start", "reactivation")
                                     and start <= r.effective_at < end for r in own)
        moves = metrics.mrr_movements(own, start, end)
        assert ledger.movements == tuple(getattr(moves, k) for k in metrics.MOVEMENT_KINDS)
        assert figures.fees.get(customer) == _fee(own, fees_at)
    assert report_ledger.retentions(figures.customers) == (
        metrics.retention(rows, before, start), metrics.retention(rows, start, end))


def test_a_customer_the_customers_table_lacks_has_no_share_of_the_trend() -> None:
    """The trend's figures count customers the customers table has (the old join's inner
    semantics); the per-customer states and fees do not depend on it."""
    rows = [(7, "start", 100_00, T0), (7, "churn", 0, T0 + timedelta(days=3))]
    edges = [T0 - timedelta(days=1), T0 + timedelta(days=1), T0 + timedelta(days=2),
             T0 + timedelta(days=5)]
    figures = report_ledger.tally(rows, edges, T0 + timedelta(days=9), {})
    assert all(p.total == p.active == p.mrr_cents == 0 for p in figures.periods)
    assert all(p.movements == metrics.MrrMovements() for p in figures.periods)
    ledger = figures.customers[7]
    assert (ledger.active_start, ledger.active_end, ledger.contracted_end) == (True, False, 100_00)
    assert figures.fees == {7: 100_00}
