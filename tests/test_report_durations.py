"""Durations people can read (issue 10, point 9): the unit that fits (ms, s, min, h), JSON with
milliseconds, and a change that is the difference of the two figures shown beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support_accounts import record_ledger
from support_report import at

from unmo_cli.durations import duration_change, duration_text, shown_seconds


@pytest.mark.parametrize(("seconds", "text"), [
    (0.13, "130 ms"), (0.0996, "100 ms"), (0.0004, "0.4 ms"), (0, "0 ms"),
    (0.9994, "999 ms"), (0.9996, "1.0 s"), (12.34, "12.3 s"), (59.94, "59.9 s"),
    (59.96, "1.0 min"), (290.2, "4.8 min"), (3500, "58.3 min"), (3599, "1.0 h"),
    (None, "—"),
])
def test_the_unit_fits_the_size(seconds, text):
    assert duration_text(seconds) == text


def test_a_change_reads_like_the_figures():
    assert duration_text(duration_change(0.0994, 0.0986), signed=True) == "0 ms"  # 99 vs 99
    assert duration_text(duration_change(0.13, 0.2), signed=True) == "−70 ms"
    assert duration_text(duration_change(290.2, 420), signed=True) == "−2.2 min"
    assert duration_change(None, 1) is None


@given(st.floats(0, 10_000), st.floats(0, 10_000))
def test_the_change_is_the_difference_of_what_is_shown(now, before):
    change = duration_change(now, before)
    assert change == pytest.approx(shown_seconds(now) - shown_seconds(before), abs=1e-9)
    # And the figure shown is a rounding of the duration, never more than half a unit off.
    for value in (now, before):
        assert abs(shown_seconds(value) - value) <= max(0.0005, value * 0.05)


def _sessions(durations_by_day: dict[str, float], latencies: dict[str, float]) -> None:
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
        record_ledger(session, customer)
        for day, duration in durations_by_day.items():
            finished = at(f"{day}T12:00:00")
            session.add(OnboardingSession(customer_id=customer.id, mode="batch",
                                          outcome="success", started_at=finished,
                                          finished_at=finished, duration_s=duration))
        for day, latency in latencies.items():
            session.add(HealthCheck(customer_id=customer.id, checked_at=at(f"{day}T12:00:00"),
                                    status="healthy", latency_ms=latency))
    db.dispose()


@pytest.fixture
def quick_sessions(workspace: Path) -> Path:
    """Batch onboardings well under a minute: 0.2 s in W45, 0.13 s in W46 (UTC weeks); P95
    latency 98.6 ms in W45 and 99.4 ms in W46 — both "99 ms" when shown."""
    (workspace / "unmo.yaml").write_text("timezone: UTC\n")
    _sessions({"2026-10-27": 0.5, "2026-11-03": 0.2, "2026-11-10": 0.13},
              {"2026-11-03": 98.6, "2026-11-10": 99.4})
    return workspace


def _report(unmo, fmt: str) -> str:
    ran = unmo("report", "weekly", "--week", "2026-W46", "--format", fmt,
               env={"UNMO_NOW": "2026-11-18T12:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    return ran.stdout


def test_json_keeps_milliseconds(unmo, quick_sessions):
    import json

    doc = json.loads(_report(unmo, "json"))
    assert doc["onboarding"]["mean_s"] == 0.1  # the contract's tenth of a second, as before
    assert doc["onboarding"]["mean_ms"] == 130.0
    assert (doc["onboarding"]["median_ms"], doc["onboarding"]["p95_ms"]) == (130.0, 130.0)
    assert doc["previous"]["onboarding"]["mean_ms"] == 200.0
    assert doc["change"]["onboarding"]["mean_ms"] == -70.0
    assert doc["trends"]["onboarding_mean_ms"][-3:] == [500.0, 200.0, 130.0]


def test_people_see_the_unit_that_fits_and_changes_from_the_figures_shown(unmo,
                                                                          quick_sessions):
    markdown = _report(unmo, "markdown")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown.splitlines() if line.startswith("| ")}
    assert rows["Onboarding time (mean)"] == ["130 ms", "200 ms", "−70 ms"]
    # 99.4 and 98.6 ms both read "99 ms": the change beside them is 0, not "+1 ms".
    assert rows["P95 API latency"] == ["99 ms", "99 ms", "0 ms"]
    assert "median 130 ms, p95 130 ms over 1 session" in markdown
    assert "0.0 min" not in markdown
    html = _report(unmo, "html")
    assert "unchanged from 99 ms" in html and "+1 ms" not in html
    assert "▼ −70 ms</span> from 200 ms" in html


def test_the_onboarding_chart_is_drawn_in_milliseconds_not_flat(unmo, quick_sessions):
    html = _report(unmo, "html")
    chart = html[html.index("<h3>Onboarding time (mean)</h3>"):]
    chart = chart[:chart.index("</svg>")]
    ys = {float(y) for y in re.findall(r'<circle class="dot[^"]*" cx="[^"]+" cy="([^"]+)"', chart)}
    assert len(ys) == 3, "three weeks with sessions, three heights"
    labels = re.findall(r'text-anchor="end">([^<]+)</text>', chart)
    assert labels and all(label.endswith(" ms") for label in labels), labels
    assert "W46 130 ms" in chart  # the accessible description
