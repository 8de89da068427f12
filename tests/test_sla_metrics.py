"""The SLA's metric definitions (metrics.py) as properties: estimated downtime, its pieces as the
SLA report computes them from SQL, availability and credits."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import example, given
from hypothesis import strategies as st

from unmo_cli import metrics

MINUTE = 60_000_000
STATUSES = st.sampled_from(["healthy", "healthy", "healthy", "down", "degraded", "maintenance"])
CHECKS = st.lists(st.tuples(st.integers(0, 40_000).map(lambda m: m * MINUTE // 4), STATUSES),
                  max_size=60)


def _pieces(checks: list[tuple[int, str]], end_us: int) -> float | None:
    """downtime_minutes from what the report's queries return: the aggregate's first, last and
    count, and each outage check's next later check (or the end)."""
    if not checks:
        return metrics.downtime_minutes([], None)
    instants = [t for t, _s in checks]
    spacing = metrics.mean_spacing_us(min(instants), max(instants), len(checks))
    gaps = []
    for at, status in checks:
        if status in ("healthy", "maintenance"):
            continue
        later = [t for t in instants if t > at]
        gaps.append((min(later) if later else end_us) - at)
    return metrics.downtime_minutes(gaps, spacing)


@given(CHECKS)
def test_the_report_s_pieces_give_the_definition(checks):
    end = 10_001 * MINUTE
    assert _pieces(checks, end) == metrics.downtime_from_checks(checks, end)


@given(CHECKS)
@example([(0, "healthy")] * 4 + [(0, "down"), (615_000_000, "healthy")])
def test_downtime_is_bounded_by_the_outage_checks_times_the_spacing(checks):
    end = 10_001 * MINUTE
    downtime = metrics.downtime_from_checks(checks, end)
    outages = sum(1 for _t, s in checks if s not in ("healthy", "maintenance"))
    if outages == 0:
        assert downtime == 0.0
        return
    if len(checks) < 2:
        assert downtime is None
        return
    instants = sorted(t for t, _s in checks)
    spacing = Fraction(instants[-1] - instants[0], len(checks) - 1)
    # Rounded to one decimal as the figure is (half up, monotonic): 2.05 minutes is 2.1, which a
    # float bound of 2.05 + 0.05 (2.0999…) would refuse.
    bound = metrics.round_half_up(outages * spacing / MINUTE, 1)
    assert downtime is not None and 0 <= downtime <= bound


@given(st.lists(STATUSES, min_size=1, max_size=80))
def test_regular_checks_count_one_spacing_per_outage(statuses):
    n = len(statuses)
    checks = [(i * 15 * MINUTE, s) for i, s in enumerate(statuses)]
    outages = sum(1 for s in statuses if s not in ("healthy", "maintenance"))
    downtime = metrics.downtime_from_checks(checks, n * 15 * MINUTE)
    assert downtime == (None if n == 1 and outages else 15.0 * outages)


@given(st.integers(0, 10_000), st.integers(1, 10_000), st.decimals(90, 100, places=2))
def test_availability_met_and_credit_agree_exactly(healthy, extra, target):
    checks = healthy + extra - 1 if healthy else extra
    healthy = min(healthy, checks)
    exact = Fraction(healthy * 100, checks)
    assert metrics.sla_availability_met(healthy, checks, float(target)) == (
        exact >= Fraction(str(float(target))))
    credits = [(99.9, 10.0), (99.0, 25.0), (95.0, 50.0)]
    owed = metrics.sla_credit_pct(healthy, checks, credits)
    assert owed == max([c for b, c in credits if exact < Fraction(str(b))], default=0.0)
    if owed:
        assert not metrics.sla_availability_met(healthy, checks, 99.9)


def test_no_checks_is_neither_met_nor_credited():
    assert metrics.sla_availability_met(0, 0, 99.9) is None
    assert metrics.sla_credit_pct(0, 0, [(99.9, 10.0)]) == 0.0
    assert metrics.sla_availability_pct(0, 0) is None
