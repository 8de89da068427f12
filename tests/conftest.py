"""Shared fixtures: a real workspace in a temp folder and the real CLI through Typer's runner.

Two database passes share these fixtures. By default every workspace uses its own SQLite file.
With UNMO_TEST_POSTGRES_URL set to a server (`.ci/run` starts a throwaway one), every test that
uses `workspace` gets a fresh, empty PostgreSQL database on that server instead, created before
the test and dropped after it, and UNMO_DATABASE_URL names it (subprocesses inherit it).

Markers: `postgres` tests run only with a server; `sqlite_only` tests (WAL, the file's bytes or
mode) are skipped in the PostgreSQL pass. In that pass a test's database is a copy (CREATE
DATABASE … TEMPLATE) of one migrated to SCHEMA_HEAD once per session (per xdist worker), since
migrating every test's database from nothing took most of its set-up there; tests about the
migrations themselves or about a database unmo never opened are marked `empty_database` and get
one without any schema. The SQLite pass starts from no file at all; when the pytest process
itself migrates a new, blank file, it gets a copy of one migrated once per worker instead of
Alembic's ten migrations (tests/support_template.py), except in a test marked `empty_database`.

Under pytest-xdist each worker is its own process with its own temp folders, databases
(random names) and template; nothing here is shared between workers.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from support_template import SQLiteTemplate
from typer.testing import CliRunner

from unmo_cli.cli import app
from unmo_cli.db import Database, connect

# Variables that would leak the developer's own settings into a test.
_SETTINGS_ENV = [
    "UNMO_WORKSPACE", "UNMO_DATABASE_URL", "UNMO_API_URL", "UNMO_API_PUBLIC_URL",
    "UNMO_API_TIMEOUT", "UNMO_TIMEZONE",
    "UNMO_ALERT_WEBHOOK", "UNMO_NOW", "UNMO_DEBUG", "CI", "UNMO_ACTOR",
]

POSTGRES_ENV = "UNMO_TEST_POSTGRES_URL"
NO_POSTGRES_REASON = "no PostgreSQL server: set UNMO_TEST_POSTGRES_URL (.ci/run starts one)"


def postgres_server_url() -> str | None:
    """The server of the PostgreSQL pass (a SQLAlchemy URL), or None in the SQLite pass."""
    return os.environ.get(POSTGRES_ENV) or None


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the README's command): one worker per core this process may use, plus one. A
    good part of the pass waits rather than computes (servers starting, timeouts running out,
    subprocesses, a browser), and the extra worker runs tests in those waits."""
    return len(os.sched_getaffinity(0)) + 1


def pytest_report_header(config: pytest.Config) -> str:
    server = postgres_server_url()
    if server is None:
        return "unmo database: SQLite (set UNMO_TEST_POSTGRES_URL for the PostgreSQL pass)"
    from unmo_cli.db import redact_url

    return f"unmo database: PostgreSQL, a fresh database per test on {redact_url(server)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = postgres_server_url() is not None
    skip_postgres = pytest.mark.skip(reason=NO_POSTGRES_REASON)
    skip_sqlite_only = pytest.mark.skip(
        reason="SQLite-specific (the database file itself); this is the PostgreSQL pass")
    for item in items:
        if not on_postgres and item.get_closest_marker("postgres"):
            item.add_marker(skip_postgres)
        if on_postgres and item.get_closest_marker("sqlite_only"):
            item.add_marker(skip_sqlite_only)


class PostgresServer:
    """Creates and drops per-test databases on the server named by UNMO_TEST_POSTGRES_URL."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        self._template: str | None = None

    def create_database(self, *, empty: bool = True) -> str:
        """A fresh database, empty or (empty=False) a copy of the session's one at SCHEMA_HEAD
        without rows; returns its SQLAlchemy URL (password included)."""
        template = "" if empty else f' TEMPLATE "{self._schema_template()}"'
        return self._create(f"unmo_test_{secrets.token_hex(6)}", template)

    def _schema_template(self) -> str:
        """The name of a database migrated to SCHEMA_HEAD, made on first use and dropped by
        dispose(); nobody stays connected to it, as CREATE DATABASE … TEMPLATE requires."""
        if self._template is None:
            name = f"unmo_template_{secrets.token_hex(6)}"
            db = connect(self._create(name, ""))
            try:
                db.upgrade()
            finally:
                db.dispose()
            self._template = name
        return self._template

    def _create(self, name: str, template: str) -> str:
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError

        try:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
        except OperationalError as exc:
            from unmo_cli.db import redact_url

            pytest.fail(f"cannot create a test database on {redact_url(str(self.url))} "
                        f"({POSTGRES_ENV}): {str(exc.orig).strip().splitlines()[0]}",
                        pytrace=False)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        """Drop it even if a connection (a killed subprocess, a leaked pool) still holds it."""
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self.admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            # FORCE (PostgreSQL 13+) also ends a connection made after the terminate, e.g. a
            # Tab's background refresh of its slug cache (unmo_cli/completion.py).
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def replace_database(self, url: str, source_url: str) -> None:
        """Make the database at `url` a copy of the one at `source_url` (same name, so whoever
        holds `url` keeps it)."""
        from sqlalchemy.engine import make_url

        self.drop_database(url)
        self._terminate(make_url(source_url).database)
        self._create(make_url(url).database, f' TEMPLATE "{make_url(source_url).database}"')

    def _terminate(self, name: str | None) -> None:
        from sqlalchemy import text

        with self.admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})

    def dispose(self) -> None:
        if self._template is not None:
            self.drop_database(self.url.set(database=self._template).render_as_string(
                hide_password=False))
        self.admin.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool

    return NullPool


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """The PostgreSQL pass's server, or None (SQLite pass)."""
    url = postgres_server_url()
    if url is None:
        yield None
        return
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.dispose()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database URL, dropped after the test (skips without a server).
    For tests that need a PostgreSQL database of their own, whatever the pass."""
    if postgres_server is None:
        pytest.skip(NO_POSTGRES_REASON)
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


@pytest.fixture(scope="session")
def _user_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' XDG cache folder (a Tab on a server database keeps its slugs there), never
    the developer's ~/.cache."""
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, _user_cache_home: Path) -> None:
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("XDG_CACHE_HOME", str(_user_cache_home))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SQLiteTemplate:
    """The SQLite pass's database at SCHEMA_HEAD, made on first use (tests/support_template.py)."""
    return SQLiteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(autouse=True)
def _sqlite_from_template(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                          sqlite_template: SQLiteTemplate) -> None:
    """SQLite pass: a blank database file this process migrates becomes a copy of the template
    (Alembic still migrates anything else, every subprocess's database, and every database of
    a test marked empty_database)."""
    if postgres_server_url() is None and not request.node.get_closest_marker("empty_database"):
        monkeypatch.setattr(Database, "upgrade", lambda db: sqlite_template.upgrade(db))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
              postgres_server: PostgresServer | None) -> Iterator[Path]:
    """An empty workspace folder; commands run with UNMO_WORKSPACE pointing at it.

    When UNMO_TEST_POSTGRES_URL is set (the PostgreSQL pass of .ci/run), each test gets a fresh
    database on that server instead of the SQLite default: UNMO_DATABASE_URL names it. It has
    unmo's schema and no rows, or no schema at all for a test marked `empty_database`."""
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("UNMO_WORKSPACE", str(root))
    monkeypatch.chdir(root)
    if postgres_server is None:
        yield root
        return
    url = postgres_server.create_database(
        empty=request.node.get_closest_marker("empty_database") is not None)
    monkeypatch.setenv("UNMO_DATABASE_URL", url)
    try:
        yield root
    finally:
        postgres_server.drop_database(url)


def _in_process_unmo() -> Callable[..., Ran]:
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Ran:
        result = runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def unmo(workspace: Path) -> Callable[..., Ran]:
    """Run `unmo ARGS…` in-process: unmo("onboard", "Acme", "--json", env={...}, input="...")."""
    return _in_process_unmo()


class ModuleWorkspaces:
    """Data built once per module and copied into each test's own workspace, for tests that
    start from the same finished workspace (they may change their copy; nothing reaches the
    next test): `module_workspaces.copy(build, workspace)` runs build(unmo) the first time in a
    workspace of the module's own, then copies its files (modes kept) and its database (the
    SQLite file with them, or CREATE DATABASE … TEMPLATE on the server under the test's
    database name) into `workspace`; it returns what build returned."""

    def __init__(self, root: Path, server: PostgresServer | None) -> None:
        self.root, self.server = root, server
        self.built: dict[str, tuple[Path, str | None, Any]] = {}

    def copy(self, build: Callable[[Callable[..., Ran]], Any], workspace: Path) -> Any:
        if build.__qualname__ not in self.built:
            self.built[build.__qualname__] = self._build(build)
        source, database_url, result = self.built[build.__qualname__]
        shutil.copytree(source, workspace, symlinks=True, dirs_exist_ok=True)
        if database_url is not None:
            assert self.server is not None
            self.server.replace_database(os.environ["UNMO_DATABASE_URL"], database_url)
        return result

    def _build(self, build: Callable[[Callable[..., Ran]], Any]) -> tuple[Path, str | None, Any]:
        source = self.root / build.__qualname__
        source.mkdir()
        database_url = None if self.server is None else self.server.create_database(empty=False)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("UNMO_WORKSPACE", str(source))
            env.chdir(source)
            if database_url is not None:
                env.setenv("UNMO_DATABASE_URL", database_url)
            result = build(_in_process_unmo())
        return source, database_url, result

    def dispose(self) -> None:
        if self.server is not None:
            for _source, database_url, _result in self.built.values():
                if database_url is not None:
                    self.server.drop_database(database_url)


@pytest.fixture(scope="module")
def module_workspaces(tmp_path_factory: pytest.TempPathFactory,
                      postgres_server: PostgresServer | None) -> Iterator[ModuleWorkspaces]:
    built = ModuleWorkspaces(tmp_path_factory.mktemp("module-ws"), postgres_server)
    try:
        yield built
    finally:
        built.dispose()


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file under root (outside the database's own WAL files) with its bytes."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("unmo.db"):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def query(sql: str, **params) -> list[tuple]:
    """Rows from the workspace's own database (SQLite or PostgreSQL, whichever the settings
    name), through the project's database adapter. Use this in tests instead of sqlite3.

    A database unmo never opened gives [] whatever the SQL: no SQLite file yet, or a server
    database without unmo's schema (the PostgreSQL pass hands every test an empty one)."""
    from sqlalchemy import inspect, text

    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    if ws.database_url.startswith("sqlite:///") and not Path(
            ws.database_url.removeprefix("sqlite:///")).exists():
        return []
    db = connect(ws.database_url)
    try:
        with db.engine.connect() as connection:
            if db.dialect != "sqlite" and not inspect(connection).has_table("alembic_version"):
                return []
            return [tuple(_as_sqlite_value(v) for v in row)
                    for row in connection.execute(text(sql), params)]
    finally:
        db.dispose()


def _as_sqlite_value(value: Any) -> Any:
    """Raw SQL returns timestamps as text on SQLite but as datetimes on PostgreSQL; give tests
    SQLite's text (the form SQLAlchemy stores: 2026-11-27 09:30:00.000000) on both."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def snapshot_tables(root: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the workspace's database, by table; tables without rows are
    left out, so a database a command merely created or migrated compares equal to none at all
    (on SQLite and on PostgreSQL alike)."""
    from sqlalchemy import inspect, text

    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    if ws.database_url.startswith("sqlite:///") and not Path(
            ws.database_url.removeprefix("sqlite:///")).exists():
        return {}
    # One engine and one connection for every table (a query() per table made an engine each:
    # the tests that snapshot before and after every hypothesis example paid for it).
    db = connect(ws.database_url)
    try:
        with db.engine.connect() as connection:
            if db.dialect != "sqlite" and not inspect(connection).has_table("alembic_version"):
                return {}
            names = [n for n in inspect(connection).get_table_names() if n != "alembic_version"]
            tables = {n: sorted((tuple(_as_sqlite_value(v) for v in row)
                                 for row in connection.execute(text(f"SELECT * FROM {n}"))),
                                key=repr)
                      for n in names}
    finally:
        db.dispose()
    return {name: rows for name, rows in tables.items() if rows}


@pytest.fixture
def unchanged(workspace: Path) -> Iterator[Callable[[], None]]:
    """Call the returned function after a failing command: asserts nothing was written."""
    before = (snapshot_tree(workspace), snapshot_tables(workspace))

    def check(*, audited: bool = False) -> None:
        """`audited`: the command did write and undo its writes (a rotation whose files could
        not be replaced), which the audit trail records truthfully; every other table is as
        it was."""
        after = (snapshot_tree(workspace), snapshot_tables(workspace))
        assert after[0].keys() == before[0].keys(), "files were added or removed"
        assert after[0] == before[0], "file contents changed"
        if audited:
            assert len(after[1].get("audit_events", [])) > len(before[1].get("audit_events",
                                                                             [])), \
                "the undone writes are in the audit trail"
            after[1].pop("audit_events", None)
            before[1].pop("audit_events", None)
        assert after[1] == before[1], "database rows changed"

    yield check


@pytest.fixture
def env_clean() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SETTINGS_ENV}
