"""The report's MRR movements, revenue retention and tasks blocks, and `unmo report monthly`,
through the real CLI on the real database (SQLite, and PostgreSQL in its pass): a scripted
account history written with `customer set/churn/reactivate` at pinned times (UNMO_NOW) and
effective dates, checked by hand and against unmo_cli.metrics over the ledger's own rows."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import query

from unmo_cli import clock, metrics

LATER = "2026-11-30T12:00:00Z"  # W49: every week of the story is complete


def _onboard(unmo, name: str, mrr: str, at: str) -> None:
    ran = unmo("onboard", name, "--contact-name", "Ops", "--contact-email", "ops@example.com",
               "--industry", "gaming", "--integration", "s2s", "--events-per-day", "1000",
               "--provider", "adjust", "--mrr", mrr, "--yes", env={"UNMO_NOW": at})
    assert ran.exit_code == 0, ran.stderr


def _run(unmo, *args: str, at: str) -> None:
    ran = unmo(*args, env={"UNMO_NOW": at})
    assert ran.exit_code == 0, ran.stderr


def weekly(unmo, week: str, now: str = LATER, *extra: str) -> dict:
    ran = unmo("report", "weekly", "--week", week, "--json", *extra, env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


@pytest.fixture
def story(unmo, workspace):
    """Times are UTC (the default zone). W45 is Mon 2 Nov – Sun 8 Nov 2026, W46 9–15 Nov, W47
    16–22 Nov.
    - alpha-games $1,000 and beta-shop $2,000, onboarded Wed 28 Oct (W44);
    - alpha $1,500 from Tue 3 Nov 12:00 (W45, an expansion);
    - beta churns Wed 4 Nov 12:00 (W45) and comes back Wed 18 Nov 12:00 at $1,800 (W47);
    - charlie-pay $500, onboarded Tue 10 Nov (W46);
    - recorded on 25 Nov: alpha $1,200 effective Thu 12 Nov (W46, a contraction in the past)
      and $3,000 effective Tue 17 Nov (W47)."""
    _onboard(unmo, "Alpha Games", "1000", "2026-10-28T10:00:00Z")
    _onboard(unmo, "Beta Shop", "2000", "2026-10-28T11:00:00Z")
    _run(unmo, "customer", "set", "alpha-games", "--mrr", "1500", at="2026-11-03T12:00:00Z")
    _run(unmo, "customer", "churn", "beta-shop", "--reason", "budget",
         at="2026-11-04T12:00:00Z")
    _onboard(unmo, "Charlie Pay", "500", "2026-11-10T09:00:00Z")
    _run(unmo, "customer", "reactivate", "beta-shop", "--mrr", "1800",
         at="2026-11-18T12:00:00Z")
    return unmo


def _record_late_changes(unmo) -> None:
    _run(unmo, "customer", "set", "alpha-games", "--mrr", "1200", "--effective", "2026-11-12",
         at="2026-11-25T12:00:00Z")
    _run(unmo, "customer", "set", "alpha-games", "--mrr", "3000", "--effective", "2026-11-17",
         at="2026-11-25T12:01:00Z")


def mrr(**cents: int) -> dict[str, str]:
    return {name: f"{Decimal(value) / 100:.2f}" for name, value in cents.items()}


def assert_identity(doc: dict) -> None:
    """current = previous + new + expansion − contraction − churned + reactivation, for the
    report's period, the one before, and each trend period."""
    for figures in (doc, doc["previous"]):
        m = {k: Decimal(v) for k, v in figures["mrr"].items()}
        assert m["current"] == (m["previous"] + m["new"] + m["expansion"] - m["contraction"]
                                - m["churned"] + m["reactivation"])
        assert m["delta"] == m["current"] - m["previous"]
    trends = {k: [Decimal(v) for v in values] for k, values in doc["trends"].items()
              if k.startswith("mrr")}
    for i in range(1, len(trends["mrr"])):
        assert trends["mrr"][i] == (trends["mrr"][i - 1] + trends["mrr_new"][i]
                                    + trends["mrr_expansion"][i] - trends["mrr_contraction"][i]
                                    - trends["mrr_churned"][i] + trends["mrr_reactivation"][i])
    assert doc["trends"]["mrr"][-1] == doc["mrr"]["current"]


@dataclass
class Row:
    id: int
    customer_id: int
    kind: str
    mrr_cents: int
    effective_at: datetime


def ledger_rows() -> list[Row]:
    return [Row(id, customer, kind, cents, datetime.fromisoformat(str(at)))
            for id, customer, kind, cents, at in query(
                "SELECT id, customer_id, kind, mrr_cents, effective_at FROM mrr_changes")]


def assert_same_as_the_definitions(doc: dict) -> None:
    """The SQL's figures are metrics.mrr_movements / retention over the ledger's rows."""
    rows = ledger_rows()
    for figures in (doc, doc["previous"]):
        start, end = (clock.to_db(clock.parse_instant(figures[k])) for k in ("start", "end"))
        moves = metrics.mrr_movements(rows, start, end)
        assert figures["mrr"] == {
            **mrr(current=metrics.total_mrr_at(rows, end),
                  previous=metrics.total_mrr_at(rows, start),
                  delta=metrics.total_mrr_at(rows, end) - metrics.total_mrr_at(rows, start)),
            **mrr(new=moves.new, expansion=moves.expansion, contraction=moves.contraction,
                  churned=moves.churned, reactivation=moves.reactivation)}
        kept = metrics.retention(rows, start, end)
        assert figures["retention"] == {
            "start": mrr(x=kept.start)["x"], "nrr_pct": kept.nrr_pct, "grr_pct": kept.grr_pct,
            "logo_pct": kept.logo_pct, "cohort": kept.cohort, "retained": kept.retained}


def test_movements_and_retention_of_a_scripted_history(story):
    _record_late_changes(story)
    doc = weekly(story, "2026-W46")
    # At W46's start: alpha $1,500, beta churned. Within it: charlie new, alpha −$300.
    assert doc["mrr"] == mrr(current=170000, previous=150000, delta=20000, new=50000,
                             expansion=0, contraction=30000, churned=0, reactivation=0)
    # beta churned in W45 and comes back in W47: not active in W46, counted churned there.
    assert doc["customers"] == {"total": 3, "active": 2, "new": 1, "churned": 0}
    assert doc["retention"] == {"start": "1500.00", "nrr_pct": 80.0, "grr_pct": 80.0,
                                "logo_pct": 100.0, "cohort": 1, "retained": 1}
    before = doc["previous"]
    assert before["mrr"] == mrr(current=150000, previous=300000, delta=-150000, new=0,
                                expansion=50000, contraction=0, churned=200000,
                                reactivation=0)
    assert before["customers"] == {"total": 2, "active": 1, "new": 0, "churned": 1}
    # (3,000 − 2,000 churned + 500 expansion) ÷ 3,000; GRR 1,000 ÷ 3,000; one logo of two.
    assert before["retention"] == {"start": "3000.00", "nrr_pct": 50.0, "grr_pct": 33.3,
                                   "logo_pct": 50.0, "cohort": 2, "retained": 1}
    assert doc["change"]["retention"] == {"start": "-1500.00", "nrr_pct": 30.0,
                                          "grr_pct": 46.7, "logo_pct": 50.0, "cohort": -1,
                                          "retained": 0}
    assert doc["change"]["mrr"]["contraction"] == "300.00"
    assert [row["slug"] for row in doc["portfolio"]] == ["alpha-games", "charlie-pay"]
    alpha = next(row for row in doc["portfolio"] if row["slug"] == "alpha-games")
    assert {k: alpha[k] for k in ("mrr", "mrr_start", "mrr_end", "mrr_contraction")} == {
        "mrr": "1200.00", "mrr_start": "1500.00", "mrr_end": "1200.00",
        "mrr_contraction": "300.00"}
    assert_identity(doc)
    assert_same_as_the_definitions(doc)

    doc = weekly(story, "2026-W47")
    # alpha $1,200 → $3,000, beta back at $1,800.
    assert doc["mrr"] == mrr(current=530000, previous=170000, delta=360000, new=0,
                             expansion=180000, contraction=0, churned=0, reactivation=180000)
    assert doc["customers"] == {"total": 3, "active": 3, "new": 0, "churned": 0}
    beta = next(row for row in doc["portfolio"] if row["slug"] == "beta-shop")
    assert {k: beta[k] for k in ("mrr", "mrr_start", "mrr_end", "mrr_reactivation",
                                 "churned_at")} == {
        "mrr": "1800.00", "mrr_start": "0.00", "mrr_end": "1800.00",
        "mrr_reactivation": "1800.00", "churned_at": None}
    assert_identity(doc)
    assert_same_as_the_definitions(doc)

    # In W45 beta churned: its row shows the churn and the MRR it paid.
    doc = weekly(story, "2026-W45")
    beta = next(row for row in doc["portfolio"] if row["slug"] == "beta-shop")
    assert (beta["churned_at"], beta["mrr"], beta["mrr_end"], beta["mrr_churned"]) == (
        "2026-11-04T12:00:00Z", "2000.00", "0.00", "2000.00")


def test_a_past_week_moves_only_with_changes_effective_in_it(story):
    first = weekly(story, "2026-W46", "2026-11-20T12:00:00Z")
    assert first["mrr"]["current"] == "2000.00"  # alpha $1,500 + charlie $500
    # Recorded later, effective in W46: that week moves (the point of effective dates) ...
    _run(story, "customer", "set", "alpha-games", "--mrr", "1200", "--effective", "2026-11-12",
         at="2026-11-25T12:00:00Z")
    moved = weekly(story, "2026-W46")
    assert moved["mrr"]["current"] == "1700.00" and moved["mrr"]["contraction"] == "300.00"
    # ... effective after its end, it does not; nor does the reactivation of W47.
    _run(story, "customer", "set", "alpha-games", "--mrr", "3000", "--effective", "2026-11-17",
         at="2026-11-25T12:01:00Z")
    assert weekly(story, "2026-W46") == moved
    # The week in progress is as of now: W47 on Tue 17 Nov 12:00 has the change of that
    # morning, not beta's reactivation of Wednesday.
    doc = weekly(story, "2026-W47", "2026-11-17T12:00:00Z")
    assert doc["complete"] is False
    assert doc["mrr"] == mrr(current=350000, previous=170000, delta=180000, new=0,
                             expansion=180000, contraction=0, churned=0, reactivation=0)


def _add_tasks() -> None:
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Task
    from unmo_cli.workspace import load_workspace

    [(alpha,)] = query("SELECT id FROM customers WHERE slug = 'alpha-games'")

    def task(title: str, owner: str | None, created: str, due: date | None,
             done: str | None = None) -> Task:
        at = datetime.fromisoformat(created)
        return Task(customer_id=alpha, title=title, owner=owner, due_on=due,
                    status="done" if done else "open", created_at=at, updated_at=at,
                    done_at=datetime.fromisoformat(done) if done else None)

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            session.add_all([
                task("overdue", "ann@example.com", "2026-11-01T09:00", date(2026, 11, 10)),
                task("done in W47", "ann@example.com", "2026-11-01T09:00", date(2026, 11, 20),
                     "2026-11-18T09:00"),
                task("done in W46", None, "2026-11-10T09:00", date(2026, 11, 15),
                     "2026-11-12T09:00"),
                task("after W46", "bo@example.com", "2026-11-17T09:00", None),
                # due on W46's last day: overdue once that day has ended
                task("due Sunday", "bo@example.com", "2026-11-02T09:00", date(2026, 11, 15)),
            ])
            session.commit()
    finally:
        db.dispose()


def test_tasks_as_of_the_weeks_end(story):
    _add_tasks()
    doc = weekly(story, "2026-W46")
    assert doc["tasks"] == {"open": 3, "overdue": 2, "done": 1, "by_owner": [
        {"owner": "ann@example.com", "open": 2, "overdue": 1, "done": 0},
        {"owner": "bo@example.com", "open": 1, "overdue": 1, "done": 0},
        {"owner": None, "open": 0, "overdue": 0, "done": 1}]}
    # W45: the three made on 1 and 2 Nov, none due yet.
    assert doc["previous"]["tasks"]["open"] == 3
    assert doc["change"]["tasks"] == {"open": 0, "overdue": 2, "done": 1}
    after = weekly(story, "2026-W47")["tasks"]
    assert (after["open"], after["overdue"], after["done"]) == (3, 2, 1)
    markdown = story("report", "weekly", "--week", "2026-W46", "--format", "markdown",
                     env={"UNMO_NOW": LATER}).stdout
    assert "| ann@example.com | 2 | 1 | 0 |" in markdown
    assert "| (no owner) | 0 | 0 | 1 |" in markdown
    table = story("report", "weekly", "--week", "2026-W46", env={"UNMO_NOW": LATER}).stdout
    assert "Tasks: 3 open, 2 overdue, 1 done this week" in table


def test_each_format_shows_the_movements(story):
    _record_late_changes(story)

    def run(*args: str) -> str:
        ran = story("report", "weekly", "--week", "2026-W46", *args, env={"UNMO_NOW": LATER})
        assert ran.exit_code == 0, ran.stderr
        return ran.stdout

    table = run()
    assert "MRR movements" in table and "Contraction" in table and "NRR 80.0%" in table
    markdown = run("--format", "markdown")
    assert "### MRR Movements" in markdown
    assert "| − | Contraction | $300.00 | $0.00 |" in markdown
    assert "| = | MRR at the end | $1,700.00 | $1,500.00 |" in markdown
    assert "**NRR 80.0%**" in markdown
    html = run("--format", "html")
    assert "MRR movements per week" in html and "<rect " in html
    assert "W46 contraction: $300.00" in html
    rows = list(csv.DictReader(io.StringIO(run("--format", "csv"))))
    alpha = next(row for row in rows if row["slug"] == "alpha-games")
    assert (alpha["mrr_start"], alpha["mrr_end"], alpha["mrr_contraction"], alpha["mrr_new"]) \
        == ("1500.00", "1200.00", "300.00", "0.00")


def test_report_monthly(story, unchanged):
    _record_late_changes(story)
    ran = story("report", "monthly", "--json", env={"UNMO_NOW": "2026-12-07T12:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert (doc["month"], doc["start"], doc["end"]) == ("2026-11", "2026-11-01T00:00:00Z",
                                                        "2026-12-01T00:00:00Z")
    assert "week" not in doc and doc["previous"]["month"] == "2026-10"
    assert doc["trends"]["months"] == [f"2026-{m:02d}" for m in range(4, 12)]
    # November: alpha +500 −300 +1,800; beta churned 2,000 and back at 1,800; charlie new.
    assert doc["mrr"] == mrr(current=530000, previous=300000, delta=230000, new=50000,
                             expansion=230000, contraction=30000, churned=200000,
                             reactivation=180000)
    assert doc["customers"] == {"total": 3, "active": 3, "new": 1, "churned": 1}
    # Cohort alpha and beta at $3,000: alpha ends at $3,000 (+2,000); beta, churned and back
    # within the month, is retained at $1,800 (−200).
    assert doc["retention"] == {"start": "3000.00", "nrr_pct": 160.0, "grr_pct": 93.3,
                                "logo_pct": 100.0, "cohort": 2, "retained": 2}
    assert doc["previous"]["mrr"]["new"] == "3000.00"
    assert "new_customers_per_week" not in {row["metric"] for row in doc["targets"]}
    assert_identity(doc)
    assert_same_as_the_definitions(doc)
    explicit = story("report", "monthly", "--month", "2026-11", "--json",
                     env={"UNMO_NOW": "2026-12-07T12:00:00Z"}).json()
    assert explicit == doc

    def run(*args: str) -> str:
        ran = story("report", "monthly", "--month", "2026-11", *args,
                    env={"UNMO_NOW": "2026-12-07T12:00:00Z"})
        assert ran.exit_code == 0, ran.stderr
        return ran.stdout

    assert "Month 2026-11" in run() and "This month" in run()
    markdown = run("--format", "markdown")
    assert markdown.startswith("# Month 2026-11: Executive Summary")
    assert "| + | Reactivation | $1,800.00 | $0.00 |" in markdown
    html = run("--format", "html")
    assert "MRR movements per month" in html and "<title>Month 2026-11" in html
    assert run("--format", "csv").splitlines()[0].startswith("month,slug,")


@pytest.mark.parametrize(("month", "message"), [
    ("2026-13", "--month '2026-13' does not exist: months are 01 to 12."),
    ("11-2026", "--month '11-2026' is not a month; use YYYY-MM, e.g. 2026-11."),
    ("2026-W46", "is not a month; use YYYY-MM"),
    ("1899-12", "is out of range"),
    ("2027-01", "--month 2027-01 has not started yet in UTC; the last complete month is "
                "2026-11."),
])
def test_a_bad_month_is_exit_2_and_writes_nothing(unmo, workspace, unchanged, month, message):
    ran = unmo("report", "monthly", "--month", month, "--output", "month.md",
               env={"UNMO_NOW": "2026-12-07T12:00:00Z"})
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: ") and message in ran.stderr
    assert not (workspace / "month.md").exists()
    unchanged()


@pytest.mark.parametrize("seed", [3, 11])
def test_the_identity_on_a_random_history(unmo, workspace, seed):
    """A random history over six weeks (onboardings, MRR changes now and effective in the
    past, churns, reactivations): every week's figures add up and equal the definitions."""
    rng = random.Random(seed)
    day = datetime(2026, 10, 5, 9)
    names: list[str] = []
    churned: set[str] = set()
    for step in range(16):
        day += timedelta(hours=rng.randrange(20, 60))
        at = day.strftime("%Y-%m-%dT%H:%M:%SZ")
        choice = rng.random()
        if not names or choice < 0.25:
            name = f"Cust {step}"
            _onboard(unmo, name, str(rng.randrange(100, 5000)), at)
            names.append(f"cust-{step}")
            continue
        slug = rng.choice(names)
        if slug in churned:
            _run(unmo, "customer", "reactivate", slug, "--mrr", str(rng.randrange(100, 5000)),
                 at=at)
            churned.discard(slug)
        elif choice < 0.45:
            _run(unmo, "customer", "churn", slug, "--reason", "test", at=at)
            churned.add(slug)
        else:
            back = max(0, rng.randrange(-3, 2))  # now, or effective a few days back
            effective = (day - timedelta(days=back)).strftime("%Y-%m-%d")
            ran = unmo("customer", "set", slug, "--mrr", str(rng.randrange(100, 5000)),
                       "--effective", effective if back else at, env={"UNMO_NOW": at})
            assert ran.exit_code in (0, 2), ran.stderr  # 2: before it existed or churned then
    for week in ("2026-W42", "2026-W43", "2026-W44"):
        doc = weekly(unmo, week)
        assert_identity(doc)
        assert_same_as_the_definitions(doc)
