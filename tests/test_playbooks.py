"""Playbooks: the `playbooks:` setting (checked with its file and line), the alert triggers firing
tasks from `feedback add`, `feedback import` and `health`, the one-open-task rule, `unmo task
sweep`'s time triggers, two processes firing at once, and the business-day arithmetic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import query
from hypothesis import given
from hypothesis import strategies as st
from support_health import PlayServer, make_customer
from support_launcher import UnmoProcess
from support_onboarding import flags, onboard
from support_races import wait_done_or_blocked
from support_smtp import smtp_server
from support_survey import configure as configure_surveys
from support_survey import form_token, free_port, http_get, http_post, survey_link, survey_server

from unmo_cli.playbooks import add_business_days
from unmo_cli.workspace import PLAYBOOKS_EXAMPLE

ONBOARDED = "2026-10-01T09:00:00Z"
FRIDAY = "2026-12-04T15:00:00Z"
CALL = {"on": "detractor", "task": "Call the customer about their NPS answer",
        "due_business_days": 2, "owner": "success_manager"}


def configure(workspace: Path, *playbooks: dict, **extra) -> None:
    (workspace / "unmo.yaml").write_text(yaml.safe_dump({"playbooks": list(playbooks), **extra},
                                                        sort_keys=False))


@pytest.fixture
def acme(module_workspaces, workspace: Path) -> str:
    """Acme Games with its success manager: once for the module, a copy for each test."""
    return module_workspaces.copy(_onboard_acme, workspace)


def _onboard_acme(unmo) -> str:
    ran = unmo("onboard", "Acme Games", *flags("sdk"), "--yes", env={"UNMO_NOW": ONBOARDED})
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("customer", "set", "acme-games", "--success-manager", "Sam@Team.example",
               env={"UNMO_NOW": "2026-10-02T09:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    return "acme-games"


def tasks(unmo, *args: str, now: str = FRIDAY) -> list[dict]:
    ran = unmo("task", "list", "--all", *args, "--json", env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def feedback(unmo, slug: str, satisfaction: str, nps: str | None = None, *,
             now: str = FRIDAY) -> None:
    args = ["--nps", nps] if nps is not None else []
    ran = unmo("feedback", "add", slug, "--satisfaction", satisfaction, *args,
               env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("playbooks:\n  - on: churned\n    task: x\n", 2, "on 'churned' is not a trigger"),
    ("playbooks:\n  - on: detractor\n    owner: a@b.example\n", 2, "has no 'task'"),
    ("playbooks:\n  - task: Call\n", 2, "has no 'on'"),
    ("playbooks:\n  - on: silent\n    task: x\n", 2, "(silent) has no 'days'"),
    ("playbooks:\n  - on: silent\n    days: -3\n    task: x\n", 3,
     "days must be a whole number from 1"),
    ("playbooks:\n  - on: detractor\n    task: x\n    due_business_days: -1\n", 4,
     "due_business_days must be a whole number from 0"),
    ("playbooks:\n  - on: detractor\n    task: x\n    days: 3\n", 4,
     "days applies to renewal_due and silent only"),
    ("playbooks:\n  - on: detractor\n    task: x\n    owner: the boss\n", 4,
     "owner 'the boss' is not an e-mail address or success_manager"),
    ("playbooks:\n  - on: detractor\n    task: x\n    assignee: a@b.example\n", 4,
     "unknown key 'assignee'"),
    ("playbooks:\n  - on: detractor\n    task: \"a\\nb\"\n", 3, "task contains a line break"),
    ("playbooks:\n  on: detractor\n", 1, "'playbooks' must be a list"),
    ("playbooks:\n  - detractor\n", 2, "playbooks[1] must be a mapping"),
    ("playbooks:\n  - {on: detractor, task: Call}\n  - {on: detractor, task: Call}\n", 3,
     "repeats the entry of line 2"),
    ("user:\n  email: nobody\n", 2, "user.email 'nobody' is not an e-mail address"),
])
def test_bad_playbooks_name_the_file_and_line(unmo, workspace, text, line, problem):
    (workspace / "unmo.yaml").write_text(text)
    ran = unmo("task", "list")
    assert ran.exit_code == 2, ran.stderr
    assert f"unmo.yaml: line {line}: " in ran.stderr and problem in ran.stderr, ran.stderr
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1


def test_config_show_lists_the_playbooks_and_inits_example_is_valid(unmo, workspace):
    example = "\n".join(line.removeprefix("# ") for line in PLAYBOOKS_EXAMPLE)
    (workspace / "unmo.yaml").write_text(example + "\nuser:\n  email: Ana@Team.example\n")
    ran = unmo("config", "show", "--json")
    assert ran.exit_code == 0, ran.stderr
    settings = ran.json()["settings"]
    assert settings["user.email"] == "ana@team.example"
    assert settings["playbooks"] == [
        {"on": "detractor", "task": "Call the customer about their NPS answer",
         "due_business_days": 2, "owner": "success_manager"},
        {"on": "renewal_due", "days": 60, "task": "Prepare the renewal",
         "due_business_days": 10, "owner": "success_manager"}]
    human = unmo("config", "show")
    assert "on: renewal_due, days: 60, task: Prepare the renewal" in human.stdout
    fresh = workspace / "fresh"
    assert unmo("init", str(fresh)).exit_code == 0
    assert "#   - on: detractor" in (fresh / "unmo.yaml").read_text()


# --- alert triggers -------------------------------------------------------------------------------


def test_a_detractor_storm_is_one_task_for_the_success_manager(unmo, workspace, acme):
    configure(workspace, CALL)
    feedback(unmo, acme, "8", "3")  # Friday: due two business days later, Tuesday
    [task] = tasks(unmo)
    assert (task["title"], task["owner"], task["due_on"], task["fired"], task["playbook"]) == (
        CALL["task"], "sam@team.example", "2026-12-08", 1,
        "detractor:Call the customer about their NPS answer")
    feedback(unmo, acme, "8", "2", now="2026-12-07T09:00:00Z")  # Monday: due Wednesday; kept
    feedback(unmo, acme, "9", "9", now="2026-12-07T09:30:00Z")  # a promoter fires nothing
    [task] = tasks(unmo)
    assert (task["fired"], task["due_on"], task["updated_at"]) == (2, "2026-12-08",
                                                                  "2026-12-07T09:00:00Z")
    # Done: the next detractor is a new call to make.
    assert unmo("task", "done", str(task["id"])).exit_code == 0
    feedback(unmo, acme, "8", "1", now="2026-12-08T09:00:00Z")
    assert [(t["status"], t["fired"]) for t in tasks(unmo)] == [("done", 2), ("open", 1)]


def test_an_earlier_due_date_wins_and_a_reassignment_is_kept(unmo, workspace, acme):
    configure(workspace, CALL | {"due_business_days": 5})
    feedback(unmo, acme, "8", "3")  # Friday + 5 business days: Friday 2026-12-11
    [task] = tasks(unmo)
    assert task["due_on"] == "2026-12-11"
    assert unmo("task", "assign", str(task["id"]), "bo@team.example").exit_code == 0
    configure(workspace, CALL | {"due_business_days": 0})  # same playbook (trigger and title)
    feedback(unmo, acme, "8", "3", now="2026-12-05T10:00:00Z")  # Saturday: due Monday
    [task] = tasks(unmo)
    assert (task["due_on"], task["owner"], task["fired"]) == ("2026-12-07", "bo@team.example", 2)


def test_each_alert_rule_fires_its_own_playbooks(unmo, workspace, acme):
    configure(workspace, {"on": "low_satisfaction", "task": "Find out what went wrong",
                          "owner": "lead@team.example"},
              {"on": "satisfaction_drop", "task": "Review the account"}, CALL)
    feedback(unmo, acme, "3")  # low satisfaction, no NPS answer
    assert [(t["title"], t["owner"]) for t in tasks(unmo)] == [
        ("Find out what went wrong", "lead@team.example")]
    assert query("SELECT rule FROM alerts") == [("low_satisfaction",)]


def test_a_storm_in_one_import_is_one_task_and_no_alerts_is_no_task(unmo, workspace, acme):
    configure(workspace, CALL)
    rows = "".join(f"{acme},7,{n % 7},d-{n}\n" for n in range(20))
    (workspace / "storm.csv").write_text("customer,satisfaction,nps,id\n" + rows)
    ran = unmo("feedback", "import", "storm.csv", "--no-alerts", env={"UNMO_NOW": FRIDAY})
    assert ran.exit_code == 0, ran.stderr
    assert tasks(unmo) == []
    (workspace / "more.csv").write_text("customer,satisfaction,nps,id\n" +
                                        rows.replace(",d-", ",e-"))
    ran = unmo("feedback", "import", "more.csv", env={"UNMO_NOW": FRIDAY})
    assert ran.exit_code == 0, ran.stderr
    [task] = tasks(unmo)
    assert (task["fired"], task["owner"], task["due_on"]) == (20, "sam@team.example",
                                                              "2026-12-08")


def test_health_failing_fires_its_playbook(unmo, workspace):
    configure(workspace, {"on": "health_failing", "task": "Fix the integration",
                          "owner": "ops@team.example", "due_business_days": 1},
              alerts={"health_failure_threshold": 2})
    api = PlayServer()
    try:
        keys = make_customer("beta-apps")
        api.plays[keys.live] = "500"
        for _ in range(3):
            ran = unmo("health", "--format", "json", "--retries", "0",
                       env={"UNMO_API_URL": api.url, "UNMO_NOW": FRIDAY})
            assert ran.exit_code == 1, ran.stderr
    finally:
        api.stop()
    [task] = tasks(unmo)
    assert (task["customer"], task["title"], task["owner"], task["due_on"], task["fired"]) == (
        "beta-apps", "Fix the integration", "ops@team.example", "2026-12-07", 1)
    assert query("SELECT rule FROM alerts") == [("health_failing",)]


def test_a_detractor_on_the_survey_page_opens_the_task(unmo, workspace):
    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure_surveys(workspace, box.port, port, extra=(
            "playbooks:\n  - {on: detractor, task: Call them, owner: ana@team.example}\n"))
        assert unmo("survey", "send", slug).exit_code == 0
    link = survey_link(box.messages()[0])
    with survey_server(workspace, port):
        page = http_get(link)
        posted = http_post(link, data={"satisfaction": "8", "nps": "2",
                                       "form_token": form_token(page.text)})
        assert posted.status_code == 200, posted.text
    [task] = tasks(unmo)
    assert (task["customer"], task["title"], task["owner"], task["playbook"], task["fired"]) == (
        slug, "Call them", "ana@team.example", "detractor:Call them", 1)


# --- time triggers: task sweep --------------------------------------------------------------------


def sweep(unmo, now: str, *args: str) -> dict:
    ran = unmo("task", "sweep", "--json", *args, env={"UNMO_NOW": now})
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def test_renewal_due_fires_once_per_renewal(unmo, workspace, acme):
    renewal = {"on": "renewal_due", "days": 60, "task": "Prepare the renewal",
               "due_business_days": 10}
    assert unmo("customer", "set", acme, "--renewal-date", "2027-01-15",
                env={"UNMO_NOW": "2026-10-03T09:00:00Z"}).exit_code == 0
    configure(workspace, renewal)
    assert sweep(unmo, "2026-11-15T10:00:00Z")["fired"] == []  # 61 days before
    dry = sweep(unmo, "2026-11-20T10:00:00Z", "--dry-run")
    assert dry == {"dry_run": True, "fired": [{
        "customer": acme, "trigger": "renewal_due", "playbook": "renewal_due:Prepare the renewal",
        "title": "Prepare the renewal", "reason": "renewal on 2027-01-15 (in 56 days)",
        "task": None, "action": "would fire"}]}
    assert tasks(unmo) == []  # a dry run writes nothing
    run = sweep(unmo, "2026-11-20T10:00:00Z")["fired"]
    assert [(f["action"], f["reason"]) for f in run] == [
        ("created", "renewal on 2027-01-15 (in 56 days)")]
    [task] = tasks(unmo)
    assert (task["id"], task["owner"], task["due_on"]) == (run[0]["task"], "sam@team.example",
                                                          "2026-12-04")
    # Hourly runs change nothing; nor do they once the task is done.
    assert sweep(unmo, "2026-11-20T11:00:00Z")["fired"] == []
    assert unmo("task", "done", str(task["id"]),
                env={"UNMO_NOW": "2026-11-21T10:00:00Z"}).exit_code == 0
    assert sweep(unmo, "2026-11-22T10:00:00Z")["fired"] == []
    assert sweep(unmo, "2027-01-16T10:00:00Z")["fired"] == []  # the renewal date has passed
    # Next year's renewal is another occasion.
    assert unmo("customer", "set", acme, "--renewal-date", "2028-01-15",
                env={"UNMO_NOW": "2027-01-20T09:00:00Z"}).exit_code == 0
    assert sweep(unmo, "2027-12-01T10:00:00Z")["fired"][0]["action"] == "created"
    assert [t["status"] for t in tasks(unmo, now="2027-12-01T10:00:00Z")] == ["done", "open"]


def test_silent_fires_after_n_days_without_feedback_and_updates_its_open_task(unmo, workspace,
                                                                               acme):
    configure(workspace, {"on": "silent", "days": 30, "task": "Check in",
                          "owner": "lead@team.example"})
    assert sweep(unmo, "2026-10-30T10:00:00Z")["fired"] == []
    [fired] = sweep(unmo, "2026-11-05T10:00:00Z")["fired"]
    assert fired["reason"] == "no feedback since onboarding on 2026-10-01 (35 days)"
    assert sweep(unmo, "2026-11-06T10:00:00Z")["fired"] == []
    feedback(unmo, acme, "9", now="2026-11-10T10:00:00Z")
    assert sweep(unmo, "2026-12-05T10:00:00Z")["fired"] == []
    [again] = sweep(unmo, "2026-12-11T10:00:00Z")["fired"]
    assert (again["action"], again["reason"]) == ("updated",
                                                  "no feedback since 2026-11-10 (31 days)")
    [task] = tasks(unmo, now="2026-12-11T10:00:00Z")
    assert (task["fired"], task["owner"], task["status"]) == (2, "lead@team.example", "open")


def test_sweep_leaves_churned_customers_and_an_empty_workspace_alone(unmo, workspace, acme):
    configure(workspace, {"on": "silent", "days": 30, "task": "Check in"})
    assert unmo("customer", "churn", acme, "--reason", "budget",
                env={"UNMO_NOW": "2026-10-05T09:00:00Z"}).exit_code == 0
    assert sweep(unmo, "2026-12-01T10:00:00Z")["fired"] == []
    assert tasks(unmo) == []


def test_sweep_dry_run_in_an_empty_workspace_creates_nothing(unmo, workspace):
    configure(workspace, {"on": "silent", "days": 30, "task": "Check in"})
    assert sweep(unmo, FRIDAY, "--dry-run") == {"dry_run": True, "fired": []}
    assert not (workspace / ".unmo").exists()


# --- two processes at once ------------------------------------------------------------------------


def _spawn(*args: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", **extra}
    return UnmoProcess([sys.executable, "-m", "unmo_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _with_one_paused(workspace: Path, first: list[str], second: list[str], **env: str
                     ) -> tuple[subprocess.Popen, subprocess.Popen]:
    """`first` paused just before it fires its playbook (task-fire), `second` run meanwhile (to
    its end, or until it waits for the lock `first` holds: support_races, at most 5 s), then
    `first` released."""
    marker = workspace.parent / f"paused-{time.monotonic_ns()}"
    held = _spawn(*first, UNMO_TEST_PAUSE_AT="task-fire", UNMO_TEST_PAUSE_FILE=str(marker),
                  UNMO_TEST_PAUSE_S="120", **env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert held.poll() is None, held.communicate()[1]
            assert time.monotonic() < deadline, "never reached the pause"
            time.sleep(0.02)
        racer = _spawn(*second, **env)
        wait_done_or_blocked(racer, timeout=5)
    finally:
        marker.unlink(missing_ok=True)
    for process in (held, racer):
        process.communicate(timeout=120)
    return held, racer


def test_two_detractors_at_once_are_one_task_fired_twice(unmo, workspace, acme):
    configure(workspace, CALL)
    add = ["feedback", "add", acme, "--satisfaction", "5", "--nps", "2"]
    held, racer = _with_one_paused(workspace, add, add, UNMO_NOW=FRIDAY)
    assert (held.returncode, racer.returncode) == (0, 0)
    assert query("SELECT status, fired FROM tasks") == [("open", 2)]
    assert query("SELECT COUNT(*) FROM alerts WHERE rule = 'detractor'") == [(2,)]


def test_two_sweeps_at_once_open_one_task(unmo, workspace, acme):
    configure(workspace, {"on": "silent", "days": 30, "task": "Check in"})
    held, racer = _with_one_paused(workspace, ["task", "sweep", "--json"],
                                   ["task", "sweep", "--json"], UNMO_NOW="2026-11-05T10:00:00Z")
    assert (held.returncode, racer.returncode) == (0, 0)
    assert query("SELECT status, fired FROM tasks") == [("open", 1)]


# --- business days --------------------------------------------------------------------------------


def _one_day_at_a_time(start: date, days: int) -> date:
    day = start
    while day.weekday() >= 5:
        day += timedelta(days=1)
    if days == 0:
        return day
    day, left = start, days
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       st.integers(min_value=0, max_value=260))
def test_due_dates_skip_weekends(start: date, days: int):
    due = add_business_days(start, days)
    assert due.weekday() < 5
    assert due == _one_day_at_a_time(start, days)
    weekdays_between = sum(1 for n in range(1, (due - start).days + 1)
                           if (start + timedelta(days=n)).weekday() < 5)
    assert weekdays_between == (days if days or start.weekday() < 5 else 1)


def test_due_dates_examples():
    friday, saturday = date(2026, 12, 4), date(2026, 12, 5)
    assert add_business_days(friday, 1) == date(2026, 12, 7)
    assert add_business_days(friday, 0) == friday
    assert add_business_days(saturday, 0) == date(2026, 12, 7)
    assert add_business_days(saturday, 5) == date(2026, 12, 11)
