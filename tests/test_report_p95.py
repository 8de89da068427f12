"""The nearest-rank p95 latency where the report reads it (services/latency_p95.py: the weekly
report's two health-score windows and its SLA month, `report sla`): tied latencies, a window
with one check, checks exactly at a window's edges, maintenance left out — through the real
CLI, on SQLite and (in the PostgreSQL pass) on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from support_health import make_customer
from test_sla import TIERS, insert_checks

NOW = "2026-12-07T12:00:00Z"  # 2026-W49 (Nov 30 – Dec 7, UTC) is the last complete week


def scripted(unmo, workspace) -> None:
    """ties (standard tier, p95 promise 200 ms): 20 checks on Dec 2 with 10 ms ×17, 250 ms ×2
    and 900 ms, recorded out of order: rank ⌈95·20/100⌉ = 19 is a 250 ms one.
    edges (standard): one check at each edge the report's windows have, and a slow
    maintenance check."""
    (workspace / "unmo.yaml").write_text(TIERS)
    make_customer("ties")
    make_customer("edges")
    day = datetime(2026, 12, 2)
    latencies = [900.0, 250.0] + [10.0] * 17 + [250.0]
    insert_checks("ties", [(day + timedelta(minutes=i), "healthy", latency)
                           for i, latency in enumerate(latencies)])
    insert_checks("edges", [
        (datetime(2026, 11, 22, 23, 59, 59), "healthy", 8000.0),  # before every window
        (datetime(2026, 11, 23), "healthy", 300.0),  # the first instant of W48's score window
        (datetime(2026, 11, 30), "healthy", 400.0),  # W48's end: the W49 score window's start
        (datetime(2026, 11, 30, 23, 59, 59, 999_999), "healthy", 100.0),  # November's last
        (datetime(2026, 12, 1), "healthy", 260.0),  # December's first instant
        (datetime(2026, 12, 2), "maintenance", 9000.0),  # left out everywhere
        (datetime(2026, 12, 7), "healthy", 5000.0),  # the week's end: after both windows
    ])


def test_the_weekly_report_s_p95_windows(unmo, workspace):
    scripted(unmo, workspace)
    ran = unmo("report", "weekly", "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    report = ran.json()
    assert report["week"] == "2026-W49"
    # The month so far for the at-risk block: [Dec 1, Dec 7).
    at_risk = {row["slug"]: row for row in report["sla_at_risk"]}
    assert (at_risk["ties"]["checks"], at_risk["ties"]["p95_latency_ms"]) == (20, 250.0)
    edges = at_risk["edges"]
    assert (edges["checks"], edges["maintenance"], edges["p95_latency_ms"]) == (1, 1, 260.0)
    assert edges["breached"] == ["p95_latency"]
    # The health scores (availability 100, no feedback, no installs: the technical component
    # alone, (100 + latency_score) / 2 with targets.p95_latency_ms 100): for W49's window
    # [Nov 30, Dec 7) edges' p95 is 400 ms of 100, 260 and 400 (latency score 25: 62.5 → 63);
    # for W48's [Nov 23, Nov 30) 300 ms, its one check (33.3…: 66.7 → 67).
    portfolio = {row["slug"]: row for row in report["portfolio"]}
    assert (portfolio["edges"]["health_score"], portfolio["edges"]["health_score_change"]) == (
        63, -4)
    # ties: p95 250 ms (latency score 40: 70); no checks before the week, so no change.
    assert (portfolio["ties"]["health_score"], portfolio["ties"]["health_score_change"]) == (
        70, None)


def test_report_sla_s_p95_at_the_month_s_edges(unmo, workspace):
    scripted(unmo, workspace)
    november = unmo("report", "sla", "--month", "2026-11", "--json", env={"UNMO_NOW": NOW})
    assert november.exit_code == 0, november.stderr
    rows = {row["slug"]: row for row in november.json()["customers"]}
    # [Nov 1, Dec 1): 8000, 300, 400 and 100 — rank 4 of 4; Dec 1 is December's.
    assert (rows["edges"]["checks"], rows["edges"]["p95_latency_ms"]) == (4, 8000.0)
    assert (rows["ties"]["checks"], rows["ties"]["p95_latency_ms"]) == (0, None)
    december = unmo("report", "sla", "--month", "2026-12", "--json", env={"UNMO_NOW": NOW})
    rows = {row["slug"]: row for row in december.json()["customers"]}
    # [Dec 1, now): 260 and the check at Dec 7 00:00 (before now, 12:00): rank 2 of 2.
    assert (rows["edges"]["checks"], rows["edges"]["maintenance"],
            rows["edges"]["p95_latency_ms"]) == (2, 1, 5000.0)
    assert rows["ties"]["p95_latency_ms"] == 250.0
