"""The metric helpers the weekly report added to unmo_cli.metrics."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import example, given, settings
from hypothesis import strategies as st

from unmo_cli import metrics


def decimal_round(value: Fraction, places: int) -> float | int:
    """The reference: Decimal's ROUND_HALF_UP on the exact value."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    result = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return int(result) if places == 0 else float(result)


@settings(max_examples=50, deadline=None)
@given(numerator=st.integers(-10**9, 10**9), denominator=st.integers(1, 10**4),
       places=st.integers(0, 4))
def test_round_half_up_matches_decimal(numerator, denominator, places):
    value = Fraction(numerator, denominator)
    assert metrics.round_half_up(value, places) == decimal_round(value, places)
    assert metrics.cents_to_dollars(numerator) == decimal_round(Fraction(numerator, 100), 2)


def test_halves_round_away_from_zero():
    assert metrics.round_half_up(Fraction(5, 2)) == 3
    assert metrics.round_half_up(Fraction(-5, 2)) == -3
    assert metrics.round_half_up(Fraction(1, 8), 2) == 0.13
    assert metrics.round_half_up(2.675, 2) == 2.68  # floats go through their decimal text


def test_median_and_mean_and_change():
    assert [metrics.median_rank(n) for n in (0, 1, 2, 3, 4, 5)] == [0, 1, 1, 2, 2, 3]
    assert metrics.mean(870.7, 3) == 290.2 and metrics.mean(None, 0) is None
    assert metrics.change(81.4, 75.0) == 6.4 and metrics.change(17, 67) == -50
    assert metrics.change(0.1648, 0.2679) == -0.1031
    assert metrics.change(None, 3) is None and metrics.change(3.5, None) is None


def test_targets_met_or_not():
    assert metrics.at_least(90.0, 90) is True and metrics.at_least(89.9, 90) is False
    assert metrics.at_most(300.0, 300) is True and metrics.at_most(300.1, 300) is False
    assert metrics.at_least(None, 90) is None and metrics.at_most(None, 5) is None


@given(st.dictionaries(st.sampled_from(["technical", "sentiment", "engagement"]),
                       st.one_of(st.none(), st.floats(0, 100), st.integers(0, 200).map(
                           lambda n: n / 2))),
       st.dictionaries(st.sampled_from(["technical", "sentiment", "engagement"]),
                       st.one_of(st.floats(0, 10), st.sampled_from([0.5, 0.3, 0.2, 1 / 3]))))
# A sum of weights that needs 314 digits (5 + 2.2e-313): a 28-digit Decimal rounded the mean
# 0.4999… up to 0.5, and the score to 1.
@example({"technical": 0.0, "sentiment": 0.5}, {"technical": 2.2e-313, "sentiment": 5.0})
def test_health_score_rounds_the_exact_weighted_mean(components, weights):
    """metrics.health_score divides in Decimal (it runs twice per customer in the report): the
    same whole number as the exact rational mean rounded half up."""
    present = {n: v for n, v in components.items() if v is not None}
    total = sum(weights.get(n, 0.0) for n in present)
    if not present or total <= 0:
        assert metrics.health_score(components, weights) is None
        return
    # The mean of the inputs' own decimals, exactly (a float product's shortest repr is not the
    # product of the reprs: 1.1018574434840003 × 0.5 ÷ 1.1018574434840003 is 1/2, not just under)
    shares = {n: Fraction(repr(float(weights.get(n, 0.0)))) for n in present}
    exact = (sum(shares[n] * Fraction(repr(float(v))) for n, v in present.items())
             / sum(shares.values()))
    assert metrics.health_score(components, weights) == int(metrics.round_half_up(exact))
