"""The weekly report's portfolio and sla_at_risk rows and the SLA report's customers are written
compact from each row's own text (json_output.JsonRows; PortfolioRow.json_text, SlaRow.json_text),
not through a dict each: for arbitrary rows — hostile strings, None in every optional field (and
where an annotation says it cannot be), the floats and ints a hand-made number text gets wrong —
that text is, byte for byte, what the json module's compact encoder makes of the row's as_json();
NaN and infinities are refused as the encoder refuses them; and the CLI's documents are the
in-process as_json() ones."""

from __future__ import annotations

import enum
import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from support_health import make_customer

from tests.test_sla import TIERS, every_15_minutes, insert_checks
from unmo_cli import console, json_output
from unmo_cli.services.report_figures import PortfolioRow
from unmo_cli.services.sla import SlaRow

ENCODE = console._COMPACT.encode

# What a JSON writer gets wrong first: quotes, backslashes, control characters (raw and the
# escapes JSON has short forms for), U+2028/2029, non-ASCII, emoji, a lone surrogate.
HOSTILE = ['"', "\\", '\\"', "\x00", "\x01", "\x1f", "\x7f", "\b\f\n\r\t", "\u2028\u2029",
           "é", "Ⅻ", "😀", "👩‍💻", "\ud800", "</script>", "", " ", "null", "%s", "{}"]
TEXT = st.one_of(st.text(), st.sampled_from(HOSTILE),
                 st.lists(st.sampled_from(HOSTILE), max_size=4).map("".join))
OPTIONAL_TEXT = st.none() | TEXT
# Floats whose text the json module writes in exponent form, shortest-repr edge cases, the
# extremes; ints past 64 bits.
EDGE_FLOATS = [-0.0, 0.0, 1e-7, 1e16, 1e15 + 0.3, 0.1 + 0.2, 5e-324, 2.2250738585072014e-308,
               1.7976931348623157e308, -1e-05, 123456789.123, 99.95, 100.0]
FLOAT = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_FLOATS))
INT = st.one_of(st.integers(), st.integers(-2**70, 2**70), st.sampled_from(
    [0, -1, 2**53 + 1, 2**63, -2**64, 10**30]))
# Amounts in dollars, as the portfolio holds them: cents, half cents, the float noise of sums,
# exponent forms (money's Decimal arithmetic, shared by both paths, holds up to ~1e25).
DOLLARS = st.one_of(st.floats(-1e18, 1e18), st.sampled_from(EDGE_FLOATS[:7]),
                    st.integers(-10**9, 10**9).map(lambda cents: cents / 100),
                    st.sampled_from([0.1 + 0.2, 2353.9615, 10200.5, -12.5, 1e16]))


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


PORTFOLIO_ROWS = st.builds(
    PortfolioRow, slug=TEXT, name=TEXT, industry=TEXT, integration=TEXT,
    platforms=st.lists(TEXT, max_size=3).map(tuple), provider=TEXT, events_per_day=INT,
    mrr=DOLLARS, phase=OPTIONAL_TEXT, new=st.booleans(), created_at=OPTIONAL_TEXT,
    churned_at=OPTIONAL_TEXT, responses=INT, satisfaction_pct=optional(FLOAT),
    nps=optional(INT), health_checks=INT, availability_pct=optional(FLOAT),
    health_status=OPTIONAL_TEXT, health_score=optional(INT), health_color=OPTIONAL_TEXT,
    health_score_change=optional(INT), mrr_start=DOLLARS, mrr_end=DOLLARS,
    movements=st.tuples(*[DOLLARS] * 5), surveys_sent=INT, surveys_answered=INT,
    survey_response_rate_pct=optional(FLOAT))

SLA_ROWS = st.builds(
    SlaRow, slug=TEXT, name=TEXT, tier=TEXT, checks=INT, healthy=INT, maintenance=INT,
    availability_pct=optional(FLOAT), availability_target_pct=FLOAT | INT,
    p95_latency_ms=optional(FLOAT), p95_latency_target_ms=FLOAT | INT,
    downtime_minutes=optional(FLOAT), met=st.none() | st.booleans(),
    breached=st.lists(TEXT, max_size=3), credit_pct=FLOAT | INT, mrr_cents=INT,
    credit_cents=INT)

EVERY_NONE = PortfolioRow(
    slug="a", name="A", industry="other", integration="sdk", platforms=(), provider="none",
    events_per_day=0, mrr=0.0, phase="setup", new=False, created_at=None, churned_at=None,
    responses=0, satisfaction_pct=None, nps=None, health_checks=0, availability_pct=None,
    health_status=None, health_score=None, health_color=None, health_score_change=None,
    survey_response_rate_pct=None)


@given(PORTFOLIO_ROWS)
@example(EVERY_NONE)
def test_a_portfolio_row_s_text_is_the_encoded_as_json(row):
    assert row.json_text() == ENCODE(row.as_json())


NO_CHECKS = SlaRow("a", "A", "standard", 0, 0, 0, None, 99.5, None, 200, None, None, [], 0.0, 0, 0)


@given(SLA_ROWS)
@example(NO_CHECKS)
def test_an_sla_row_s_text_is_the_encoded_as_json(row):
    assert row.json_text() == ENCODE(row.as_json())


PORTFOLIO_NUMBERS = ("satisfaction_pct", "availability_pct", "survey_response_rate_pct",
                     "events_per_day", "nps", "health_score")
SLA_NUMBERS = ("availability_pct", "availability_target_pct", "p95_latency_ms",
               "p95_latency_target_ms", "downtime_minutes", "credit_pct", "checks")


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(("row", "fields"), [(EVERY_NONE, PORTFOLIO_NUMBERS),
                                             (NO_CHECKS, SLA_NUMBERS)],
                         ids=["portfolio", "sla"])
def test_nan_and_infinities_are_refused_as_the_encoder_refuses_them(row, fields, number):
    """allow_nan=False: a ValueError (a bug upstream), never `NaN` or `Infinity` in the text."""
    for name in fields:
        bad = type(row)(**{slot: getattr(row, slot) for slot in type(row).__slots__})
        setattr(bad, name, number)
        with pytest.raises(ValueError, match="not JSON compliant"):
            ENCODE(bad.as_json())
        with pytest.raises(ValueError, match="not JSON compliant"):
            bad.json_text()


class Level(enum.IntEnum):
    HIGH = 3


class Ratio(float):
    pass


# Any value a field could end up holding, its annotation or not: JSON's scalars, subclasses
# (a bool is an int, an IntEnum), and what console's encoder converts (dates, Decimal, paths).
SCALARS = st.one_of(st.none(), st.booleans(), INT, FLOAT, TEXT,
                    st.sampled_from([Level.HIGH, Ratio(0.5), Path("a/b")]),
                    st.dates(), st.datetimes(), st.decimals(allow_nan=False, allow_infinity=False))


def any_values(row_class, **kept):
    """Rows of `row_class` with SCALARS in every field but those `kept` (their strategies)."""
    return st.builds(row_class, **{name: kept.get(name, SCALARS)
                                   for name in row_class.__slots__})


@given(st.one_of(
    any_values(PortfolioRow, mrr=DOLLARS, mrr_start=DOLLARS, mrr_end=DOLLARS,
               movements=st.tuples(*[DOLLARS] * 5),
               platforms=st.lists(OPTIONAL_TEXT, max_size=3).map(tuple)),
    any_values(SlaRow, breached=st.lists(OPTIONAL_TEXT, max_size=3), mrr_cents=INT,
               credit_cents=INT)))
def test_whatever_a_field_holds_the_text_is_the_encoded_as_json(row):
    """A field may hold what its annotation does not admit (a week before the phase history
    has a None phase): the row's text is still the encoder's, whatever the value's type."""
    assert row.json_text() == ENCODE(row.as_json())


@given(SCALARS)
def test_each_value_helper_writes_what_the_encoder_writes(value):
    """The helpers check their own type first and hand anything else (a bool in a number, an
    IntEnum, a float subclass) to the general path: the encoder's text whatever they are given."""
    expected = ENCODE(value)
    assert json_output.scalar(value) == expected
    if value is None or isinstance(value, int | float):
        assert json_output.number(value) == expected
    if value is None or isinstance(value, bool):
        assert json_output.boolean(value) == expected
    if value is None or isinstance(value, str):
        assert json_output.optional_string(value) == expected


@given(st.lists(PORTFOLIO_ROWS, max_size=4), st.lists(SLA_ROWS, max_size=3), st.booleans())
def test_a_document_with_json_rows_is_the_one_with_their_dicts(portfolio, at_risk, indent):
    """console writes a JsonRows array from the rows' text when compact, reads it as their
    dicts when indented: either way the document of as_json()'s lists, to the character."""
    def document(rows, sla):
        return {"week": "2026-W46", "portfolio": rows, "alerts": [], "sla_at_risk": sla}

    streamed = console.to_json(document(json_output.JsonRows(portfolio),
                                        json_output.JsonRows(at_risk)), indent=indent)
    whole = console.to_json(document([row.as_json() for row in portfolio],
                                     [row.as_json() for row in at_risk]), indent=indent)
    assert streamed == whole


def test_json_text_read_as_an_iterator_are_the_rows_dicts():
    rows = json_output.JsonRows([EVERY_NONE, EVERY_NONE])
    assert list(rows) == [EVERY_NONE.as_json()] * 2
    assert list(rows) == []  # one pass
    assert list(json_output.JsonRows([EVERY_NONE]).texts()) == [EVERY_NONE.json_text()]


# --- through the CLI, on SQLite and PostgreSQL ----------------------------------------------------

NOW = "2026-12-07T12:00:00Z"
# Names as a database stores them (PostgreSQL's text holds no NUL).
NAMES = ['Quote "Q" \\ Back', "Tab\tNew\nline\x01\x1f", "Émoji 😀 Ⅻ\u2028", "</script>"]


def hostile_customers(workspace) -> None:
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    (workspace / "unmo.yaml").write_text(TIERS)
    week = datetime(2026, 12, 1)  # in 2026-W49, and in the month its end falls in
    for number in range(len(NAMES)):
        slug = f"c{number}"
        make_customer(slug)
        insert_checks(slug, every_15_minutes(week, ["healthy"] * 7 + ["down"] * (number + 1),
                                             [10.0 + number] * 7 + [None] * (number + 1)))
    db = open_database(load_workspace())
    try:
        with db.session() as session:
            for number, name in enumerate(NAMES):
                session.execute(update(Customer).where(Customer.slug == f"c{number}")
                                .values(name=name))
    finally:
        db.dispose()


@pytest.mark.parametrize("command", [("weekly", "--week", "2026-W49"),
                                     ("monthly", "--month", "2026-11"),
                                     ("sla", "--month", "2026-12")], ids=lambda c: c[0])
def test_the_cli_documents_are_the_in_process_ones(unmo, workspace, command):
    """stdout (a pipe: compact) and --output are json.dumps of the report's as_json(): the rows
    written from their own text are the rows' dicts, hostile names, nulls and all."""
    from unmo_cli import clock
    from unmo_cli.services import reports, sla
    from unmo_cli.workspace import load_workspace

    hostile_customers(workspace)
    env = {"UNMO_NOW": NOW}
    ran = unmo("report", *command, "--format", "json", env=env)
    assert ran.exit_code == 0, ran.stderr
    ws, now = load_workspace(), clock.parse_instant(NOW)
    if command[0] == "sla":
        report = sla.sla_report(month=command[2], fmt="json", workspace=ws, now=now)
        rows = report.as_json()["customers"]
    elif command[0] == "weekly":
        report = reports.weekly_report(week=command[2], fmt="json", workspace=ws, now=now)
        rows = report.as_json()["portfolio"]
    else:
        report = reports.monthly_report(month=command[2], fmt="json", workspace=ws, now=now)
        rows = report.as_json()["portfolio"]
    whole = report.as_json()
    assert sorted(row["name"] for row in rows) == sorted(NAMES)
    if command[0] != "monthly":  # the month before the checks: nobody at risk
        assert whole.get("sla_at_risk", whole.get("customers"))
    assert ran.stdout == json.dumps(whole, ensure_ascii=False, separators=(",", ":")) + "\n"
    target = workspace / "report.json"
    ran = unmo("report", *command, "--format", "json", "--output", str(target), env=env)
    assert ran.exit_code == 0 and ran.stdout == ""
    assert target.read_text(encoding="utf-8") == json.dumps(
        whole, ensure_ascii=False, separators=(",", ":")) + "\n"


def test_a_week_without_rows_writes_empty_arrays(unmo):
    ran = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    assert '"portfolio":[]' in ran.stdout and '"sla_at_risk":[]' in ran.stdout
