"""The report's one pass over the MRR ledger (services/report_ledger.py) at its edge cases,
through the real CLI on SQLite and PostgreSQL: a row effective exactly at a week's start, two
rows at the same instant, a week in progress (its edges cut at now, a row exactly at now), and
the SLA block's fees (the MRR before a churn in the month; a change after the month's end left
out) — the same figures `report sla` gives."""

from __future__ import annotations

from datetime import datetime

import pytest
from test_report_movements import (
    _onboard,
    _run,
    assert_identity,
    assert_same_as_the_definitions,
    mrr,
    weekly,
)
from test_sla import every_15_minutes, insert_checks

LATER = "2026-12-07T12:00:00Z"


@pytest.fixture
def edges(unmo, workspace):
    """UTC. W45 is 2–8 Nov 2026, W46 9–15 Nov, W47 16–22 Nov.
    - tie-co $2,000 (2 Nov), churned and reactivated at $2,500 at one instant, 12 Nov 10:00;
    - gone-co $3,000 (3 Nov), $3,500 from 10 Nov, churned at 16 Nov 00:00 (W47's start);
    - edge-co $1,000 onboarded at 9 Nov 00:00 (W46's start), $1,200 effective 16 Nov;
    - tie-co $4,000 effective 2 Dec (after November); down checks for gone-co and tie-co on
      10 Nov (both at risk in November)."""
    _onboard(unmo, "Tie Co", "2000", "2026-11-02T10:00:00Z")
    _onboard(unmo, "Gone Co", "3000", "2026-11-03T08:00:00Z")
    _onboard(unmo, "Edge Co", "1000", "2026-11-09T00:00:00Z")
    _run(unmo, "customer", "set", "gone-co", "--mrr", "3500", at="2026-11-10T09:00:00Z")
    _run(unmo, "customer", "churn", "tie-co", "--reason", "test", at="2026-11-12T10:00:00Z")
    _run(unmo, "customer", "reactivate", "tie-co", "--mrr", "2500", at="2026-11-12T10:00:00Z")
    _run(unmo, "customer", "churn", "gone-co", "--reason", "test", at="2026-11-16T00:00:00Z")
    _run(unmo, "customer", "set", "edge-co", "--mrr", "1200", "--effective", "2026-11-16",
         at="2026-11-17T09:00:00Z")
    _run(unmo, "customer", "set", "tie-co", "--mrr", "4000", "--effective", "2026-12-02",
         at="2026-12-03T09:00:00Z")
    for slug in ("gone-co", "tie-co"):
        insert_checks(slug, every_15_minutes(datetime(2026, 11, 10), ["healthy"] * 8 + ["down"],
                                             [10.0] * 8 + [None]))
    return unmo


def test_rows_at_an_edge_and_at_one_instant(edges):
    doc = weekly(edges, "2026-W46", LATER)
    # At W46's start tie-co $2,000 and gone-co $3,000; edge-co starts exactly then: W46's.
    assert doc["mrr"] == mrr(current=700000, previous=500000, delta=200000, new=100000,
                             expansion=50000, contraction=0, churned=200000,
                             reactivation=250000)
    assert doc["customers"] == {"total": 3, "active": 3, "new": 1, "churned": 1}
    assert doc["retention"] == {"start": "5000.00", "nrr_pct": 120.0, "grr_pct": 100.0,
                                "logo_pct": 100.0, "cohort": 2, "retained": 2}
    assert_identity(doc)
    assert_same_as_the_definitions(doc)

    doc = weekly(edges, "2026-W47", LATER)
    # gone-co's churn and edge-co's change are exactly at W47's start: W47's movements.
    assert doc["mrr"] == mrr(current=370000, previous=700000, delta=-330000, new=0,
                             expansion=20000, contraction=0, churned=350000, reactivation=0)
    assert doc["customers"] == {"total": 3, "active": 2, "new": 0, "churned": 1}
    gone = next(row for row in doc["portfolio"] if row["slug"] == "gone-co")
    assert {k: gone[k] for k in ("churned_at", "mrr", "mrr_start", "mrr_end",
                                 "mrr_churned")} == {
        "churned_at": "2026-11-16T00:00:00Z", "mrr": "3500.00", "mrr_start": "3500.00",
        "mrr_end": "0.00", "mrr_churned": "3500.00"}
    assert_identity(doc)
    assert_same_as_the_definitions(doc)


def test_a_week_in_progress_reads_the_ledger_as_of_now(edges):
    # Now is the tie instant: the churn and the reactivation at it are not in the report yet.
    doc = weekly(edges, "2026-W46", "2026-11-12T10:00:00Z")
    assert doc["mrr"] == mrr(current=650000, previous=500000, delta=150000, new=100000,
                             expansion=50000, contraction=0, churned=0, reactivation=0)
    assert_identity(doc)
    # Now is W47's start: the week is empty so far; the churn exactly at now is not in it.
    doc = weekly(edges, "2026-W47", "2026-11-16T00:00:00Z")
    assert doc["mrr"] == mrr(current=700000, previous=700000, delta=0, new=0, expansion=0,
                             contraction=0, churned=0, reactivation=0)
    assert doc["customers"] == {"total": 3, "active": 3, "new": 0, "churned": 0}
    assert_identity(doc)


def test_the_sla_blocks_fees_are_report_slas(edges):
    at_risk = {row["slug"]: row for row in weekly(edges, "2026-W47", LATER)["sla_at_risk"]}
    # gone-co: the MRR it paid before its churn; tie-co: November's, not December's $4,000.
    assert {slug: row["mrr"] for slug, row in at_risk.items()} == {
        "gone-co": "3500.00", "tie-co": "2500.00"}
    ran = edges("report", "sla", "--month", "2026-11", "--json", env={"UNMO_NOW": LATER})
    assert ran.exit_code == 0, ran.stderr
    sla = {row["slug"]: row for row in ran.json()["customers"]}
    assert at_risk == {slug: sla[slug] for slug in at_risk}
