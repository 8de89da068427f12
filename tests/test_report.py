"""`unmo report weekly`: every figure of a hand-built week, checked against numbers worked out by
hand (tests/support_report.py explains each row), in all five formats, and its refusals."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support_report import NOW, ZONE, build_dataset

# The contract's JSON fields, and what this implementation adds (listed in the CHANGELOG).
CONTRACT_FIELDS = {"week", "start", "end", "customers", "mrr", "onboarding", "satisfaction",
                   "health", "finance", "targets", "portfolio", "alerts", "surveys"}
ADDED_FIELDS = {"timezone", "complete", "previous", "change", "trends", "retention", "tasks",
                "sla_at_risk"}
NO_MOVEMENT = {"expansion": "0.00", "contraction": "0.00", "reactivation": "0.00"}


@pytest.fixture
def week_data(workspace: Path) -> Path:
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    return workspace


def run_report(unmo, *args: str, now: str = NOW):
    return unmo("report", "weekly", *args, env={"UNMO_NOW": now})


def report_json(unmo, *args: str, now: str = NOW) -> dict:
    ran = run_report(unmo, "--format", "json", *args, now=now)
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


# --- the figures, by hand ------------------------------------------------------------------------


def test_headline_figures_of_the_week_by_hand(unmo, week_data):
    doc = report_json(unmo)
    assert set(doc) == CONTRACT_FIELDS | ADDED_FIELDS
    # Default week: UNMO_NOW is Wed 18 Nov, so the last complete week is W46, Monday 00:00 EST.
    assert (doc["week"], doc["start"], doc["end"]) == (
        "2026-W46", "2026-11-09T05:00:00Z", "2026-11-16T05:00:00Z")
    assert doc["timezone"] == ZONE and doc["complete"] is True
    # total: A B C D E F G (H arrives at the first instant of W47); active: minus E and F;
    # new: C D G (G on Sunday 23:30 New York); churned: E.
    assert doc["customers"] == {"total": 7, "active": 5, "new": 3, "churned": 1}
    # A 2,500 + B 2,500 + C 3,000.50 + D 1,200 + G 1,000; at W45's end A + B + E 800.
    # Money for machines is an exact decimal string, as in every command (unmo_cli.money).
    # Movements: C, D and G new (3,000.50 + 1,200 + 1,000); E churned at its 800.
    assert doc["mrr"] == {"current": "10200.50", "previous": "5800.00", "delta": "4400.50",
                          "new": "5200.50", "churned": "800.00", **NO_MOVEMENT}
    # The cohort at W46's start: A, B and E (5,800); E churned: 5,000 ÷ 5,800; 2 logos of 3.
    assert doc["retention"] == {"start": "5800.00", "nrr_pct": 86.2, "grr_pct": 86.2,
                                "logo_pct": 66.7, "cohort": 3, "retained": 2}
    assert doc["tasks"] == {"open": 0, "overdue": 0, "done": 0, "by_owner": []}
    # Successful sessions 240.5, 300.0, 330.2: mean 870.7 / 3 = 290.23; median rank ⌈1.5⌉ = 2;
    # p95 rank ⌈2.85⌉ = 3; mean within 5 min. The _ms fields: 870,700 ms / 3 = 290,233.333.
    assert doc["onboarding"] == {"count": 3, "mean_s": 290.2, "median_s": 300.0, "p95_s": 330.2,
                                 "target_s": 300.0, "met": True, "mean_ms": 290233.333,
                                 "median_ms": 300000.0, "p95_ms": 330200.0}
    # Scores 9 5 10 8 6 9 10 = 57 over 7 → 81.4; NPS answers 9 2 10 7 3 9: promoters 3,
    # passive 1, detractors 2 → round(100 × 1 / 6) = 17.
    assert doc["satisfaction"] == {"responses": 7, "pct": 81.4, "nps": 17, "promoters": 3,
                                   "passives": 1, "detractors": 2, "target_pct": 90.0,
                                   "met": False}
    # 7 checks, one down → 6/7 = 85.71 %; healthy 4/7 = 57.14 %; latencies 40 60 70 80 95 150,
    # rank ⌈0.95 × 6⌉ = 6 → 150.
    assert doc["health"] == {"checks": 7, "availability_pct": 85.71, "healthy_pct": 57.14,
                             "p95_latency_ms": 150.0}
    # 10,200.50 × 12 / 52 = 2,353.96; (2,353.96 − 300) / 2,353.96 = 87.26 %;
    # events 50,000 + 100,000 + 75,000 + 20,000 + 15,000 = 260,000/day → 300 / 1,820 = 0.1648.
    assert doc["finance"] == {"revenue_week": "2353.96", "infra_cost_week": "300.00",
                              "gross_margin_pct": 87.3, "cost_per_1k_events": 0.1648}


def test_targets_come_from_the_settings(unmo, week_data):
    (week_data / "unmo.yaml").write_text(
        f"timezone: {ZONE}\ntargets:\n  satisfaction_pct: 80\n  nps: 10\n  mrr: 12000\n")
    targets = {row["metric"]: row for row in report_json(unmo)["targets"]}
    assert list(targets) == ["new_customers_per_week", "onboarding_minutes", "satisfaction_pct",
                             "nps", "p95_latency_ms", "availability_pct", "mrr"]
    assert {k: (v["target"], v["achieved"], v["met"]) for k, v in targets.items()} == {
        "new_customers_per_week": (3, 3, True),
        "onboarding_minutes": (5.0, 4.84, True),        # 290.2 s = 4.84 min
        "satisfaction_pct": (80.0, 81.4, True),
        "nps": (10.0, 17, True),
        "p95_latency_ms": (100.0, 150.0, False),
        "availability_pct": (99.9, 85.71, False),
        "mrr": ("12000.00", "10200.50", False),
    }


def test_previous_week_and_the_change(unmo, week_data):
    doc = report_json(unmo)
    before = doc["previous"]
    assert (before["week"], before["start"], before["end"]) == (
        "2026-W45", "2026-11-02T05:00:00Z", "2026-11-09T05:00:00Z")
    # A B E F created; A B E active; B new; at W44's end A + E = 3,300 (F churned in W44).
    assert before["customers"] == {"total": 4, "active": 3, "new": 1, "churned": 0}
    assert before["mrr"] == {"current": "5800.00", "previous": "3300.00", "delta": "2500.00",
                             "new": "2500.00", "churned": "0.00", **NO_MOVEMENT}
    assert before["retention"] == {"start": "3300.00", "nrr_pct": 100.0, "grr_pct": 100.0,
                                   "logo_pct": 100.0, "cohort": 2, "retained": 2}
    assert before["onboarding"] == {"count": 1, "mean_s": 420.0, "median_s": 420.0,
                                    "p95_s": 420.0, "target_s": 300.0, "met": False,
                                    "mean_ms": 420000.0, "median_ms": 420000.0,
                                    "p95_ms": 420000.0}
    # 6 8 9 and the Sunday-evening 7 (Monday 03:00 UTC) = 30 / 4 → 75.0; NPS 9 10 8 → 67.
    assert before["satisfaction"] == {"responses": 4, "pct": 75.0, "nps": 67, "promoters": 2,
                                      "passives": 1, "detractors": 0, "target_pct": 90.0,
                                      "met": False}
    assert before["health"] == {"checks": 2, "availability_pct": 50.0, "healthy_pct": 50.0,
                                "p95_latency_ms": 90.0}
    # 5,800 × 12 / 52 = 1,338.46; margin 77.59 %; 300 / (160,000 × 7 / 1,000) = 0.2679.
    assert before["finance"] == {"revenue_week": "1338.46", "infra_cost_week": "300.00",
                                 "gross_margin_pct": 77.6, "cost_per_1k_events": 0.2679}
    assert doc["change"] == {
        "customers": {"total": 3, "active": 2, "new": 2, "churned": 1},
        "mrr": {"current": "4400.50", "new": "2700.50", "churned": "800.00", **NO_MOVEMENT},
        "retention": {"start": "2500.00", "nrr_pct": -13.8, "grr_pct": -13.8,
                      "logo_pct": -33.3, "cohort": 1, "retained": 0},
        "tasks": {"open": 0, "overdue": 0, "done": 0},
        "onboarding": {"count": 2, "mean_s": -129.8, "median_s": -120.0, "p95_s": -89.8,
                       "mean_ms": -129766.667, "median_ms": -120000.0, "p95_ms": -89800.0},
        "satisfaction": {"responses": 3, "pct": 6.4, "nps": -50},
        "health": {"checks": 5, "availability_pct": 35.71, "healthy_pct": 7.14,
                   "p95_latency_ms": 60.0},
        "finance": {"revenue_week": "1015.50", "gross_margin_pct": 9.7,
                    "cost_per_1k_events": -0.1031},
        # No surveys in either week: counts change by 0, the rate has no value to change.
        "surveys": {"sent": 0, "answered": 0, "response_rate_pct": None},
    }


def test_eight_week_trends_leave_gaps_where_there_is_no_data(unmo, week_data):
    trends = report_json(unmo)["trends"]
    assert trends["weeks"] == [f"2026-W{n}" for n in range(39, 47)]
    assert trends["satisfaction_pct"] == [None, None, None, None, 100.0, None, 75.0, 81.4]
    assert trends["nps"] == [None, None, None, None, 100, None, 67, 17]
    # MRR at each week's end: F; + E (W40); + A (W43); − F (W44); + B (W45); W46 as above.
    assert trends["mrr"] == ["500.00", "1300.00", "1300.00", "1300.00", "3800.00", "3300.00",
                             "5800.00", "10200.50"]
    assert trends["onboarding_mean_s"] == [None, 600.0, None, None, 360.0, None, 420.0, 290.2]
    assert trends["onboarding_mean_ms"] == [None, 600000.0, None, None, 360000.0, None, 420000.0,
                                            290233.333]


def test_portfolio_has_a_row_per_customer_active_in_the_week(unmo, week_data):
    portfolio = report_json(unmo)["portfolio"]
    # Red first, then yellow, green and no score (the scores are worked out by hand in
    # test_report_asof.py: B 51 and E 72 yellow; C 100, A 89, D 100 green; G none), by MRR and
    # slug within a colour; E churned mid-week is still in; F (churned in W44) and H (W47) not.
    assert [row["slug"] for row in portfolio] == [
        "beta-shop", "echo-travel", "gamma-pay", "alpha-games", "delta-fit", "golf-late"]
    rows = {row["slug"]: row for row in portfolio}
    assert rows["gamma-pay"] == {
        "slug": "gamma-pay", "name": "Gamma Pay", "industry": "fintech",
        "integration": "hybrid", "platforms": ["ios"], "provider": "branch",
        "events_per_day": 75000, "mrr": "3000.50", "phase": "setup", "new": True,
        "created_at": "2026-11-10T16:00:00Z", "churned_at": None, "responses": 2,
        "satisfaction_pct": 95.0, "nps": 100, "health_checks": 1, "availability_pct": 100.0,
        "health_status": "healthy", "health_score": 100, "health_color": "green",
        "health_score_change": None, "mrr_start": "0.00", "mrr_end": "3000.50",
        "mrr_new": "3000.50", "mrr_expansion": "0.00", "mrr_contraction": "0.00",
        "mrr_churned": "0.00", "mrr_reactivation": "0.00", "surveys_sent": 0, "surveys_answered": 0,
        "survey_response_rate_pct": None}
    figures = {slug: (r["responses"], r["satisfaction_pct"], r["nps"], r["health_checks"],
                      r["availability_pct"], r["health_status"]) for slug, r in rows.items()}
    assert figures == {
        "gamma-pay": (2, 95.0, 100, 1, 100.0, "healthy"),
        "alpha-games": (2, 95.0, 100, 3, 100.0, "degraded"),   # 9 and 10; last check degraded
        "beta-shop": (2, 70.0, -50, 2, 50.0, "down"),          # 8 and 6; NPS 7 and 3
        "delta-fit": (0, None, None, 1, 100.0, "unauthorized"),  # unauthorized is not down
        "golf-late": (0, None, None, 0, None, None),
        "echo-travel": (1, 50.0, -100, 0, None, None),
    }
    assert rows["echo-travel"]["churned_at"] == "2026-11-11T12:00:00Z"
    assert [rows[s]["new"] for s in ("alpha-games", "delta-fit", "golf-late")] == [
        False, True, True]


def test_alerts_of_the_week(unmo, week_data):
    alerts = report_json(unmo)["alerts"]
    assert [(a["customer"], a["rule"], a["score"], a["created_at"]) for a in alerts] == [
        ("echo-travel", "low_satisfaction", 5.0, "2026-11-10T12:00:01Z"),
        ("beta-shop", "detractor", 3.0, "2026-11-13T12:00:01Z"),
    ]
    assert set(alerts[0]) == {"id", "customer", "rule", "text", "score", "created_at",
                              "notified_at", "acked_at"}


def test_the_time_zone_decides_which_week_a_row_belongs_to(unmo, week_data):
    (week_data / "unmo.yaml").write_text("timezone: UTC\n")
    doc = report_json(unmo)
    assert (doc["start"], doc["end"]) == ("2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z")
    # In UTC the Monday-03:00 score 10 (gamma) leaves W46 and the Monday-03:00 score 7 (alpha)
    # joins it: 57 − 10 + 7 = 54 over 7 → 77.1. G (Monday 04:30) is now a W47 customer.
    assert (doc["satisfaction"]["responses"], doc["satisfaction"]["pct"]) == (7, 77.1)
    assert doc["customers"] == {"total": 6, "active": 4, "new": 2, "churned": 1}


def test_week_option_and_the_default_week(unmo, week_data):
    assert report_json(unmo, "--week", "2026-W45")["customers"]["total"] == 4
    assert report_json(unmo, "--week", "2026w46")["week"] == "2026-W46"
    # Sunday 23:30 in New York: W46 is not complete yet, so the default is W45 ...
    assert report_json(unmo, now="2026-11-16T04:30:00Z")["week"] == "2026-W45"
    # ... and from Monday 00:00 local it is W46.
    assert report_json(unmo, now="2026-11-16T05:00:00Z")["week"] == "2026-W46"
    # The week in progress may be asked for; it says so.
    doc = report_json(unmo, "--week", "2026-W47")
    assert doc["complete"] is False and doc["customers"]["new"] == 1  # H


def test_nearest_rank_percentiles_and_median(unmo, workspace):
    from support_report import at

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck, OnboardingSession
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        customer = Customer(slug="kilo", name_key="kilo", name="Kilo", industry="other",
                            integration="s2s", provider="none", events_per_day=0, mrr_cents=0,
                            contact_name="K", contact_email="k@kilo.example",
                            created_at=at("2026-01-01T00:00:00"))
        session.add(customer)
        session.flush()
        for n in range(20, 0, -1):  # durations 1..20 s, inserted in descending order
            finished = at(f"2026-11-{9 + n % 7:02d}T12:00:00")
            session.add(OnboardingSession(customer_id=customer.id, mode="flags",
                                          outcome="success", started_at=finished,
                                          finished_at=finished, duration_s=float(n)))
            session.add(HealthCheck(customer_id=customer.id, checked_at=finished,
                                    status="healthy", latency_ms=float(n * 10)))
        session.add(HealthCheck(customer_id=customer.id, checked_at=at("2026-11-10T01:00:00"),
                                status="down", latency_ms=None))
    db.dispose()
    doc = report_json(unmo, "--week", "2026-W46")
    # n = 20: mean 10.5; median rank ⌈10⌉ = 10 → 10; p95 rank ⌈19⌉ = 19 → 19.
    assert doc["onboarding"] == {"count": 20, "mean_s": 10.5, "median_s": 10.0, "p95_s": 19.0,
                                 "target_s": 300.0, "met": True, "mean_ms": 10500.0,
                                 "median_ms": 10000.0, "p95_ms": 19000.0}
    # 21 checks, 20 with a latency (10..200 ms): rank 19 → 190; one down → 20/21 = 95.24 %.
    assert doc["health"] == {"checks": 21, "availability_pct": 95.24, "healthy_pct": 95.24,
                             "p95_latency_ms": 190.0}


@pytest.mark.parametrize(("durations", "mean_s", "minutes", "met"), [
    ([300.2], 300.2, 5.0, False),        # 5.0033 min: shown as 5.0, still over 5
    ([300.04], 300.0, 5.0, False),       # mean_s shows 300.0, the mean itself is over
    ([299.96], 300.0, 5.0, True),
    ([240.0, 360.1], 300.1, 5.0, False),
    ([240.0, 360.0], 300.0, 5.0, True),  # exactly the target: within it
])
def test_onboarding_met_is_decided_once_from_the_exact_mean(unmo, workspace, durations, mean_s,
                                                             minutes, met):
    """`onboarding.met` and the targets row's `met` are the same verdict, taken on the mean
    itself: neither mean_s (one decimal) nor the row's minutes (two decimals) may flip it."""
    from support_report import at

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, OnboardingSession
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        for n, duration in enumerate(durations):
            customer = Customer(slug=f"c{n}", name_key=f"c{n}", name=f"C{n}", industry="other",
                                integration="s2s", provider="none", events_per_day=0,
                                mrr_cents=0, contact_name="K", contact_email="k@c.example",
                                created_at=at("2026-11-10T12:00:00"))
            session.add(customer)
            session.flush()
            finished = at("2026-11-10T12:05:00")
            session.add(OnboardingSession(customer_id=customer.id, mode="flags",
                                          outcome="success", started_at=finished,
                                          finished_at=finished, duration_s=duration))
    db.dispose()
    doc = report_json(unmo, "--week", "2026-W46")
    row = next(r for r in doc["targets"] if r["metric"] == "onboarding_minutes")
    assert doc["onboarding"]["mean_s"] == mean_s and row["achieved"] == minutes
    assert doc["onboarding"]["met"] is met and row["met"] is met


def test_empty_workspace_gives_nulls_not_zeros(unmo, workspace):
    doc = report_json(unmo)
    assert doc["week"] == "2026-W46"
    assert doc["customers"] == {"total": 0, "active": 0, "new": 0, "churned": 0}
    assert doc["onboarding"] == {"count": 0, "mean_s": None, "median_s": None, "p95_s": None,
                                 "target_s": 300.0, "met": None, "mean_ms": None,
                                 "median_ms": None, "p95_ms": None}
    assert doc["satisfaction"] == {"responses": 0, "pct": None, "nps": None, "promoters": 0,
                                   "passives": 0, "detractors": 0, "target_pct": 90.0,
                                   "met": None}
    assert doc["health"] == {"checks": 0, "availability_pct": None, "healthy_pct": None,
                             "p95_latency_ms": None}
    assert doc["finance"]["gross_margin_pct"] is None
    assert doc["finance"]["cost_per_1k_events"] is None
    assert doc["portfolio"] == [] and doc["alerts"] == []
    achieved = {row["metric"]: (row["achieved"], row["met"]) for row in doc["targets"]}
    for metric in ("onboarding_minutes", "satisfaction_pct", "nps", "p95_latency_ms",
                   "availability_pct"):
        assert achieved[metric] == (None, None)
    assert set(doc["trends"]["satisfaction_pct"]) == {None}
    markdown = run_report(unmo, "--format", "markdown").stdout
    assert "no checks recorded" in markdown and "100%" not in markdown
    assert "No customers were active this week." in markdown


# --- the formats, parsed back --------------------------------------------------------------------


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Every Markdown table by its header row: the data rows as cells (escaped pipes kept)."""
    tables: dict[str, list[list[str]]] = {}
    header = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if header is None:
            header = " | ".join(cells)
            tables[header] = []
        elif not set("".join(cells)) <= set("-: "):
            tables[header].append(cells)
    return tables


def test_markdown_reads_like_the_sprint_summary(unmo, week_data):
    ran = run_report(unmo, "--format", "markdown")
    assert ran.exit_code == 0, ran.stderr
    text = ran.stdout
    assert text.startswith("# Week 2026-W46: Executive Summary\n")
    for line in ("- 3 new customers onboarded (Gamma Pay, Delta Fit, Golf Late)",
                 "- **5 active customers** (7 signed in total, 1 churned this week)",
                 "- **$10,200.50 MRR** (+$4,400.50 vs $5,800.00 last week; target $10,000.00)",
                 "- Customer satisfaction: 81.4% (target: 90%) ❌ missed from 7 responses",
                 "- Availability: 85.71% over 7 checks (healthy 57.14%)",
                 "- Gross profit: $2,053.96/week · gross margin 87.3%"):
        assert line in text.splitlines()
    tables = markdown_tables(text)
    assert tables["Metric | Target | Achieved | Status"] == [
        ["**New customers**", "≥ 3 customers", "3 customers", "✅ met"],
        ["**Onboarding time (mean)**", "≤ 5 min", "4.8 min", "✅ met"],
        ["**Customer satisfaction**", "≥ 90%", "81.4%", "❌ missed"],
        ["**NPS**", "≥ +50", "+17", "❌ missed"],
        ["**P95 API latency**", "≤ 100 ms", "150 ms", "❌ missed"],
        ["**Availability**", "≥ 99.9%", "85.71%", "❌ missed"],
        ["**MRR**", "≥ $10,000.00", "$10,200.50", "✅ met"],
    ]
    portfolio = tables["Customer | Score | Score change | Industry | Integration | Provider | "
                       "Events/day | MRR | Satisfaction | NPS | Health | Phase"]
    assert [row[0] for row in portfolio] == ["Beta Shop", "Echo Travel", "Gamma Pay (new)",
                                             "Alpha Games", "Delta Fit (new)", "Golf Late (new)"]
    assert portfolio[0] == ["Beta Shop", "51 yellow", "−37", "Ecommerce", "Server-to-server",
                            "Adjust", "100,000", "$2,500.00", "70.0%", "−50", "50.00% (down)",
                            "launch"]
    assert portfolio[5][1:3] == ["—", "—"] and portfolio[5][10] == "no checks recorded"
    week_over_week = {row[0]: row[1:] for row in tables["Figure | This week | Last week | Change"]}
    assert week_over_week["NPS"] == ["+17", "+67", "−50"]
    assert week_over_week["Satisfaction"] == ["81.4%", "75.0%", "+6.4 pts"]
    alerts = tables[f"When ({ZONE}) | Customer | Rule | Alert | State"]
    assert alerts[0] == ["Tue 10 Nov 07:00", "echo-travel", "low satisfaction",
                         "echo-travel rated satisfaction 5/10 | below 7", "pending"]


def test_csv_has_one_row_per_customer(unmo, week_data):
    ran = run_report(unmo, "--format", "csv")
    assert ran.exit_code == 0, ran.stderr
    rows = list(csv.DictReader(io.StringIO(ran.stdout)))
    assert [row["slug"] for row in rows] == [
        "beta-shop", "echo-travel", "gamma-pay", "alpha-games", "delta-fit", "golf-late"]
    assert rows[3] == {
        "week": "2026-W46", "slug": "alpha-games", "name": "Alpha Games", "industry": "gaming",
        "integration": "sdk", "platforms": "ios,android", "provider": "appsflyer",
        "events_per_day": "50000", "mrr": "2500.00", "phase": "launch", "new": "no",
        "created_at": "2026-10-20T15:00:00Z", "churned_at": "", "responses": "2",
        "satisfaction_pct": "95.0", "nps": "100", "health_checks": "3",
        "availability_pct": "100.0", "health_status": "degraded", "health_score": "89",
        "health_color": "green", "health_score_change": "53", "mrr_start": "2500.00",
        "mrr_end": "2500.00", "mrr_new": "0.00", "mrr_expansion": "0.00",
        "mrr_contraction": "0.00", "mrr_churned": "0.00", "mrr_reactivation": "0.00",
        "surveys_sent": "0", "surveys_answered": "0", "survey_response_rate_pct": ""}
    assert rows[5]["satisfaction_pct"] == "" and rows[5]["availability_pct"] == ""
    assert rows[5]["health_score"] == "" and rows[0]["health_score_change"] == "-37"


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_one_self_contained_page_with_svg_charts(unmo, week_data):
    ran = run_report(unmo, "--format", "html")
    assert ran.exit_code == 0, ran.stderr
    page = PageParser()
    page.feed(ran.stdout)
    assert page.tags.count("svg") == 5  # four trends and the MRR movements
    assert page.tags.count("polyline") >= 4 and "circle" in page.tags
    assert not {"script", "link", "img", "iframe"} & set(page.tags)
    assert not [v for k, v in page.attributes if k in ("src", "href")]
    assert "url(" not in ran.stdout and "@import" not in ran.stdout
    text = " ".join(" ".join(page.text).split())
    for shown in ("Week 2026-W46", "$10,200.50", "81.4%", "+17", "85.71%", "Gamma Pay",
                  "echo-travel rated satisfaction 5/10 | below 7", "3 / 7"):
        assert shown in text


def test_html_escapes_customer_text(unmo, workspace):
    build_dataset()
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(Customer).where(Customer.slug == "alpha-games")
                        .values(name="<script>alert(1)</script> & Co"))
    db.dispose()
    html = run_report(unmo, "--format", "html").stdout
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html


def test_table_shows_the_week_in_the_terminal(unmo, week_data):
    ran = run_report(unmo)
    assert ran.exit_code == 0, ran.stderr
    for shown in ("Week 2026-W46", "Mon 9 Nov – Sun 15 Nov 2026", "Week over week",
                  "$10,200.50", "Targets: 3 of 7 with data met",
                  "echo-travel rated satisfaction"):
        assert shown in ran.stdout
    lines = [line.split() for line in ran.stdout.splitlines()]
    assert ["gamma-pay", "*", "100", "green", "—", "fintech", "75,000", "$3,000.50", "95.0%",
            "+100", "100.0%", "healthy", "setup"] in lines
    assert ["echo-travel", "72", "yellow", "−28", "other", "10,000", "$800.00", "50.0%", "−100",
            "—", "—", "churned"] in lines
    assert ["Availability", "85.71%", "50.00%", "+35.71", "pts"] in [
        [cell for cell in line if cell not in "│┃"] for line in lines]


def test_the_table_shows_alert_text_as_typed_never_as_markup(unmo, week_data):
    """An alert quotes the customer's comment: square brackets in it are text, not Rich markup
    (a closing tag like "[/oops]" used to stop the report with a MarkupError)."""
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Alert
    from unmo_cli.workspace import load_workspace

    said = "comment: [/oops] then [bold]loud[/bold]"
    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(Alert).where(Alert.rule == "detractor").values(text=said))
    db.dispose()
    for extra in ([], ["--output", "week.txt"]):
        ran = run_report(unmo, *extra)
        assert ran.exit_code == 0, ran.stderr
        shown = ran.stdout if not extra else (week_data / "week.txt").read_text()
        assert " ".join(shown.split()).count("[/oops] then [bold]loud[/bold]") == 1, shown


@pytest.mark.parametrize("fmt", ["table", "markdown", "json", "csv", "html"])
def test_output_writes_the_file_and_nothing_on_stdout(unmo, week_data, fmt):
    target = week_data / f"week.{fmt}"
    target.write_text("old")
    ran = run_report(unmo, "--format", fmt, "--output", str(target))
    assert ran.exit_code == 0, ran.stderr
    assert ran.stdout == ""
    assert str(target) in ran.stderr
    written = target.read_text(encoding="utf-8")
    assert "2026-W46" in written and written != "old"
    assert sorted(p.name for p in week_data.iterdir() if p.name.startswith(".week")) == []


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--week", "46"], 2, "'46' is not an ISO week; use YYYY-Www"),
    (["--week", "2026-11-09"], 2, "is not an ISO week"),
    (["--week", "2025-W53"], 2, "ISO year 2025 has weeks W01 to W52"),
    (["--week", "2026-W00"], 2, "does not exist"),
    (["--week", "2027-W10"], 2, "has not started yet"),
    (["--format", "pdf"], 2, "--format 'pdf' is not one of table, markdown, json, csv, html"),
    (["--format", "html", "--output", "missing/week.html"], 3, "does not exist"),
    (["--format", "html", "--output", "unmo.yaml/week.html"], 3, "is not a folder"),
    (["--format", "html", "--output", "."], 3, "is a folder"),
])
def test_bad_options_exit_with_a_sentence_and_write_nothing(unmo, workspace, args, code, says):
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    ran = run_report(unmo, *args)
    assert ran.exit_code == code
    assert says in ran.stderr
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert ran.stdout == ""
    assert not (workspace / ".unmo").exists(), "the database was created"


def test_bad_options_leave_an_existing_workspace_unchanged(unmo, week_data, unchanged):
    for args, code in ((["--week", "nope"], 2), (["--format", "xlsx"], 2),
                       (["--format", "csv", "--output", "no/such/folder.csv"], 3),
                       (["--format", "csv", "--output", str(week_data)], 3)):
        ran = run_report(unmo, *args)
        assert ran.exit_code == code, (args, ran.stderr)
        assert ran.stdout == ""
    unchanged()
