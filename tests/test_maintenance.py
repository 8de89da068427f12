"""Maintenance windows (`unmo maintenance add/list/cancel`) and `unmo health` inside one: the
check is recorded as `maintenance` without calling the API, raises no alert, is <skipped> in
JUnit and fails nothing — through the real CLI against a scripted API on 127.0.0.1."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support_health import PlayServer, make_customer

from tests.conftest import query

NOW = "2026-12-07T12:00:00Z"
ENV = {"UNMO_NOW": NOW}


@pytest.fixture
def api():
    server = PlayServer()
    yield server
    server.stop()


@pytest.fixture
def two_customers(workspace: Path):
    return {"acme": make_customer("acme"), "beta": make_customer("beta")}


def add(unmo, *args: str, env: dict[str, str] | None = None):
    return unmo("maintenance", "add", *args, "--json", env=ENV | (env or {}))


def test_add_list_and_cancel(unmo, two_customers):
    ran = add(unmo, "acme", "beta", "--start", "2026-12-07T11:00:00Z", "--end",
              "2026-12-07T13:00:00+00:00", "--reason", "database upgrade")
    assert ran.exit_code == 0, ran.stderr
    first = ran.json()
    assert (first["id"], first["start"], first["end"], first["customers"], first["state"]) == (
        1, "2026-12-07T11:00:00Z", "2026-12-07T13:00:00Z", ["acme", "beta"], "active")
    second = add(unmo, "--all", "--start", "2026-12-10", "--end", "2026-12-11",
                 "--reason", "region move").json()
    assert (second["all_customers"], second["customers"], second["state"]) == (
        True, [], "scheduled")
    listed = unmo("maintenance", "list", "--json", env=ENV).json()
    assert [(w["id"], w["state"]) for w in listed] == [(2, "scheduled"), (1, "active")]
    table = unmo("maintenance", "list", env=ENV)
    assert "database upgrade" in table.stdout and "all customers" in table.stdout
    cancelled = unmo("maintenance", "cancel", "2", "--json", env=ENV).json()
    assert cancelled["state"] == "cancelled" and cancelled["cancelled_at"] == NOW
    assert query("SELECT id, cancelled_at IS NOT NULL FROM maintenance_windows ORDER BY id") == [
        (1, False), (2, True)]
    assert query("SELECT window_id, customer_id FROM maintenance_window_customers "
                 "ORDER BY customer_id") == [(1, 1), (1, 2)]


BAD_ADD = [
    (("acme", "--start", "2026-12-08T10:00Z", "--end", "2026-12-08T09:00Z", "--reason", "x"),
     "--end 2026-12-08T09:00Z is not after --start 2026-12-08T10:00Z."),
    (("acme", "--start", "2026-12-01", "--end", "2026-12-02", "--reason", "x"),
     "--end 2026-12-02 has already passed"),
    (("nobody", "--start", "2026-12-08", "--end", "2026-12-09", "--reason", "x"),
     "unknown customer 'nobody'"),
    (("acme", "--all", "--start", "2026-12-08", "--end", "2026-12-09", "--reason", "x"),
     "pass customer slugs or --all, not both."),
    (("--start", "2026-12-08", "--end", "2026-12-09", "--reason", "x"),
     "name the customers in maintenance, or pass --all."),
    (("acme", "--start", "soon", "--end", "2026-12-09", "--reason", "x"),
     "--start 'soon' is not a date"),
    (("acme", "--start", "2026-12-08", "--end", "2026-12-09", "--reason", "  "),
     "--reason is empty"),
    (("acme", "--start", "2026-12-08", "--end", "2026-12-09", "--reason", "a\x1b[2Jb"),
     "--reason contains"),
]


@pytest.mark.parametrize(("args", "words"), BAD_ADD, ids=[w for _a, w in BAD_ADD])
def test_bad_input_exits_2_and_writes_nothing(unmo, two_customers, unchanged, args, words):
    ran = unmo("maintenance", "add", *args, env=ENV)
    assert ran.exit_code == 2
    assert ran.stderr.startswith("error: ") and words in ran.stderr
    assert "Traceback" not in ran.stderr
    unchanged()


def test_cancel_refuses_an_unknown_a_cancelled_or_a_past_window(unmo, two_customers):
    add(unmo, "acme", "--start", "2026-12-07T11:00Z", "--end", "2026-12-07T12:30Z",
        "--reason", "x")
    assert unmo("maintenance", "cancel", "7", env=ENV).stderr == (
        "error: no maintenance window 7; run unmo maintenance list.\n")
    later = {"UNMO_NOW": "2026-12-07T13:00:00Z"}
    ran = unmo("maintenance", "cancel", "1", env=later)
    assert ran.exit_code == 2 and "is over" in ran.stderr
    assert unmo("maintenance", "cancel", "1", env=ENV).exit_code == 0
    ran = unmo("maintenance", "cancel", "1", env=ENV)
    assert ran.exit_code == 2 and "already cancelled" in ran.stderr


def test_reading_an_empty_workspace(unmo, workspace: Path):
    assert unmo("maintenance", "list", "--json").json() == []
    assert list(workspace.iterdir()) == []


# --- health inside a window ------------------------------------------------------------------


def health(unmo, api, *args: str, env: dict[str, str] | None = None):
    return unmo("health", "--retries", "0", *args,
                env={"UNMO_API_URL": api.url} | ENV | (env or {}))


def test_a_check_inside_a_window_is_maintenance_without_a_call_alert_or_failure(
        unmo, api, workspace: Path, two_customers):
    keys = two_customers
    api.plays[keys["acme"].live] = "500"
    api.plays[keys["beta"].live] = "healthy"
    add(unmo, "acme", "--start", "2026-12-07T11:00Z", "--end", "2026-12-07T13:00Z",
        "--reason", "database upgrade")
    for _ in range(4):  # past the failure threshold (3)
        ran = health(unmo, api, "--format", "junit", "--output", "health.xml")
        assert ran.exit_code == 0, ran.stderr
    assert api.requests(keys["acme"].live) == 0
    assert api.requests(keys["beta"].live) == 4
    suite = ET.parse(workspace / "health.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "0", "1")
    case = suite.find("testcase[@name='acme']")
    assert case is not None
    skipped = case.find("skipped")
    assert skipped is not None and case.find("failure") is None
    assert skipped.get("message") == ("maintenance window #1 until 2026-12-07T13:00:00Z: "
                                      "database upgrade")
    document = health(unmo, api, "--json").json()
    acme = next(r for r in document["results"] if r["customer"] == "acme")
    assert (acme["status"], acme["http_status"], acme["attempts"]) == ("maintenance", None, 0)
    assert document["summary"]["maintenance"] == 1 and document["passed"] is True
    assert document["alerts"] == []
    assert query("SELECT status, COUNT(*) FROM health_checks GROUP BY status ORDER BY status") == [
        ("healthy", 5), ("maintenance", 5)]
    assert query("SELECT COUNT(*) FROM alerts") == [(0,)]
    # After the window the API is called again; the maintenance checks are not part of the
    # streak: one failure is no alert yet.
    after = {"UNMO_NOW": "2026-12-07T13:00:00Z"}
    ran = health(unmo, api, "--json", "acme", env=after)
    assert ran.exit_code == 1 and ran.json()["results"][0]["status"] == "down"
    assert ran.json()["alerts"] == [] and api.requests(keys["acme"].live) == 1


def test_a_window_for_all_and_a_cancelled_one(unmo, api, two_customers):
    keys = two_customers
    for key in keys.values():
        api.plays[key.live] = "healthy"
    add(unmo, "--all", "--start", "2026-12-07T11:00Z", "--end", "2026-12-07T13:00Z",
        "--reason", "region move")
    statuses = {r["customer"]: r["status"] for r in health(unmo, api, "--json").json()["results"]}
    assert statuses == {"acme": "maintenance", "beta": "maintenance"}
    unmo("maintenance", "cancel", "1", env={"UNMO_NOW": "2026-12-07T12:10:00Z"})
    ran = health(unmo, api, "--json", env={"UNMO_NOW": "2026-12-07T12:20:00Z"})
    assert {r["status"] for r in ran.json()["results"]} == {"healthy"}
    # A run dated before the cancellation still sees the window (backdated checks).
    ran = health(unmo, api, "--json", env={"UNMO_NOW": "2026-12-07T12:05:00Z"})
    assert {r["status"] for r in ran.json()["results"]} == {"maintenance"}


def test_maintenance_checks_are_left_out_of_the_sla(unmo, api, two_customers):
    keys = two_customers
    api.plays[keys["acme"].live] = "500"
    api.plays[keys["beta"].live] = "healthy"
    add(unmo, "acme", "--start", "2026-12-07T11:00Z", "--end", "2026-12-07T13:00Z",
        "--reason", "upgrade")
    health(unmo, api)
    health(unmo, api, env={"UNMO_NOW": "2026-12-07T13:00:00Z"})  # acme down, beta healthy
    rows = {r["slug"]: r for r in unmo("report", "sla", "--month", "2026-12", "--json",
                                       env={"UNMO_NOW": "2026-12-07T14:00:00Z"}).json()
            ["customers"]}
    assert (rows["acme"]["checks"], rows["acme"]["maintenance"],
            rows["acme"]["availability_pct"]) == (1, 1, 0.0)
    # The down check at 13:00 stands until the month so far ends (14:00), capped at the
    # spacing of acme's two checks (one hour): 60 minutes.
    assert rows["acme"]["downtime_minutes"] == 60.0
    assert (rows["beta"]["checks"], rows["beta"]["availability_pct"]) == (2, 100.0)
