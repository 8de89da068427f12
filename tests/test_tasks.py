"""`unmo task add|list|done|assign`: tasks on customers through the real CLI and database
(SQLite, and PostgreSQL in its pass)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query
from support_onboarding import flags

MONDAY = "2026-12-07T10:00:00Z"


@pytest.fixture
def acme(module_workspaces, workspace) -> str:
    """Acme Games, onboarded on MONDAY: once for the module, a copy for each test."""
    return module_workspaces.copy(_onboard_acme, workspace)


def _onboard_acme(unmo) -> str:
    ran = unmo("onboard", "Acme Games", *flags("sdk"), "--yes", env={"UNMO_NOW": MONDAY})
    assert ran.exit_code == 0, ran.stderr
    return "acme-games"


def add(unmo, *args: str, now: str = MONDAY) -> dict:
    ran = unmo("task", "add", *args, "--json", env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def listed(unmo, *args: str, now: str = MONDAY, env: dict | None = None) -> list[dict]:
    ran = unmo("task", "list", *args, "--json", env={"UNMO_NOW": now} | (env or {}))
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def test_add_then_list_with_every_field(unmo, acme):
    task = add(unmo, acme, "  Send the QBR deck ", "--due", "2026-12-10", "--owner",
               "Ana@Team.Example")
    assert task == {
        "id": task["id"], "customer": "acme-games", "customer_name": "Acme Games",
        "title": "Send the QBR deck", "owner": "ana@team.example", "due_on": "2026-12-10",
        "status": "open", "overdue": False, "playbook": None, "fired": 1,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z",
        "done_at": None, "done_note": None}
    assert listed(unmo) == [task]
    assert listed(unmo, acme) == [task]
    assert query("SELECT title, owner, CAST(due_on AS TEXT), status, playbook FROM tasks") == [
        ("Send the QBR deck", "ana@team.example", "2026-12-10", "open", None)]
    human = unmo("task", "list", env={"UNMO_NOW": MONDAY})
    assert human.exit_code == 0 and "Send the QBR deck" in human.stdout


def test_order_is_due_date_then_id_without_due_date_last(unmo, acme):
    later = add(unmo, acme, "Later", "--due", "2026-12-20")["id"]
    undated = add(unmo, acme, "Whenever")["id"]
    sooner = add(unmo, acme, "Sooner", "--due", "2026-12-08")["id"]
    same_day = add(unmo, acme, "Also sooner", "--due", "2026-12-08")["id"]
    assert [t["id"] for t in listed(unmo)] == [sooner, same_day, later, undated]


def test_overdue_is_open_and_due_before_today_in_the_workspace_time_zone(unmo, acme, workspace):
    add(unmo, acme, "Due Monday", "--due", "2026-12-07")
    add(unmo, acme, "Due Sunday", "--due", "2026-12-06")
    # Monday 10:00 UTC: only the Sunday task is overdue.
    assert [t["title"] for t in listed(unmo, "--overdue")] == ["Due Sunday"]
    # Tuesday 02:00 UTC is still Monday in Los Angeles.
    (workspace / "unmo.yaml").write_text("timezone: America/Los_Angeles\n")
    tasks = listed(unmo, "--overdue", now="2026-12-08T02:00:00Z")
    assert [t["title"] for t in tasks] == ["Due Sunday"] and tasks[0]["overdue"] is True
    (workspace / "unmo.yaml").write_text("timezone: UTC\n")
    assert len(listed(unmo, "--overdue", now="2026-12-08T02:00:00Z")) == 2


def test_done_leaves_the_open_list_and_twice_is_said_and_changes_nothing(unmo, acme):
    task = add(unmo, acme, "Call Ann", "--due", "2026-12-01")
    ran = unmo("task", "done", str(task["id"]), "--note", "She renews in March.", "--json",
               env={"UNMO_NOW": "2026-12-08T09:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    done = ran.json()
    assert (done["status"], done["done_at"], done["done_note"], done["overdue"]) == (
        "done", "2026-12-08T09:00:00Z", "She renews in March.", False)
    assert listed(unmo) == [] and listed(unmo, "--overdue") == []
    assert [t["id"] for t in listed(unmo, "--done")] == [task["id"]]
    assert [t["id"] for t in listed(unmo, "--all")] == [task["id"]]
    again = unmo("task", "done", str(task["id"]), "--note", "other",
                 env={"UNMO_NOW": "2026-12-09T09:00:00Z"})
    assert again.exit_code == 0 and "already done at 2026-12-08 09:00" in again.stderr
    assert query("SELECT done_note, done_at FROM tasks") == [
        ("She renews in March.", "2026-12-08 09:00:00.000000")]


def test_assign_and_owner_filters_and_mine(unmo, acme, workspace):
    mine = add(unmo, acme, "Mine")["id"]
    theirs = add(unmo, acme, "Theirs", "--owner", "bo@team.example")["id"]
    ran = unmo("task", "assign", str(mine), "ANA@team.example", "--json",
               env={"UNMO_NOW": "2026-12-07T11:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    assert (ran.json()["owner"], ran.json()["updated_at"]) == ("ana@team.example",
                                                               "2026-12-07T11:00:00Z")
    assert [t["id"] for t in listed(unmo, "--owner", "Ana@Team.example")] == [mine]
    assert [t["id"] for t in listed(unmo, "--mine", env={"UNMO_ACTOR": "bo@team.example"})] \
        == [theirs]
    (workspace / "unmo.yaml").write_text("user:\n  email: Ana@team.example\n")
    assert [t["id"] for t in listed(unmo, "--mine")] == [mine]
    # UNMO_ACTOR wins over user.email.
    assert [t["id"] for t in listed(unmo, "--mine", env={"UNMO_ACTOR": "bo@team.example"})] \
        == [theirs]
    assert unmo("task", "assign", str(mine), "none").exit_code == 0
    assert query(f"SELECT owner FROM tasks WHERE id = {mine}") == [(None,)]


def test_mine_without_knowing_who_you_are_is_exit_2(unmo, acme):
    ran = unmo("task", "list", "--mine")
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: --mine needs to know who you are: set UNMO_ACTOR")


@pytest.mark.parametrize(("args", "problem"), [
    (["acme-games", "   "], "TITLE is empty"),
    (["acme-games", "Call\nAnn"], "TITLE contains a line break"),
    (["acme-games", "x" * 201], "TITLE is 201 characters long"),
    (["acme-games", "Call", "--due", "2026-13-01"], "--due"),
    (["acme-games", "Call", "--owner", "ana"], "--owner 'ana' is not an e-mail address"),
    (["nobody", "Call"], "unknown customer 'nobody'"),
])
def test_bad_add_is_exit_2_and_writes_nothing(unmo, acme, unchanged, args, problem):
    ran = unmo("task", "add", *args)
    assert ran.exit_code == 2, ran.stderr
    assert ran.stderr.startswith("error: ") and problem in ran.stderr, ran.stderr
    assert ran.stderr.count("\n") == 1
    unchanged()


@pytest.mark.parametrize("verb", [["done", "{id}"], ["assign", "{id}", "ana@team.example"]])
@pytest.mark.parametrize("task_id", ["999", "0", "-3", "99999999999", "abc"])
def test_a_task_that_does_not_exist_is_exit_2(unmo, acme, verb, task_id):
    add(unmo, acme, "Real one")
    ran = unmo("task", *[part.format(id=task_id) for part in verb])
    assert ran.exit_code == 2, ran.stderr
    assert ran.stderr.startswith("error: ") and "Traceback" not in ran.stderr
    if task_id in ("999", "99999999999"):
        assert f"no task with id {task_id}" in ran.stderr
    assert query("SELECT title, status, owner FROM tasks") == [("Real one", "open", None)]


def test_bad_list_filters_are_exit_2(unmo, acme):
    for args, problem in [(["--owner", "x"], "--owner 'x' is not an e-mail address"),
                          (["--open", "--done"], "give one of --open, --done"),
                          (["--owner", "a@b.example", "--mine"], "not both"),
                          (["nobody"], "unknown customer 'nobody'")]:
        ran = unmo("task", "list", *args)
        assert ran.exit_code == 2 and problem in ran.stderr, (args, ran.stderr)


def test_bad_assign_and_note_are_exit_2_and_write_nothing(unmo, acme):
    task = add(unmo, acme, "Call")
    for args, problem in [(["assign", str(task["id"]), "nobody"], "EMAIL 'nobody'"),
                          (["done", str(task["id"]), "--note", "bad\x1b[2J"],
                           "--note contains a control character")]:
        ran = unmo("task", *args)
        assert ran.exit_code == 2 and problem in ran.stderr, ran.stderr
    assert query("SELECT status, owner, done_note FROM tasks") == [("open", None, None)]


def test_list_in_an_empty_workspace_creates_nothing(unmo, workspace: Path):
    ran = unmo("task", "list", "--json")
    assert ran.exit_code == 0 and ran.json() == []
    assert not (workspace / ".unmo").exists()
    ran = unmo("task", "done", "1")
    assert ran.exit_code == 2 and "no task with id 1" in ran.stderr
    assert not (workspace / ".unmo").exists()
