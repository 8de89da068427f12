"""The audit trail: every write a command makes is an event chained by hashes; `unmo audit verify`
finds an edited, deleted, inserted or reordered event on SQLite and PostgreSQL (the tests tamper
with the database directly, as an intruder would); an auditor checks an export without unmo."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import query
from sqlalchemy import text
from support_launcher import UnmoProcess
from support_onboarding import flags, secret_keys

from unmo_cli.db import connect
from unmo_cli.workspace import load_workspace

EMAIL = "quinn.privacy@audit-co.example"


@pytest.fixture
def history(unmo, workspace: Path) -> str:
    ran = unmo("onboard", "Audit Co", *flags("s2s", contact_email=EMAIL), "--yes",
               env={"UNMO_ACTOR": "sam@unmo.example"})
    assert ran.exit_code == 0, ran.stderr
    for args in (("customer", "set", "audit-co", "--mrr", "3100", "--contact-name", "Quinn Q"),
                 ("feedback", "add", "audit-co", "-s", "4", "-m", "Quinn says it is slow"),
                 ("customer", "phase", "audit-co", "launch")):
        ran = unmo(*args)
        assert ran.exit_code == 0, ran.stderr
    return "audit-co"


def _tamper(sql: str, **params) -> None:
    """Change the database behind unmo's back (an intruder with the file or a SQL login)."""
    db = connect(load_workspace().database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text(sql), params)
    finally:
        db.dispose()


def _verify(unmo) -> tuple[int, dict, str]:
    ran = unmo("audit", "verify", "--json")
    return ran.exit_code, json.loads(ran.stdout), ran.stderr


def test_every_write_is_an_event_and_the_chain_holds(unmo, history):
    code, verdict, _ = _verify(unmo)
    assert code == 0 and verdict["holds"] and verdict["events"] >= 8
    events = unmo("audit", "list", "--json", "--limit", "1000").json()
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["action"] == "genesis"
    actions = {e["action"] for e in events}
    assert {"customers.insert", "api_keys.insert", "mrr_changes.insert", "customers.update",
            "customer_changes.insert", "feedback.insert", "phase_changes.insert"} <= actions
    onboarded = next(e for e in events if e["action"] == "customers.insert")
    assert onboarded["actor"] == "sam@unmo.example" and onboarded["customer"] == "audit-co"
    update = next(e for e in events if e["action"] == "customers.update"
                  and "mrr_cents" in e["details"]["after"])
    assert update["details"]["before"][0]["mrr_cents"] == 250050
    assert update["details"]["after"]["mrr_cents"] == 310000
    assert "customer set audit-co --mrr 3100 --contact-name ‹redacted›" in update["command"]
    # No personal data anywhere in the trail, not even in the command lines.
    dump = json.dumps(events, ensure_ascii=False)
    for value in (EMAIL, "Quinn Q", "Quinn says"):
        assert value not in dump
    ran = unmo("audit", "list", "--customer", "audit-co", "--json")
    assert ran.exit_code == 0 and all(e["customer"] == "audit-co" for e in ran.json())
    ran = unmo("audit", "list", "--actor", "sam@unmo.example", "--json")
    assert {e["actor"] for e in ran.json()} == {"sam@unmo.example"}


def test_secret_keys_in_a_command_line_become_hints(unmo, history, workspace):
    key = secret_keys(workspace / "customers" / history)["UNMO_SECRET_KEY_LIVE"]
    ran = unmo("feedback", "add", history, "-s", "9", "--id", key)
    assert ran.exit_code == 0, ran.stderr
    dump = json.dumps(unmo("audit", "list", "--json").json(), ensure_ascii=False)
    assert key not in dump and key[:13] + "…" + key[-4:] in dump


@pytest.mark.parametrize(("tamper", "broken_at"), [
    # edited: a value changed in place
    ("UPDATE audit_events SET actor = 'mallory' WHERE id = 4", 4),
    # deleted: an event removed from the middle
    ("DELETE FROM audit_events WHERE id = 3", 3),
    # inserted: a forged event at the end, with a hash that is not the chain's
    ("INSERT INTO audit_events (id, at, actor, command, customer, action, details, hash) "
     "SELECT max(id) + 1, max(at), 'mallory', 'unmo', NULL, 'customers.delete', '{}', "
     "'" + "0" * 64 + "' FROM audit_events", None),
    # reordered: two events' contents swapped under their ids
    ("UPDATE audit_events SET details = CASE id WHEN 5 THEN (SELECT details FROM audit_events "
     "WHERE id = 6) ELSE (SELECT details FROM audit_events WHERE id = 5) END "
     "WHERE id IN (5, 6)", 5),
])
def test_verify_names_the_first_tampered_event(unmo, history, tamper, broken_at):
    assert _verify(unmo)[0] == 0
    last = query("SELECT max(id) FROM audit_events")[0][0]
    _tamper(tamper)
    code, verdict, stderr = _verify(unmo)
    assert code == 1 and not verdict["holds"]
    expected = broken_at if broken_at is not None else last + 1
    assert verdict["broken_at"] == expected
    assert stderr.startswith("error: the audit trail is broken: ")
    assert f"#{expected}" in stderr


def test_an_auditor_checks_the_export_without_unmo(unmo, history, workspace: Path):
    out = workspace / "audit.jsonl"
    ran = unmo("audit", "export", "--since", "2000-01-01", "-o", str(out), "--json")
    assert ran.exit_code == 0, ran.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert ran.json()["events"] == len(lines) >= 8
    previous = ""
    for line in lines:  # the documented rule, with nothing but the standard library
        event = json.loads(line)
        digest, chained = event.pop("hash"), event.pop("previous_hash")
        assert chained == previous
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False)
        assert hashlib.sha256((previous + canonical).encode()).hexdigest() == digest
        previous = digest
    # A later part of the trail carries the hash it continues from.
    middle = json.loads(lines[4])
    ran = unmo("audit", "export", "--since", middle["at"], "-o", str(out))
    assert ran.exit_code == 0, ran.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert first["previous_hash"] == json.loads(lines[first["id"] - 2])["hash"]


def test_bad_input_is_exit_2_and_writes_nothing(unmo, history, workspace, unchanged):
    for args, code in ((("audit", "list", "--limit", "0"), 2),
                       (("audit", "list", "--since", "someday"), 2),
                       (("audit", "export", "--since", "2026-13-01", "-o", "x.jsonl"), 2),
                       (("audit", "export", "--since", "2026-01-01", "-o",
                         str(workspace / "nowhere" / "x.jsonl")), 3)):
        ran = unmo(*args)
        assert ran.exit_code == code, (args, ran.stderr)
        assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1
    unchanged()


def test_forget_is_one_named_event_and_the_chain_still_holds(unmo, history):
    ran = unmo("customer", "forget", history, "--yes")
    assert ran.exit_code == 0, ran.stderr
    code, verdict, _ = _verify(unmo)
    assert code == 0, verdict
    events = unmo("audit", "list", "--customer", history, "--json", "--limit", "1000").json()
    forgets = [e for e in events if e["action"] == "customer.forget"]
    assert len(forgets) == 1 and forgets[0]["details"]["erased"]["contact"] == 2
    dump = json.dumps(query("SELECT * FROM audit_events"), ensure_ascii=False)
    for value in (EMAIL, "Quinn Q", "Quinn says"):
        assert value not in dump


@pytest.mark.slow
def test_concurrent_writers_keep_one_linear_chain(unmo, history, workspace: Path):
    env = {**os.environ, "NO_COLOR": "1"}
    processes = [UnmoProcess(
        [sys.executable, "-m", "unmo_cli", "feedback", "add", history, "-s", str(n % 10 + 1),
         "--id", f"race-{n}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for n in range(6)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    code, verdict, _ = _verify(unmo)
    assert code == 0, verdict
    ids = [row[0] for row in query("SELECT id FROM audit_events ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))
    assert len(query("SELECT id FROM audit_events WHERE action = 'feedback.insert'")) == 7


def test_a_command_line_that_is_not_utf8_is_recorded_escaped(unmo, history, workspace: Path):
    # A file name in Latin-1 on a UTF-8 system: Python hands the byte over as a lone
    # surrogate, which neither the hash nor the database can take as it is.
    name = "beta-caf\udce9.yaml"
    (workspace / name).write_text(
        "name: Beta Co\ncontact_name: Bea\ncontact_email: bea@beta.example\n"
        "industry: gaming\nintegration: s2s\nevents_per_day: 1000\nprovider: adjust\n"
        "mrr: 100\n")
    ran = unmo("onboard", "--from", name, "--yes")
    assert ran.exit_code == 0, ran.stderr
    code, verdict, _ = _verify(unmo)
    assert code == 0, verdict
    onboarded = next(e for e in unmo("audit", "list", "--customer", "beta-co", "--json").json()
                     if e["action"] == "customers.insert")
    assert onboarded["command"] == "unmo onboard --from beta-caf\\udce9.yaml --yes"


def test_an_actor_the_trail_cannot_keep_is_exit_2(unmo, history, unchanged):
    ran = unmo("feedback", "add", history, "-s", "9", env={"UNMO_ACTOR": "a" * 255})
    assert ran.exit_code == 2, ran.stderr
    assert ran.stderr == ("error: UNMO_ACTOR is 255 characters long; the audit trail keeps at "
                          "most 254: give a shorter name.\n")
    unchanged()
    ran = unmo("feedback", "add", history, "-s", "9", env={"UNMO_ACTOR": "b" * 254})
    assert ran.exit_code == 0, ran.stderr
    assert unmo("audit", "list", "--actor", "b" * 254, "--json").json()


def test_an_update_says_what_sql_computed_and_how_many_rows_returning_wrote(unmo, history):
    # The history's feedback (4/10) raised an alert; a failed delivery adds its attempts in
    # SQL (attempts = attempts + n), and claiming it and acknowledging it are UPDATE …
    # RETURNING, whose rows SQLite counts only as they are fetched.
    ran = unmo("alerts", "notify", env={"UNMO_ALERT_WEBHOOK": "http://127.0.0.1:9/hook"})
    assert ran.exit_code == 3, ran.stderr
    (alert_id,) = query("SELECT id FROM alerts")[0]
    assert unmo("alerts", "ack", str(alert_id)).exit_code == 0
    updates = [e for e in unmo("audit", "list", "--json").json()
               if e["action"] == "alerts.update"]
    failed = next(e for e in updates if "last_error" in e["details"]["after"])
    assert failed["details"]["after"]["attempts"].startswith("SQL: alerts.attempts + ")
    claimed = next(e for e in updates if e["details"]["after"].get("claimed_by"))
    acked = next(e for e in updates if "acked_at" in e["details"]["after"])
    assert claimed["details"]["rows"] == acked["details"]["rows"] == 1
    assert _verify(unmo)[0] == 0


def test_an_event_is_dated_by_the_real_clock_whatever_unmo_now_says(unmo, history):
    # UNMO_NOW dates what a command writes (backfills, demos) but not when it was recorded:
    # otherwise anyone could date audit events as they please, and --since would miss them.
    real = datetime.now(UTC)
    ran = unmo("feedback", "add", history, "-s", "9", env={"UNMO_NOW": "2031-01-01T00:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    added = [e for e in unmo("audit", "list", "--json").json()
             if e["action"] == "feedback.insert"][-1]
    assert abs(datetime.fromisoformat(added["at"]) - real) < timedelta(minutes=10)
    assert query("SELECT received_at FROM feedback ORDER BY id DESC")[0][0].startswith("2031")


@pytest.mark.sqlite_only
def test_a_time_no_datetime_parses_is_named_as_tampering(unmo, history, workspace: Path):
    # SQLite stores `at` as text: anyone with the file can write one that is not a time.
    _tamper("UPDATE audit_events SET at = 'yesterday-ish' WHERE id = 3")
    code, verdict, stderr = _verify(unmo)
    assert code == 1 and verdict["broken_at"] == 3, stderr
    shown = unmo("audit", "list", "--json", "--limit", "1000")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()[2]["at"] == "yesterday-ish"
    assert unmo("audit", "list").exit_code == 0
    ran = unmo("audit", "export", "--since", "2000-01-01", "-o", str(workspace / "a.jsonl"))
    assert ran.exit_code == 0, ran.stderr


def test_details_that_are_not_json_are_named_and_still_listed(unmo, history, workspace: Path):
    _tamper("UPDATE audit_events SET details = 'not json' WHERE id = 4")
    code, verdict, _ = _verify(unmo)
    assert code == 1 and verdict["broken_at"] == 4
    shown = unmo("audit", "list", "--json", "--limit", "1000")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()[3]["details"] == "not json"
    ran = unmo("audit", "export", "--since", "2000-01-01", "-o", str(workspace / "a.jsonl"))
    assert ran.exit_code == 0, ran.stderr


def test_key_hints_are_recorded_as_stored(unmo, history):
    inserted = [v for e in unmo("audit", "list", "--json", "--limit", "1000").json()
                if e["action"] == "api_keys.insert" for v in e["details"]["values"]]
    stored = {hint for (hint,) in query("SELECT hint FROM api_keys")}
    assert len(inserted) == 4 and {v["hint"] for v in inserted} == stored
