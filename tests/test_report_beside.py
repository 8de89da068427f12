"""The weekly report's work beside its snapshot (db/beside.py): the second connection reads the
very snapshot of the first, whatever commits between their starts, or none is used and the work
runs on the first; work there fails and stops with the block. A real SQLite file, and in the
PostgreSQL pass a real server."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, insert, literal, null, select, union_all
from sqlalchemy.engine import make_url

from unmo_cli import db as database
from unmo_cli.db import beside, connect, int_rows, open_database, tables
from unmo_cli.workspace import load_workspace

NOW = "2026-11-25T12:00:00Z"


def _customers(unmo, workspace: Path, count: int = 2) -> None:
    pilots = [{"name": f"Pilot {n}", "contact_name": "Growth Team",
               "contact_email": f"growth{n}@pilot.example", "industry": "gaming",
               "integration": "s2s", "events_per_day": 50000, "provider": "adjust",
               "mrr": 1000} for n in range(1, count + 1)]
    (workspace.parent / "pilots.yaml").write_text(yaml.safe_dump(pilots))
    ran = unmo("onboard", "--from", str(workspace.parent / "pilots.yaml"), "--yes",
               env={"UNMO_NOW": "2026-11-02T10:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("feedback", "add", "pilot-1", "--satisfaction", "9", "--nps", "9",
               "--received-at", "2026-11-17T10:00:00Z", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr


def _feedback(connection) -> int:
    return connection.execute(select(func.count()).select_from(tables.feedback)).scalar_one()


def _add_feedback(url: str, busy_timeout_ms: int | None = None) -> None:
    """One feedback row committed by another connection (its own engine), as another process
    would."""
    other = connect(url)
    try:
        with other.engine.begin() as connection:
            if busy_timeout_ms is not None:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={busy_timeout_ms}")
            customer = connection.execute(select(tables.customers.c.id)).scalars().first()
            connection.execute(insert(tables.feedback).values(
                customer_id=customer, received_at=datetime(2026, 11, 18, 9), satisfaction=2,
                nps=1, category="other", source="manual"))
    finally:
        other.dispose()


def test_the_second_connection_reads_the_snapshot_of_the_first(
        unmo, workspace: Path, monkeypatch: pytest.MonkeyPatch):
    """A commit made between the two connections' starts is in neither: on SQLite the writer
    waits for the lock the set-up holds; on PostgreSQL it commits, and the second connection
    still reads the first one's snapshot."""
    _customers(unmo, workspace)
    db = open_database(load_workspace())
    writer: list[threading.Thread] = []
    blocked: list[bool] = []

    def between(step: str) -> None:
        if step != "report-beside":
            return
        if db.dialect == "sqlite":
            thread = threading.Thread(target=_add_feedback, args=(db.url, 10_000))
            thread.start()
            thread.join(timeout=1.0)
            blocked.append(thread.is_alive())  # waiting for the lock the set-up holds
            writer.append(thread)
        else:
            _add_feedback(db.url)  # committed before the second connection starts

    monkeypatch.setattr(beside.testhooks, "checkpoint", between)
    try:
        with beside.snapshot(db) as (connection, aside):
            assert aside.overlapping
            seen_beside = aside.submit(_feedback).take()
            seen_here = _feedback(connection)
            for thread in writer:
                thread.join(timeout=30)  # the lock is free: the write commits now
                assert not thread.is_alive()
            again_beside = aside.submit(_feedback).take()
        assert (seen_here, seen_beside, again_beside) == (1, 1, 1)
        if db.dialect == "sqlite":
            assert blocked == [True]
        with db.connection() as connection:
            assert _feedback(connection) == 2  # the write did land, after the set-up
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_writer_holding_the_lock_makes_the_report_run_on_one_connection(
        unmo, workspace: Path):
    """The set-up waits beside.LOCK_WAIT_MS for a writer, not the writer's whole transaction,
    and the report is the same, read on one connection."""
    _customers(unmo, workspace)
    expected = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert expected.exit_code == 0, expected.stderr
    db = open_database(load_workspace())
    holder = sqlite3.connect(db.sqlite_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        began = time.monotonic()
        with beside.snapshot(db) as (connection, aside):
            assert not aside.overlapping
            assert aside.submit(_feedback).take() == 1
        assert time.monotonic() - began < 5
        ran = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
        assert ran.exit_code == 0, ran.stderr
        assert ran.stdout == expected.stdout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.dispose()


@pytest.mark.sqlite_only
def test_a_read_only_or_in_memory_database_runs_the_work_on_one_connection(
        unmo, workspace: Path):
    _customers(unmo, workspace)
    path = open_database(load_workspace()).sqlite_path
    read_only = connect(database._read_only_sqlite_url(path), read_only=True)
    empty = database.open_empty()
    try:
        for db in (read_only, empty):
            with beside.snapshot(db) as (connection, aside):
                assert not aside.overlapping
                assert aside.submit(_feedback).take() == _feedback(connection)
    finally:
        read_only.dispose()
        empty.dispose()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_a_removed_or_replaced_file_is_read_as_the_block_has_it_open(unmo, workspace: Path,
                                                                     change: str):
    """The file removed, or an older copy put in its place, after the block's connection
    opened it: no file is created, and every read is of the file the block has open (the
    second connection is not used)."""
    _customers(unmo, workspace)
    db = open_database(load_workspace())
    path = db.sqlite_path
    copy = path.with_name("copy.db")
    try:
        with db.connection() as connection:
            connection.exec_driver_sql("VACUUM INTO ?", (str(copy),))  # 1 feedback
        _add_feedback(db.url)
        with db.engine.connect() as connection:  # the pooled connection, the file open
            assert _feedback(connection) == 2
            # Everything in the file itself (a WAL left behind would be read with the copy:
            # SQLite's "how to corrupt" case, which no check here can undo).
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        if change == "replaced":
            copy.replace(path)
        else:
            for suffix in ("-wal", "-shm", ""):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        with beside.snapshot(db) as (connection, aside):
            assert not aside.overlapping
            assert (_feedback(connection), aside.submit(_feedback).take()) == (2, 2)
        assert path.exists() == (change == "replaced")  # removed: not created again
    finally:
        db.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_ends_is_an_environment_failure(unmo, workspace: Path):
    """The server ends the second connection mid-report (a restart, pg_terminate_backend): one
    sentence, exit 3's EnvironmentFailure, that the database failed (it did connect)."""
    from unmo_cli.errors import EnvironmentFailure

    _customers(unmo, workspace)
    db = open_database(load_workspace())

    def ended(connection) -> None:
        connection.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())").scalar()

    try:
        with pytest.raises(EnvironmentFailure) as failed, \
                beside.snapshot(db) as (_connection, aside):
            assert aside.overlapping
            aside.submit(ended).take()
    finally:
        db.dispose()
    message = str(failed.value)
    assert message.startswith("the database at postgresql+psycopg://"), message
    assert "terminating connection" in message and "\n" not in message


@pytest.mark.postgres
def test_a_role_allowed_one_connection_gets_the_same_report(unmo, workspace: Path,
                                                            monkeypatch: pytest.MonkeyPatch):
    """A server that refuses the second connection (the role's CONNECTION LIMIT 1 here): the
    work runs on the first, and the report is the same."""
    _customers(unmo, workspace)
    expected = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert expected.exit_code == 0, expected.stderr
    ws = load_workspace()
    admin = connect(ws.database_url)
    role = f"unmo_one_{uuid.uuid4().hex[:8]}"
    url = make_url(ws.database_url).set(username=role, password="one-connection")
    try:
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(
                f"CREATE ROLE {role} LOGIN PASSWORD 'one-connection' CONNECTION LIMIT 1")
            connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        limited = connect(url.render_as_string(hide_password=False))
        try:
            with beside.snapshot(limited) as (connection, aside):
                assert not aside.overlapping
                assert aside.submit(_feedback).take() == 1
        finally:
            limited.dispose()
        monkeypatch.setenv("UNMO_DATABASE_URL", url.render_as_string(hide_password=False))
        ran = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
        assert ran.exit_code == 0, ran.stderr
        assert ran.stdout == expected.stdout
    finally:
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_the_second_connection_goes_back_once_its_work_is_done(unmo, workspace: Path):
    """finish(): the second connection's transaction ends when the work sent is done, not
    with the block (on PostgreSQL the server then sees no other transaction of the report's:
    the connection itself may stay in the pool, idle)."""
    _customers(unmo, workspace)
    db = open_database(load_workspace())

    def reports_connections(connection) -> int:
        return connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'unmo' AND pid <> pg_backend_pid() AND state <> 'idle'"
        ).scalar()

    try:
        with beside.snapshot(db) as (connection, aside):
            assert aside.overlapping
            assert aside.submit(_feedback).take() == 1
            if db.dialect == "postgresql":
                assert aside.submit(reports_connections).take() == 1  # the block's own
            aside.finish()
            deadline = time.monotonic() + 10
            while not aside._other.closed and time.monotonic() < deadline:
                time.sleep(0.01)
            assert aside._other.closed
            with pytest.raises(RuntimeError, match="after finish"):
                aside.submit(_feedback)  # the connection is gone: refused, not run on it
            if db.dialect == "postgresql":
                while reports_connections(connection) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert reports_connections(connection) == 0
    finally:
        db.dispose()


def test_what_fails_beside_fails_the_block(unmo, workspace: Path):
    _customers(unmo, workspace)
    db = open_database(load_workspace())

    def fails(_connection) -> None:
        raise ValueError("beside")

    try:
        with pytest.raises(ValueError, match="beside"), \
                beside.snapshot(db) as (_connection, aside):
            assert aside.overlapping
            pending = aside.submit(fails)
            pending.take()
        with beside.snapshot(db) as (_connection, aside):
            pending = aside.submit(_feedback)
            assert pending.take() == 1
            with pytest.raises(RuntimeError):
                pending.take()  # taken once: nothing here holds a value after
    finally:
        db.dispose()


def _long_statement(dialect: str) -> Callable:
    def run(connection) -> None:
        if dialect == "sqlite":
            connection.exec_driver_sql(
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
                "WHERE i < 4000000000) SELECT count(*) FROM r").scalar()
        else:
            connection.exec_driver_sql("SELECT pg_sleep(60)").scalar()
    return run


def test_a_failing_block_stops_the_statement_running_beside_it(unmo, workspace: Path):
    """Ctrl-C or an error in the report: the statement beside it is interrupted (SQLite) or
    cancelled (PostgreSQL), not waited for."""
    _customers(unmo, workspace)
    db = open_database(load_workspace())
    try:
        began = time.monotonic()
        with pytest.raises(KeyboardInterrupt), beside.snapshot(db) as (_connection, aside):
            assert aside.overlapping
            aside.submit(_long_statement(db.dialect))
            time.sleep(0.5)
            raise KeyboardInterrupt
        assert time.monotonic() - began < 15
    finally:
        db.dispose()


def test_two_reports_at_once_agree_with_one(unmo, workspace: Path):
    """Reports at once (each a process, each taking the lock on SQLite in turn) give what one
    alone gives."""
    _customers(unmo, workspace, count=6)
    alone = unmo("report", "weekly", "--format", "json", env={"UNMO_NOW": NOW})
    assert alone.exit_code == 0, alone.stderr
    processes = [subprocess.Popen([sys.executable, "-m", "unmo_cli", "report", "weekly",
                                   "--format", "json"], env={**os.environ, "UNMO_NOW": NOW},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert out == alone.stdout


@pytest.mark.sqlite_only
def test_int_rows_reads_what_the_driver_reads(workspace: Path,
                                              monkeypatch: pytest.MonkeyPatch):
    """SQLite's one JSON text (json_group_array) and the driver's rows agree, to 64 bits and
    NULL; before SQLite 3.38 the driver's rows are read."""
    db = open_database(load_workspace())
    statement = union_all(*(select(literal(a).label("a"), literal(b).label("b"), c.label("c"))
                            for a, b, c in ((2**63 - 1, -(2**63), null()), (0, -1, literal(7)),
                                            (2**53 + 1, 12, literal(0)))))
    try:
        with db.connection() as connection:
            driver = [tuple(row) for row in connection.execute(statement)]
            packed = [tuple(row) for row in int_rows(connection, statement)]
            monkeypatch.setattr(database.sqlite3, "sqlite_version_info", (3, 37, 2))
            older = [tuple(row) for row in int_rows(connection, statement)]
    finally:
        db.dispose()
    assert packed == driver == older
    assert driver[0] == (2**63 - 1, -(2**63), None)
