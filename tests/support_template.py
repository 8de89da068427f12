"""The SQLite pass's migrated template: a new workspace database is a copy of one file migrated
to SCHEMA_HEAD once per pytest process, instead of Alembic's ten migrations run again in every
test that writes (about a third of a second each, a fifth of the pass on 2 cores).

Only the one step "a blank SQLite file -> SCHEMA_HEAD" in the pytest process itself is replaced;
everything else is unmo's own code: opening, the lock file, the connect hooks, the file's mode
(the file unmo created is written into, not replaced). A database with any schema (an older
workspace, a test's fixture) is migrated by Alembic as before, and so is every database of an
`unmo` subprocess and of a test marked `empty_database` (the migrations' own tests). The one
row the migrations write that depends on the moment, the audit trail's genesis event (0009: the
time, who, the command, the counts, its hash), is written again for this copy the way 0009
writes it. tests/test_migrations.py's test_template_copy_equals_a_real_migration holds the two
paths to the same schema and the same rows, byte for byte.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, String, Table, select, text, update

from unmo_cli import audit, clock
from unmo_cli.db import Database, _migration_lock, connect

_genesis = importlib.import_module("unmo_cli.db.migrations.versions.0009_audit_trail")
_events = Table("audit_events", MetaData(), Column("id"), Column("at", DateTime()),
                Column("actor", String()), Column("command", String()),
                Column("details", String()), Column("hash", String()))
_real_upgrade = Database.upgrade


class SQLiteTemplate:
    """A SQLite file at SCHEMA_HEAD, made by Alembic on first use in this process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path: Path | None = None

    def path(self) -> Path:
        if self._path is None:
            path = self.folder / "template.db"
            db = connect(f"sqlite:///{path}")
            try:
                _real_upgrade(db)
            finally:
                db.dispose()
            self._path = path
        return self._path

    def upgrade(self, db: Database) -> tuple[str | None, str, Path | None]:
        """Database.upgrade while the template is in use: a copy for a blank SQLite file,
        unmo's own upgrade for anything else."""
        path = db.sqlite_path
        if path is None or "mode=ro" in str(db.engine.url):
            return _real_upgrade(db)
        with _migration_lock(db):
            blank = _is_blank(path)
            if blank:
                db.engine.dispose()  # no pooled connection may hold the file being written
                source = sqlite3.connect(self.path())
                target = sqlite3.connect(path)
                try:
                    source.backup(target)
                finally:
                    target.close()
                    source.close()
                _write_genesis(db)
        if not blank:
            return _real_upgrade(db)  # takes the lock file itself
        from unmo_cli.db import SCHEMA_HEAD

        return None, SCHEMA_HEAD, None


def _is_blank(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return True
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        connection.close()


def _write_genesis(db: Database) -> None:
    """Migration 0009's genesis event, as 0009 would have written it in this process now."""
    with db.engine.begin() as connection, audit.unaudited(connection):
        counts: dict[str, Any] = {
            name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in _genesis.COUNTED}
        at_value = clock.to_db(clock.now())
        who = audit.origin()
        body = audit.details_json({"rows": counts})
        digest = audit.chain_hash("", audit.canonical(1, clock.iso(at_value) or "", who.actor,
                                                      who.command, None, "genesis", body))
        assert connection.execute(select(_events.c.id)).scalars().all() == [1]
        connection.execute(update(_events).where(_events.c.id == 1).values(
            at=at_value, actor=who.actor, command=who.command, details=body, hash=digest))
