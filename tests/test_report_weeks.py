"""ISO weeks of the configured time zone (DST-safe edges) and the HTML page in a real browser."""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support_ci import skip_or_fail
from support_report import NOW, ZONE, build_dataset

from unmo_cli.errors import InputError
from unmo_cli.services.reports import last_complete_week, parse_week, week_of

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney",
         "Pacific/Chatham", "America/Sao_Paulo", "Asia/Tehran"]


def test_week_edges_are_local_mondays_in_utc():
    week = parse_week("2026-W46", "America/New_York")
    assert (week.start, week.end) == (datetime(2026, 11, 9, 5, tzinfo=UTC),
                                      datetime(2026, 11, 16, 5, tzinfo=UTC))
    # DST ends on Sunday 1 November 2026 in New York: that week lasts 169 hours.
    w44 = week_of(2026, 44, "America/New_York")
    assert (w44.start, w44.end) == (datetime(2026, 10, 26, 4, tzinfo=UTC),
                                    datetime(2026, 11, 2, 5, tzinfo=UTC))
    # DST starts on Sunday 29 March 2026 in Berlin: 167 hours.
    w13 = week_of(2026, 13, "Europe/Berlin")
    assert w13.end - w13.start == timedelta(hours=167)
    assert w13.start == datetime(2026, 3, 22, 23, tzinfo=UTC)
    # Iran moved its clocks from Monday 22 March 2010 00:00 to 01:00: the week starts at 01:00.
    tehran = week_of(2010, 12, "Asia/Tehran")
    assert tehran.start.astimezone(ZoneInfo("Asia/Tehran")).hour == 1
    assert tehran.start == datetime(2010, 3, 21, 20, 30, tzinfo=UTC)
    # ISO week 1 of 2027 starts in 2026; W53 exists in 2026 (it ends on a Thursday).
    assert week_of(2027, 1, "UTC").start == datetime(2027, 1, 4, tzinfo=UTC)
    assert parse_week("2026-W53", "UTC").start == datetime(2026, 12, 28, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-46", "W46", "2026-W460", "2026-W", "", "2026-W54",
                                  "2026-W00"])
def test_bad_weeks_are_refused_with_what_is_accepted(text):
    with pytest.raises(InputError) as caught:
        parse_week(text, "UTC")
    assert "YYYY-Www" in str(caught.value) or "has weeks W01 to" in str(caught.value)


@settings(max_examples=50, deadline=None)
@given(year=st.integers(2000, 2040), number=st.integers(1, 52), zone=st.sampled_from(ZONES))
def test_weeks_tile_time_and_start_on_local_monday_midnight(year, number, zone):
    week = week_of(year, number, zone)
    local = week.start.astimezone(ZoneInfo(zone))
    assert local.isocalendar()[:2] == (year, number) and local.weekday() == 0
    # the first instant of that Monday (00:00, or later where a DST change skips midnight)
    just_before = (week.start - timedelta(microseconds=1)).astimezone(ZoneInfo(zone))
    assert just_before.weekday() == 6
    assert week.shifted(1).start == week.end  # consecutive weeks abut: no gap, no overlap
    assert timedelta(days=7, hours=-1) <= week.end - week.start <= timedelta(days=7, hours=1)


@settings(max_examples=50, deadline=None)
@given(instant=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2039, 1, 1),
                            timezones=st.just(UTC)),
       zone=st.sampled_from(ZONES))
def test_the_default_week_is_the_last_complete_one(instant, zone):
    week = last_complete_week(instant, zone)
    assert week.end <= instant < week.shifted(1).end


@pytest.mark.slow
def test_html_page_renders_in_headless_chromium(unmo, workspace):
    browser = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if browser is None:
        skip_or_fail("chromium is not installed (.ci/run installs the Debian package)")
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    page = workspace / "week.html"
    ran = unmo("report", "weekly", "--format", "html", "--output", str(page),
               env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    shot = workspace / "week.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1200,2000", page.as_uri()],
            capture_output=True, timeout=120, check=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2000)
    assert len(data) > 50_000, "the screenshot is nearly blank"
