"""Reading commands in a workspace without a database answer from an empty one and create no
file, folder or database (the contract: the first command that *writes* creates what it needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

READERS = [
    ("report", "weekly", "--format", "json"),
    ("report", "weekly"),
    ("customer", "list", "--json"),
    ("feedback", "list", "--json"),
    ("alerts", "list", "--json"),
    ("health", "--format", "json"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("args", READERS, ids=[" ".join(a) for a in READERS])
def test_a_reading_command_leaves_an_empty_workspace_empty(unmo, workspace: Path, args):
    ran = unmo(*args)
    assert ran.exit_code == 0, ran.stderr
    assert list(workspace.iterdir()) == []


def test_the_report_of_an_empty_workspace_is_nulls_not_zeros(unmo):
    report = unmo("report", "weekly", "--format", "json").json()
    assert report["customers"] == {"total": 0, "active": 0, "new": 0, "churned": 0}
    assert report["satisfaction"]["pct"] is None and report["satisfaction"]["nps"] is None
    assert report["onboarding"]["mean_s"] is None
    assert report["health"]["availability_pct"] is None
    assert report["finance"]["gross_margin_pct"] is None
