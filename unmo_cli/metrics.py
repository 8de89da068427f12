"""The contract's metric definitions (docs/cli.md, "Metric definitions"), in one place.

The report, `customer show` and the tests all use these. Each takes the integer aggregates that SQL
computes (COUNT/SUM over indexed time ranges), so SQLite and PostgreSQL give the same numbers:
no floating-point averages are taken in the database. Rounding is half away from zero.

Over 500 lines as one module: the contract keeps every metric definition in one place (the
weekly figures, the health score, the MRR movements and revenue retention), each quoted here."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any


def round_half_up(value: Fraction | float | int, places: int = 0) -> float | int:
    """Round half away from zero (Python's round() rounds half to even)."""
    if isinstance(value, (Fraction, int)) and places >= 0:
        # Exact integer arithmetic: the same result as the Decimal path below, several times
        # faster, which counts when the weekly report rounds figures for 10,000 customers.
        scale = 10 ** places
        numerator, denominator = value.numerator * scale, value.denominator
        quotient, remainder = divmod(abs(numerator), denominator)
        if 2 * remainder >= denominator:
            quotient += 1
        if numerator < 0:
            quotient = -quotient
        return quotient if places == 0 else quotient / scale
    exponent = Decimal(1).scaleb(-places)
    if isinstance(value, Fraction):
        number = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        number = Decimal(str(value))
    result = number.quantize(exponent, rounding=ROUND_HALF_UP)
    return int(result) if places == 0 else float(result)


def _ratio_half_up(numerator: int, denominator: int, places: int = 0) -> float | int:
    """round_half_up(Fraction(numerator, denominator), places), without making the Fraction
    (its gcd and checks cost more than the rounding, and the weekly report rounds a few figures
    for each of 100,000 customers) when both are ints, the denominator positive and places not
    negative — the same integer arithmetic; anything else goes through the Fraction."""
    if not (type(numerator) is int and type(denominator) is int and denominator > 0
            and places >= 0):
        return round_half_up(Fraction(numerator, denominator), places)
    scale = 10 ** places
    scaled = numerator * scale
    quotient, remainder = divmod(abs(scaled), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    if scaled < 0:
        quotient = -quotient
    return quotient if places == 0 else quotient / scale


def satisfaction_pct(score_sum: int | None, responses: int) -> float | None:
    """**satisfaction_pct**: mean of the satisfaction scores (1–10) of the responses in the period
    × 10, one decimal; `null` with no responses."""
    if not responses:
        return None
    return float(_ratio_half_up(int(score_sum or 0) * 10, responses, 1))


def survey_response_rate_pct(sent: int, answered: int) -> float | None:
    """**survey response rate**: of the survey invitations whose e-mail was sent within the
    period, the share answered by the period's end, × 100, one decimal; `null` with none sent."""
    if not sent:
        return None
    return float(round_half_up(Fraction(answered * 100, sent), 1))


def nps(promoters: int, detractors: int, answered: int) -> int | None:
    """**nps**: responses with an NPS answer; promoters 9–10, passives 7–8, detractors 0–6;
    `round(100 × (promoters − detractors) / answered)`; `null` with none."""
    if not answered:
        return None
    return int(_ratio_half_up(100 * (promoters - detractors), answered))


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
    return float(_ratio_half_up(100 * part, whole, places))


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
    if isinstance(cents, int):
        return cents / 100  # whole cents: exactly the two-decimal value, no rounding needed
    return float(round_half_up(Fraction(cents) / 100, 2))


# --- the weekly report's figures (issue 4) -----------------------------------------------------


def median_rank(n: int) -> int:
    """**median** (onboarding `median_s`): the nearest-rank 50th percentile, i.e. the value at rank
    ⌈n/2⌉ in ascending order — a duration that was actually measured (for an even n the lower of
    the two middle values), and the same on every database because no average is taken."""
    return nearest_rank(n, 50)


def mean(total: float | int | None, count: int, places: int = 1) -> float | None:
    """Σ ÷ n, `places` decimals (the onboarding `mean_s`); `None` when n is 0."""
    if not count:
        return None
    return float(round_half_up(Fraction(str(total or 0)) / count, places))


def change(current: float | int | None, previous: float | int | None,
           places: int = 4) -> float | int | None:
    """Week over week: current − previous (in the figure's own unit: points for percentages);
    `None` when either week has no value. Figures carry at most four decimals, so the difference
    is exact."""
    if current is None or previous is None:
        return None
    if isinstance(current, int) and isinstance(previous, int):
        return current - previous
    return float(round_half_up(Fraction(str(current)) - Fraction(str(previous)), places))


def at_least(achieved: float | int | None, target: float | int) -> bool | None:
    """A target to reach (satisfaction, NPS, availability, MRR, new customers): met when the
    achieved figure is at or above it; `None` without a figure."""
    return None if achieved is None else achieved >= target


def at_most(achieved: float | int | None, target: float | int) -> bool | None:
    """A target to stay within (onboarding time, p95 latency): met when at or below it; `None`
    without a figure."""
    return None if achieved is None else achieved <= target


def satisfaction_drop_points(
    previous_sum: int | None, previous_responses: int,
    recent_sum: int | None, recent_responses: int,
) -> float | None:
    """How far satisfaction_pct fell from the previous period to the recent one, in points on the
    100 scale (previous − recent, one decimal; negative when it rose), computed from the two
    periods' satisfaction_pct as shown; `null` when either period has no responses. The alert
    rule `satisfaction_drop` compares this with `alerts.drop_points`."""
    previous = satisfaction_pct(previous_sum, previous_responses)
    recent = satisfaction_pct(recent_sum, recent_responses)
    if previous is None or recent is None:
        return None
    return float(Decimal(str(previous)) - Decimal(str(recent)))


# --- the health score of `customer show` (issue 5) ----------------------------------------------
# Three components on a 0–100 scale, weighted by `health_score.weight_*` in unmo.yaml; a component
# without data is left out and the remaining weights are renormalised (health_score).


def _bounded(value: float) -> float:
    return max(0.0, min(100.0, float(value)))


def availability_score(availability: float, target_pct: float) -> float:
    """100 at or above `targets.availability_pct`; each point below it costs 10 (0 at 10 points
    under)."""
    return _bounded(100 - max(0.0, target_pct - availability) * 10)


def latency_score(p95_ms: float, target_ms: float) -> float:
    """100 when the p95 latency is within `targets.p95_latency_ms`, else target ÷ p95 × 100 (twice
    the target scores 50)."""
    if p95_ms <= target_ms:
        return 100.0
    return _bounded(100 * target_ms / p95_ms)


def satisfaction_score(pct: float, target_pct: float) -> float:
    """satisfaction_pct ÷ `targets.satisfaction_pct` × 100, at most 100."""
    return _bounded(100 * pct / target_pct) if target_pct > 0 else 100.0


def nps_score(value: float, target: float) -> float:
    """NPS mapped so −100 scores 0 and `targets.nps` (or better) scores 100, linearly between."""
    return _bounded(100 * (value + 100) / (target + 100)) if target > -100 else 100.0


def mean_of(values: list[float | None]) -> float | None:
    """The mean of the values present; `None` when none are."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _mean_of_two(first: float | None, second: float | None) -> float | None:
    """mean_of([first, second]), without the lists (twice per score, 200,000 scores in the
    report at 100,000 customers): the same float, the sum taken from 0 as sum() does."""
    if first is None:
        return None if second is None else (0 + second) / 1
    if second is None:
        return (0 + first) / 1
    return (0 + first + second) / 2


# The windows the health score reads, ending at the instant it is taken at: the feedback summary
# of `customer show` (30 days) and the technical component's checks (7 days).
SUMMARY_WINDOW = timedelta(days=30)
TECHNICAL_WINDOW = timedelta(days=7)


def health_components(availability: float | None, p95_ms: float | None,
                      satisfaction: float | None, nps_value: float | None,
                      installs: int | None, targets: Any) -> dict[str, float | None]:
    """The three components of the health score, each 0–100 or `None` without data, from one
    customer's figures over the score's windows (`customer show` and the weekly report both):
    - technical: availability_score and latency_score averaged (the last 7 days' checks);
    - sentiment: satisfaction_score and nps_score averaged (the last 30 days' feedback);
    - engagement: 100 when the newest check that measured installs saw some, 0 when none.
    `targets` is the workspace's targets settings (availability_pct, p95_latency_ms,
    satisfaction_pct, nps)."""
    return {"technical": technical_component(availability, p95_ms, targets),
            "sentiment": sentiment_component(satisfaction, nps_value, targets),
            "engagement": engagement_component(installs)}


def technical_component(availability: float | None, p95_ms: float | None,
                        targets: Any) -> float | None:
    """health_components' technical: availability_score and latency_score averaged."""
    return _mean_of_two(
        None if availability is None else availability_score(availability,
                                                             targets.availability_pct),
        None if p95_ms is None else latency_score(p95_ms, targets.p95_latency_ms))


def sentiment_component(satisfaction: float | None, nps_value: float | None,
                        targets: Any) -> float | None:
    """health_components' sentiment: satisfaction_score and nps_score averaged."""
    return _mean_of_two(
        None if satisfaction is None else satisfaction_score(satisfaction,
                                                             targets.satisfaction_pct),
        None if nps_value is None else nps_score(nps_value, targets.nps))


def engagement_component(installs: int | None) -> float | None:
    """health_components' engagement: 100 when the newest check that measured installs saw
    some, 0 when none."""
    return None if installs is None else (100.0 if installs > 0 else 0.0)


def health_score(components: dict[str, float | None], weights: dict[str, float]) -> int | None:
    """Σ weight × component ÷ Σ weight over the components present (renormalised), rounded half
    up to a whole number; `None` when no component has data or the present weights sum to 0."""
    present = {name: value for name, value in components.items() if value is not None}
    if not present:
        return None
    quick = _quick_score(present, weights)
    return quick if quick is not None else _exact_score(present, weights)


def score_of_components(technical: float | None, sentiment: float | None,
                        engagement: float | None, weights: dict[str, float]) -> int | None:
    """health_score of the three components given apart (technical_component,
    sentiment_component, engagement_component): the weekly report takes each component once per
    distinct input and combines each distinct three once (about 12,000 of its 200,000 scores at
    100,000 customers)."""
    return health_score({name: value for name, value in (("technical", technical),
                                                        ("sentiment", sentiment),
                                                        ("engagement", engagement))
                         if value is not None}, weights)


def _exact_score(present: dict[str, float], weights: dict[str, float]) -> int | None:
    """health_score of the components present, exactly: in Fractions of the inputs' shortest
    decimals, not float products (a float weight as small as 5e-324 times a component loses most
    of its digits, and the mean then left the components' range). Not in Decimal either: a sum
    such as 5 + 2.2e-313 needs 314 digits, and a 28-digit context rounded it (a mean of 0.4999…
    became 1). Only the inputs _quick_score declines come here, so the cost does not count."""
    shares = {name: Fraction(repr(float(weights.get(name, 0.0)))) for name in present}
    total_weight = sum(shares.values(), Fraction(0))
    if total_weight <= 0:
        return None
    weighted = sum((shares[name] * Fraction(repr(float(value))) for name, value in present.items()),
                   Fraction(0))
    return int(round_half_up(weighted / total_weight))


def _quick_score(present: dict[str, float], weights: dict[str, float]) -> int | None:
    """health_score's result in float arithmetic where that is provably the same: every weight
    positive and of ordinary size (no underflow in a product), every component in [0, 100], so
    the float mean is within 1e-12 of the exact one, whose rounding it then shares unless it lies
    within 1e-9 of a half. None where it may not (the exact mean decides). The weekly
    report scores every customer twice: 200,000 scores at 100,000 customers."""
    total = weighted = 0.0
    for name, value in present.items():
        weight = weights.get(name, 0.0)
        if not (1e-100 < weight < 1e100 and 0.0 <= value <= 100.0):
            return None
        total += weight
        weighted += weight * value
    mean = weighted / total
    whole = math.floor(mean)
    if abs(mean - whole - 0.5) <= 1e-9:
        return None
    return whole + 1 if mean - whole > 0.5 else whole


def health_color(score: int | None, green_at: float, yellow_at: float) -> str | None:
    """green at or above `health_score.green_at`, yellow at or above `yellow_at`, red below;
    `None` without a score."""
    if score is None:
        return None
    if score >= green_at:
        return "green"
    return "yellow" if score >= yellow_at else "red"


# --- MRR movements and revenue retention (issue 11) ---------------------------------------------
# Over the MRR ledger (mrr_changes): rows with customer_id, kind (start | change | churn |
# reactivation), mrr_cents (the MRR in effect from effective_at on, 0 after a churn),
# effective_at and id; a customer's rows are ordered by (effective_at, id). A period is
# half-open, [start, end).

MOVEMENT_KINDS = ("new", "expansion", "contraction", "churned", "reactivation")


@dataclass(frozen=True)
class MrrMovements:
    """The period's `mrr.*` movements in cents, each ≥ 0."""

    new: int = 0
    expansion: int = 0
    contraction: int = 0
    churned: int = 0
    reactivation: int = 0

    def net(self) -> int:
        """new + expansion − contraction − churned + reactivation."""
        return (self.new + self.expansion - self.contraction - self.churned
                + self.reactivation)


@dataclass(frozen=True)
class Retention:
    """**retention** of one period (cents and counts; the percentages by the functions below)."""

    start: int = 0  # MRR at the period's start of the cohort
    cohort: int = 0  # customers active at the start
    retained: int = 0  # of them, active at the end
    expansion: int = 0
    contraction: int = 0
    churned: int = 0

    @property
    def nrr_pct(self) -> float | None:
        return nrr_pct(self.start, self.expansion, self.contraction, self.churned)

    @property
    def grr_pct(self) -> float | None:
        return grr_pct(self.start, self.contraction, self.churned)

    @property
    def logo_pct(self) -> float | None:
        return logo_retention_pct(self.retained, self.cohort)


def mrr_movement(previous_cents: int, kind: str, mrr_cents: int) -> tuple[str, int]:
    """How one ledger row moves MRR, against the MRR in effect before it: (movement, cents ≥ 0).
    `start` is **new** (its MRR: the customer was created); `churn` is **churned** — "the MRR
    they had when they churned", the MRR before the row; `reactivation` is **reactivation** (its
    MRR; the MRR before it is 0, a churn's); a `change` is **expansion** or **contraction** by
    the sign of its difference from the MRR before it; ("none", 0) for a change to the same
    amount. Summed over a customer's rows, the cents with their signs are each row's MRR minus
    the one before it, which is why `current = previous + new + expansion − contraction −
    churned + reactivation` holds."""
    if kind == "start":
        return "new", mrr_cents
    if kind == "churn":
        return "churned", previous_cents
    if kind == "reactivation":
        return "reactivation", mrr_cents
    delta = mrr_cents - previous_cents
    if delta > 0:
        return "expansion", delta
    if delta < 0:
        return "contraction", -delta
    return "none", 0


def _by_customer(rows: Any) -> dict[int, list[Any]]:
    """The rows of each customer in ledger order, (effective_at, id)."""
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.customer_id, []).append(row)
    for entries in grouped.values():
        entries.sort(key=lambda row: (row.effective_at, row.id))
    return grouped


def ledger_row_at(entries: list[Any], instant: Any) -> Any:
    """The row in effect at `instant` of one customer's ordered ledger: the last row effective
    strictly before it (a row effective exactly at a period's start is that period's movement,
    so the MRR at the start does not include it); None before the first."""
    found = None
    for row in entries:
        if row.effective_at >= instant:
            break
        found = row
    return found


def mrr_at(entries: list[Any], instant: Any) -> int:
    """**MRR at an instant** (the report's edges): `mrr_cents` of the customer's last ledger row
    effective before it; 0 before its first row and after a churn."""
    row = ledger_row_at(entries, instant)
    return row.mrr_cents if row is not None else 0


def active_at(entries: list[Any], instant: Any) -> bool:
    """**active** at an instant: the customer's last ledger row effective before it exists and
    is not a churn (created by then; a reactivated customer is active again from its
    reactivation)."""
    row = ledger_row_at(entries, instant)
    return row is not None and row.kind != "churn"


def mrr_movements(rows: Any, start: Any, end: Any) -> MrrMovements:
    """**mrr.new, expansion, contraction, churned, reactivation**: the movements of the ledger
    rows effective within [start, end), each classified by mrr_movement against the row before
    it (of any date). `rows`: ledger rows of any customers."""
    totals = dict.fromkeys(MOVEMENT_KINDS, 0)
    for entries in _by_customer(rows).values():
        previous = 0
        for row in entries:
            if start <= row.effective_at < end:
                kind, cents = mrr_movement(previous, row.kind, row.mrr_cents)
                if kind in totals:
                    totals[kind] += cents
            previous = row.mrr_cents
    return MrrMovements(**totals)


def total_mrr_at(rows: Any, instant: Any) -> int:
    """**mrr.current** at an instant: Σ MRR at it over the customers (churned ones have 0)."""
    return sum(mrr_at(entries, instant) for entries in _by_customer(rows).values())


def retention(rows: Any, start: Any, end: Any) -> Retention:
    """**retention** over [start, end). The cohort is the customers active at `start`;
    `start` (the figure) their MRR then; customers new in the period are in neither. Each cohort
    customer's MRR at the end is compared with its MRR at the start — its movements within the
    period netted: one no longer active at the end counts its start MRR as churned; one active
    counts the difference as expansion or contraction. So a cohort customer that churns and is
    reactivated within the period is retained (a logo kept), and a customer that expands and
    then churns loses only what it had at the start: GRR stays within 0–100 and
    `start − contraction − churned + expansion` is the cohort's MRR at the end."""
    return retention_of((active_at(entries, start), mrr_at(entries, start),
                         active_at(entries, end), mrr_at(entries, end))
                        for entries in _by_customer(rows).values())


def retention_of(states: Any) -> Retention:
    """retention() from each customer's state at the period's start and end: (active at the
    start, MRR at the start, active at the end, MRR at the end) — what the report reads per
    customer from SQL."""
    start_cents = cohort = retained = expansion = contraction = churned = 0
    for active_before, before, active_after, after in states:
        if not active_before:
            continue
        cohort += 1
        start_cents += before
        if active_after:
            retained += 1
            if after > before:
                expansion += after - before
            else:
                contraction += before - after
        else:
            churned += before
    return Retention(start_cents, cohort, retained, expansion, contraction, churned)


def nrr_pct(start: int, expansion: int, contraction: int, churned: int) -> float | None:
    """**retention.nrr_pct** = (start − contraction − churned + expansion) ÷ start × 100, one
    decimal; `null` when start is 0."""
    return share_pct(start - contraction - churned + expansion, start, 1)


def grr_pct(start: int, contraction: int, churned: int) -> float | None:
    """**retention.grr_pct** = (start − contraction − churned) ÷ start × 100, one decimal
    (≤ 100: NRR without expansion); `null` when start is 0."""
    return share_pct(start - contraction - churned, start, 1)


def logo_retention_pct(retained: int, cohort: int) -> float | None:
    """**retention.logo_pct** = customers active at the start still active at the end ÷ active
    at the start × 100, one decimal; `null` with none active at the start."""
    return share_pct(retained, cohort, 1)
# --- the monthly SLA (`unmo report sla`) -------------------------------------------------------


def sla_availability_pct(healthy: int, checks: int) -> float | None:
    """**SLA availability**: the month's checks whose status is `healthy` ÷ its checks, checks
    inside maintenance windows (status `maintenance`) left out of both, × 100, two decimals;
    `None` without checks. Stricter than the weekly report's availability_pct (not `down`): a
    degraded, unauthorized or failed check does not count as available."""
    return share_pct(healthy, checks)


def sla_availability_met(healthy: int, checks: int, target_pct: float) -> bool | None:
    """Availability at or above the tier's target, compared exactly (healthy × 100 ≥ target ×
    checks, the target as the decimal written), not the rounded figure; `None` without
    checks."""
    if not checks:
        return None
    numerator, denominator = _decimal(target_pct)
    return healthy * 100 * denominator >= numerator * checks


def sla_credit_pct(healthy: int, checks: int, credits: Any) -> float:
    """**credit_pct**: the largest credit among the tier's credits (below_pct, credit_pct) whose
    below_pct the month's availability is below (exactly); 0 without checks or when none
    applies."""
    owed = 0.0
    if not checks:
        return owed
    for below, credit in credits:
        numerator, denominator = _decimal(below)
        if healthy * 100 * denominator < numerator * checks and credit > owed:
            owed = float(credit)
    return owed


@functools.lru_cache(maxsize=1024)
def _decimal(value: float) -> tuple[int, int]:
    """A setting's number as the decimal it was written as, (numerator, denominator): exact
    integer comparisons for each of 100,000 customers without a Fraction each."""
    exact = Fraction(str(value))
    return exact.numerator, exact.denominator


def mean_spacing_us(first_us: int, last_us: int, checks: int) -> Fraction | None:
    """**spacing**: the mean time between a customer's consecutive checks in the month, every
    check counted (maintenance ones too): (last − first) ÷ (checks − 1), in microseconds; `None`
    with fewer than two checks."""
    if checks < 2:
        return None
    return Fraction(last_us - first_us, checks - 1)


def downtime_minutes(gaps_us: list[int], spacing_us: Fraction | None) -> float | None:
    """**downtime_minutes**: each check that is neither `healthy` nor `maintenance` stands for
    the time until the customer's next check (of any status; for the month's last check, until
    the month's end, or now in a month still running), at most one `spacing` — so a gap in the
    checking itself is not all counted as downtime. Σ ÷ 60 s, one decimal. 0 without such
    checks; `None` when there are some but no spacing (a single check in the month)."""
    if not gaps_us:
        return 0.0
    if spacing_us is None:
        return None
    total = sum((min(Fraction(gap), spacing_us) for gap in gaps_us), Fraction(0))
    return float(round_half_up(total / 60_000_000, 1))


def downtime_from_checks(checks: list[tuple[int, str]], end_us: int) -> float | None:
    """downtime_minutes from a customer's month of checks as (instant in µs, status), any order,
    up to `end_us` (the month's end, or now): the definition in one piece, which the SLA report
    computes from SQL aggregates instead (the property tests hold the two equal)."""
    ordered = sorted(checks)
    if not ordered:
        return 0.0
    spacing = mean_spacing_us(ordered[0][0], ordered[-1][0], len(ordered))
    gaps = []
    for index, (instant, status) in enumerate(ordered):
        if status in ("healthy", "maintenance"):
            continue
        later = [t for t, _s in ordered[index + 1:] if t > instant]
        gaps.append((later[0] if later else end_us) - instant)
    return downtime_minutes(gaps, spacing)
