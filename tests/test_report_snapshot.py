"""A report's figures come from one state of the database: what another process commits while a
report runs is in none of its figures, not in those read after it (real subprocesses on one
workspace; SQLite, and PostgreSQL in its pass)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

NOW = "2026-11-25T12:00:00Z"  # the weekly report's week is 2026-W47 (16-22 Nov)
ONBOARDED_AT = "2026-11-02T10:00:00Z"


def _spawn(*args: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "UNMO_NOW": NOW, **extra}
    return subprocess.Popen([sys.executable, "-m", "unmo_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def _wait_for(marker: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the report never reached its pause"
        time.sleep(0.02)


@pytest.mark.parametrize("report", [["weekly"], ["monthly", "--month", "2026-11"]])
def test_what_commits_while_a_report_runs_is_in_none_of_its_figures(unmo, workspace: Path,
                                                                    report: list[str]):
    pilots = [{"name": f"Pilot {n}", "contact_name": "Growth Team",
               "contact_email": f"growth{n}@pilot.example", "industry": "gaming",
               "integration": "s2s", "events_per_day": 50000, "provider": "adjust",
               "mrr": 1000} for n in (1, 2)]
    (workspace.parent / "pilots.yaml").write_text(yaml.safe_dump(pilots))
    ran = unmo("onboard", "--from", str(workspace.parent / "pilots.yaml"), "--yes",
               env={"UNMO_NOW": ONBOARDED_AT})
    assert ran.exit_code == 0, ran.stderr
    for slug, score in (("pilot-1", "9"), ("pilot-2", "8")):
        ran = unmo("feedback", "add", slug, "--satisfaction", score, "--nps", score,
                   "--received-at", "2026-11-17T10:00:00Z", env={"UNMO_NOW": NOW})
        assert ran.exit_code == 0, ran.stderr
    command = ["report", *report, "--format", "json"]
    before = _finish(_spawn(*command))

    marker = workspace.parent / "report-paused"
    paused = _spawn(*command, UNMO_TEST_PAUSE_AT="report-read",
                    UNMO_TEST_PAUSE_FILE=str(marker), UNMO_TEST_PAUSE_S="120")
    try:
        # The report has read the MRR ledger, not yet the feedback, the checks or the tasks.
        _wait_for(marker, paused)
        for args in (["feedback", "add", "pilot-1", "--satisfaction", "2", "--nps", "1",
                      "--received-at", "2026-11-18T09:00:00Z"],
                     ["task", "add", "pilot-2", "Call them back", "--due", "2026-11-20"]):
            writer = _spawn(*args)
            _finish(writer)
    finally:
        marker.unlink(missing_ok=True)  # releases the report
    during = _finish(paused)
    after = _finish(_spawn(*command))

    assert during == before
    # ... and the writes do move the figures, once committed before a report starts.
    assert after != before
    figures_before, figures_after = json.loads(before), json.loads(after)
    assert figures_after["satisfaction"]["responses"] == \
        figures_before["satisfaction"]["responses"] + 1
