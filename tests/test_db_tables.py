"""unmo_cli/db/tables.py (the Core table clauses of the fast paths) against db/models.py: the
same tables, the same columns in the same order, each of the same type, so a column added to,
renamed in or retyped in a model shows up here before a fast path writes a row without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support_onboarding import flags, onboard

from unmo_cli.db import models, tables


@pytest.mark.parametrize("clause", tables.TABLES, ids=lambda t: t.name)
def test_each_table_clause_matches_its_model_table(clause):
    model = models.metadata.tables[clause.name]
    assert [c.name for c in clause.columns] == [c.name for c in model.columns]
    for ours in clause.columns:
        theirs = model.columns[ours.name].type
        # SQLModel's AutoString decorates a String; DateTime, Integer and Float are themselves.
        theirs = getattr(theirs, "impl_instance", theirs)
        assert isinstance(theirs, type(ours.type)), (clause.name, ours.name, theirs)


# A fresh interpreter runs the real entry point and says whether the model classes were built.
_PROBE = """
import json, sys
from unmo_cli.cli import main
sys.argv = ["unmo", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
heavy = sorted(m for m in ("sqlmodel", "pydantic", "sqlalchemy.orm") if m in sys.modules)
sys.stderr.write("\\n" + json.dumps({"code": code, "models": "unmo_cli.db.models" in sys.modules,
                                     "heavy": heavy}))
"""


def _probe(*args: str, light: bool = True) -> dict:
    """The command's exit code and whether it built the model classes; and, where it did not,
    asserts it imported none of the stack they need (SQLModel, pydantic, SQLAlchemy's ORM: a
    third of the import floor the speed goals are measured against)."""
    ran = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    found = json.loads(ran.stderr.rsplit("\n", 1)[-1])
    heavy = found.pop("heavy")
    if light and not found["models"]:
        assert heavy == [], (args, heavy)
    else:
        assert "sqlmodel" in heavy, heavy  # the probe sees them when they are imported
    return found


def test_onboarding_and_alerts_list_build_no_model_classes(unmo, workspace: Path):
    onboard(unmo, "Already There")  # the database is there (creating it runs the migrations)
    # Onboarding still opens an ORM session (services/onboarding.py), so it imports the stack.
    assert _probe("onboard", "Second Games", *flags("hybrid"), "--yes", light=False) == {
        "code": 0, "models": False}
    assert _probe("alerts", "list") == {"code": 0, "models": False}
    assert _probe("alerts", "list", "--json") == {"code": 0, "models": False}
    # and the probe sees them when a command does build them
    assert _probe("customer", "show", "second-games") == {"code": 0, "models": True}


def test_task_list_and_timeline_build_no_model_classes(unmo, workspace: Path):
    onboard(unmo, "Second Games")
    unmo("task", "add", "second-games", "Call about the renewal", "--due", "2030-01-01",
         "--owner", "ana@team.example")
    unmo("customer", "note", "second-games", "Spoke to the CTO.")
    for args in (["task", "list"], ["task", "list", "--json"], ["task", "list", "--all"],
                 ["task", "list", "second-games", "--overdue"],
                 ["task", "list", "--owner", "ana@team.example", "--json"],
                 ["customer", "timeline", "second-games"],
                 ["customer", "timeline", "Second Games", "--json", "--limit", "5"],
                 ["customer", "timeline", "second-games", "--since", "2020-01-01",
                  "--kind", "task"]):
        assert _probe(*args) == {"code": 0, "models": False}, args
    # an unknown customer is still refused (exit 2), without them
    assert _probe("customer", "timeline", "nobody") == {"code": 2, "models": False}
    assert _probe("task", "list", "nobody") == {"code": 2, "models": False}


def test_reports_build_no_model_classes(unmo, workspace: Path):
    onboard(unmo, "Second Games")
    unmo("feedback", "add", "second-games", "--satisfaction", "8", "--nps", "9")
    unmo("task", "add", "second-games", "Call about the renewal", "--due", "2030-01-01")
    for args in (["report", "weekly"], ["report", "weekly", "--json"],
                 ["report", "weekly", "--format", "csv"], ["report", "weekly", "-f", "markdown"],
                 ["report", "weekly", "--format", "html"], ["report", "monthly"],
                 ["report", "monthly", "--json"], ["report", "sla"],
                 ["report", "sla", "--json"]):
        assert _probe(*args) == {"code": 0, "models": False}, args
    # a bad week is still refused (exit 2), without them
    assert _probe("report", "weekly", "--week", "2020-W60") == {"code": 2, "models": False}
