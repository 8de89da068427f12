"""Shared fixtures: a real workspace in a temp folder and the real CLI through Typer's runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unmo_cli.cli import app

# Variables that would leak the developer's own settings into a test.
_SETTINGS_ENV = [
    "UNMO_WORKSPACE", "UNMO_DATABASE_URL", "UNMO_API_URL", "UNMO_API_TIMEOUT", "UNMO_TIMEZONE",
    "UNMO_ALERT_WEBHOOK", "UNMO_NOW", "UNMO_DEBUG", "CI",
]


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace folder; commands run with UNMO_WORKSPACE pointing at it.

    When UNMO_TEST_DATABASE_URL is set (the PostgreSQL pass of .ci/run), each test gets a fresh
    database there instead of the SQLite default."""
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("UNMO_WORKSPACE", str(root))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def unmo(workspace: Path) -> Callable[..., Ran]:
    """Run `unmo ARGS…` in-process: unmo("onboard", "Acme", "--json", env={...}, input="...")."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Ran:
        result = runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file under root (outside the database's own WAL files) with its bytes."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("unmo.db"):
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def query(sql: str, **params) -> list[tuple]:
    """Rows from the workspace's own database (SQLite or PostgreSQL, whichever the settings
    name), through the project's database adapter. Use this in tests instead of sqlite3."""
    from sqlalchemy import text

    from unmo_cli.db import connect
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    if ws.database_url.startswith("sqlite:///") and not Path(
            ws.database_url.removeprefix("sqlite:///")).exists():
        return []
    db = connect(ws.database_url)
    try:
        with db.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        db.dispose()


def snapshot_tables(root: Path) -> dict[str, list[tuple]]:
    """Every row of every table of the workspace's database (empty if none yet)."""
    from sqlalchemy import inspect

    from unmo_cli.db import connect
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    if ws.database_url.startswith("sqlite:///") and not Path(
            ws.database_url.removeprefix("sqlite:///")).exists():
        return {}
    db = connect(ws.database_url)
    try:
        names = [n for n in inspect(db.engine).get_table_names() if n != "alembic_version"]
    finally:
        db.dispose()
    return {n: sorted(query(f"SELECT * FROM {n}"), key=repr) for n in names}


@pytest.fixture
def unchanged(workspace: Path) -> Iterator[Callable[[], None]]:
    """Call the returned function after a failing command: asserts nothing was written."""
    before = (snapshot_tree(workspace), snapshot_tables(workspace))

    def check() -> None:
        after = (snapshot_tree(workspace), snapshot_tables(workspace))
        assert after[0].keys() == before[0].keys(), "files were added or removed"
        assert after[0] == before[0], "file contents changed"
        assert after[1] == before[1], "database rows changed"

    yield check


@pytest.fixture
def env_clean() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SETTINGS_ENV}
