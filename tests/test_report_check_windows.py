"""The weekly report's health-check figures from its one read of the checks
(services/check_windows.py): the portfolio's week (checks, availability, the last status), the
headline health of the week and the one before, the health scores and the SLA block's month so
far — at the windows' edges, with maintenance at and inside them, two checks at one instant,
checks without a latency, a customer checked only under maintenance, a month starting inside the
score windows, and a workspace in New York; through the real CLI, on SQLite and (in the
PostgreSQL pass) on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from support_health import make_customer
from test_sla import TIERS, insert_checks

NOW = "2026-12-07T12:00:00Z"  # a Monday: the last complete week is 2026-W49


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def weekly(unmo) -> dict:
    ran = unmo("report", "weekly", "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def test_the_week_s_checks_in_utc(unmo, workspace):
    """W49 is [Nov 30, Dec 7) UTC; the score windows [Nov 23, Nov 30) and [Nov 30, Dec 7); the
    SLA block's month so far [Dec 1, Dec 7) starts inside the second."""
    (workspace / "unmo.yaml").write_text(TIERS)
    for slug in ("ties", "ties-down", "maint-only", "edges", "spacing", "unordered"):
        make_customer(slug)
    # Two checks at one instant: the later-recorded one is the last status, whichever it is.
    insert_checks("ties", [(t("2026-12-03T10:00"), "down", None),
                           (t("2026-12-03T10:00"), "healthy", 50.0)])
    insert_checks("ties-down", [(t("2026-12-03T10:00"), "healthy", 50.0),
                                (t("2026-12-03T10:00"), "down", None)])
    insert_checks("maint-only", [(t("2026-11-30T00:00"), "maintenance", 10.0),
                                 (t("2026-12-02T00:00"), "maintenance", None)])
    insert_checks("edges", [
        (t("2026-11-22T23:59:59"), "healthy", 10.0),  # before every window
        (t("2026-11-23T00:00"), "down", None),  # the week before's first instant
        (t("2026-11-30T00:00"), "healthy", 100.0),  # the week's first instant (November's)
        (t("2026-11-30T00:00"), "maintenance", 5000.0),  # the same instant, recorded later
        (t("2026-12-01T00:00"), "degraded", 300.0),  # December's first instant
        (t("2026-12-06T23:59:59.999999"), "healthy", 20.0),  # the week's last instant
        (t("2026-12-07T00:00"), "down", None),  # the week's end: after every window
    ])
    # Recorded out of time order; two at the last instant, of one status.
    insert_checks("unordered", [(t("2026-12-05T00:00"), "healthy", 60.0),
                                (t("2026-12-06T08:00"), "unauthorized", 70.0),
                                (t("2026-12-06T08:00"), "unauthorized", None),
                                (t("2026-12-02T00:00"), "down", None)])
    # The month's first check is maintenance: the spacing counts it (96 h / 3 = 32 h).
    insert_checks("spacing", [(t("2026-12-01T00:00"), "maintenance", 7.0),
                              (t("2026-12-01T12:00"), "healthy", 40.0),
                              (t("2026-12-02T00:00"), "down", None),
                              (t("2026-12-05T00:00"), "healthy", 50.0)])
    report = weekly(unmo)
    assert report["week"] == "2026-W49"
    rows = {row["slug"]: row for row in report["portfolio"]}
    assert {slug: (row["health_checks"], row["availability_pct"], row["health_status"])
            for slug, row in rows.items()} == {
        "ties": (2, 50.0, "healthy"), "ties-down": (2, 50.0, "down"),
        "maint-only": (0, None, None), "edges": (3, 100.0, "healthy"),
        "spacing": (3, 66.67, "healthy"), "unordered": (4, 75.0, "unauthorized")}
    # edges: [Nov 30, Dec 7) is all up, p95 300 ms of 100, 300 and 20 (latency score 33.3…:
    # (100 + 33.3) / 2 → 67); [Nov 23, Nov 30) one check, down (availability score 0; no
    # latency: 0).
    assert (rows["edges"]["health_score"], rows["edges"]["health_score_change"]) == (67, 67)
    assert rows["maint-only"]["health_score"] is None
    # The week: 14 checks (2 + 2 + 3 + 3 + 4), 10 not down, 7 healthy; p95 of 20, 40, 50, 50,
    # 50, 60, 70, 100 and 300 ms: rank 9. The week before: edges' one down check.
    health = report["health"]
    assert (health["checks"], health["availability_pct"], health["healthy_pct"],
            health["p95_latency_ms"]) == (14, 71.43, 50.0, 300.0)
    before = report["previous"]["health"]
    assert (before["checks"], before["availability_pct"], before["healthy_pct"],
            before["p95_latency_ms"]) == (1, 0.0, 0.0, None)
    at_risk = {row["slug"]: row for row in report["sla_at_risk"]}
    assert set(at_risk) == {"ties", "ties-down", "edges", "spacing", "unordered"}
    figures = {slug: (row["checks"], row["healthy"], row["maintenance"], row["p95_latency_ms"],
                      row["downtime_minutes"], row["breached"])
               for slug, row in at_risk.items()}
    # ties: one down check, at the same instant as its next: spacing 0, no downtime.
    assert figures["ties"] == (2, 1, 0, 50.0, 0.0, ["availability"])
    # edges: degraded Dec 1 00:00 until its next check, 6 days less 1 µs, which is also the
    # spacing of its two checks (8,639.99999998 minutes); p95 300 ms of 300 and 20.
    assert figures["edges"] == (2, 1, 0, 300.0, 8640.0, ["availability", "p95_latency"])
    # spacing: down Dec 2 00:00 until Dec 5 (72 h), at most 32 h: 1,920 minutes.
    assert figures["spacing"] == (3, 2, 1, 50.0, 1920.0, ["availability"])
    # maint-only: December's one check is maintenance: nothing to judge.
    sla = unmo("report", "sla", "--month", "2026-12", "--json", env={"UNMO_NOW": NOW})
    row = {r["slug"]: r for r in sla.json()["customers"]}["maint-only"]
    assert (row["checks"], row["maintenance"], row["met"]) == (0, 1, None)


def test_the_week_s_checks_in_new_york(unmo, workspace):
    """W49 in New York is [Nov 30 05:00, Dec 7 05:00) UTC, December [Dec 1 05:00, …): a check
    at Dec 1 04:00 UTC is November's and the week's."""
    (workspace / "unmo.yaml").write_text("timezone: America/New_York\n" + TIERS)
    make_customer("ny")
    make_customer("ny-down")
    insert_checks("ny", [
        (t("2026-11-30T04:59:59.999999"), "healthy", 10.0),  # Sunday night: the week before
        (t("2026-11-30T05:00"), "down", None),  # the week's first instant
        (t("2026-12-01T04:00"), "degraded", 300.0),  # November 30, 23:00 locally
        (t("2026-12-01T05:00"), "maintenance", 900.0),  # December's first instant
        (t("2026-12-01T06:00"), "healthy", 20.0),
        (t("2026-12-07T04:59"), "healthy", 30.0),  # Sunday 23:59: the week's last
    ])
    insert_checks("ny-down", [
        (t("2026-12-02T00:00"), "down", None),
        (t("2026-12-07T04:59:59.999999"), "down", None),  # the week's last instant
        (t("2026-12-07T05:00"), "healthy", 10.0),  # Monday 00:00 locally: W50
    ])
    report = weekly(unmo)
    assert (report["week"], report["timezone"]) == ("2026-W49", "America/New_York")
    rows = {row["slug"]: row for row in report["portfolio"]}
    assert {slug: (row["health_checks"], row["availability_pct"], row["health_status"])
            for slug, row in rows.items()} == {
        "ny": (4, 75.0, "healthy"), "ny-down": (2, 0.0, "down")}
    health = report["health"]
    assert (health["checks"], health["availability_pct"]) == (6, 50.0)
    before = report["previous"]["health"]
    assert (before["checks"], before["availability_pct"]) == (1, 100.0)
    at_risk = {row["slug"]: row for row in report["sla_at_risk"]}
    # ny: December so far holds the maintenance check and two healthy ones (p95 30 ms): met.
    assert set(at_risk) == {"ny-down"}
    # ny-down: down Dec 2 00:00 until Dec 7 04:59:59.999999, then until the week's end (1 µs):
    # 5 days 5 hours, within one spacing each.
    row = at_risk["ny-down"]
    assert (row["checks"], row["healthy"], row["maintenance"], row["downtime_minutes"]) == (
        2, 0, 0, 7500.0)
