"""The schema check every command makes: one query against alembic_version compared with
SCHEMA_HEAD, no Alembic import when the database is up to date — and an out-of-date database
still migrated (or, read-only, refused) exactly as before, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import postgres_server_url, query
from support_onboarding import onboard

from unmo_cli.db import SCHEMA_HEAD, connect, open_database
from unmo_cli.workspace import load_workspace

FIXTURE_DB = Path(__file__).resolve().parent / "fixtures" / "schema_0001.db"


def _statements_of_schema_check(url: str) -> tuple[str | None, list[str]]:
    from sqlalchemy import event

    db = connect(url)
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: seen.append(statement))
    try:
        return db.schema_revision(), seen
    finally:
        db.dispose()


def test_an_up_to_date_database_is_checked_with_one_query(unmo, workspace: Path):
    onboard(unmo, "Acme")
    revision, statements = _statements_of_schema_check(load_workspace().database_url)
    assert revision == SCHEMA_HEAD
    assert statements == ["SELECT version_num FROM alembic_version"]


@pytest.mark.empty_database  # a database unmo never opened, in both passes
def test_a_new_database_reads_as_no_revision_and_is_created(workspace: Path):
    url = load_workspace().database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    revision, _ = _statements_of_schema_check(url)
    assert revision is None
    db = open_database(load_workspace())
    try:
        assert db.schema_revision() == SCHEMA_HEAD
    finally:
        db.dispose()


def test_a_missing_table_is_the_only_failure_read_as_a_new_database(workspace: Path):
    """Anything else the query meets (here: the table there, its column not) is raised, never
    taken for 'no schema yet' — which would run the migrations over a live database."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from unmo_cli.errors import EnvironmentFailure

    db = open_database(load_workspace())
    try:
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE alembic_version RENAME COLUMN version_num "
                                    "TO other"))
        with pytest.raises((DBAPIError, EnvironmentFailure), match="version_num"):
            db.schema_revision()
    finally:
        db.dispose()


_PROBE = """
import contextlib, io, json, sys
from unmo_cli.cli import main
sys.argv = ["unmo", "customer", "list", "--json"]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
print(json.dumps({"code": code, "alembic": "alembic" in sys.modules}))
"""


def _probe(workspace: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "UNMO_DEBUG"}
    ran = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout.splitlines()[-1])


def test_a_command_on_an_up_to_date_database_does_not_import_alembic(unmo, workspace: Path):
    onboard(unmo, "Acme")
    assert _probe(workspace) == {"code": 0, "alembic": False}


def _install_old_database(workspace: Path) -> None:
    """A database at the first released revision (0001), with its rows."""
    url = load_workspace().database_url
    if postgres_server_url() is None:
        target = workspace / ".unmo" / "unmo.db"
        target.parent.mkdir(mode=0o700)
        shutil.copyfile(FIXTURE_DB, target)
        os.chmod(target, 0o600)
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_schema_0001", FIXTURE_DB.parent / "make_schema_0001.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    db = connect(url)
    try:
        with db.engine.begin() as connection:
            script.migrate(connection)
            script.insert_rows(connection)
    finally:
        db.dispose()


@pytest.mark.empty_database  # a database unmo never opened, in both passes
def test_an_out_of_date_database_is_still_migrated_by_any_command(workspace: Path):
    _install_old_database(workspace)
    assert query("SELECT version_num FROM alembic_version") == [("0001",)]

    seen = _probe(workspace)

    assert seen["code"] == 0
    assert seen["alembic"], "the migration ran through Alembic"
    assert query("SELECT version_num FROM alembic_version") == [(SCHEMA_HEAD,)]


@pytest.mark.sqlite_only
def test_a_read_only_out_of_date_database_is_still_refused(workspace: Path):
    _install_old_database(workspace)
    database = workspace / ".unmo" / "unmo.db"
    before = database.read_bytes()
    database.chmod(0o400)
    (workspace / ".unmo").chmod(0o500)
    try:
        from unmo_cli import db as db_module

        # As root the file stays writable to access(2); ask the read-only door directly.
        with pytest.raises(db_module.EnvironmentFailure) as refused:
            db_module._open_sqlite_read_only(database, f"sqlite:///{database}")
    finally:
        (workspace / ".unmo").chmod(0o700)
        database.chmod(0o600)
    assert str(refused.value) == (
        f"the database {database} is read-only and has an older schema (revision 0001, unmo "
        f"needs {SCHEMA_HEAD}); run unmo db upgrade where it can be written.")
    assert database.read_bytes() == before
