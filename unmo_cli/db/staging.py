"""Staging tables: rows a command has checked but not yet kept, held in a TEMPORARY table of its
own connection instead of in the process's memory (`feedback import` of a million rows), then
moved into the real table with one INSERT … SELECT in the command's transaction.

A temporary table is private to its connection and never reaches the database file or another
session: PostgreSQL drops it at the end of the transaction (ON COMMIT DROP, so a rollback leaves
nothing either); on SQLite it lives in the connection's temporary database (a file under the
temp folder, not the workspace's) and `staging_table` drops it when the block ends, since the
pooled connection outlives the command's session.

SQLite's write lock: the sqlite3 module opens a transaction at a connection's first INSERT,
temporary tables included, and `lock_for_update` takes the database's write lock only when no
transaction is open yet (BEGIN IMMEDIATE). So `stage_rows`, when it opened the transaction
itself, commits it at once: that commits only the temporary rows (nothing else was written),
and the command's later BEGIN IMMEDIATE still comes before its first read of the rows it will
write on. A command must therefore stage before it locks, as the import does (it checks the
whole file first, and locks only to write)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, select, text

from unmo_cli.db import bulk_insert

if TYPE_CHECKING:
    from sqlmodel import Session


@contextmanager
def staging_table(session: Session, table: Table) -> Iterator[Table]:
    """Create `table` (a Table built with prefixes=["TEMPORARY"] and
    postgresql_on_commit="DROP") in the session's connection for the block."""
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # one left by an earlier command of this process on the same pooled connection
        table.drop(connection, checkfirst=True)
    table.create(connection)
    try:
        yield table
    finally:
        if sqlite:
            _drop_quietly(session, table)


def _drop_quietly(session: Session, table: Table) -> None:
    with suppress(Exception):  # the connection may be gone: the table went with it
        table.drop(session.connection(), checkfirst=True)


def stage_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """bulk_insert into a staging table (COPY on PostgreSQL), without opening on SQLite a
    transaction that would keep `lock_for_update` from taking the write lock (module docstring)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        bulk_insert(session, table, rows)
        return
    driver = connection.connection.driver_connection
    opened = driver is not None and not driver.in_transaction
    bulk_insert(session, table, rows)
    if opened and driver is not None:
        driver.commit()


def index_staged(session: Session, table: Table, *indexes: Sequence[str]) -> None:
    """Index the staged rows once they are all in (cheaper than keeping indexes up to date row by
    row), and give PostgreSQL's planner their statistics: autovacuum never analyses a temporary
    table, and without them it plans every join as if the table were tiny."""
    connection = session.connection()
    quote = connection.dialect.identifier_preparer.quote
    for number, columns in enumerate(indexes):
        # Plain DDL: an Index object would attach itself to `table`, and the next command's
        # table.create() would make it as well.
        connection.execute(text(
            f"CREATE INDEX {quote(f'{table.name}_ix{number}')} ON {quote(table.name)} "
            f"({', '.join(quote(table.c[name].name) for name in columns)})"))
    if connection.dialect.name == "postgresql":
        connection.execute(text(f'ANALYZE "{table.name}"'))


def next_ids(session: Session, target: Table, order: Any) -> Any:
    """An SQL expression giving each row of an INSERT … SELECT (ordered by `order`) the id it
    will have in `target`, so rows copied with it can be found again by their ids. Call it
    holding the lock that serialises writers of `target` (lock_for_update). PostgreSQL draws
    the ids from the target's sequence (other sessions may draw meanwhile: unique, not always
    consecutive); SQLite, which hands out max(id) + 1, numbers on from the largest id stored,
    which the write lock keeps."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return func.nextval(func.pg_get_serial_sequence(target.name, "id"))
    base = connection.execute(select(func.coalesce(func.max(target.c.id), 0))).scalar_one()
    return func.row_number().over(order_by=order) + base
