"""Owns the database: engine, sessions, models and migrations. Nothing else opens a connection.

SQLite gets WAL, a busy timeout and foreign keys from a connect hook; the schema is moved to the
newest revision on first use (an older SQLite file is backed up first).

Over 500 lines as one module: it is the one owner of connections (engines and their connect hooks,
the schema check and migration on first use, row and file locks, the SQLite backup); every other
module reaches the database through its few public functions, which a split would multiply."""

from __future__ import annotations

import fcntl
import gc
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool

from unmo_cli import audit
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.workspace import ensure_private_dir

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace

# The newest migration; a test keeps it equal to Alembic's head.
SCHEMA_HEAD = "0011"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
# An unreachable server fails the command within this many seconds instead of hanging.
CONNECT_TIMEOUT_S = 10
# Any fixed key: every unmo process migrating the same PostgreSQL database takes this lock.
_MIGRATION_LOCK_KEY = 874021
# Row ids are INTEGER columns: 32 bits on PostgreSQL. An id above this names no row, and asking
# for it would be an error of the driver (out of range), not an answer.
MAX_ROW_ID = 2**31 - 1
SUPPORTED_URLS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


def redact_url(url: str) -> str:
    """A database URL safe to print: the password replaced."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def normalize_url(url: str) -> str:
    """Hosting providers hand out postgres:// and postgresql:// URLs; both mean psycopg 3 here,
    the driver the `postgres` extra installs (SQLAlchemy 2.0 would otherwise pick psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


@dataclass
class Database:
    url: str
    engine: Engine
    # Kept open for a long-running process (kept_open): dispose() leaves the engine alone.
    kept: bool = False
    # Opened read-only (connect(read_only=True): a SQLite file this process cannot write).
    read_only: bool = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_path(self) -> Path | None:
        if self.dialect != "sqlite":
            return None
        database = self.engine.url.database
        return Path(database) if database and database != ":memory:" else None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work through the ORM (the model classes): committed when the block ends,
        rolled back if it raises. Statements on db/tables.py's Core clauses need no ORM: use
        `connection()`, which imports neither SQLModel, pydantic nor SQLAlchemy's ORM."""

        # lazy: SQLModel, pydantic and SQLAlchemy's ORM are 0.6 G instructions to import, a third
        # of the import floor; commands that state their statements in Core never load them.
        from sqlmodel import Session

        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise EnvironmentFailure(_describe_operational(exc, self.url)) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """One unit of work on a Core connection (db/tables.py's clauses, plain rows): committed
        when the block ends, rolled back if it raises; the same errors as `session()`.

        With `snapshot` (a reading command whose figures come from several statements: the
        reports), every statement reads the database as it was at the block's first read,
        whatever other processes commit meanwhile, so the figures agree with each other:
        REPEATABLE READ, READ ONLY on PostgreSQL (whose default gives each statement its own
        snapshot); one read transaction on SQLite (the sqlite3 module opens none before a
        SELECT, so each statement would otherwise read on its own)."""

        try:
            if not snapshot:
                with self.engine.begin() as connection:
                    yield connection
            elif self.dialect == "postgresql":
                with self.engine.connect().execution_options(
                        isolation_level="REPEATABLE READ", postgresql_readonly=True
                ) as connection, connection.begin():
                    yield connection
            else:
                with self.engine.begin() as connection:
                    connection.exec_driver_sql("BEGIN")  # deferred: the first read starts it
                    yield connection
        except OperationalError as exc:
            raise EnvironmentFailure(_describe_operational(exc, self.url)) from None

    def schema_revision(self) -> str | None:
        with _environment_errors(self.url), self.engine.connect() as connection:
            return _recorded_revision(connection)

    def upgrade(self) -> tuple[str | None, str, Path | None]:
        """Migrate to the newest schema; returns (from, to, backup file or None).

        Safe to run from several processes at once: SQLite serialises them on a lock file,
        PostgreSQL on an advisory lock; whoever comes second reads the revision again under
        the lock and finds nothing left to do."""

        with _environment_errors(self.url), _migration_lock(self), \
                self.engine.begin() as connection, audit.unaudited(connection):
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": _MIGRATION_LOCK_KEY})
            current = _revision_of(connection)
            if current == SCHEMA_HEAD:
                return current, current, None
            backup = self._backup(current) if current is not None else None
            from alembic import command  # lazy: Alembic only when the schema is behind
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            # The migrations' own writes are not events (the genesis event counts what was
            # there), but upgrading an existing schema is a change: one event, appended as this
            # commits (a new database starts with the genesis event alone).
            if current is not None:
                audit.record(connection, "db.upgrade", None,
                             {"from": current, "to": SCHEMA_HEAD})
            return current, SCHEMA_HEAD, backup

    def _backup(self, revision: str) -> Path | None:
        """Copy an older SQLite file next to itself before changing its schema."""
        path = self.sqlite_path
        if path is None or not path.exists():
            return None

        target = path.with_name(f"{path.name}.backup-{revision}")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.backup-{revision}.{n}")
        _create_private_file(target)
        source = sqlite3.connect(path)
        try:
            dest = sqlite3.connect(target)
            with dest:
                source.backup(dest)
            # One self-contained file (no -wal/-shm beside it) that a user can copy back as is.
            dest.execute("PRAGMA journal_mode=DELETE")
            dest.close()
        finally:
            source.close()
        return target

    def raw_rows(self, sql: str, *, batch: int = 10_000) -> Iterator[tuple[Any, ...]]:
        """The rows of a fixed query straight from the driver, streamed (a server-side cursor
        on PostgreSQL, so a million rows are never held at once): for a scan that does little
        per row (`audit verify`), where SQLAlchemy's row objects would cost more than the work.
        Values come back as the driver gives them: on SQLite text as UTF-8 bytes (timestamps
        too, in SQLAlchemy's `2026-12-07 09:30:00.123456`); on PostgreSQL in binary, so a
        query that wants bytes selects `convert_to(text, 'UTF8')`."""
        with _environment_errors(self.url), self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            if self.dialect == "postgresql":
                # Binary results: bytea arrives as bytes, integers as ints, nothing parsed.
                with driver.cursor(name="unmo_scan", binary=True) as cursor:
                    cursor.itersize = batch
                    cursor.execute(sql)
                    yield from cursor
                driver.rollback()
                return
            # Text as the bytes stored (UTF-8), not decoded into str objects, and the file
            # mapped rather than copied page by page: a third less work per row of a scan.
            driver.execute("PRAGMA mmap_size=1073741824")
            driver.text_factory = bytes
            cursor = driver.cursor()
            try:
                cursor.arraysize = batch
                cursor.execute(sql)
                while rows := cursor.fetchmany():
                    yield from rows
            finally:
                cursor.close()
                driver.text_factory = str
                driver.execute("PRAGMA mmap_size=0")

    def scrub(self, tables: Sequence[str]) -> bool:
        """After an erasure committed, leave no copy of the old values in the database's files:
        on SQLite (which zeroes freed space: secure_delete, set on every connection) a WAL
        checkpoint that truncates the WAL, where the old pages' images were; on PostgreSQL a
        VACUUM of `tables`, which removes the dead row versions an UPDATE leaves behind. False
        when another connection's open read kept the checkpoint from finishing (the WAL then
        still holds old pages until the next checkpoint)."""
        with _environment_errors(self.url):
            if self.dialect == "sqlite":
                with self.engine.connect() as connection:
                    busy = connection.exec_driver_sql(
                        "PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
                return not busy
            with self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as connection:
                for table in tables:
                    connection.exec_driver_sql(f'VACUUM "{table}"')
            return True

    def dispose(self) -> None:
        if not self.kept:
            self.engine.dispose()


# Databases a long-running process keeps open (kept_open), by URL.
_kept: dict[str, Database] = {}


@contextmanager
def kept_open(workspace: Workspace) -> Iterator[Database]:
    """For a long-running process (`unmo survey serve`): inside the block every open_database()
    of this workspace returns the same Database, whose engine and connection pool stay open
    (each service's dispose() is then a no-op), so a request does not pay for a new engine and
    a schema check. Closed when the block ends."""
    db = open_database(workspace)
    db.kept = True
    _kept[workspace.database_url] = db
    try:
        yield db
    finally:
        _kept.pop(workspace.database_url, None)
        db.kept = False
        db.dispose()


def core_connection(unit: Session | Connection) -> Connection:
    """The Core connection of a unit of work: a `Database.connection()` block's connection
    itself, or the connection an ORM session's transaction runs on — for code that serves
    both (the alerts and playbooks health raises in Core, feedback through the ORM)."""
    return unit if isinstance(unit, Connection) else unit.connection()


def driver_batches(connection: Connection, statement: Any, *, batch: int = 10_000
                   ) -> Iterator[list[tuple[Any, ...]]]:
    """The rows of a Core SELECT run on `connection` (in its transaction, its parameters bound as
    SQLAlchemy binds them), in lists of up to `batch` of the driver's own tuples: no Row object
    per row, which costs more than the rest of a read of 10^5 narrow rows. Only for columns the
    driver already gives as wanted (integers, floats): on SQLite a timestamp would arrive as
    text."""
    result = connection.execute(statement)
    try:
        cursor = result.cursor
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        result.close()


def int_rows(connection: Connection, statement: Any) -> Iterable[Sequence[int | None]]:
    """The rows of a Core SELECT of integer columns (counts, sums of integers, ids), as
    driver_batches gives them, or on SQLite as one JSON array of arrays that SQLite builds
    (json_group_array, built in since 3.38) and the json module's C decoder reads: SQLite then
    makes the whole result in one step of its engine, during which other threads run, where
    the driver would step once a row, taking the interpreter's lock back each time — a thread
    beside the report's (db/beside.py) then waited on its other thread row after row (a
    100,000-customer report's feedback aggregate took 1.5 s there for 0.7 s alone). No float
    column: SQLite writes a REAL into JSON with 15 digits only."""
    if connection.dialect.name != "sqlite" or sqlite3.sqlite_version_info < (3, 38):
        return chain.from_iterable(driver_batches(connection, statement))
    rows = statement.subquery("int_rows")
    text = connection.execute(
        select(func.json_group_array(func.json_array(*rows.c)))).scalar_one()
    return json.loads(text)


def lock_for_update(session: Session | Connection, model: Any, ids: Sequence[int]) -> None:
    """Serialise this transaction with every other writer of the rows `ids` of `model` (a model
    class or a db/tables.py clause), until it commits or rolls back, so that what it reads next
    is what it may write on. PostgreSQL locks
    the rows (SELECT … FOR UPDATE, in id order so two lockers cannot deadlock); SQLite has no
    row locks, so the transaction takes the database's write lock now (BEGIN IMMEDIATE) rather
    than at its first write. Call it before reading what the change depends on; objects loaded
    before it should be refreshed (session.refresh). Another writer holding the lock longer than
    the busy timeout is an EnvironmentFailure through Database.session() or connection()."""

    connection = core_connection(session)
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        # The sqlite3 module opens a transaction only at the first INSERT/UPDATE/DELETE; one
        # already open has taken the write lock.
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        return
    if ids:
        key = getattr(model, "__table__", model).c.id
        connection.execute(select(key).where(key.in_(sorted(set(ids))))
                           .order_by(key).with_for_update())


BULK_CHUNK = 10_000  # rows per executemany on SQLite


def bulk_insert(session: Session, table: Any, rows: Sequence[Mapping[str, Any]], *,
                returning_ids: bool = False, in_row_order: bool = True) -> list[int]:
    """Insert `rows` (every one with the same keys in the same order: the columns) into
    `table` in the session's transaction. With `returning_ids`, the new rows' ids: in the order
    of `rows`, or in any order when `in_row_order` is False (cheaper on SQLite); else [].

    PostgreSQL gets COPY: psycopg parses a huge INSERT … RETURNING client-side, which cost more
    than the insert itself. The ids are reserved first from the table's sequence and copied
    explicitly, so every row's id is known without RETURNING. SQLite keeps executemany."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if session.get_bind().dialect.name == "postgresql":
        return _copy_rows(session, table, columns, rows, returning_ids)

    connection = session.connection()
    ids: list[int] = []
    for start in range(0, len(rows), BULK_CHUNK):
        chunk = rows[start:start + BULK_CHUNK]
        if not returning_ids:
            connection.execute(insert(table), chunk)
        elif not in_row_order:
            ids.extend(connection.execute(insert(table).returning(table.c.id), chunk).scalars())
        else:
            ids.extend(_ids_in_row_order(connection, table, columns, chunk))
    return ids


def _ids_in_row_order(connection: Any, table: Any, columns: Sequence[str],
                      chunk: Sequence[Mapping[str, Any]]) -> list[int]:
    """RETURNING rows come back in no promised order (asking for parameter order makes
    SQLAlchemy much slower on SQLite), so they are matched back by content: rows alike in every
    inserted column are interchangeable."""

    stored = connection.execute(
        insert(table).returning(table.c.id, *(table.c[name] for name in columns)), chunk)
    waiting: dict[tuple[Any, ...], list[int]] = {}
    for position, row in enumerate(chunk):
        waiting.setdefault(tuple(row.values()), []).append(position)
    ids = [0] * len(chunk)
    for row_id, *values in stored:
        ids[waiting[tuple(values)].pop()] = row_id
    return ids


def _copy_rows(session: Session, table: Any, columns: Sequence[str],
               rows: Sequence[Mapping[str, Any]], returning_ids: bool) -> list[int]:
    import psycopg  # lazy: psycopg is the optional postgres extra
    from psycopg import sql

    connection = session.connection()
    ids: list[int] = []
    if returning_ids:
        ids = list(connection.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :n)"), {"table": table.name, "n": len(rows)}).scalars())
        columns = ("id", *columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            if returning_ids:
                for row_id, row in zip(ids, rows, strict=True):
                    write((row_id, *row.values()))
            else:
                for row in rows:
                    write(tuple(row.values()))
    except psycopg.Error as exc:
        # Callers and Database.session() handle SQLAlchemy's exceptions (IntegrityError for
        # an id another import stored meanwhile, OperationalError for a lost server).
        raise DBAPIError.instance(statement.as_string(driver), None, exc, psycopg.Error,
                                  dialect=session.get_bind().dialect) from exc
    audit.record_rows(connection, table, rows)  # COPY passes SQLAlchemy's events by
    return ids


def _revision_of(connection: Any) -> str | None:
    """The revision Alembic recorded, or None when it recorded none (a new database), asked the
    database's own catalogue first: safe inside a transaction that must not fail (upgrade)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _recorded_revision(connection: Any) -> str | None:
    """What every command asks before it starts: one query, read straight from alembic_version
    and compared with SCHEMA_HEAD by the caller (Alembic itself is imported only to migrate).
    None when the table is not there yet (a new database); any other failure is raised."""
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError) as exc:
        if not _no_such_table(exc):
            raise
        connection.rollback()  # PostgreSQL: the failed statement ended the transaction
        return None


def _no_such_table(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) == "42P01":  # PostgreSQL: undefined_table
        return True
    return type(orig).__module__.startswith("sqlite3") and \
        str(orig).startswith("no such table: alembic_version")


@contextmanager
def _environment_errors(url: str) -> Iterator[None]:
    """A server that is down, refuses us or drops the connection is the environment failing
    (exit 3), told in one sentence that names the database without its password."""

    try:
        yield
    except OperationalError as exc:
        raise EnvironmentFailure(_describe_operational(exc, url)) from None
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        raise EnvironmentFailure(_describe_operational(exc, url)) from None


@contextmanager
def _migration_lock(db: Database) -> Iterator[None]:
    """Two first commands at once must not both create the schema: on SQLite a file lock
    serialises them (PostgreSQL takes an advisory lock inside the transaction)."""
    path = db.sqlite_path
    if path is None:
        yield
        return

    lock_path = path.with_name(path.name + ".migrate.lock")
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def _create_private_file(path: Path) -> None:
    if not path.exists():
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def _sqlite_connect_hook(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Freed space is zeroed, so a value erased (`customer forget`) leaves no bytes behind in
    # free pages; unmo deletes and shrinks rows rarely, so it costs next to nothing.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_read_only_hook(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _describe_operational(exc: Exception, url: str) -> str:
    reason = str(getattr(exc, "orig", exc)).strip()
    reason = reason.splitlines()[0].strip() if reason else "unknown reason"
    reason = reason.replace(url, redact_url(url))
    password = _password_of(url)
    if password:
        reason = reason.replace(password, "***")
    reason = re.sub(r"\s+", " ", reason.removeprefix("connection failed: ")).rstrip(".")
    if _is_connection_failure(exc):
        return f"cannot connect to the database at {redact_url(url)}: {reason}."
    return f"the database at {redact_url(url)} failed: {reason}."


def _is_connection_failure(exc: Exception) -> bool:
    """Whether psycopg failed to connect (libpq's "connection to server at … failed", a host
    name it could not resolve), not a connection that was lost or ended by the server later
    ("terminating connection due to administrator command", "server closed the connection")."""
    orig = getattr(exc, "orig", None)
    text = str(orig).lower()
    return type(orig).__module__.startswith("psycopg") and (
        text.startswith("connection failed")
        or re.search(r"connection to server\b.*\bfailed", text) is not None
        or any(marker in text for marker in ("resolve host", "translate host")))


def _password_of(url: str) -> str | None:
    match = re.search(r"://[^:/@]*:([^@]*)@", url)
    return match.group(1) if match else None


def connect(url: str, *, read_only: bool = False) -> Database:
    """An engine for `url`, without touching the schema; `read_only` (SQLite) sets no journal
    mode, which would be a write."""

    url = normalize_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            raise InputError(f"database_url {redact_url(url)!r} names a database unmo does not "
                             f"support; use {SUPPORTED_URLS}.")
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect",
                         _sqlite_read_only_hook if read_only else _sqlite_connect_hook)
        else:
            # A CLI process is short-lived: a small pool, a bounded connect and a name the
            # server's pg_stat_activity shows (query parameters in the URL win).
            connect_args: dict[str, Any] = {"application_name": "unmo"}
            if "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
            # No HSTORE column: SQLAlchemy's look-up of the type on first connect (three round
            # trips in a savepoint) is left out.
            engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=3,
                                   use_native_hstore=False, connect_args=connect_args)
    except NoSuchModuleError:
        raise InputError(
            f"database_url {redact_url(url)!r} names a driver unmo does not know; use "
            f"{SUPPORTED_URLS}."
        ) from None
    except ArgumentError:
        raise InputError(f"database_url {redact_url(url)!r} is not a database URL; use "
                         f"{SUPPORTED_URLS}.") from None
    except ModuleNotFoundError as exc:
        raise EnvironmentFailure(
            f"the database driver {exc.name!r} is not installed; for PostgreSQL install "
            "unmo with the postgres extra: pip install 'unmo-cli[postgres]'."
        ) from None
    if not read_only:
        audit.install(engine)  # every write a command makes lands in the audit trail
    _freeze_imports()
    return Database(url=url, engine=engine, read_only=read_only)


_frozen = False


def _freeze_imports() -> None:
    """Once per process, when its first engine is made (the command's modules, SQLAlchemy and
    the driver are imported by then): move what exists out of the cyclic collector's sight. It
    lives as long as the process, and the full collections that thousands of rows set off walked
    all of it each time: a fifth to a third of the CPU of `task list`, `customer list` or
    `customer timeline` over 10,000 rows (docs/performance.md). Objects made later are still
    collected.

    And full collections made rarer (the oldest generation's threshold 10 -> 1,000 younger
    collections): Python 3.11 runs one only when the objects promoted since the last exceed a
    quarter of the long-lived ones, and the freeze leaves that count near zero, so a report
    building 100,000 rows had one every 10 younger collections, each walking every row made so
    far (a sixth of its CPU). Young cycles are still collected as often as before."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()
        first, second, _ = gc.get_threshold()
        gc.set_threshold(first, second, FULL_COLLECTION_EVERY)


FULL_COLLECTION_EVERY = 1_000  # younger (generation 1) collections between two full ones


def open_database(workspace: Workspace, *, upgrade: bool = True) -> Database:
    """The workspace's database, created on first use and migrated to the newest schema. An
    existing SQLite file that this process cannot write (a read-only workspace: `chmod -R a-w`,
    a read-only mount) is opened read-only instead, so reading commands still work there; a
    command that writes then fails at its first write (exit 3)."""
    url = workspace.database_url
    kept = _kept.get(url)
    if kept is not None:
        return kept
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.is_file() and not _writable(path):
            return _open_sqlite_read_only(path, url)

        ensure_private_dir(path.parent)
        try:
            _create_private_file(path)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot create the database file {path}: "
                                     f"{exc.strerror}.") from None
    db = connect(url)
    if upgrade:
        try:
            if db.schema_revision() != SCHEMA_HEAD:
                db.upgrade()
            audit.trail_exists(db.engine)  # at the newest schema: no need to look for it again
        except SQLAlchemyError as exc:
            db.dispose()
            raise EnvironmentFailure(f"the database at {redact_url(url)} could not be opened: "
                                     f"{type(exc).__name__}.") from None
        except BaseException:
            db.dispose()
            raise
    return db


def _writable(path: Path) -> bool:
    """Whether this process may write the SQLite file and create its -wal/-shm beside it
    (access(2) also says no on a read-only file system, for root too)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _read_only_sqlite_url(path: Path) -> str:
    """A URL that reads `path` without writing anything: mode=ro; and, when its folder is not
    writable either, immutable=1 too, since a WAL database opened read-only still wants to
    create its -shm file beside it, and there is no writer to coordinate with in such a folder
    (a -wal file left with content by a crashed writer is then read through mode=ro alone)."""

    query = "mode=ro"
    wal = path.with_name(path.name + "-wal")
    if not os.access(path.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size):
        query += "&immutable=1"
    return f"sqlite:///file:{quote(path.as_posix())}?{query}&uri=true"


def _open_sqlite_read_only(path: Path, url: str) -> Database:
    db = connect(_read_only_sqlite_url(path), read_only=True)
    try:
        revision = db.schema_revision()
    except BaseException:
        db.dispose()
        raise
    if revision != SCHEMA_HEAD:
        db.dispose()
        raise EnvironmentFailure(f"the database {path} is read-only and has an older schema "
                                 f"(revision {revision or 'none'}, unmo needs {SCHEMA_HEAD}); "
                                 "run unmo db upgrade where it can be written.")
    db.url = url  # messages name the database, not the read-only way it was opened
    return db


def database_exists(workspace: Workspace) -> bool:
    """Whether the workspace's database is there yet (a server database always counts): reading
    commands use this so that they never create one."""
    url = workspace.database_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True


def open_read_only(
    workspace: Workspace, *, connect_timeout_s: int | None = None
) -> Database | None:
    """The existing database for a quick read that must change nothing (shell completion): no
    file, folder or schema is created and nothing is migrated; None when there is no database.
    SQLite is opened in read-only mode; a server gets a connect timeout."""
    url = workspace.database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            return None
        return connect(_read_only_sqlite_url(path), read_only=True)
    elif connect_timeout_s is not None and "connect_timeout" not in url:
        url += ("&" if "?" in url else "?") + f"connect_timeout={connect_timeout_s}"
    return connect(url)


def open_empty() -> Database:
    """An empty database with the newest schema, in memory: what a reading command reports on in
    a workspace that has no database yet, so reading never creates one."""

    # lazy: building the model classes costs ~0.2 G instructions, which the commands that only
    # open a database (onboarding, alerts list: db/tables.py) do not pay
    from unmo_cli.db.models import metadata

    db = Database(url="sqlite://", engine=create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}))
    metadata.create_all(db.engine)
    return db
