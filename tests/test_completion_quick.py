"""Completion's quick read (unmo_cli.completion.read_slugs, straight through sqlite3 or psycopg)
answers exactly what the ORM query (services.customers.slugs_starting_with) answers, on SQLite
and PostgreSQL, for any prefix — and a Tab press loads none of the database stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unmo_cli.completion import read_slugs
from unmo_cli.services.customers import slugs_starting_with
from unmo_cli.workspace import load_workspace

# Slugs as the database may hold them, the odd ones included (LIKE's own % and _, the escape
# character /, capitals, which SQLite's LIKE folds and PostgreSQL's does not, and non-ASCII).
ODD_SLUGS = ["acme-games", "acme_games", "acme%games", "acme/games", "Acme-Games", "acmé", "a",
             "ab", "b-1", "b-10", "b-2", "z" * 64, "ecomgrowth-labs", "techstart-mobile"]
ALPHABET = "abAB-_%/é'\\z1"


def _insert(slugs: list[str]) -> None:
    from sqlalchemy import insert

    from unmo_cli import clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer

    db = open_database(load_workspace())
    at = clock.to_db(clock.parse_instant("2026-11-01T09:00:00Z"))
    try:
        with db.session() as session:
            session.execute(insert(Customer), [
                {"slug": slug, "name_key": f"key{n}", "name": f"Name {n}", "industry": "other",
                 "integration": "s2s", "platforms": "", "provider": "none", "events_per_day": 1,
                 "mrr_cents": 0, "contact_name": "Ops", "contact_email": "ops@x.example",
                 "phase": "setup", "created_at": at} for n, slug in enumerate(slugs)])
    finally:
        db.dispose()


@pytest.fixture
def odd_customers(workspace: Path) -> Path:
    _insert(ODD_SLUGS + [f"bulk-{n:04d}" for n in range(600)])
    return workspace


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.one_of(st.text(ALPHABET, max_size=6), st.sampled_from(
    ["", "acme", "acme_", "acme%", "acme/", "Acme", "ACME", "bulk-", "bulk-05", "b-1", "é"])),
    limit=st.sampled_from([1, 3, 500]))
def test_the_quick_read_answers_as_the_orm_query(odd_customers: Path, prefix: str, limit: int):
    ws = load_workspace()
    assert read_slugs(ws.database_url, prefix, limit=limit) == \
        slugs_starting_with(prefix, ws, limit=limit)


def test_no_database_file_is_no_slugs_and_nothing_created(tmp_path: Path):
    missing = tmp_path / "ws" / ".unmo" / "unmo.db"
    assert read_slugs(f"sqlite:///{missing}", "", limit=500) == []
    assert not (tmp_path / "ws").exists()


@pytest.mark.sqlite_only
def test_reading_changes_no_byte_of_the_database(odd_customers: Path):
    database = odd_customers / ".unmo" / "unmo.db"
    before, files = database.read_bytes(), {p.name for p in database.parent.iterdir()}
    assert read_slugs(f"sqlite:///{database}", "acme", limit=500)
    assert database.read_bytes() == before
    # SQLite's own shared-memory files of a WAL database (as the ORM's read-only door leaves
    # them too), with nothing written to the log: no other file, no byte of data.
    created = {p.name for p in database.parent.iterdir()} - files
    assert created <= {"unmo.db-wal", "unmo.db-shm"}
    wal = database.with_name("unmo.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0


_PROBE = """
import contextlib, io, json, os, sys
os.environ["COMP_WORDS"] = "unmo customer show bulk-000"
os.environ["COMP_CWORD"] = "3"
sys.argv = ["unmo"]
from unmo_cli.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit:
        pass
heavy = ("sqlalchemy", "sqlmodel", "pydantic", "alembic", "jinja2", "httpx", "typer._adapters")
print(json.dumps({"offered": out.getvalue().split(),
                  "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def test_a_tab_press_loads_none_of_the_database_stack(odd_customers: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMP_")}
    env.update(_UNMO_COMPLETE="complete_bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    ran = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["offered"] == [f"bulk-000{n}" for n in range(10)]
    assert seen["loaded"] == []
