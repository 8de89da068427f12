"""Service tiers (`tiers:` in unmo.yaml, onboard --tier), the monthly SLA report (`unmo report
sla`) on scripted checks, and the weekly report's "at risk of breaching this month" block —
through the real CLI, on SQLite and (in the PostgreSQL pass) on PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support_health import make_customer

from tests.conftest import query
from unmo_cli import clock

NOW = "2026-12-07T12:00:00Z"
TIERS = """\
tiers:
  standard: {availability_pct: 99.5, p95_latency_ms: 200}
  enterprise:
    availability_pct: 99.9
    p95_latency_ms: 100
    credits: [[99.9, 10], [99.0, 25]]
"""
ONBOARD = ("--contact-name", "Ops", "--contact-email", "ops@acme.example", "--industry",
           "gaming", "--integration", "s2s", "--events-per-day", "1000", "--provider", "none",
           "--mrr", "2500")


def insert_checks(slug: str, checks: list[tuple[datetime, str, float | None]]) -> None:
    """Health checks of `slug` as `unmo health` records them: (checked_at UTC, status, ms)."""
    from sqlalchemy import insert, select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer_id = session.execute(select(Customer.id).where(Customer.slug == slug)).scalar()
            session.execute(insert(HealthCheck), [
                {"customer_id": customer_id, "checked_at": at, "status": status,
                 "http_status": 200 if status == "healthy" else None, "latency_ms": latency}
                for at, status, latency in checks])
    finally:
        db.dispose()


def every_15_minutes(start: datetime, statuses: list[str], latencies: list[float | None]
                     ) -> list[tuple[datetime, str, float | None]]:
    return [(start + timedelta(minutes=15 * i), status, latency)
            for i, (status, latency) in enumerate(zip(statuses, latencies, strict=True))]


# --- tiers: ---------------------------------------------------------------------------------------

BAD_TIERS = [
    ("tiers: [1, 2]\n", 1, "'tiers' must be a mapping of tier names"),
    ("tiers:\n  Gold: {availability_pct: 99, p95_latency_ms: 100}\n", 2, "is not a tier name"),
    ("tiers:\n  gold: {availability_pct: 101, p95_latency_ms: 100}\n", 2,
     "tiers.gold.availability_pct must be a number from 0 to 100"),
    ("tiers:\n  gold:\n    availability_pct: 99\n    latency: 100\n", 4,
     "unknown key 'tiers.gold.latency'"),
    ("tiers:\n  gold:\n    availability_pct: 99\n", 2, "tiers.gold is missing p95_latency_ms"),
    ("tiers:\n  gold:\n    availability_pct: 99\n    p95_latency_ms: 100\n"
     "    credits: [[99, 10, 3]]\n", 5, "must be a pair [below_pct, credit_pct]"),
    ("tiers:\n  gold:\n    availability_pct: 99\n    p95_latency_ms: 100\n"
     "    credits:\n      - [99, ten]\n", 6, "credit_pct must be a number"),
    ("tiers:\n  gold: {availability_pct: 99, p95_latency_ms: .nan}\n", 2,
     "p95_latency_ms must be a number"),
    ("tiers:\n  gold: 3\n", 2, "tiers.gold must be a mapping"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD_TIERS,
                         ids=[words for _t, _l, words in BAD_TIERS])
def test_a_bad_tiers_setting_names_its_file_and_line(unmo, workspace: Path, unchanged, text,
                                                     line, words):
    (workspace / "unmo.yaml").write_text("timezone: UTC\n" + text)
    ran = unmo("config", "show")
    assert ran.exit_code == 2
    assert f"unmo.yaml: line {line + 1}: " in ran.stderr
    assert words in ran.stderr and ran.stderr.startswith("error: ")
    assert "Traceback" not in ran.stderr


def test_config_show_lists_the_tiers_and_defaults_to_standard_from_the_targets(unmo, workspace):
    shown = unmo("config", "show", "--json").json()["settings"]
    assert not any(key.startswith("tiers.") for key in shown)
    (workspace / "unmo.yaml").write_text(TIERS)
    shown = unmo("config", "show", "--json").json()["settings"]
    assert shown["tiers.enterprise.availability_pct"] == 99.9
    assert shown["tiers.enterprise.credits"] == [[99.9, 10.0], [99.0, 25.0]]
    assert shown["tiers.standard.p95_latency_ms"] == 200.0


@pytest.fixture
def tiered(workspace: Path) -> Path:
    (workspace / "unmo.yaml").write_text(TIERS)
    return workspace


def test_onboard_sets_the_tier_and_refuses_one_tiers_does_not_name(unmo, tiered, unchanged):
    ran = unmo("onboard", "Gold Co", *ONBOARD, "--tier", "platinum", "--json")
    assert ran.exit_code == 2
    assert ran.stderr == ("error: --tier 'platinum' is not a tier of this workspace; the tiers "
                          "in unmo.yaml are standard, enterprise.\n")
    unchanged()
    ran = unmo("onboard", "Acme", *ONBOARD, "--tier", "Enterprise", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["customer"]["tier"] == "enterprise"
    ran = unmo("onboard", "Beta", *ONBOARD, "--json")
    assert ran.json()["customer"]["tier"] == "standard"
    assert query("SELECT slug, tier FROM customers ORDER BY slug") == [
        ("acme", "enterprise"), ("beta", "standard")]


def test_customer_set_tier_is_checked_against_tiers(unmo, workspace):
    (workspace / "unmo.yaml").write_text(TIERS)
    assert unmo("onboard", "Acme", *ONBOARD).exit_code == 0
    before = query("SELECT * FROM customer_changes")
    ran = unmo("customer", "set", "acme", "--tier", "gold")
    assert ran.exit_code == 2 and "not a tier of this workspace" in ran.stderr
    assert query("SELECT tier FROM customers") == [("standard",)]
    assert query("SELECT * FROM customer_changes") == before
    assert unmo("customer", "set", "acme", "--tier", "enterprise").exit_code == 0
    assert query("SELECT tier FROM customers") == [("enterprise",)]


def test_without_tiers_any_well_formed_tier_is_accepted(unmo, unchanged):
    ran = unmo("onboard", "Acme", *ONBOARD, "--tier", "bad tier!")
    assert ran.exit_code == 2 and "--tier 'bad tier!' is not a tier name" in ran.stderr
    unchanged()
    ran = unmo("onboard", "Acme", *ONBOARD, "--tier", "gold", "--json")
    assert ran.exit_code == 0 and ran.json()["customer"]["tier"] == "gold"


def test_onboard_from_a_file_checks_every_record_s_tier(unmo, workspace):
    (workspace / "unmo.yaml").write_text(TIERS)
    record = ("  contact_name: Ops\n  contact_email: ops@x.example\n  industry: gaming\n"
              "  integration: s2s\n  events_per_day: 10\n  provider: none\n  mrr: 10\n")
    (workspace / "batch.yaml").write_text(
        f"- name: One\n{record}  tier: enterprise\n- name: Two\n{record}  tier: gold\n")
    ran = unmo("onboard", "--from", str(workspace / "batch.yaml"))
    assert ran.exit_code == 2
    assert "record 2: tier 'gold' is not a tier of this workspace" in ran.stderr
    assert query("SELECT slug FROM customers") == []


# --- report sla ---------------------------------------------------------------------------------

START = datetime(2026, 11, 10)


def scripted_month(unmo, workspace: Path) -> None:
    """acme (enterprise): 103 checks 15 minutes apart, 2 down, 3 in maintenance; beta
    (standard): 2 slow healthy checks; delta (standard): a down check, then the checker stopped
    for 10 hours; epsilon: one down check; gamma: no checks."""
    (workspace / "unmo.yaml").write_text(TIERS)
    for slug in ("acme", "beta", "gamma", "delta", "epsilon"):
        make_customer(slug)
    ran = unmo("customer", "set", "acme", "--tier", "enterprise", "--effective",
               "2026-11-01T09:00:00Z", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    statuses = ["healthy"] * 103
    statuses[10] = statuses[11] = "down"
    statuses[50] = statuses[51] = statuses[52] = "maintenance"
    latencies: list[float | None] = [float(i) for i in range(103)]
    latencies[10] = latencies[11] = None
    latencies[50] = latencies[51] = latencies[52] = 999.0  # left out of p95
    insert_checks("acme", every_15_minutes(START, statuses, latencies))
    insert_checks("beta", every_15_minutes(START, ["healthy", "healthy"], [250.0, 240.0]))
    insert_checks("delta", [(START, "down", None)] + [
        (START + timedelta(hours=10, minutes=15 * i), "healthy", 10.0) for i in range(4)])
    insert_checks("epsilon", [(START, "degraded", 20.0)])
    # Outside November: not counted.
    insert_checks("acme", [(datetime(2026, 10, 31, 23, 59), "down", None),
                           (datetime(2026, 12, 1, 0, 0), "down", None)])


def test_the_sla_of_a_month_per_customer(unmo, workspace):
    scripted_month(unmo, workspace)
    ran = unmo("report", "sla", "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    report = ran.json()
    assert (report["month"], report["start"], report["end"], report["complete"]) == (
        "2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", True)
    rows = {row["slug"]: row for row in report["customers"]}
    assert list(rows) == ["acme", "beta", "delta", "epsilon", "gamma"]
    acme = rows["acme"]
    kept = sorted(i for i in range(103) if i not in (10, 11, 50, 51, 52))
    assert (acme["tier"], acme["checks"], acme["healthy"], acme["maintenance"]) == (
        "enterprise", 100, 98, 3)
    assert acme["availability_pct"] == 98.0 and acme["availability_target_pct"] == 99.9
    assert acme["p95_latency_ms"] == float(kept[-(-95 * len(kept) // 100) - 1])  # nearest rank
    assert acme["downtime_minutes"] == 30.0  # two down checks, each 15 minutes to the next
    assert (acme["met"], acme["breached"]) == (False, ["availability"])
    assert (acme["credit_pct"], acme["mrr"], acme["credit"]) == (25.0, "2500.00", "625.00")
    beta = rows["beta"]
    assert (beta["tier"], beta["availability_pct"], beta["p95_latency_ms"]) == (
        "standard", 100.0, 250.0)
    assert (beta["met"], beta["breached"], beta["credit_pct"], beta["credit"]) == (
        False, ["p95_latency"], 0.0, "0.00")
    # The down check stands for the time to the next check, at most the mean spacing:
    # (10 h 45 min) / 4 = 161.25 min, rounded half up.
    assert rows["delta"]["downtime_minutes"] == 161.3
    assert rows["delta"]["availability_pct"] == 80.0
    assert rows["epsilon"]["downtime_minutes"] is None  # one check: no spacing to go by
    gamma = rows["gamma"]
    assert (gamma["checks"], gamma["availability_pct"], gamma["met"], gamma["credit"]) == (
        0, None, None, "0.00")
    assert report["summary"] == {"customers": 5, "met": 0, "breached": 4, "no_checks": 1,
                                 "credit": "625.00"}
    assert unmo("report", "sla", "--month", "2026-11", "--json",
                env={"UNMO_NOW": NOW}).json() == report


def test_credits_take_the_largest_threshold_availability_is_below(unmo, workspace):
    (workspace / "unmo.yaml").write_text(TIERS)
    make_customer("acme")
    unmo("customer", "set", "acme", "--tier", "enterprise", "--effective",
         "2026-11-01T09:00:00Z", env={"UNMO_NOW": NOW})
    # 1 failure in 200 checks: 99.5 % — below 99.9 (10 %) but not below 99.0.
    statuses = ["healthy"] * 199 + ["error"]
    insert_checks("acme", every_15_minutes(START, statuses, [5.0] * 200))
    row = unmo("report", "sla", "--json", env={"UNMO_NOW": NOW}).json()["customers"][0]
    assert (row["availability_pct"], row["credit_pct"], row["credit"]) == (99.5, 10.0, "250.00")
    # 99.9 exactly is met: no credit.
    insert_checks("acme", every_15_minutes(START + timedelta(days=5), ["healthy"] * 800,
                                           [5.0] * 800))
    row = unmo("report", "sla", "--json", env={"UNMO_NOW": NOW}).json()["customers"][0]
    assert (row["availability_pct"], row["met"], row["credit_pct"]) == (99.9, True, 0.0)


def test_each_format_shows_the_same_figures(unmo, workspace):
    scripted_month(unmo, workspace)
    env = {"UNMO_NOW": NOW}
    table = unmo("report", "sla", env=env)
    assert table.exit_code == 0, table.stderr
    assert "breached: availability" in table.stdout and "25% = $625.00" in table.stdout
    markdown = unmo("report", "sla", "--format", "markdown", env=env).stdout
    assert markdown.startswith("# SLA of 2026-11 (UTC)")
    assert "| acme | enterprise | 100 | 98.00% | 99.90% |" in markdown
    page = unmo("report", "sla", "--format", "html", env=env).stdout
    assert "<td>acme</td><td>enterprise</td><td>100</td><td>98.00%</td>" in page
    target = workspace / "sla.csv"
    ran = unmo("report", "sla", "--format", "csv", "--output", str(target), env=env)
    assert ran.exit_code == 0 and ran.stdout == ""
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(target.read_text(), newline=""))}
    assert rows["acme"]["availability_pct"] == "98.0" and rows["acme"]["credit"] == "625.00"
    assert rows["acme"]["met"] == "no" and rows["gamma"]["met"] == ""
    assert rows["beta"]["breached"] == "p95_latency"


def test_a_formula_like_name_is_text_in_the_csv(unmo, workspace):
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    make_customer("acme")
    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(Customer).values(name="=HYPERLINK(\"x\")"))
    db.dispose()
    text = unmo("report", "sla", "--format", "csv", env={"UNMO_NOW": NOW}).stdout
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert row["name"] == "'=HYPERLINK(\"x\")"


BAD_SLA = [
    (("--month", "2026-13"), "--month '2026-13' is not a month; use YYYY-MM"),
    (("--month", "November"), "is not a month"),
    (("--month", "2027-01"), "--month 2027-01 has not started yet in UTC"),
    (("--format", "pdf"), "--format"),
    (("--json", "--format", "csv"), "--json"),
]


@pytest.fixture
def with_acme(workspace: Path) -> Path:
    make_customer("acme")
    return workspace


@pytest.mark.parametrize(("args", "words"), BAD_SLA, ids=[w for _a, w in BAD_SLA])
def test_bad_sla_options_exit_2_and_write_nothing(unmo, with_acme, unchanged, args, words):
    ran = unmo("report", "sla", *args, env={"UNMO_NOW": NOW})
    assert ran.exit_code == 2 and ran.stderr.startswith("error: ") and words in ran.stderr
    unchanged()


def test_a_month_in_the_time_zone_and_a_month_still_running(unmo, workspace):
    (workspace / "unmo.yaml").write_text("timezone: Europe/Berlin\n")
    make_customer("acme")
    insert_checks("acme", [(datetime(2026, 11, 30, 23, 30), "down", None),  # Dec 1 in Berlin
                           (datetime(2026, 12, 5), "healthy", 10.0)])
    report = unmo("report", "sla", "--month", "2026-12", "--json",
                  env={"UNMO_NOW": NOW}).json()
    assert (report["start"], report["complete"]) == ("2026-11-30T23:00:00Z", False)
    row = report["customers"][0]
    assert (row["checks"], row["healthy"], row["availability_pct"]) == (2, 1, 50.0)
    assert unmo("report", "sla", "--json", env={"UNMO_NOW": NOW}).json()["month"] == "2026-11"


# --- the weekly report ----------------------------------------------------------------------------


def test_the_weekly_report_leaves_maintenance_out_and_lists_customers_at_risk(unmo, workspace):
    (workspace / "unmo.yaml").write_text(TIERS)
    make_customer("acme")
    make_customer("beta")
    week = datetime(2026, 12, 1)  # in 2026-W49, and in the month its end falls in
    insert_checks("acme", every_15_minutes(week, ["healthy"] * 8 + ["maintenance"] * 4,
                                           [10.0] * 8 + [900.0] * 4))
    insert_checks("beta", every_15_minutes(week, ["healthy"] * 9 + ["down"],
                                           [10.0] * 9 + [None]))
    report = unmo("report", "weekly", "--week", "2026-W49", "--json",
                  env={"UNMO_NOW": NOW}).json()
    assert report["health"]["checks"] == 18
    assert report["health"]["p95_latency_ms"] == 10.0  # the 900 ms maintenance checks left out
    portfolio = {row["slug"]: row for row in report["portfolio"]}
    assert portfolio["acme"]["health_checks"] == 8
    assert portfolio["acme"]["availability_pct"] == 100.0
    assert [(r["slug"], r["availability_pct"], r["breached"]) for r in report["sla_at_risk"]] == [
        ("beta", 90.0, ["availability"])]
    markdown = unmo("report", "weekly", "--week", "2026-W49", "--format", "markdown",
                    env={"UNMO_NOW": NOW}).stdout
    assert "## At risk of breaching the SLA this month" in markdown
    assert "| beta | standard | availability | 90.00% (target 99.50%) |" in markdown
    shown = unmo("customer", "show", "acme", "--json",
                 env={"UNMO_NOW": NOW}).json()
    health = shown["health"]
    assert health["checks_7d"] == 8 and health["p95_latency_ms_7d"] == 10.0


def test_sla_figures_come_from_the_checks_as_recorded(unmo, workspace):
    """The two gaps of a down check at the same instant as another check are to the next later
    check; rows at the month's very end belong to the next month."""
    make_customer("acme")
    at = datetime(2026, 11, 20, 12)
    insert_checks("acme", [(at, "down", None), (at, "healthy", 5.0),
                           (at + timedelta(minutes=10), "healthy", 5.0),
                           (datetime(2026, 12, 1), "down", None)])
    row = unmo("report", "sla", "--json", env={"UNMO_NOW": NOW}).json()["customers"][0]
    # spacing (10 min) / 2 = 5 min; the down check's next later check is 10 minutes on.
    assert (row["checks"], row["downtime_minutes"]) == (3, 5.0)
    assert clock.iso(at) == "2026-11-20T12:00:00Z"


def test_the_weekly_at_risk_list_is_the_month_so_far_s_breached_rows(unmo, workspace):
    """The weekly report judges only which customers breach before making their rows
    (sla._breaches): the list is exactly `report sla`'s rows with `met` false for the month up
    to the week's end — at the edges too: a p95 and an availability exactly at the target meet
    it, only maintenance checks or none judge nothing, checks without latency judge only the
    availability."""
    (workspace / "unmo.yaml").write_text(TIERS)  # standard: 99.5 %, 200 ms
    start = datetime(2026, 12, 1)  # in 2026-W49, which ends 2026-12-07 00:00 UTC
    cases = {
        "at-target-p95": (["healthy"] * 200, [200.0] * 200),
        "slow": (["healthy"] * 200, [200.1] * 200),
        "maintenance-only": (["maintenance"] * 20, [900.0] * 20),
        "no-latency": (["healthy"] * 20, [None] * 20),
        "at-target-availability": (["healthy"] * 199 + ["down"], [10.0] * 200),
        "under": (["healthy"] * 198 + ["down"] * 2, [10.0] * 200),
    }
    for slug, (statuses, latencies) in cases.items():
        make_customer(slug)
        insert_checks(slug, every_15_minutes(start, statuses, latencies))
    make_customer("unchecked")
    weekly = unmo("report", "weekly", "--week", "2026-W49", "--json",
                  env={"UNMO_NOW": NOW}).json()
    month = unmo("report", "sla", "--month", "2026-12", "--json",
                 env={"UNMO_NOW": "2026-12-07T00:00:00Z"}).json()
    breached = [row for row in month["customers"] if row["met"] is False]
    assert weekly["sla_at_risk"] == breached
    assert [(row["slug"], row["breached"]) for row in breached] == [
        ("slow", ["p95_latency"]), ("under", ["availability"])]
    met = {row["slug"]: row["met"] for row in month["customers"]}
    assert (met["at-target-p95"], met["at-target-availability"], met["no-latency"]) == (
        True, True, True)
    assert (met["maintenance-only"], met["unchecked"]) == (None, None)
