"""Work beside a snapshot: a reading command's snapshot block (`Database.connection(snapshot=
True)`) with a second connection that reads the very same snapshot, and one thread that runs
work on it while the block's own connection goes on. The weekly report sends there the reads
that need nothing its others find (services/reports.py: compute_report), which the database
answers while Python makes the report's rows from the other reads.

The same snapshot, made sure of, not hoped for:
- PostgreSQL: the block's REPEATABLE READ transaction exports its snapshot
  (pg_export_snapshot) and the second connection's REPEATABLE READ transaction imports it
  (SET TRANSACTION SNAPSHOT) before it reads anything.
- SQLite (WAL): a third connection takes the write lock (BEGIN IMMEDIATE) while the two others
  start their reads and lets it go at once, so no commit can fall between their two snapshots;
  a writer waits for the lock a few milliseconds at most, not for the report. The two new
  connections open the file with mode=rw (never creating one: it may have been removed since
  the block's connection opened it), and the second is used only if it reads the same data as
  the block's (the newest audit event and the page count: not an older copy put in the file's
  place).

Where neither can be had — an in-memory or read-only database, the write lock held by a writer
for over LOCK_WAIT_MS, a standby server, a server refusing one more connection — the work runs
on the block's own connection, in its thread, when its value is taken: the same figures, one
after the other. Work run beside must only read, and only through the connection it is
given."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from sqlalchemy.exc import DBAPIError, OperationalError

from unmo_cli import testhooks
from unmo_cli.db import connect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.db import Database

T = TypeVar("T")

# How long the SQLite lock-taking connection waits for a writer to finish before the work is run
# on the block's connection instead: a health check's or a feedback's commit takes milliseconds;
# an import holds the lock for seconds, and the report does not wait for it.
LOCK_WAIT_MS = 200
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


class Pending(Generic[T]):
    """Work sent beside: `take()` waits for it and returns its value (or raises what it
    raised), once; nothing here holds the value after, so a large one is freed with its
    taker's last reference."""

    def __init__(self, wait: Callable[[], T]) -> None:
        self._wait: Callable[[], T] | None = wait

    def take(self) -> T:
        wait, self._wait = self._wait, None
        if wait is None:
            raise RuntimeError("this work's value was taken already")
        return wait()


class Beside:
    """Where a snapshot block sends work to run beside it (`submit`), in the order sent."""

    def __init__(self, connection: Connection, other: Connection | None) -> None:
        self._connection = connection
        self._other = other
        self._pool = (None if other is None else
                      ThreadPoolExecutor(max_workers=1, thread_name_prefix="unmo-beside"))
        self._finished = False

    @property
    def overlapping(self) -> bool:
        """Whether work runs on a second connection (else later, on the block's own)."""
        return self._pool is not None

    @property
    def rows_arrive_whole(self) -> bool:
        """Whether work that reads many rows gains from running beside: on PostgreSQL a
        statement's rows arrive whole while the thread waits on the server, the interpreter
        free; SQLite makes each row in a step of the thread reading it, which takes the
        interpreter back at every row (both threads then wait on each other)."""
        return self.overlapping and self._connection.dialect.name == "postgresql"

    def submit(self, work: Callable[[Connection], T]) -> Pending[T]:
        """Start `work(connection)` on the second connection, after the work sent before it;
        or, without one, run it on the block's connection when its value is taken."""
        if self._finished:
            raise RuntimeError("work sent beside after finish()")
        if self._pool is None or self._other is None:
            return Pending(partial(work, self._connection))
        return Pending(self._pool.submit(work, self._other).result)

    def finish(self) -> None:
        """No more work will be sent: the second connection's transaction ends, and the
        connection goes back, as soon as the work sent is done (not when the block ends: a
        server's idle-in-transaction timeout, a WAL checkpoint waiting for the read to end)."""
        self._finished = True
        if self._pool is not None and self._other is not None:
            self._pool.submit(self._other.close)

    def _close(self, failed: bool) -> None:
        if self._pool is None:
            return
        if failed:  # the block gave up: stop what runs beside it rather than wait for it
            _interrupt(self._other)
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def snapshot(db: Database) -> Iterator[tuple[Connection, Beside]]:
    """`db.connection(snapshot=True)`'s connection, and a Beside reading the same snapshot."""
    with db.connection(snapshot=True) as connection, ExitStack() as stack:
        other = _second_connection(db, connection, stack)
        beside = Beside(connection, other)
        try:
            yield connection, beside
        except BaseException:
            beside._close(failed=True)
            raise
        beside._close(failed=False)


def _second_connection(db: Database, connection: Connection,
                       stack: ExitStack) -> Connection | None:
    """A connection whose transaction reads the snapshot `connection`'s is reading (which has
    not read anything yet), closed by `stack`; None where that cannot be had."""
    if db.dialect == "postgresql":
        return _postgresql_twin(db, connection, stack)
    if db.sqlite_path is None or db.read_only:
        return None
    return _sqlite_twin(db, connection, stack)


def _postgresql_twin(db: Database, connection: Connection,
                     stack: ExitStack) -> Connection | None:
    # One round trip, and no error to abort the block's transaction with: a standby exports no
    # snapshot (and a snapshot cannot be exported from a subtransaction, so no savepoint).
    exported = connection.exec_driver_sql(
        "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_export_snapshot() END"
    ).scalar()
    testhooks.checkpoint("report-beside")  # the block's snapshot taken, the twin's not yet
    if not exported or not _SNAPSHOT_ID.fullmatch(exported):
        return None
    try:
        other = db.engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True)
    except DBAPIError:  # too many connections, say: the work runs in the block
        return None
    try:
        other.begin()
        # SET takes no bound parameter; the id was matched against its form above.
        other.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{exported}'")
    except DBAPIError:
        other.close()
        return None
    stack.callback(other.close)  # (rolls the read-only transaction back)
    return other


def _sqlite_twin(db: Database, connection: Connection, stack: ExitStack) -> Connection | None:
    path = db.sqlite_path
    assert path is not None
    # Its own engine on the file as it is: mode=rw never creates one (the file removed since
    # the block's connection opened it), and the lock is then this file's.
    twin = connect(f"sqlite:///file:{quote(path.as_posix())}?mode=rw&uri=true")
    stack.callback(twin.dispose)
    try:
        lock = stack.enter_context(twin.engine.connect())
        lock.exec_driver_sql(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
    except OperationalError:  # the file is gone: the block reads what it has open
        connection.exec_driver_sql(_START_READING)
        return None
    try:
        lock.exec_driver_sql("BEGIN IMMEDIATE")
    except OperationalError:  # a writer holds the lock: no second connection this time
        held = False
    else:
        held = True
    try:
        connection.exec_driver_sql(_START_READING)  # the block's snapshot is taken here
        testhooks.checkpoint("report-beside")  # the block's snapshot taken, not the twin's
        if not held:
            return None
        other = stack.enter_context(twin.engine.connect())
        other.exec_driver_sql("BEGIN")
        other.exec_driver_sql(_START_READING)
    finally:
        if held:
            lock.exec_driver_sql("ROLLBACK")
        lock.close()
    # The same file, not one put in its place since the block's connection opened it (a
    # restored copy): the same data, as far as the newest audit event and the size tell.
    if _fingerprint(other) != _fingerprint(connection):
        other.close()
        return None
    return other


# A read of the schema table starts a read transaction: its snapshot is the database as of then.
_START_READING = "SELECT 1 FROM sqlite_master LIMIT 1"


def _fingerprint(connection: Connection) -> tuple[Any, ...]:
    """What tells two snapshots of a workspace's database apart: every write appends an audit
    event (unmo_cli/audit.py, chained by hash), and the file's page count."""
    newest = connection.exec_driver_sql(
        "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").first()
    pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    return (tuple(newest) if newest else None, pages)


def _interrupt(connection: Connection | None) -> None:
    """Stop the statement `connection` is running, from another thread."""
    if connection is None:
        return
    try:
        driver: Any = connection.connection.dbapi_connection  # (raises once it is closed)
        if hasattr(driver, "interrupt"):  # sqlite3
            driver.interrupt()
        elif hasattr(driver, "cancel"):  # psycopg
            driver.cancel()
    except Exception:  # noqa: BLE001 - best effort: the block is failing already
        return
