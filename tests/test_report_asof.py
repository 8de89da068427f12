"""A report of a past week is true of that week (issue 10, points 8 and 11): churn, phase, alert
state and the health score are taken as of the week's end, through the real commands that
change them later, and the score is the one `customer show` gives at that instant."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from support_accounts import record_ledger
from support_report import ZONE, at, build_dataset

W46_LAST_SECOND = "2026-11-16T04:59:59Z"  # W46 ends Mon 16 Nov 00:00 New York = 05:00Z
LATER = "2026-11-25T12:00:00Z"  # a Wednesday of W48: W46 is two weeks back


@pytest.fixture
def week_data(workspace: Path) -> Path:
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    return workspace


def report(unmo, *args: str, now: str = LATER, fmt: str = "json"):
    ran = unmo("report", "weekly", "--week", "2026-W46", "--format", fmt, *args,
               env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json() if fmt == "json" else ran.stdout


def then(unmo, *args: str, now: str):
    ran = unmo(*args, env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran


def test_a_churn_after_the_week_does_not_reach_its_report(unmo, week_data):
    """The issue's case: churned on Thu 19 Nov, shown as churned in the week that ended 15 Nov."""
    before = report(unmo)
    then(unmo, "customer", "churn", "alpha-games", "--reason", "budget cut",
         now="2026-11-19T15:00:00Z")
    after = report(unmo)
    assert after["portfolio"] == before["portfolio"]
    alpha = next(r for r in after["portfolio"] if r["slug"] == "alpha-games")
    assert alpha["churned_at"] is None and alpha["phase"] == "launch"
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(report(unmo, fmt="csv")))}
    assert rows["alpha-games"]["churned_at"] == ""
    assert "churned" not in report(unmo, fmt="markdown").split("Alpha Games")[1].split("\n")[0]
    # echo-travel churned inside W46: that one the report does show.
    assert rows["echo-travel"]["churned_at"] == "2026-11-11T12:00:00Z"
    # And the week it happened in says so.
    w47 = unmo("report", "weekly", "--week", "2026-W47", "--format", "json",
               env={"UNMO_NOW": LATER}).json()
    assert next(r for r in w47["portfolio"] if r["slug"] == "alpha-games")["churned_at"] == \
        "2026-11-19T15:00:00Z"


def test_the_phase_is_the_one_the_customer_had_at_the_weeks_end(unmo, week_data):
    then(unmo, "customer", "phase", "gamma-pay", "launch", now="2026-11-18T09:00:00Z")
    then(unmo, "customer", "phase", "delta-fit", "launch", now="2026-11-12T20:00:00Z")  # in W46
    phases = {r["slug"]: r["phase"] for r in report(unmo)["portfolio"]}
    assert phases["gamma-pay"] == "setup" and phases["delta-fit"] == "launch"
    w47 = {r["slug"]: r["phase"] for r in unmo(
        "report", "weekly", "--week", "2026-W47", "--format", "json",
        env={"UNMO_NOW": LATER}).json()["portfolio"]}
    assert w47["gamma-pay"] == "launch"
    then(unmo, "customer", "phase", "gamma-pay", "discovery", now="2026-11-20T09:00:00Z")
    assert {r["slug"]: r["phase"] for r in report(unmo)["portfolio"]}["gamma-pay"] == "setup"


def test_a_phase_from_before_the_history_is_unknown_not_todays(unmo, week_data):
    """What migration 0006_phase_history records for customers older than it: a change from an
    unknown phase at the upgrade. A week before the upgrade shows the phase as unknown."""
    from sqlmodel import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, PhaseChange
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        beta = session.exec(select(Customer).where(Customer.slug == "beta-shop")).one()
        session.add(PhaseChange(customer_id=beta.id, changed_at=at("2026-11-20T00:00:00"),
                                from_phase=None, to_phase=beta.phase))
    db.dispose()
    rows = {r["slug"]: r for r in report(unmo)["portfolio"]}
    assert rows["beta-shop"]["phase"] is None and rows["alpha-games"]["phase"] == "launch"
    markdown = report(unmo, fmt="markdown")
    assert "| unknown |" in next(line for line in markdown.splitlines()
                                 if line.startswith("| Beta Shop"))
    # After the upgrade the phase is known again.
    w47 = unmo("report", "weekly", "--week", "2026-W48", "--format", "json",
               env={"UNMO_NOW": "2026-12-02T12:00:00Z"}).json()
    assert {r["slug"]: r["phase"] for r in w47["portfolio"]}["beta-shop"] == "launch"


@pytest.mark.sqlite_only
def test_the_migration_records_todays_phases_from_an_unknown_past(unmo, workspace: Path):
    """A database of the first released schema (tests/fixtures/schema_0001.db) upgrades with one
    phase change per customer, from NULL, at the upgrade; its rows are untouched."""
    import sqlite3

    target = workspace / ".unmo" / "unmo.db"
    target.parent.mkdir(mode=0o700)
    shutil.copyfile(Path(__file__).parent / "fixtures" / "schema_0001.db", target)
    ran = unmo("db", "upgrade", env={"UNMO_NOW": "2026-11-30T10:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    db = sqlite3.connect(target)
    try:
        customers = db.execute("SELECT id, phase FROM customers ORDER BY id").fetchall()
        changes = db.execute("SELECT customer_id, changed_at, from_phase, to_phase "
                             "FROM phase_changes ORDER BY customer_id").fetchall()
    finally:
        db.close()
    assert customers
    assert changes == [(cid, "2026-11-30 10:00:00.000000", None, phase)
                       for cid, phase in customers]


def test_an_alert_acknowledged_later_is_pending_in_its_week(unmo, week_data):
    alerts = then(unmo, "alerts", "list", "--json", now=LATER).json()
    detractor = next(a for a in alerts if a["rule"] == "detractor")
    then(unmo, "alerts", "ack", str(detractor["id"]), now="2026-11-17T09:00:00Z")
    shown = {a["rule"]: a for a in report(unmo)["alerts"]}
    assert shown["detractor"]["acked_at"] is None
    markdown = report(unmo, fmt="markdown")
    assert "| beta-shop | detractor | beta-shop answered NPS 3 | pending |" in markdown


# --- the health score -------------------------------------------------------------------------


def test_each_score_is_customer_shows_score_at_the_weeks_last_instant(unmo, week_data):
    portfolio = report(unmo)["portfolio"]
    for row in portfolio:
        shown = then(unmo, "customer", "show", row["slug"], "--json",
                     now=W46_LAST_SECOND).json()["health"]
        assert (row["health_score"], row["health_color"]) == (shown["score"], shown["color"]), \
            row["slug"]


def test_scores_by_hand_red_first_and_the_change_over_the_week(unmo, week_data):
    """Weights 0.5 technical / 0.3 sentiment / 0.2 engagement (no installs measured here).

    beta-shop at W46's end: checks 10 Nov healthy 60 ms, 13 Nov down → availability 50 %, score
    0 (each point under 99.9 costs 10); p95 60 ms ≤ 100 → 100; technical 50. Feedback of the 30
    days: 6, 8, 6 → 66.7 % → 74.1; NPS 7 and 3 → −50 → 33.3; sentiment 53.7.
    (0.5·50 + 0.3·53.7) / 0.8 = 51.4 → 51, yellow. At W45's end: one healthy 90 ms check →
    technical 100; satisfaction 6 → 60 % → 66.7, no NPS; (50 + 20) / 0.8 = 87.5 → 88: −37.

    kilo-red (added here) is down all of W46 and has no latency or feedback: technical is its
    availability score alone, 0 → 0, red; at W45's end one healthy check: 100, green."""

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        kilo = Customer(slug="kilo-red", name_key="kilored", name="Kilo Red", industry="other",
                        integration="s2s", provider="none", events_per_day=1, mrr_cents=100,
                        contact_name="K", contact_email="k@kilo.example",
                        created_at=at("2026-11-01T00:00:00"))
        session.add(kilo)
        session.flush()
        record_ledger(session, kilo)
        # Down all week (availability 0 → technical 0 → score 0, red); at W45's end it had one
        # healthy check without latency: technical 100 → 100, green. Change −100.
        session.add(HealthCheck(customer_id=kilo.id, checked_at=at("2026-11-08T12:00:00"),
                                status="healthy"))
        for day in (10, 12, 14):
            session.add(HealthCheck(customer_id=kilo.id, checked_at=at(f"2026-11-{day}T12:00:00"),
                                    status="down"))
    db.dispose()
    doc = report(unmo)
    rows = {r["slug"]: r for r in doc["portfolio"]}
    assert (rows["beta-shop"]["health_score"], rows["beta-shop"]["health_color"],
            rows["beta-shop"]["health_score_change"]) == (51, "yellow", -37)
    assert (rows["kilo-red"]["health_score"], rows["kilo-red"]["health_color"],
            rows["kilo-red"]["health_score_change"]) == (0, "red", -100)
    # golf-late has no checks and no feedback: no score, listed last.
    assert rows["golf-late"]["health_score"] is None
    assert [r["health_color"] for r in doc["portfolio"]] == [
        "red", "yellow", "yellow", "green", "green", "green", None]
    assert doc["portfolio"][0]["slug"] == "kilo-red"
    # Every format lists it, red first.
    markdown = report(unmo, fmt="markdown")
    portfolio_lines = [line for line in markdown.splitlines() if line.startswith("| Kilo Red")
                       or line.startswith("| Beta Shop")]
    assert portfolio_lines[0].startswith("| Kilo Red | 0 red | −100 |")
    assert portfolio_lines[1].startswith("| Beta Shop | 51 yellow | −37 |")
    first_csv = next(csv.DictReader(io.StringIO(report(unmo, fmt="csv"))))
    assert (first_csv["slug"], first_csv["health_score"], first_csv["health_color"],
            first_csv["health_score_change"]) == ("kilo-red", "0", "red", "-100")
    html = report(unmo, fmt="html")
    assert html.index("Kilo Red") < html.index("Beta Shop") < html.index("Golf Late")
    assert '<span class="pill score-red">0 red</span>' in html
    table = report(unmo, fmt="table")
    kilo_line = next(line for line in table.splitlines() if "kilo-red" in line)
    assert kilo_line.split()[:4] == ["kilo-red", "0", "red", "−100"]
    assert table.index("kilo-red") < table.index("beta-shop")


def test_the_score_of_a_past_week_ignores_what_came_later(unmo, week_data):
    before = {r["slug"]: r["health_score"] for r in report(unmo)["portfolio"]}
    from sqlmodel import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, Feedback, HealthCheck
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        beta = session.exec(select(Customer).where(Customer.slug == "beta-shop")).one()
        for hour in range(5, 10):  # from the first instant of W47 on
            session.add(HealthCheck(customer_id=beta.id, checked_at=at(f"2026-11-16T0{hour}:00:00"),
                                    status="healthy", latency_ms=10.0, installs=5))
            session.add(Feedback(customer_id=beta.id, received_at=at(f"2026-11-16T0{hour}:00:00"),
                                 satisfaction=10, nps=10))
    db.dispose()
    assert {r["slug"]: r["health_score"] for r in report(unmo)["portfolio"]} == before
