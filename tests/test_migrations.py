"""Migrations keep data: a database made by the first released schema (tests/fixtures/
schema_0001.db, built by make_schema_0001.py) upgrades to the newest schema with every row intact,
on SQLite (with a backup next to the file first) and on PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import query

from unmo_cli.db import SCHEMA_HEAD

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE_DB = FIXTURES / "schema_0001.db"
FIRST_TABLES = {"customers", "api_keys", "onboarding_sessions", "onboarding_steps"}
LATER_TABLES = {"feedback", "alerts", "health_checks"}


def _fixture_script():
    spec = importlib.util.spec_from_file_location("make_schema_0001",
                                                  FIXTURES / "make_schema_0001.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _fixture_script()


def _install_fixture(workspace: Path) -> Path:
    """The fixture copied where unmo keeps a workspace's database, as a user's old file."""
    target = workspace / ".unmo" / "unmo.db"
    target.parent.mkdir(mode=0o700)
    shutil.copyfile(FIXTURE_DB, target)
    os.chmod(target, 0o600)
    return target


def _assert_every_row_intact() -> None:
    for table, (columns, rows) in SCRIPT.ROWS.items():
        stored = query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
        assert stored == rows, f"rows of {table} changed in the upgrade"


def _table_names() -> set[str]:
    return {row[0] for row in query(
        "SELECT name FROM sqlite_master WHERE type = 'table'")} - {"sqlite_sequence"}


def test_fixture_is_the_first_released_schema():
    db = sqlite3.connect(f"file:{FIXTURE_DB}?mode=ro", uri=True)
    try:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == FIRST_TABLES | {"alembic_version"}
        for table, (_, rows) in SCRIPT.ROWS.items():
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(rows)
    finally:
        db.close()


def test_fixture_is_what_the_script_builds(tmp_path: Path):
    """The committed file and the script agree (rerun the script after changing ROWS)."""
    rebuilt = SCRIPT.build(tmp_path / "rebuilt.db")
    for path in (rebuilt, FIXTURE_DB):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for table, (columns, rows) in SCRIPT.ROWS.items():
                got = db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
                assert got.fetchall() == rows, f"{path.name}: {table}"
        finally:
            db.close()


@pytest.mark.sqlite_only
def test_db_upgrade_keeps_every_row_and_backs_up_first(unmo, workspace: Path):
    database = _install_fixture(workspace)
    original = database.read_bytes()

    ran = unmo("db", "upgrade")

    assert ran.exit_code == 0, ran.stderr
    assert f"from 0001 to revision {SCHEMA_HEAD}" in ran.stderr
    backups = sorted(database.parent.glob("unmo.db.backup-*"))
    assert [b.name for b in backups] == ["unmo.db.backup-0001"]
    assert str(backups[0]) in ran.stderr
    assert backups[0].stat().st_mode & 0o077 == 0, "the backup holds the same data: private"
    # The backup is the database as it was: same revision, same rows.
    old = sqlite3.connect(f"file:{backups[0]}?mode=ro", uri=True)
    try:
        assert old.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        for table, (columns, rows) in SCRIPT.ROWS.items():
            got = old.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id").fetchall()
            assert got == rows
    finally:
        old.close()
    assert original == FIXTURE_DB.read_bytes()  # (the copy was faithful to begin with)

    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    assert _table_names() >= FIRST_TABLES | LATER_TABLES
    _assert_every_row_intact()
    # 0008: each customer's MRR became the first entry of its ledger, at its creation, and a
    # churned one's churn the next; the existing customers are of the standard tier.
    customers = SCRIPT.ROWS["customers"][1]
    expected = sorted([(c[0], "start", c[9], c[14], None) for c in customers]
                      + [(c[0], "churn", 0, c[15], c[16]) for c in customers if c[15]])
    assert sorted(query("SELECT customer_id, kind, mrr_cents, effective_at, reason "
                        "FROM mrr_changes")) == expected
    assert any(row[1] == "churn" for row in expected)
    assert query("SELECT DISTINCT tier FROM customers") == [("standard",)]
    # 0009: the audit trail starts with a genesis event that counts the rows already there.
    genesis = query("SELECT id, action, details FROM audit_events ORDER BY id")[0]
    assert genesis[:2] == (1, "genesis")
    assert json.loads(genesis[2])["rows"]["customers"] == len(customers)
    # …and the upgrade itself is the next event (a later migration's too).
    upgraded = query("SELECT id, action, details FROM audit_events ORDER BY id")[1]
    assert upgraded[:2] == (2, "db.upgrade")
    assert json.loads(upgraded[2]) == {"from": "0001", "to": SCHEMA_HEAD}
    assert unmo("audit", "verify").exit_code == 0
    assert unmo("audit", "verify").exit_code == 0

    again = unmo("db", "upgrade")
    assert again.exit_code == 0 and "up to date" in again.stderr
    assert len(list(database.parent.glob("unmo.db.backup-*"))) == 1, "no backup when up to date"


@pytest.mark.sqlite_only
def test_first_use_upgrades_an_older_workspace_automatically(workspace: Path):
    """Any command that opens the database (open_database is the one door) upgrades it."""
    from unmo_cli.db import open_database
    from unmo_cli.workspace import load_workspace

    database = _install_fixture(workspace)
    db = open_database(load_workspace())
    try:
        assert db.schema_revision() == SCHEMA_HEAD
    finally:
        db.dispose()
    assert (database.parent / "unmo.db.backup-0001").is_file()
    _assert_every_row_intact()


def _assert_old_customers_readable(unmo) -> None:
    """What the 0001-era rows look like through today's commands."""
    listed = unmo("customer", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    by_slug = {c["slug"]: c for c in listed.json()}
    assert set(by_slug) == {row[1] for row in SCRIPT.ROWS["customers"][1]}
    assert by_slug["techstart-mobile"]["mrr"] == "2500.00"
    assert by_slug["techstart-mobile"]["platforms"] == ["ios", "android"]
    assert by_slug["cafe-munchen-apps"]["name"] == "Café München Apps"
    assert by_slug["cafe-munchen-apps"]["churned_at"] == "2026-11-05T10:00:00Z"
    keys = unmo("keys", "list", "techstart-mobile", "--json")
    assert keys.exit_code == 0, keys.stderr
    assert sorted((k["hint"], k["status"]) for k in keys.json()["keys"]) == [
        ("unmo_pk_live_…tx8Y", "active"), ("unmo_sk_live_…CtsD", "active"),
        ("unmo_sk_live_…LftM", "revoked"), ("unmo_sk_test_…OzEG", "active")]


@pytest.mark.sqlite_only
def test_a_reading_command_upgrades_an_older_workspace_first(unmo, workspace: Path):
    database = _install_fixture(workspace)

    _assert_old_customers_readable(unmo)

    assert (database.parent / "unmo.db.backup-0001").is_file()
    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    _assert_every_row_intact()


@pytest.mark.sqlite_only
def test_upgraded_database_takes_new_rows(workspace: Path):
    """After the upgrade the old customers are usable: a new table can point at them."""
    from datetime import datetime

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Feedback
    from unmo_cli.workspace import load_workspace

    _install_fixture(workspace)
    db = open_database(load_workspace())
    try:
        with db.session() as session:
            session.add(Feedback(customer_id=1, received_at=datetime(2026, 11, 10, 12, 0),
                                 satisfaction=9, nps=10, category="support"))
    finally:
        db.dispose()
    assert query("SELECT customer_id, satisfaction FROM feedback") == [(1, 9)]
    _assert_every_row_intact()


@pytest.mark.postgres
@pytest.mark.empty_database
def test_postgres_database_at_0001_upgrades_with_every_row(unmo, workspace: Path):
    """The same rows, written by the first schema on PostgreSQL, survive `unmo db upgrade`."""
    from unmo_cli.db import connect
    from unmo_cli.workspace import load_workspace

    db = connect(load_workspace().database_url)
    try:
        with db.engine.begin() as connection:
            SCRIPT.migrate(connection)
            SCRIPT.insert_rows(connection)
    finally:
        db.dispose()

    ran = unmo("db", "upgrade")

    assert ran.exit_code == 0, ran.stderr
    assert f"from 0001 to revision {SCHEMA_HEAD}" in ran.stderr
    assert not (workspace / ".unmo" / "unmo.db").exists()
    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    _assert_every_row_intact()
    _assert_old_customers_readable(unmo)


@pytest.mark.sqlite_only
@pytest.mark.empty_database  # the real path (Alembic from nothing) for the first database
def test_template_copy_equals_a_real_migration(tmp_path: Path, monkeypatch, request):
    """The SQLite pass's shortcut (tests/support_template.py: a new database is a copy of one
    migrated once) gives the same file Alembic would: the same schema, the same rows, and the
    genesis event of this moment and actor, not the template's."""
    from support_template import SQLiteTemplate, _real_upgrade

    from unmo_cli import origin
    from unmo_cli.db import connect

    monkeypatch.setenv("UNMO_NOW", "2020-01-01T00:00:00Z")
    monkeypatch.setenv("UNMO_ACTOR", "whoever built the template")
    template = SQLiteTemplate(tmp_path / "template")
    (tmp_path / "template").mkdir()
    template.path()
    monkeypatch.setenv("UNMO_NOW", "2026-12-07T09:30:00.250000Z")
    monkeypatch.setenv("UNMO_ACTOR", "ana@example.com")
    # Who writes is set by the command boundary; an earlier test's command may still be set.
    who = origin._origin.set(origin.Origin(command="unmo onboard"))
    request.addfinalizer(lambda: origin._origin.reset(who))

    def dump(upgrade, name: str) -> tuple[list[str], tuple]:
        path = tmp_path / name
        path.touch(mode=0o600)
        db = connect(f"sqlite:///{path}")
        try:
            assert upgrade(db) == (None, SCHEMA_HEAD, None)
        finally:
            db.dispose()
        connection = sqlite3.connect(path)
        try:
            pragmas = tuple(connection.execute(f"PRAGMA {name}").fetchone()[0] for name in (
                "journal_mode", "page_size", "user_version", "auto_vacuum", "encoding"))
            return list(connection.iterdump()), pragmas + (oct(path.stat().st_mode),)
        finally:
            connection.close()

    real = dump(_real_upgrade, "real.db")
    copied = dump(template.upgrade, "copy.db")

    assert copied == real
    assert any("2026-12-07 09:30:00.250000" in line and "ana@example.com" in line
               and "unmo onboard" in line for line in real[0] if "audit_events" in line)
