"""The contract's metric definitions (../shared/spec/cli.md, "Metric definitions"), in one place.

The report, `customer show` and the tests all use these. Each takes the integer aggregates that SQL
computes (COUNT/SUM over indexed time ranges), so SQLite and PostgreSQL give the same numbers:
no floating-point averages are taken in the database. Rounding is half away from zero."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def round_half_up(value: Fraction | float | int, places: int = 0) -> float | int:
    """Round half away from zero (Python's round() rounds half to even)."""
    exponent = Decimal(1).scaleb(-places)
    if isinstance(value, Fraction):
        number = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        number = Decimal(str(value))
    result = number.quantize(exponent, rounding=ROUND_HALF_UP)
    return int(result) if places == 0 else float(result)


def satisfaction_pct(score_sum: int | None, responses: int) -> float | None:
    """**satisfaction_pct**: mean of the satisfaction scores (1–10) of the responses in the period
    × 10, one decimal; `null` with no responses."""
    if not responses:
        return None
    return float(round_half_up(Fraction(int(score_sum or 0) * 10, responses), 1))


def nps(promoters: int, detractors: int, answered: int) -> int | None:
    """**nps**: responses with an NPS answer; promoters 9–10, passives 7–8, detractors 0–6;
    `round(100 × (promoters − detractors) / answered)`; `null` with none."""
    if not answered:
        return None
    return int(round_half_up(Fraction(100 * (promoters - detractors), answered)))


def nps_class(answer: int) -> str:
    """promoter (9–10), passive (7–8) or detractor (0–6)."""
    if answer >= 9:
        return "promoter"
    if answer >= 7:
        return "passive"
    return "detractor"


def nearest_rank(n: int, percentile: int = 95) -> int:
    """The 1-based rank ⌈p/100 · n⌉ of the nearest-rank percentile (integer arithmetic, so 95 % of
    20 is exactly rank 19). 0 when n is 0."""
    if n <= 0:
        return 0
    return max(1, -(-percentile * n // 100))


def percentile_nearest_rank(values: list[float], percentile: int = 95) -> float | None:
    """The value at rank ⌈p·n⌉ in ascending order; `None` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[nearest_rank(len(ordered), percentile) - 1]


def share_pct(part: int, whole: int, places: int = 2) -> float | None:
    """part ÷ whole × 100, `places` decimals; `None` when whole is 0."""
    if not whole:
        return None
    return float(round_half_up(Fraction(100 * part, whole), places))


def availability_pct(not_down: int, checks: int) -> float | None:
    """**availability_pct**: checks within the week whose status is not `down` ÷ all checks
    × 100."""
    return share_pct(not_down, checks)


def healthy_pct(healthy: int, checks: int) -> float | None:
    """**healthy_pct**: `healthy` ÷ all × 100."""
    return share_pct(healthy, checks)


def revenue_week_cents(mrr_cents: int) -> Fraction:
    """`revenue_week = mrr.current × 12 / 52` (exact, in cents)."""
    return Fraction(mrr_cents * 12, 52)


def gross_margin_pct(revenue_week: Fraction, infra_cost_week: Fraction) -> float | None:
    """`gross_margin_pct = (revenue_week − infra_cost_week) ÷ revenue_week × 100`; `None` without
    revenue."""
    if revenue_week == 0:
        return None
    return float(round_half_up((revenue_week - infra_cost_week) * 100 / revenue_week, 1))


def cost_per_1k_events(infra_cost_week: Fraction, events_per_day_total: int) -> float | None:
    """`cost_per_1k_events = infra_cost_week ÷ (Σ events_per_day of active customers × 7 ÷ 1000)`,
    in dollars with four decimals; `None` without events."""
    if not events_per_day_total:
        return None
    return float(round_half_up(infra_cost_week * 1000 / (events_per_day_total * 7), 4))


def cents_to_dollars(cents: int | Fraction | None) -> float | None:
    if cents is None:
        return None
    return float(round_half_up(Fraction(cents) / 100, 2))
