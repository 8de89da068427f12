"""unmo on a PostgreSQL server. Runs in the PostgreSQL pass of .ci/run (UNMO_TEST_POSTGRES_URL);
skipped without a server. In that pass every other test runs on PostgreSQL too (the `workspace`
fixture hands each test a fresh database); these are the checks only a server can answer."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import query

from unmo_cli.db import SCHEMA_HEAD, connect, models
from unmo_cli.workspace import load_workspace

# Each test here meets a database unmo never opened (first use, upgrades, URLs that must migrate).
pytestmark = [pytest.mark.postgres, pytest.mark.empty_database]

# Every table the models declare, and Alembic's: the migrations must create exactly these.
ALL_TABLES = set(models.metadata.tables) | {"alembic_version"}


def _tables() -> set[str]:
    from sqlalchemy import inspect

    db = connect(load_workspace().database_url)
    try:
        return set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()


def test_workspace_database_is_a_fresh_postgres_database(workspace: Path):
    url = os.environ["UNMO_DATABASE_URL"]
    assert url.startswith("postgresql") and "/unmo_test_" in url
    assert load_workspace().database_url == url
    assert _tables() == set()


def test_other_tests_get_a_copy_of_a_migrated_database_without_rows(postgres_server):
    """What the `workspace` fixture hands a test not marked empty_database in this pass: a
    database of its own, copied from the session's template at SCHEMA_HEAD, with no rows but
    the audit trail's genesis event."""
    from sqlalchemy import inspect, text

    first, second = postgres_server.create_database(empty=False), \
        postgres_server.create_database(empty=False)
    try:
        assert first != second and "/unmo_test_" in first
        db = connect(first)
        try:
            assert db.schema_revision() == SCHEMA_HEAD
            with db.engine.begin() as connection:
                tables = set(inspect(connection).get_table_names())
                assert tables == ALL_TABLES
                assert [t for t in tables - {"alembic_version", "audit_events"}
                        if connection.execute(text(f"SELECT count(*) FROM {t}")).scalar()] == []
                # The one row a new database has: the audit trail's genesis event.
                assert connection.execute(text("SELECT id, action FROM audit_events")).all() \
                    == [(1, "genesis")]
                connection.execute(text("INSERT INTO alembic_version VALUES ('x')"))
        finally:
            db.dispose()
        # a copy, not a shared database: what one test writes, the next one never sees
        assert query_count(second, "SELECT count(*) FROM alembic_version") == 1
    finally:
        postgres_server.drop_database(first)
        postgres_server.drop_database(second)


def query_count(url: str, sql: str) -> int:
    from sqlalchemy import text

    db = connect(url)
    try:
        with db.engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        db.dispose()


def test_db_upgrade_from_empty(unmo, workspace: Path):
    ran = unmo("db", "upgrade")

    assert ran.exit_code == 0, ran.stderr
    assert f"from empty to revision {SCHEMA_HEAD}" in ran.stderr
    assert _tables() == ALL_TABLES
    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]
    assert not (workspace / ".unmo").exists(), "no SQLite file when the database is a server"

    again = unmo("db", "upgrade")
    assert again.exit_code == 0 and "up to date" in again.stderr


def test_database_url_from_unmo_yaml(unmo, workspace: Path, monkeypatch: pytest.MonkeyPatch):
    url = os.environ["UNMO_DATABASE_URL"]
    monkeypatch.delenv("UNMO_DATABASE_URL")
    (workspace / "unmo.yaml").write_text(f"database_url: {url}\n")

    ran = unmo("db", "upgrade")

    assert ran.exit_code == 0, ran.stderr
    monkeypatch.setenv("UNMO_DATABASE_URL", url)
    assert _tables() == ALL_TABLES


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_plain_postgres_urls_use_psycopg(unmo, workspace: Path, scheme: str):
    url = os.environ["UNMO_DATABASE_URL"]
    plain = scheme + "://" + url.split("://", 1)[1]

    ran = unmo("db", "upgrade", env={"UNMO_DATABASE_URL": plain})

    assert ran.exit_code == 0, ran.stderr
    assert _tables() == ALL_TABLES


def test_unknown_role_is_exit_3_without_the_password(unmo, workspace: Path):
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["UNMO_DATABASE_URL"]).set(username="nobody_here",
                                                         password="s3cret-pa55")
    ran = unmo("db", "upgrade",
               env={"UNMO_DATABASE_URL": url.render_as_string(hide_password=False)})

    assert ran.exit_code == 3
    assert ran.stderr.startswith("error: cannot connect to the database at postgresql+psycopg://"
                                 "nobody_here:***@")
    assert "s3cret-pa55" not in ran.stderr + ran.stdout
    assert len(ran.stderr.strip().splitlines()) == 1


def test_concurrent_first_use_migrates_once(workspace: Path):
    """Three processes meeting an empty database at once: the advisory lock lets one migrate,
    the others find the schema current."""
    runs = [subprocess.Popen([sys.executable, "-m", "unmo_cli", "db", "upgrade"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in runs]
    for p in runs:
        p.stdout.close()
        p.stderr.close()

    assert [code for code, _ in results] == [0, 0, 0], results
    assert sum("from empty to revision" in err for _, err in results) == 1, results
    assert sum("up to date" in err for _, err in results) == 2, results
    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


def test_timestamps_are_naive_utc_whatever_the_server_timezone(workspace: Path):
    """Stored as TIMESTAMP WITHOUT TIME ZONE and read back exactly as written, even when the
    server's session time zone is far from UTC (a timestamptz column would shift them)."""
    from sqlalchemy import text

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer

    database = load_workspace().database_url.rsplit("/", 1)[1]
    admin = connect(load_workspace().database_url)
    try:
        with admin.engine.begin() as connection:
            connection.execute(text(f"ALTER DATABASE \"{database}\" SET timezone TO "
                                    "'Pacific/Kiritimati'"))
    finally:
        admin.dispose()

    written = datetime(2026, 11, 2, 9, 14, 5, 120000)
    db = open_database(load_workspace())
    try:
        with db.session() as session:
            session.add(Customer(slug="techstart-mobile", name_key="techstartmobile",
                                 name="TechStart Mobile", industry="gaming", integration="sdk",
                                 platforms="ios,android", provider="appsflyer",
                                 events_per_day=50000, mrr_cents=250000,
                                 contact_name="Growth Team",
                                 contact_email="growth@techstart-mobile.example",
                                 created_at=written))
        with db.session() as session:
            from sqlmodel import select

            stored = session.exec(select(Customer)).one()
            assert stored.created_at == written
    finally:
        db.dispose()
    assert query("SHOW timezone") == [("Pacific/Kiritimati",)]
    assert query("SELECT created_at FROM customers") == [("2026-11-02 09:14:05.120000",)]
    assert query("SELECT data_type FROM information_schema.columns WHERE table_name = "
                 "'customers' AND column_name = 'created_at'") == [
        ("timestamp without time zone",)]
