"""`unmo customer export` (GDPR access) and `unmo customer forget` (erasure): on the real CLI,
the real database files (SQLite's bytes, WAL included; every table on PostgreSQL) and the real
customer folder."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import postgres_server_url, query, snapshot_tables
from support_launcher import UnmoProcess
from support_onboarding import secret_keys

from unmo_cli.db import connect
from unmo_cli.workspace import load_workspace

CONTACT = "Annabel Quixote"
EMAIL = "annabel.quixote@acme-privacy.example"
NEW_EMAIL = "aq@acme-privacy.example"
COMMENT = "Annabel speaking: the SDK crashes on launch"


@pytest.fixture
def acme(unmo, workspace: Path) -> str:
    ran = unmo("onboard", "Acme Privacy", "--contact-name", CONTACT, "--contact-email", EMAIL,
               "--industry", "gaming", "--integration", "s2s", "--events-per-day", "1000",
               "--provider", "adjust", "--mrr", "2500", "--yes")
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("feedback", "add", "acme-privacy", "-s", "3", "--nps", "2", "-m", COMMENT)
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("customer", "set", "acme-privacy", "--contact-email", NEW_EMAIL)
    assert ran.exit_code == 0, ran.stderr
    return "acme-privacy"


def _personal() -> list[str]:
    return [CONTACT, EMAIL, NEW_EMAIL, "Annabel speaking"]


def test_export_holds_everything_but_secrets(unmo, acme, workspace: Path):
    keys = secret_keys(workspace / "customers" / acme)
    out = workspace / "export.json"
    ran = unmo("customer", "export", acme, "-o", str(out), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["format"] == "unmo.customer-export/1"
    assert document["customer"]["contact_email"] == NEW_EMAIL
    tables = document["tables"]
    assert [row["comment"] for row in tables["feedback"]] == [COMMENT]
    assert [(r["field"], r["old_value"], r["new_value"]) for r in tables["customer_changes"]] \
        == [("contact_email", EMAIL, NEW_EMAIL)]
    assert len(tables["mrr_changes"]) == 1 and len(tables["alerts"]) == 2
    assert tables["onboarding_steps"], "the onboarding's steps are the customer's too"
    assert ran.json()["tables"]["feedback"] == 1
    text = out.read_text()
    assert "key_hash" not in text
    secret = [v for k, v in keys.items() if k.startswith("UNMO_SECRET_KEY_")]
    assert len(secret) == 2 and not any(key in text for key in secret)


def test_export_refuses_bad_input_and_writes_nothing(unmo, acme, workspace: Path, unchanged):
    ran = unmo("customer", "export", "nobody", "-o", str(workspace / "x.json"))
    assert ran.exit_code == 2 and "unknown customer" in ran.stderr
    ran = unmo("customer", "export", acme, "-o", str(workspace / "missing" / "x.json"))
    assert ran.exit_code == 3 and "does not exist" in ran.stderr
    unchanged()


def test_forget_needs_yes(unmo, acme, unchanged):
    ran = unmo("customer", "forget", acme)
    assert ran.exit_code == 2 and "--yes" in ran.stderr
    unchanged()


def test_forget_erases_personal_data_and_keeps_the_figures(unmo, acme, workspace: Path):
    folder = workspace / "customers" / acme
    live = secret_keys(folder)["UNMO_SECRET_KEY_LIVE"]
    before = query("SELECT satisfaction, nps FROM feedback")
    ran = unmo("customer", "forget", acme, "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["erased"]["contact"] == 2 and doc["erased"]["feedback_comments"] == 1
    assert doc["erased"]["alert_quotes"] == 2 and doc["keys_revoked"] == 4
    assert doc["folder_removed"] is True and not folder.exists()
    # What is not personal stays: scores, MRR, the alerts themselves.
    assert query("SELECT satisfaction, nps FROM feedback") == before
    assert query("SELECT mrr_cents FROM customers") == [(250000,)]
    assert len(query("SELECT id FROM alerts")) == 2
    assert unmo("keys", "verify", live).exit_code == 1  # revoked
    shown = unmo("customer", "show", acme, "--json").json()["customer"]
    assert shown["contact_email"] == "[erased]"
    # Nowhere in what unmo shows or writes.
    outputs = [unmo("customer", "show", acme, "--json").stdout,
               unmo("feedback", "list", "--json").stdout,
               unmo("alerts", "list", "--json").stdout,
               unmo("report", "weekly", "--format", "json").stdout,
               unmo("report", "weekly", "--format", "markdown").stdout]
    for text in outputs:
        assert not any(p in text for p in _personal()), text
    for path in (workspace / "customers").rglob("*"):
        if path.is_file():
            assert not any(p.encode() in path.read_bytes() for p in _personal()), path
    # Again: nothing new to erase, exit 0.
    again = unmo("customer", "forget", acme, "--yes", "--json")
    assert again.exit_code == 0, again.stderr
    assert sum(again.json()["erased"].values()) == 0


@pytest.mark.sqlite_only
def test_forget_leaves_no_bytes_in_the_sqlite_file_or_its_wal(unmo, acme, workspace: Path):
    state = workspace / ".unmo"

    def database_bytes() -> bytes:
        return b"".join(p.read_bytes() for p in sorted(state.glob("unmo.db*")))

    for n in range(40):  # rows enough that erasing their comments frees space in pages
        ran = unmo("feedback", "add", acme, "-s", "9", "-m", f"{COMMENT} #{n} " + "x" * 300)
        assert ran.exit_code == 0, ran.stderr
    assert EMAIL.encode() in database_bytes()  # (the check can see it when it is there)
    # Another process has the database open (`unmo survey serve`, a report), so the erasing
    # process is not the last connection and its WAL is not folded in when it exits.
    other = sqlite3.connect(state / "unmo.db")
    try:
        other.execute("SELECT count(*) FROM customers").fetchall()
        assert unmo("customer", "forget", acme, "--yes").exit_code == 0
        data = database_bytes()
    finally:
        other.close()
    for value in _personal():
        assert value.encode() not in data, value


@pytest.mark.postgres
def test_forget_leaves_the_values_in_no_table_on_postgresql(unmo, acme, workspace: Path):
    assert postgres_server_url() is not None
    assert unmo("customer", "forget", acme, "--yes").exit_code == 0
    tables = [name for (name,) in query(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    assert "customers" in tables
    for table in tables:
        for value in _personal():
            found = query(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE :pattern',
                          pattern=f"%{value}%")
            assert found == [(0,)], (table, value)


def test_forget_erases_the_free_text_about_the_account_too(unmo, acme, workspace: Path):
    # The team's own words about the account may name the contact: churn reasons (on the
    # record and in the MRR ledger, one per churn) and the notes closing tasks.
    for args in (("customer", "churn", acme, "--reason", f"{CONTACT} moved to a rival"),
                 ("customer", "reactivate", acme),
                 ("customer", "churn", acme, "--reason", f"{CONTACT} left again")):
        ran = unmo(*args)
        assert ran.exit_code == 0, ran.stderr
    (customer_id,) = query("SELECT id FROM customers")[0]
    # A task added by hand, titled by the team; a done one closed with a note; a playbook's,
    # titled by unmo.yaml (not personal: it stays).
    ran = unmo("task", "add", acme, f"Call {CONTACT} about the renewal")
    assert ran.exit_code == 0, ran.stderr
    db = connect(load_workspace().database_url)
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO tasks (customer_id, title, status, fired, created_at, updated_at, "
                "done_at, done_note) VALUES (:c, 'Renewal call', 'done', 1, :t, :t, :t, :note)"),
                {"c": customer_id, "t": datetime(2026, 12, 1, 10), "note": f"{CONTACT} agreed"})
            connection.execute(sa.text(
                "INSERT INTO tasks (customer_id, title, status, playbook, fired, created_at, "
                "updated_at) VALUES (:c, 'Call the detractor', 'open', 'detractor', 1, :t, :t)"),
                {"c": customer_id, "t": datetime(2026, 12, 1, 11)})
    finally:
        db.dispose()
    ran = unmo("customer", "forget", acme, "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    erased = ran.json()["erased"]
    assert (erased["reasons"], erased["task_notes"], erased["task_titles"]) == (3, 1, 2)
    assert sorted(title for (title,) in query("SELECT title FROM tasks")) \
        == ["Call the detractor", "[erased]", "[erased]"]
    # Again: nothing new to erase.
    assert unmo("customer", "forget", acme, "--yes", "--json").json()["erased"]["task_titles"] == 0
    rows = json.dumps(snapshot_tables(workspace), default=str, ensure_ascii=False)
    outputs = [unmo("customer", "show", acme, "--json").stdout,
               unmo("report", "weekly", "--format", "json").stdout,
               unmo("report", "customer", acme, "--format", "json").stdout,
               unmo("task", "list", "--json").stdout,
               unmo("customer", "timeline", acme, "--json").stdout,
               unmo("audit", "list", "--json").stdout]
    for text in (rows, *outputs):
        for value in _personal():
            at = text.find(value)
            assert at < 0, text[max(0, at - 300):at + 60]
    # What is not personal stays: the churns and the MRR they took.
    assert [k for (k,) in query("SELECT kind FROM mrr_changes ORDER BY id")] \
        == ["start", "churn", "reactivation", "churn"]
    assert unmo("audit", "verify").exit_code == 0


def test_forget_erases_every_column_the_audit_trail_calls_personal():
    # One notion of personal data: what the trail redacts, forget erases (or it is a secret
    # left out of exports and revoked), so no personal value outlives an erasure in a column.
    from unmo_cli import audit
    from unmo_cli.services import privacy

    assert privacy.ERASED_COLUMNS | privacy.SECRET_COLUMNS | {
        ("api_keys", "key_hash")} >= audit.PERSONAL_COLUMNS
    assert privacy.ERASED_COLUMNS <= audit.PERSONAL_COLUMNS


@pytest.mark.slow
def test_a_render_running_meanwhile_does_not_bring_the_contact_back(unmo, acme, workspace: Path):
    # `customer render --all` reads every customer first, then renders them one by one; a
    # forget in between must not see its erased folder written again from what render read.
    ran = unmo("onboard", "Aaa First", "--contact-name", "Ann First", "--contact-email",
               "ann@first.example", "--industry", "gaming", "--integration", "s2s",
               "--events-per-day", "1000", "--provider", "adjust", "--mrr", "100", "--yes")
    assert ran.exit_code == 0, ran.stderr
    marker = workspace.parent / "render-paused"
    render = UnmoProcess(
        [sys.executable, "-m", "unmo_cli", "customer", "render", "--all"],
        env={**os.environ, "NO_COLOR": "1", "UNMO_TEST_PAUSE_AT": "customer-render@1",
             "UNMO_TEST_PAUSE_FILE": str(marker), "UNMO_TEST_PAUSE_S": "120"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():  # paused at aaa-first, acme-privacy read but not rendered
            assert render.poll() is None, render.communicate()[1]
            assert time.monotonic() < deadline, "render never paused"
            time.sleep(0.02)
        ran = unmo("customer", "forget", acme, "--yes")
        assert ran.exit_code == 0, ran.stderr
    finally:
        marker.unlink(missing_ok=True)
    _out, err = render.communicate(timeout=120)
    assert render.returncode == 0, err
    for path in (workspace / "customers").rglob("*"):
        if path.is_file():
            assert not any(p.encode() in path.read_bytes() for p in _personal()), path


def test_a_forgotten_customer_has_no_folder_to_render(unmo, acme, workspace: Path):
    assert unmo("customer", "forget", acme, "--yes").exit_code == 0
    # The workspace's other renders go on as before; the forgotten folder stays removed.
    for args in (("customer", "render", "--all"), ("customer", "render", "--all", "--check")):
        ran = unmo(*args)
        assert ran.exit_code == 0, (args, ran.stderr)
    ran = unmo("customer", "render", acme)
    assert ran.exit_code == 2
    assert ran.stderr == (f"error: customer '{acme}' was forgotten (customer forget): it has "
                          "no folder to render.\n")
    ran = unmo("customer", "set", acme, "--tier", "enterprise", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["folder"] is None and not (workspace / "customers" / acme).exists()


def _waiting_on_a_paused_forget(acme: str, workspace: Path, *args: str
                                ) -> tuple[UnmoProcess, UnmoProcess]:
    """`customer forget ACME --yes --json` paused after erasing (not committed, its customer
    folder held), then `unmo ARGS` started and seen to have the folder open (it then waits for
    the folder's lock); the forget released. Both processes, running."""
    marker = workspace.parent / "forget-paused"
    env = {**os.environ, "NO_COLOR": "1"}

    def start(command: tuple[str, ...], **extra: str) -> UnmoProcess:
        return UnmoProcess([sys.executable, "-m", "unmo_cli", *command], env={**env, **extra},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    forget = start(("customer", "forget", acme, "--yes", "--json"),
                   UNMO_TEST_PAUSE_AT="customer-forget", UNMO_TEST_PAUSE_FILE=str(marker),
                   UNMO_TEST_PAUSE_S="120")
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert forget.poll() is None, forget.communicate()[1]
            assert time.monotonic() < deadline, "forget never paused"
            time.sleep(0.02)
        other = start(args)
        folder = str(workspace / "customers" / acme)
        deadline = time.monotonic() + 60
        while not _holds_open(other.pid, folder):
            assert other.poll() is None, other.communicate()[1]
            assert time.monotonic() < deadline, f"{args} never opened the folder"
            time.sleep(0.02)
    finally:
        marker.unlink(missing_ok=True)
    return forget, other


@pytest.mark.slow
def test_a_rotation_waiting_for_the_folder_does_not_revive_forgotten_keys(unmo, acme,
                                                                         workspace: Path):
    forget, rotate = _waiting_on_a_paused_forget(acme, workspace, "keys", "rotate", acme)
    assert forget.wait(timeout=120) == 0, forget.communicate()[1]
    _out, err = rotate.communicate(timeout=120)
    assert rotate.returncode == 2, err
    assert err == f"error: customer '{acme}' was forgotten (customer forget): its keys stay " \
        "revoked.\n"
    assert query("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") == [(0,)]


@pytest.mark.slow
def test_two_forgets_at_once_both_succeed_and_the_second_finds_nothing_left(unmo, acme,
                                                                          workspace: Path):
    # The second waits for the folder's lock while the first erases, commits and removes the
    # folder; it then erases nothing new and has no folder to remove (it once failed renaming
    # the folder the first had already removed: "No such file or directory", exit 3).
    first, second = _waiting_on_a_paused_forget(acme, workspace,
                                                "customer", "forget", acme, "--yes", "--json")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads(out)["folder_removed"] is True
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    again = json.loads(out)
    assert again["folder_removed"] is False and not any(again["erased"].values()), again
    assert not (workspace / "customers" / acme).exists()
    assert [p.name for p in (workspace / "customers").iterdir()
            if p.name.startswith(".tmp-forget-")] == []


def test_after_forget_the_contacts_survey_link_takes_no_answer(unmo, workspace: Path):
    from support_onboarding import onboard
    from support_smtp import smtp_server
    from support_survey import configure, free_port, http_get, http_post, survey_link, survey_server

    slug = onboard(unmo)["customer"]["slug"]
    port = free_port()
    with smtp_server() as box:
        configure(workspace, box.port, port)
        assert unmo("survey", "send", slug).exit_code == 0
    link = survey_link(box.messages()[0])
    assert unmo("customer", "forget", slug, "--yes").exit_code == 0
    with survey_server(workspace, port):
        page = http_get(link)
        assert page.status_code == 403 and "expired" in page.text
        posted = http_post(link, data={"satisfaction": "2", "comment": "Growth Team here",
                                       "form_token": "0.1." + "A" * 43})
        assert posted.status_code == 403
    assert query("SELECT count(*) FROM feedback") == [(0,)]
    # Nor is the contact surveyed again: --all leaves the customer out, naming it is exit 2.
    ran = unmo("survey", "send", "--all", "--dry-run", "--json")
    assert ran.exit_code == 0 and ran.json()["sendings"] == [], ran.stderr
    ran = unmo("survey", "send", slug, "--dry-run")
    assert ran.exit_code == 2 and "was forgotten" in ran.stderr


def _holds_open(pid: int, path: str) -> bool:
    """Whether process `pid` has `path` open (Linux: its /proc/PID/fd links)."""
    try:
        links = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for link in links:
        try:
            if os.readlink(link) == path:
                return True
        except OSError:
            continue
    return False
