"""Property tests of the review's pure parts (services/review.py): over random MRR ledgers and
intervals, the movements add up (start + new + expansion − contraction − churned + reactivation =
end, each the MRR in effect at that edge); the weeks of any quarter tile it exactly."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from unmo_cli.services.accounts import mrr_at
from unmo_cli.services.review import mrr_movements, quarter_of, quarter_weeks

T0 = datetime(2026, 1, 1)
AMOUNT = st.integers(min_value=1, max_value=10_000_000)


@st.composite
def ledgers(draw):
    """A ledger as onboarding, `customer set`, churn and reactivation write one."""
    hours = sorted(draw(st.lists(st.integers(0, 24 * 365), min_size=1, max_size=12)))
    rows, active = [], True
    for index, hour in enumerate(hours):
        at = T0 + timedelta(hours=hour)
        if index == 0:
            kind, cents = "start", draw(AMOUNT)
        elif not active:
            kind, cents, active = "reactivation", draw(AMOUNT), True
        elif draw(st.booleans()):
            kind, cents, active = "churn", 0, False
        else:
            kind, cents = "change", draw(AMOUNT)
        rows.append(SimpleNamespace(kind=kind, mrr_cents=cents, effective_at=at, reason=None))
    return rows


@given(ledgers(), st.integers(0, 24 * 400), st.integers(0, 24 * 400))
def test_movements_add_up_to_the_mrr_at_the_edges(rows, a, b):
    start, end = sorted((T0 + timedelta(hours=a), T0 + timedelta(hours=b)))
    found = mrr_movements(rows, start, end)
    totals = found["totals_cents"]
    assert all(value >= 0 for value in totals.values())
    assert (found["start_cents"] + totals["new"] + totals["expansion"] - totals["contraction"]
            - totals["churned"] + totals["reactivation"]) == found["end_cents"]
    just_before = timedelta(microseconds=1)
    assert found["start_cents"] == mrr_at(rows, start - just_before)
    assert found["end_cents"] == mrr_at(rows, end - just_before)
    assert len(found["entries"]) == sum(1 for r in rows if start <= r.effective_at < end)


@given(st.integers(1900, 9998), st.integers(1, 4),
       st.sampled_from(["UTC", "America/New_York", "Pacific/Chatham", "Asia/Kolkata"]))
def test_the_weeks_tile_the_quarter(year, number, zone):
    quarter = quarter_of(year, number, zone)
    weeks = quarter_weeks(quarter)
    assert weeks[0].start == quarter.start and weeks[-1].end == quarter.end
    assert all(a.end == b.start for a, b in zip(weeks, weeks[1:], strict=False))
    assert 13 <= len(weeks) <= 15
    assert len({w.label for w in weeks}) == len(weeks)
