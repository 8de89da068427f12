"""The report's terminal view at 80 and 120 columns and in a real pipe (issue 10, point 6): a
slug, a score or a status is never cut or broken; whole columns of figures give way instead,
and the view says which."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support_accounts import record_ledger
from support_report import NOW, ZONE, at, build_dataset

LONG_SLUG = "international-mobile-games-holdings"  # 35 characters


@pytest.fixture
def week_data(workspace: Path) -> Path:
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, HealthCheck
    from unmo_cli.workspace import load_workspace

    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    db = open_database(load_workspace())
    with db.session() as session:
        customer = Customer(slug=LONG_SLUG, name_key=LONG_SLUG.replace("-", ""),
                            name="International Mobile Games Holdings", industry="gaming",
                            integration="sdk", provider="adjust", events_per_day=1_250_000,
                            mrr_cents=1_234_567, contact_name="Ops",
                            contact_email="ops@imgh.example", phase="discovery",
                            created_at=at("2026-10-01T00:00:00"))
        session.add(customer)
        session.flush()
        record_ledger(session, customer)  # the report reads customers from the MRR ledger
        session.add(HealthCheck(customer_id=customer.id, checked_at=at("2026-11-12T12:00:00"),
                                status="unauthorized", latency_ms=45.0))
    db.dispose()
    return workspace


def _portfolio_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Portfolio ("))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith(("Alerts",
                                                                                   "No alerts")))
    return lines[start:end]


def _check(text: str, width: int) -> list[str]:
    portfolio = _portfolio_lines(text)
    rows = {line.split()[0]: line.split() for line in portfolio[3:] if line.strip()
            and not line.startswith("(")}
    for line in text.splitlines():
        if not line.startswith(("  ", "(")):  # alert details and notes are free text
            assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    # Every customer's row holds its whole slug, score, last check and phase on one line.
    # unauthorized is not down: availability 100 %, latency 45 ms → technical 100, green.
    assert rows[LONG_SLUG][:3] == [LONG_SLUG, "100", "green"]
    assert rows[LONG_SLUG][-2:] == ["unauthorized", "discovery"]
    assert rows["beta-shop"][1:3] == ["51", "yellow"] and rows["beta-shop"][-2:] == [
        "down", "launch"]
    assert rows["echo-travel"][-1] == "churned"
    assert rows["golf-late"][:2] == ["golf-late", "*"]
    assert not any("…" in line for line in portfolio)
    return portfolio


def test_at_80_columns_figures_give_way_and_the_view_says_so(unmo, week_data):
    ran = unmo("report", "weekly", env={"UNMO_NOW": NOW, "COLUMNS": "80"})
    assert ran.exit_code == 0, ran.stderr
    portfolio = _check(ran.stdout, 80)
    header = portfolio[2].split()
    # The 35-character slug leaves room for the slug, the score and the two statuses only.
    assert header == ["Customer", "Score", "Last", "check", "Phase"]
    note = next(line for line in portfolio if line.startswith("(not shown at this width:"))
    assert note == ("(not shown at this width: mrr, score change, avail., sat., nps, events/day, "
                    "industry; see --format csv)")


def test_at_120_columns_every_figure_is_there(unmo, week_data):
    ran = unmo("report", "weekly", env={"UNMO_NOW": NOW, "COLUMNS": "120"})
    assert ran.exit_code == 0, ran.stderr
    portfolio = _check(ran.stdout, 120)
    header = " ".join(portfolio[2].split())
    for column in ("Customer", "Score", "MRR", "Sat.", "NPS", "Avail.", "Last check", "Phase"):
        assert column in header
    assert "$12,345.67" in "\n".join(portfolio)


@pytest.mark.slow
def test_in_a_pipe(week_data: Path):
    """A real pipe (CI logs, `| less`): no COLUMNS, stdout not a terminal, so 80 columns."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(UNMO_NOW=NOW, NO_COLOR="1")
    report = subprocess.Popen([sys.executable, "-m", "unmo_cli", "report", "weekly"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = subprocess.run(["cat"], stdin=report.stdout, capture_output=True, text=True,
                            timeout=120, check=False)
    assert report.wait(timeout=120) == 0, report.stderr.read() if report.stderr else ""
    _check(reader.stdout, 80)


def test_an_output_file_holds_the_table_at_its_own_width(unmo, week_data):
    target = week_data / "week.txt"
    ran = unmo("report", "weekly", "--output", str(target), env={"UNMO_NOW": NOW,
                                                                  "COLUMNS": "80"})
    assert ran.exit_code == 0, ran.stderr
    _check(target.read_text(encoding="utf-8"), 140)
