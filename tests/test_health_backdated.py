"""A back-dated `unmo health` (UNMO_NOW in the past, as backfills and the demo use): it checks the
customers as they were at that instant, records at that instant, and judges its alerts on the
checks recorded up to then, never on later ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from support_health import PlayServer, make_customer

from tests.conftest import query
from unmo_cli import clock


@pytest.fixture
def api():
    server = PlayServer()
    yield server
    server.stop()


def at(text: str):
    return clock.parse_instant(text)


def health(unmo, api, when: str, *args: str):
    return unmo("health", "--format", "json", "--retries", "0", *args,
                env={"UNMO_API_URL": api.url, "UNMO_NOW": when})


def test_only_customers_that_existed_and_were_active_then_are_checked(unmo, api):
    created = at("2026-11-01T09:00:00Z")
    for slug, extra in {
        "existing": {},
        "created-later": {"created_at": at("2026-11-20T09:00:00Z")},
        "churned-before": {"churned_at": at("2026-11-05T09:00:00Z")},
        "churned-later": {"churned_at": at("2026-11-25T09:00:00Z")},
        "created-that-instant": {"created_at": at("2026-11-10T12:00:00Z")},
    }.items():
        keys = make_customer(slug, created_at=extra.pop("created_at", created), **extra)
        api.plays[keys.live] = "healthy"

    ran = health(unmo, api, "2026-11-10T12:00:00Z")
    assert ran.exit_code == 0, ran.stderr
    document = ran.json()
    assert document["checked_at"] == "2026-11-10T12:00:00Z"
    assert [r["customer"] for r in document["results"]] == [
        "churned-later", "created-that-instant", "existing"]
    assert sorted(query("SELECT c.slug, h.checked_at FROM health_checks h "
                        "JOIN customers c ON c.id = h.customer_id")) == [
        ("churned-later", "2026-11-10 12:00:00.000000"),
        ("created-that-instant", "2026-11-10 12:00:00.000000"),
        ("existing", "2026-11-10 12:00:00.000000")]

    # --all is the same set; today, both churned customers are left out and the later one is in
    assert [r["customer"] for r in health(unmo, api, "2026-11-10T12:00:00Z", "--all",
                                          "--no-record").json()["results"]] == [
        "churned-later", "created-that-instant", "existing"]
    assert [r["customer"] for r in health(unmo, api, "2026-11-30T12:00:00Z",
                                          "--no-record").json()["results"]] == [
        "created-later", "created-that-instant", "existing"]


def test_naming_a_customer_created_after_the_instant_is_exit_2_and_writes_nothing(
        unmo, api, workspace: Path, request):
    for slug, when in (("old", "2026-11-01T09:00:00Z"), ("young", "2026-11-20T09:00:00Z")):
        api.plays[make_customer(slug, created_at=at(when)).live] = "healthy"
    check_unchanged = request.getfixturevalue("unchanged")
    ran = health(unmo, api, "2026-11-10T12:00:00Z", "old", "young")
    assert ran.exit_code == 2
    assert ran.stderr == ("error: young did not exist yet at 2026-11-10T12:00:00Z, the instant "
                          "this check is dated (UNMO_NOW): it was created later.\n")
    assert api.counts == {}
    check_unchanged()


def test_alerts_of_a_back_dated_run_ignore_later_checks(unmo, api, workspace: Path):
    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 2\n")
    keys = make_customer("acme")
    api.plays[keys.live] = "500"
    assert health(unmo, api, "2026-11-20T12:00:00Z").exit_code == 1  # one failure, later
    # A backfill of one failing check on the 10th: one failure as of then, no alert (the 20th's
    # failure had not happened yet).
    assert health(unmo, api, "2026-11-10T12:00:00Z").json()["alerts"] == []
    assert query("SELECT rule FROM alerts") == []
    # The 11th: two failures in a row as of then — the alert is raised, dated then.
    raised = health(unmo, api, "2026-11-11T12:00:00Z").json()["alerts"]
    assert [a["rule"] for a in raised] == ["health_failing"]
    assert query("SELECT rule, created_at FROM alerts") == [
        ("health_failing", "2026-11-11 12:00:00.000000")]
