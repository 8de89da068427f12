"""The pure parts of `unmo health`: classification against the contract's table, the Health
schema check, the alert state machine, --fail-on, secret scrubbing and the health score."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from unmo_cli import apikeys, metrics
from unmo_cli.services.health import (
    STATUSES,
    HealthProbe,
    classify_health,
    health_body_problem,
    is_failure,
    next_health_alert,
    scrub_secrets,
)

HEALTHY = {"status": "healthy", "timestamp": "2026-11-23T10:00:00Z", "version": "1.0.0",
           "services": {"database": "healthy", "kafka": "healthy"}, "uptime": 3600}
ANALYTICS = {"period": {}, "attribution_model": "last_click", "metrics": {"total_installs": 5},
             "campaigns": []}


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def probe(**kwargs) -> HealthProbe:
    defaults = {"http_status": 200, "body": body(HEALTHY), "latency_ms": 12.0}
    return HealthProbe(**(defaults | kwargs))


def launched(installs_doc: object = ANALYTICS, status: int | None = 200, **kwargs) -> HealthProbe:
    return probe(launched=True, analytics_status=status, analytics_body=body(installs_doc),
                 **kwargs)


# --- the table, row by row ------------------------------------------------------------------

def test_healthy_needs_200_healthy_body_and_healthy_services():
    verdict = classify_health(probe())
    assert verdict.status == "healthy" and verdict.error is None
    assert verdict.services == HEALTHY["services"]


def test_degraded_rows():
    assert classify_health(probe(http_status=503, body=b"")).status == "degraded"
    assert classify_health(probe(body=body(HEALTHY | {"status": "degraded"}))).status == \
        "degraded"
    assert classify_health(probe(body=body(HEALTHY | {"status": "unhealthy"}))).status == \
        "degraded"
    one_down = HEALTHY | {"services": {"database": "healthy", "kafka": "unhealthy"}}
    verdict = classify_health(probe(body=body(one_down)))
    assert verdict.status == "degraded" and "kafka" in verdict.error


def test_launched_customer_without_installs_is_degraded():
    assert classify_health(launched()).status == "healthy"
    assert classify_health(launched()).installs == 5
    quiet = ANALYTICS | {"metrics": {"total_installs": 0}}
    verdict = classify_health(launched(quiet))
    assert verdict.status == "degraded" and "no installs" in verdict.error
    # a customer not launched yet is not judged on installs
    assert classify_health(probe(analytics_body=body(quiet))).status == "healthy"


def test_launched_customer_whose_installs_cannot_be_read_is_degraded():
    assert classify_health(launched(status=500)).status == "degraded"
    assert classify_health(launched({"metrics": {}})).status == "degraded"
    assert classify_health(launched(status=None, analytics_failure="timed out")).status == \
        "degraded"


def test_unauthorized_rows():
    for code in (401, 403):
        verdict = classify_health(probe(http_status=code, body=body({"error": "revoked"})))
        assert verdict.status == "unauthorized"
        assert f"HTTP {code}" in verdict.error and "revoked" in verdict.error


def test_down_rows():
    assert classify_health(probe(http_status=None, transport_failure="could not connect",
                                 attempts=3)).error == "could not connect after 3 attempts"
    for code in (500, 502, 504):
        assert classify_health(probe(http_status=code)).status == "down"
    assert classify_health(probe(body=b"<html>")).status == "down"
    assert classify_health(probe(body=body({"status": "healthy"}))).status == "down"
    assert classify_health(probe(http_status=404)).status == "down"
    assert classify_health(probe(latency_ms=6000.0, timeout_s=5.0)).status == "down"


def test_error_when_nothing_to_check_with():
    verdict = classify_health(HealthProbe(credential_problem="no customers/x/.env"))
    assert verdict.status == "error" and verdict.error == "no customers/x/.env"


def test_an_answer_unmo_refused_is_down_whatever_its_status():
    for code in (200, 401, 503):
        verdict = classify_health(probe(http_status=code, body=b"", refused="it is over 1 MiB"))
        assert verdict.status == "down"
        assert verdict.error == (f"HTTP {code} from GET /health with a body unmo refused: "
                                 "it is over 1 MiB")
    verdict = classify_health(launched(analytics_refused="it inflates to more than 1 MiB (gzip)"))
    assert verdict.status == "down" and "/analytics/attribution" in verdict.error
    # a customer not launched is not judged on the analytics call
    assert classify_health(probe(analytics_refused="it is over 1 MiB")).status == "healthy"


def test_bounds_on_what_an_answer_may_hold():
    many = HEALTHY | {"services": {f"s{i}": "healthy" for i in range(65)}}
    assert health_body_problem(many) == "services lists 65 entries, more than 64"
    assert health_body_problem(HEALTHY | {"services": {"s" * 65: "healthy"}}) == \
        "a service name is longer than 64 characters"
    assert health_body_problem(HEALTHY | {"services": {"s" * 64: "healthy"}}) is None
    for count, status in ((2**31 - 1, "healthy"), (2**31, "degraded"), (10**4000, "degraded")):
        verdict = classify_health(launched(ANALYTICS | {"metrics": {"total_installs": count}}))
        assert verdict.status == status
    deep: list = []
    for _ in range(32):
        deep = [deep]
    nested = body(HEALTHY | {"extra": deep})  # 34 levels with the object around it
    assert classify_health(probe(body=nested)).error.endswith("nests deeper than 32 levels")


def test_unmo_failing_on_one_customer_is_its_error():
    verdict = classify_health(HealthProbe(internal_failure="unmo failed (KeyError)"))
    assert verdict.status == "error" and verdict.error == "unmo failed (KeyError)"


def test_health_schema_fields_and_types():
    assert health_body_problem(HEALTHY) is None
    assert "missing" in health_body_problem({"status": "healthy"})
    bad = {
        "status": "fine", "timestamp": "yesterday", "version": 1,
        "services": {"kafka": "meh"}, "uptime": -1,
    }
    for key, value in bad.items():
        assert health_body_problem(HEALTHY | {key: value}) is not None, key
    assert health_body_problem(HEALTHY | {"uptime": True}) is not None
    assert health_body_problem(HEALTHY | {"uptime": 1.5}) is not None
    assert health_body_problem([HEALTHY]) == "not a JSON object"
    assert health_body_problem(HEALTHY | {"timestamp": "2026-11-23T10:00:00.123+01:00"}) is None


# --- properties -------------------------------------------------------------------------------

codes = st.one_of(st.none(), st.integers(100, 599))
bodies = st.one_of(
    st.just(body(HEALTHY)), st.just(body(HEALTHY | {"status": "degraded"})),
    st.just(b"not json"), st.binary(max_size=40),
    st.dictionaries(st.sampled_from(list(HEALTHY)), st.sampled_from(
        ["healthy", 1, None, "2026-11-23T10:00:00Z", {"a": "healthy"}])).map(body),
)


@settings(max_examples=50, deadline=None)
@given(code=codes, payload=bodies, is_launched=st.booleans(),
       installs=st.one_of(st.none(), st.integers(0, 3)), key_missing=st.booleans())
def test_classification_is_total_and_follows_the_table(code, payload, is_launched, installs,
                                                       key_missing):
    analytics = b"" if installs is None else body(
        ANALYTICS | {"metrics": {"total_installs": installs}})
    seen = HealthProbe(
        credential_problem="no .env" if key_missing else None, http_status=code, body=payload,
        latency_ms=10.0, transport_failure=None if code else "could not connect",
        launched=is_launched, analytics_status=200 if installs is not None else None,
        analytics_body=analytics)
    verdict = classify_health(seen)
    assert verdict.status in STATUSES
    assert (verdict.error is None) == (verdict.status == "healthy")
    if key_missing:
        assert verdict.status == "error"
    elif code is None:
        assert verdict.status == "down"
    elif code in (401, 403):
        assert verdict.status == "unauthorized"
    elif code == 503:
        assert verdict.status == "degraded"
    elif code != 200:
        assert verdict.status == "down"
    if verdict.status == "healthy":
        assert code == 200 and json.loads(payload)["status"] == "healthy"
        assert not is_launched or (installs or 0) > 0


@settings(max_examples=50, deadline=None)
@given(history=st.lists(st.sampled_from(STATUSES), max_size=30),
       failure_n=st.integers(1, 5), success_n=st.integers(1, 5))
def test_alert_state_machine_alternates_and_never_repeats(history, failure_n, success_n):
    """Replaying any history one check at a time: alerts alternate failing/resolved (never two
    failing in a row), a failing alert follows exactly failure_n not-healthy checks, and a
    resolved one exactly success_n healthy checks after a failing alert."""
    seen: list[str] = []
    open_alert = False
    raised: list[tuple[int, str]] = []
    for position, status in enumerate(history):
        seen.insert(0, status)
        rule = next_health_alert(seen, open_alert, failure_n, success_n)
        if rule:
            raised.append((position, rule))
            open_alert = rule == "health_failing"
    rules = [rule for _p, rule in raised]
    assert all(a != b for a, b in zip(rules, rules[1:], strict=False))
    assert not rules or rules[0] == "health_failing"
    for position, rule in raised:
        window = history[position - (failure_n if rule == "health_failing" else success_n) + 1:
                         position + 1]
        if rule == "health_failing":
            assert len(window) == failure_n and "healthy" not in window
        else:
            assert window == ["healthy"] * success_n
    # a run of failure_n not-healthy checks with no alert open always raises one
    if len(history) >= failure_n and not any(r == "health_failing" for r in rules):
        assert all("healthy" in history[i:i + failure_n]
                   for i in range(len(history) - failure_n + 1))


def test_alert_thresholds_by_example():
    assert next_health_alert(["down", "down"], False, 3, 2) is None
    assert next_health_alert(["down", "error", "degraded"], False, 3, 2) == "health_failing"
    assert next_health_alert(["down", "down", "down", "down"], True, 3, 2) is None
    assert next_health_alert(["healthy", "down"], True, 3, 2) is None
    assert next_health_alert(["healthy", "healthy", "down"], True, 3, 2) == "health_resolved"
    assert next_health_alert(["healthy", "healthy"], False, 3, 2) is None


def test_fail_on():
    # `maintenance` (a check inside a maintenance window) never fails a run.
    assert [s for s in STATUSES if is_failure(s)] == [
        s for s in STATUSES[1:] if s != "maintenance"]
    assert [s for s in STATUSES if is_failure(s, "down")] == ["unauthorized", "down", "error"]


@settings(max_examples=30, deadline=None)
@given(prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_scrub_replaces_any_secret_key_with_its_hint(prefix, suffix):
    key = apikeys.generate("secret", "live")
    text = scrub_secrets(prefix + key + suffix, [key])
    assert key not in text and key[13:] not in text
    assert apikeys.hint(key) in text
    assert scrub_secrets(None) is None


# --- the health score ---------------------------------------------------------------------------

weights = st.fixed_dictionaries({name: st.floats(0, 1) for name in
                                 ("technical", "sentiment", "engagement")})
component = st.one_of(st.none(), st.floats(0, 100))


@settings(max_examples=50, deadline=None)
@given(technical=component, sentiment=component, engagement=component, w=weights)
@example(technical=0.0, sentiment=50.5, engagement=0.0,  # a subnormal weight: float products
         w={"technical": 0.0, "sentiment": 5e-324, "engagement": 0.0})  # lost their digits (49)
def test_health_score_is_a_renormalised_weighted_mean(technical, sentiment, engagement, w):
    components = {"technical": technical, "sentiment": sentiment, "engagement": engagement}
    score = metrics.health_score(components, w)
    present = [v for k, v in components.items() if v is not None and w[k] > 0]
    if not present:
        assert score is None
        return
    assert score is not None and 0 <= score <= 100
    assert min(present) - 1 <= score <= max(present) + 1
    # leaving a component out is the same as renormalising the others
    if engagement is None:
        assert score == metrics.health_score({"technical": technical, "sentiment": sentiment},
                                             w)


def test_health_score_defaults_and_colours():
    w = {"technical": 0.5, "sentiment": 0.3, "engagement": 0.2}
    assert metrics.health_score({"technical": 100, "sentiment": 50, "engagement": 0}, w) == 65
    assert metrics.health_score({"technical": 100, "sentiment": None, "engagement": 0}, w) == 71
    assert metrics.health_score({"technical": None, "sentiment": None, "engagement": None},
                                w) is None
    assert [metrics.health_color(s, 80, 50) for s in (80, 79, 50, 49, None)] == \
        ["green", "yellow", "yellow", "red", None]
    assert metrics.availability_score(99.9, 99.9) == 100
    assert metrics.availability_score(98.9, 99.9) == 90
    assert metrics.latency_score(200, 100) == 50
    assert metrics.nps_score(50, 50) == 100 and metrics.nps_score(-100, 50) == 0
    assert metrics.satisfaction_score(45, 90) == 50
