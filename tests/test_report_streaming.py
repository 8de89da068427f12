"""The weekly report's JSON is written as it is encoded (the portfolio's rows one at a time,
compact, through the json module's C encoder) and its per-customer figures are computed from
aggregates with integer rounding: on random portfolios, the document `unmo report weekly
--format json` prints must be the one a straightforward recomputation from the raw rows gives,
and the same document the indented (terminal) encoding and the in-process `as_json()` give."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unmo_cli import clock, console, metrics, money
from unmo_cli.services.feedback import SUMMARY_WINDOW
from unmo_cli.services.health import TECHNICAL_WINDOW

NOW = "2026-11-18T12:00:00Z"
WEEK_START = datetime(2026, 11, 9)  # 2026-W46 in the default zone (UTC): the last complete week
STATUSES = ("healthy", "degraded", "down", "unauthorized")


@given(numerator=st.integers(-10**12, 10**12), denominator=st.integers(-10**6, 10**6),
       places=st.integers(0, 4))
def test_integer_rounding_is_the_fractions(numerator, denominator, places):
    """The report's per-customer figures round numerator/denominator without making a Fraction:
    the same value as round_half_up of the Fraction, for every sign."""
    if denominator == 0:
        return
    expected = metrics.round_half_up(Fraction(numerator, denominator), places)
    assert metrics._ratio_half_up(numerator, denominator, places) == expected
    if denominator > 0 and numerator >= 0:
        assert metrics.share_pct(numerator, denominator, places) == float(
            metrics.round_half_up(Fraction(100 * numerator, denominator), places))


def _portfolio_data(rng: random.Random) -> dict[str, list[dict]]:
    customers, feedback, checks = [], [], []
    for n in range(1, rng.randrange(2, 14)):
        created = WEEK_START + timedelta(seconds=rng.randrange(-60 * 86400, 10 * 86400))
        churned = (created + timedelta(seconds=rng.randrange(1, 40 * 86400))
                   if rng.random() < 0.3 else None)
        customers.append({
            "id": n, "slug": f"c-{rng.randrange(100):02d}-{n}", "name_key": f"c{n}",
            "name": f"Customer {n}", "industry": "other",
            "integration": rng.choice(["sdk", "s2s"]), "platforms": rng.choice(["", "ios,android"]),
            "provider": "none", "events_per_day": rng.randrange(0, 10_000),
            "mrr_cents": rng.choice([0, 99, 250_000, rng.randrange(0, 10**7)]),
            "contact_name": "Ops", "contact_email": f"ops@{n}.example",
            "phase": rng.choice(["discovery", "setup", "launch"]), "created_at": created,
            "churned_at": churned})
    for k in range(rng.randrange(0, 80)):
        feedback.append({
            "id": k + 1, "customer_id": rng.randrange(1, len(customers) + 1),
            "received_at": WEEK_START + timedelta(seconds=rng.randrange(-35 * 86400, 9 * 86400)),
            "satisfaction": rng.randrange(1, 11),
            "nps": rng.randrange(0, 11) if rng.random() < 0.7 else None,
            "category": "other", "source": "import"})
    for k in range(rng.randrange(0, 80)):
        checks.append({
            "id": k + 1, "customer_id": rng.randrange(1, len(customers) + 1),
            "checked_at": WEEK_START + timedelta(seconds=rng.randrange(-10 * 86400, 9 * 86400)),
            "status": rng.choice(STATUSES),
            "latency_ms": round(rng.uniform(5, 900), 1) if rng.random() < 0.8 else None,
            "installs": rng.choice([None, 0, 3])})
    return {"customers": customers, "feedback": feedback, "checks": checks}


def _store(data: dict[str, list[dict]]) -> None:
    from unmo_cli.db import open_database
    from unmo_cli.db.models import (
        Alert,
        Customer,
        Feedback,
        HealthCheck,
        MrrChange,
        OnboardingSession,
    )
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.engine.begin() as connection:
            for table in (Alert, Feedback, HealthCheck, OnboardingSession, MrrChange, Customer):
                connection.execute(table.__table__.delete())
            connection.execute(Customer.__table__.insert(), data["customers"])
            # The MRR ledger onboarding and `customer churn` would have written.
            ledger = [{"customer_id": c["id"], "kind": "start", "mrr_cents": c["mrr_cents"],
                       "effective_at": c["created_at"], "recorded_at": c["created_at"]}
                      for c in data["customers"]]
            ledger += [{"customer_id": c["id"], "kind": "churn", "mrr_cents": 0,
                        "effective_at": c["churned_at"], "recorded_at": c["churned_at"]}
                       for c in data["customers"] if c["churned_at"] is not None]
            connection.execute(MrrChange.__table__.insert(), ledger)
            if data["feedback"]:
                connection.execute(Feedback.__table__.insert(), data["feedback"])
            if data["checks"]:
                connection.execute(HealthCheck.__table__.insert(), data["checks"])
    finally:
        db.dispose()


def _score(data, customer_id: int, end: datetime, ws_settings) -> int | None:
    """The health score as of `end`, from the raw rows (health.TECHNICAL_WINDOW of checks,
    feedback.SUMMARY_WINDOW of feedback), through the metric definitions."""
    checks = [c for c in data["checks"] if c["customer_id"] == customer_id
              and end - TECHNICAL_WINDOW <= c["checked_at"] < end]
    answers = [f for f in data["feedback"] if f["customer_id"] == customer_id
               and end - SUMMARY_WINDOW <= f["received_at"] < end]
    availability = (metrics.availability_pct(sum(c["status"] != "down" for c in checks),
                                             len(checks)) if checks else None)
    p95 = metrics.percentile_nearest_rank([c["latency_ms"] for c in checks
                                           if c["latency_ms"] is not None])
    measured = sorted((c for c in checks if c["installs"] is not None),
                      key=lambda c: (c["checked_at"], c["id"]))
    installs = measured[-1]["installs"] if measured else None
    satisfaction = nps = None
    if answers:
        satisfaction = metrics.satisfaction_pct(sum(f["satisfaction"] for f in answers),
                                                len(answers))
        nps = _nps(answers)
    if availability is None and satisfaction is None and installs is None:
        return None
    score = ws_settings.health_score
    components = metrics.health_components(
        availability=availability, p95_ms=p95, satisfaction=satisfaction, nps_value=nps,
        installs=installs, targets=ws_settings.targets)
    return metrics.health_score(components, {"technical": score.weight_technical,
                                             "sentiment": score.weight_sentiment,
                                             "engagement": score.weight_engagement})


def _nps(answers: list[dict]) -> int | None:
    given_nps = [f["nps"] for f in answers if f["nps"] is not None]
    return metrics.nps(sum(v >= 9 for v in given_nps), sum(v <= 6 for v in given_nps),
                       len(given_nps))


def recomputed_portfolio(data, start: datetime, end: datetime, now: datetime,
                         ws_settings) -> list[dict]:
    """The portfolio of the week [start, end) straight from the rows, as docs/cli.md defines it."""
    as_of = min(end, now)
    green_at, yellow_at = ws_settings.health_score.green_at, ws_settings.health_score.yellow_at
    rows = []
    for c in sorted(data["customers"], key=lambda c: (-c["mrr_cents"], c["slug"])):
        if not (c["created_at"] < end and (c["churned_at"] is None or c["churned_at"] >= start)):
            continue
        answers = [f for f in data["feedback"] if f["customer_id"] == c["id"]
                   and start <= f["received_at"] < end]
        checks = sorted((h for h in data["checks"] if h["customer_id"] == c["id"]
                         and start <= h["checked_at"] < end),
                        key=lambda h: (h["checked_at"], h["id"]))
        score, before = _score(data, c["id"], as_of, ws_settings), _score(data, c["id"], start,
                                                                          ws_settings)
        churned = c["churned_at"] if c["churned_at"] and c["churned_at"] < as_of else None

        def paying(instant: datetime, c: dict = c) -> int:
            gone = c["churned_at"] is not None and c["churned_at"] < instant
            return c["mrr_cents"] if c["created_at"] < instant and not gone else 0

        new = c["mrr_cents"] if start <= c["created_at"] < as_of else 0
        lost = c["mrr_cents"] if churned is not None and churned >= start else 0
        rows.append({
            "slug": c["slug"], "name": c["name"], "industry": c["industry"],
            "integration": c["integration"], "platforms": [p for p in c["platforms"].split(",")
                                                           if p],
            "provider": c["provider"], "events_per_day": c["events_per_day"],
            "mrr": money.for_machines(c["mrr_cents"]), "phase": c["phase"],
            "new": c["created_at"] >= start, "created_at": clock.iso(c["created_at"]),
            "churned_at": clock.iso(churned), "responses": len(answers),
            "satisfaction_pct": metrics.satisfaction_pct(sum(f["satisfaction"] for f in answers),
                                                         len(answers)) if answers else None,
            "nps": _nps(answers) if answers else None,
            "health_checks": len(checks),
            "availability_pct": metrics.availability_pct(
                sum(h["status"] != "down" for h in checks), len(checks)) if checks else None,
            "health_status": checks[-1]["status"] if checks else None,
            "health_score": score,
            "health_color": metrics.health_color(score, green_at, yellow_at),
            "health_score_change": None if score is None or before is None else score - before,
            "mrr_start": money.for_machines(paying(start)),
            "mrr_end": money.for_machines(paying(as_of)),
            "mrr_new": money.for_machines(new), "mrr_expansion": "0.00",
            "mrr_contraction": "0.00", "mrr_churned": money.for_machines(lost),
            "mrr_reactivation": "0.00",
            # No survey e-mails in these data (tests/test_report_csv.py sends some).
            "surveys_sent": 0, "surveys_answered": 0, "survey_response_rate_pct": None})
    order = {"red": 0, "yellow": 1, "green": 2}
    return sorted(rows, key=lambda row: order.get(row["health_color"], 3))


@pytest.fixture
def database(unmo):
    """The workspace's database, made by a first command."""
    assert unmo("report", "weekly", "--json", env={"UNMO_NOW": NOW}).exit_code == 0
    return unmo


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_the_streamed_report_is_the_recomputed_one(database, seed):
    from unmo_cli.services import reports
    from unmo_cli.workspace import load_workspace

    data = _portfolio_data(random.Random(seed))
    _store(data)
    ran = database("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout.count("\n") == 1  # compact in a pipe: one line
    document = json.loads(ran.stdout)
    start, end = (clock.to_db(clock.parse_instant(document[k])) for k in ("start", "end"))
    assert start == WEEK_START
    ws = load_workspace()
    expected = recomputed_portfolio(data, start, end,
                                    clock.to_db(clock.parse_instant(NOW)), ws.settings)
    assert document["portfolio"] == expected
    assert document["customers"]["active"] == sum(
        1 for c in data["customers"] if c["created_at"] < end
        and (c["churned_at"] is None or c["churned_at"] >= end))

    # the same document as the whole one in memory, in either encoding, to the character
    report = reports.weekly_report(fmt="json", workspace=ws, now=clock.parse_instant(NOW))
    whole = report.as_json()
    assert ran.stdout == json.dumps(whole, ensure_ascii=False, separators=(",", ":")) + "\n"
    indented = console.to_json(report.json_document(), indent=True)
    assert indented == json.dumps(whole, ensure_ascii=False, indent=2)


def test_a_report_without_customers_streams_an_empty_portfolio(unmo):
    ran = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    assert '"portfolio":[]' in ran.stdout
    assert json.loads(ran.stdout)["portfolio"] == []


_COMPONENT = st.one_of(st.none(), st.floats(0, 100), st.integers(0, 200).map(lambda n: n / 2),
                       st.integers(0, 300).map(lambda n: n / 3))
_WEIGHT = st.one_of(st.floats(0, 10), st.floats(1e-300, 1e-90), st.sampled_from(
    [0.5, 0.3, 0.2, 1 / 3, 1, 2, 5e-324, 1e120]))


@settings(max_examples=2000)
@given(st.dictionaries(st.sampled_from(["technical", "sentiment", "engagement"]), _COMPONENT),
       st.dictionaries(st.sampled_from(["technical", "sentiment", "engagement"]), _WEIGHT))
def test_the_float_score_is_the_decimal_one_wherever_it_answers(components, weights):
    """health_score answers in float arithmetic where that provably rounds as the Decimal mean
    does (the report scores 200,000 times at 100,000 customers): wherever the float path gives a
    score, it is the Decimal path's; halves (1/2, thirds of 1.5, ...) go to Decimal."""
    present = {n: v for n, v in components.items() if v is not None}
    if not present:
        return
    quick = metrics._quick_score(present, weights)
    if quick is not None:
        assert quick == metrics._exact_score(present, weights)
    assert metrics.health_score(components, weights) == metrics._exact_score(present, weights)


@given(st.one_of(st.none(), st.floats(allow_nan=False)), st.one_of(st.none(),
                                                                    st.floats(allow_nan=False)))
def test_the_mean_of_two_components_is_mean_of(first, second):
    expected = metrics.mean_of([first, second])
    got = metrics._mean_of_two(first, second)
    # by repr: the same value and the same text (None, -0.0, and the NaN of inf + -inf alike)
    assert repr(got) == repr(expected)


_FIGURE = st.one_of(st.none(), st.floats(allow_nan=False), st.floats(0, 100),
                    st.integers(0, 10_000).map(lambda n: n / 100),
                    st.integers(-100, 100).map(float))


@settings(max_examples=2000)
@given(availability=_FIGURE, p95=_FIGURE, satisfaction=_FIGURE, nps=_FIGURE,
       installs=st.one_of(st.none(), st.integers(-2, 5)),
       targets=st.tuples(st.floats(0, 100), st.floats(0.5, 2000), st.floats(0, 100),
                         st.integers(-100, 100)),
       weights=st.dictionaries(st.sampled_from(["technical", "sentiment", "engagement"]),
                               _WEIGHT))
def test_the_report_s_one_step_score_is_health_score_of_the_components(
        availability, p95, satisfaction, nps, installs, targets, weights):
    """The report's path to a score (each component taken apart, then
    metrics.score_of_components) gives what health_score of health_components gives, for any
    figures, targets and weights — the quick float answer and the exact fallback alike."""
    from types import SimpleNamespace

    settings_targets = SimpleNamespace(availability_pct=targets[0], p95_latency_ms=targets[1],
                                       satisfaction_pct=targets[2], nps=targets[3])
    components = metrics.health_components(availability, p95, satisfaction, nps, installs,
                                           settings_targets)
    assert metrics.score_of_components(
        metrics.technical_component(availability, p95, settings_targets),
        metrics.sentiment_component(satisfaction, nps, settings_targets),
        metrics.engagement_component(installs), weights) == metrics.health_score(
        components, weights)
