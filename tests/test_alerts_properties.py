"""Property tests: over random feedback sequences, each rule fires exactly when a plain reference
model of the contract says so, through the feedback service (what `unmo feedback add` calls; one
sequence also through the CLI), the real database and a real webhook receiver."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support_feedback import make_customer, webhook_receiver, write_csv

from unmo_cli import clock

START = datetime(2026, 6, 1, tzinfo=UTC)
BELOW, DROP = 7, 10  # the contract's defaults
_names = itertools.count(1)


@pytest.fixture(scope="module")
def hook():
    """One receiver for all the examples of a test (each example clears it)."""
    with webhook_receiver() as receiver:
        yield receiver

# (hours after START, satisfaction, NPS answer or None); ~4 months so both windows fill up
answers = st.tuples(st.integers(0, 24 * 120), st.integers(1, 10),
                    st.none() | st.integers(0, 10))
sequences = st.lists(answers, min_size=1, max_size=8)


def pct(scores: list[int]) -> Decimal:
    """Mean × 10, one decimal, half away from zero — written out, not taken from metrics.py."""
    exact = Fraction(sum(scores) * 10, len(scores))
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP)


def dropped(history: list[tuple[datetime, int]], anchor: datetime) -> bool:
    month = timedelta(days=30)
    recent = [s for t, s in history if anchor - month < t <= anchor]
    previous = [s for t, s in history if anchor - 2 * month < t <= anchor - month]
    return bool(recent and previous) and pct(previous) - pct(recent) >= DROP


def expected_rules(events: list[tuple[datetime, int, int | None]]) -> list[list[str]]:
    """The reference model: for each response in arrival order, the rules it raises."""
    history: list[tuple[datetime, int]] = []
    fired = []
    for at, score, nps in events:
        rules = []
        if score < BELOW:
            rules.append("low_satisfaction")
        if nps is not None and nps <= 6:
            rules.append("detractor")
        earlier = [t for t, _ in history if t <= at]
        before = dropped(history, max(earlier)) if earlier else False
        history.append((at, score))
        if dropped(history, at) and not before:
            rules.append("satisfaction_drop")
        fired.append(rules)
    return fired


def as_events(raw: list[tuple[int, int, int | None]]):
    return [(START + timedelta(hours=h), s, n) for h, s, n in raw]


def added_rules(slug: str, events: list[tuple[datetime, int, int | None]]) -> list[list[str]]:
    """Each response recorded through the service `unmo feedback add` calls; the rules each
    one raised."""
    from unmo_cli.services.feedback import add_feedback
    from unmo_cli.workspace import load_workspace

    fired = []
    for at, score, nps in events:
        result = add_feedback(load_workspace(), slug, satisfaction=str(score),
                              nps=None if nps is None else str(nps), received_at=clock.iso(at))
        assert result.delivery.failed == 0, result.delivery
        fired.append([alert.rule for alert in result.alerts])
    return fired


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=sequences)
@example(raw=[(0, 9, None), (24 * 40, 8, None)])          # a drop of exactly 10 points
@example(raw=[(0, 10, 10), (24 * 31, 8, 5), (24 * 32, 7, 9), (24 * 70, 10, None)])
@example(raw=[(0, 10, None), (24 * 35, 7, None), (24 * 36, 6, None)])  # persists: one alert
@example(raw=[(0, 10, None), (24 * 35, 7, None), (24 * 100, 9, None), (24 * 140, 5, None)])
@example(raw=[(24 * 40, 8, None), (0, 9, None)])          # a backfill arriving late
def test_alerts_match_the_reference_model(workspace, hook, monkeypatch, raw):
    monkeypatch.setenv("UNMO_ALERT_WEBHOOK", hook.url)
    events = as_events(raw)
    slug = f"prop-{next(_names)}"
    make_customer(slug.replace("-", " ").title(), slug=slug)
    hook.clear()
    expected = expected_rules(events)
    assert added_rules(slug, events) == expected
    # every alert reached the receiver exactly once, in order
    assert hook.rules() == [rule for rules in expected for rule in rules]


def test_cli_alerts_match_the_reference_model(unmo, workspace, hook):
    """The same, end to end through `unmo feedback add --json`, for one sequence that raises
    every rule."""
    events = as_events([(0, 10, 10), (24 * 31, 8, 5), (24 * 32, 6, 9), (24 * 70, 10, None)])
    make_customer("Cli Prop", slug="cli-prop")
    hook.clear()
    fired = []
    for at, score, nps in events:
        args = ["-s", str(score), "--received-at", clock.iso(at), "--json"]
        if nps is not None:
            args += ["--nps", str(nps)]
        ran = unmo("feedback", "add", "cli-prop", *args, env={"UNMO_ALERT_WEBHOOK": hook.url})
        assert ran.exit_code == 0, ran.stderr
        fired.append([a["rule"] for a in ran.json()["alerts"]])
    expected = expected_rules(events)
    assert {rule for rules in expected for rule in rules} == {
        "low_satisfaction", "detractor", "satisfaction_drop"}
    assert fired == expected
    assert hook.rules() == [rule for rules in expected for rule in rules]


@pytest.mark.slow
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=sequences, second=sequences)
def test_import_batches_match_the_reference_model(unmo, workspace, tmp_path, hook, first,
                                                 second):
    """An import is one arrival: per-response rules for each row; the drop rule once per
    customer, anchored at the batch's latest received_at, against the state before the batch."""
    slug = f"batch-{next(_names)}"
    make_customer(slug.replace("-", " ").title(), slug=slug)
    history: list[tuple[datetime, int]] = []
    for n, raw in enumerate((first, second)):
        events = as_events(raw)
        expected = []
        for _at, score, nps in events:
            expected += ["low_satisfaction"] * (score < BELOW)
            expected += ["detractor"] * (nps is not None and nps <= 6)
        latest = max(at for at, _, _ in events)
        earlier = [t for t, _ in history if t <= latest]
        before = dropped(history, max(earlier)) if earlier else False
        history += [(at, score) for at, score, _ in events]
        expected += ["satisfaction_drop"] * (dropped(history, latest) and not before)

        path = tmp_path / f"{slug}-{n}.csv"
        write_csv(path, "customer,satisfaction,nps,received_at",
                  *(f"{slug},{s},{'' if p is None else p},{clock.iso(at)}"
                    for at, s, p in events))
        hook.clear()
        ran = unmo("feedback", "import", str(path), "--json",
                   env={"UNMO_ALERT_WEBHOOK": hook.url})
        assert ran.exit_code == 0, ran.stderr
        assert ran.json()["alerts"] == len(expected)
        assert sorted(hook.rules()) == sorted(expected)
