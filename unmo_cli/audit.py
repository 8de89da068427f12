"""Owns the audit trail's recording: every INSERT, UPDATE and DELETE a command makes becomes an
audit event appended in the same transaction, just before it commits, chained by hashes so that
an edited, deleted, inserted or reordered event is found (`unmo audit verify`).

An event is `{id, at, actor, command, customer, action, details}`; its hash is
SHA-256(previous event's hash ‖ canonical JSON of the event): the previous hash as its 64 hex
characters (nothing before the first event), then the event as JSON with sorted keys, no spaces
and UTF-8 characters as they are — `json.dumps(event, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)` — so an auditor can check a chain without unmo.

No personal data and no secret reaches an event: the values of personal columns (a contact's
name and address, comments, notes, SMTP answers) and of secret ones (a key's hash) are written
as REDACTED — an event says *that* a contact's e-mail changed, not to what — and the command
line's personal and secret values likewise (see `command_line`). So erasing a customer's
personal data leaves the chain as it is."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    column,
    event,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import BindParameter, Null

from unmo_cli import clock
from unmo_cli.origin import REDACTED, origin, redact_keys

AUDIT_TABLE = "audit_events"
# (table, column) whose values are personal data or secrets: never copied into an event.
PERSONAL_COLUMNS = {
    ("customers", "contact_name"), ("customers", "contact_email"),
    ("customer_changes", "old_value"), ("customer_changes", "new_value"),
    ("feedback", "comment"), ("alerts", "text"), ("notes", "text"),
    ("email_sendings", "answer"), ("email_sendings", "recipient_digest"),
    ("api_keys", "key_hash"), ("survey_invitations", "nonce"), ("tasks", "done_note"),
    ("tasks", "title"), ("customers", "churn_reason"), ("mrr_changes", "reason"),
}
ROWS_SHOWN = 20  # an executemany of more rows is summarised as a count
# Tables whose writes are not audited: the trail itself, and Alembic's bookkeeping.
UNAUDITED = {AUDIT_TABLE, "alembic_version"}
SKIP = "unmo_audit_skip"  # connection.info flag: this connection's writes are not audited
PENDING = "unmo_audit_pending"
SLUGS = "unmo_audit_slugs"  # connection.info: {customer id: slug} the transaction already knows
_LOCK_KEY = 0x756E6D6F41554454  # "unmoAUDT": the PostgreSQL advisory lock of the chain

events = table(AUDIT_TABLE, column("id"), column("at"), column("actor"), column("command"),
               column("customer"), column("action"), column("details"), column("hash"))
_customers = table("customers", column("id"), column("slug"))


# --- the canonical form and the hash ----------------------------------------------------------

_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False).encode
# A JSON string as that encoder writes one (only ", \ and control characters escaped): the C
# function it uses itself, called directly because verify formats millions of them.
json_string = _string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def stored_instant(value: Any) -> str:
    """An event's `at` as its canonical JSON has it (clock.iso: 2026-12-07T09:30:00.123456Z, no
    fraction when it is zero), from the stored value as a driver returns it: a naive UTC
    datetime (PostgreSQL) or SQLAlchemy's text form `2026-12-07 09:30:00.123456` (SQLite)."""
    if isinstance(value, str):
        text_value = value.replace(" ", "T", 1)
        if text_value.endswith(".000000"):
            text_value = text_value[:-7]
        return text_value + "Z"
    return clock.iso(value) or ""


def canonical(event_id: int, at: str, actor: str, command: str, customer: str | None,
              action: str, details_json: str) -> str:
    """The event's canonical JSON, `details_json` being the details' own canonical JSON: the
    same text json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    gives, assembled without parsing the details again (verify reads a million events)."""
    return (f'{{"action":{_string(action)},"actor":{_string(actor)},"at":{_string(at)},'
            f'"command":{_string(command)},'
            f'"customer":{"null" if customer is None else _string(customer)},'
            f'"details":{details_json},"id":{event_id}}}')


def chain_hash(previous: str, canonical_json: str) -> str:
    return hashlib.sha256((previous + canonical_json).encode("utf-8")).hexdigest()


def details_json(details: Mapping[str, Any]) -> str:
    return _encode(details)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact_keys(value)
    if isinstance(value, datetime):
        return clock.iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _safe(table_name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: REDACTED if (table_name, name) in PERSONAL_COLUMNS and value is not None
            else _plain(value) for name, value in values.items()}


# --- recording: engine hooks ------------------------------------------------------------------


@dataclass
class Change:
    table: str
    action: str
    customer_ids: set[int]
    details: dict[str, Any]
    slugs: set[str] = field(default_factory=set)  # customers named by slug (a new customer)


def install(engine: Engine) -> None:
    """Record the writes of every connection of `engine` (db.connect calls this)."""
    event.listen(engine, "begin", _discard)
    event.listen(engine, "before_execute", _before_execute, retval=False)
    event.listen(engine, "after_execute", _after_execute)
    event.listen(engine, "commit", _before_commit)
    event.listen(engine, "rollback", _discard)


@contextmanager
def unaudited(conn: Connection) -> Iterator[None]:
    """Writes on `conn` inside the block are not recorded (the migrations: the genesis event
    counts what they wrote). connection.info belongs to the pooled DBAPI connection, so the
    flag is taken off again before the connection goes back to the pool."""
    conn.info[SKIP] = True
    try:
        yield
    finally:
        conn.info.pop(SKIP, None)


def _dml(clause: Any) -> Table | None:
    if not isinstance(clause, (Insert, Update, Delete)):
        return None
    target = clause.table
    name = getattr(target, "name", None)
    if name is None or name in UNAUDITED or "TEMPORARY" in getattr(target, "_prefixes", ()):
        return None  # the trail itself, Alembic's bookkeeping, an import's staging tables
    return target


def _key_columns(target: Any) -> list[Any]:
    """The table's primary key; a lightweight table clause (db/tables.py) declares none, and
    there it is `id`."""
    keys = list(target.primary_key)
    if not keys and "id" in target.c:
        keys = [target.c.id]
    return keys


def _param_sets(multiparams: Any, params: Any) -> Sequence[Mapping[str, Any]]:
    """The statement's parameter sets as given (not copied: an import passes a million): one
    per row of an executemany, else one."""
    if multiparams:
        return multiparams
    return [params] if params else [{}]


def _before_execute(conn: Connection, clause: Any, multiparams: Any, params: Any,
                    execution_options: Any) -> None:
    """An UPDATE's rows as they were (at most ROWS_SHOWN), read through the same connection
    and WHERE clause, so the event can say before → after."""
    if conn.info.get(SKIP) or not isinstance(clause, Update):
        return
    target = _dml(clause)
    if target is None or clause.whereclause is None:
        return
    sets = _param_sets(multiparams, params)
    if len(sets) > ROWS_SHOWN:
        return
    inline = {getattr(k, "key", str(k)) for k in (getattr(clause, "_values", None) or {})}
    changed = [c for c in target.columns
               if c.key in inline or any(c.key in one for one in sets)]
    keys = _key_columns(target)
    conn.info[SKIP] = True
    try:
        before = []
        for one in sets:
            query = select(*keys, *[c for c in changed if c not in keys]) \
                .where(clause.whereclause).limit(ROWS_SHOWN + 1)
            before.extend(dict(row) for row in conn.execute(query, one).mappings())
    except Exception:  # noqa: BLE001 - the event says less; the write itself must go on
        before = []
    finally:
        conn.info[SKIP] = False
    conn.info.setdefault("unmo_audit_before", []).append(before)


def _after_execute(conn: Connection, clause: Any, multiparams: Any, params: Any,
                   execution_options: Any, result: Any) -> None:
    if conn.info.get(SKIP):
        return
    target = _dml(clause)
    if target is None:
        return
    before = conn.info.pop("unmo_audit_before", [None]).pop() if isinstance(clause, Update) \
        else None
    sets = _param_sets(multiparams, params)
    op = "insert" if isinstance(clause, Insert) else \
        "update" if isinstance(clause, Update) else "delete"
    details: dict[str, Any] = {"table": target.name,
                               "rows": _rows_written(conn, clause, op, result, sets, before)}
    values = [{k: v for k, v in one.items() if k in target.c} for one in sets[:ROWS_SHOWN + 1]]
    inline = getattr(clause, "_values", None)
    if inline:
        fixed = {getattr(k, "key", str(k)): _inline_value(v) for k, v in inline.items()}
        values = [{**fixed, **one} for one in values]
    if op == "insert" and getattr(clause, "select", None) is not None:
        details["from"] = "select"  # INSERT … SELECT (an import's rows): a count, no values
    elif op == "insert":
        if len(values) <= ROWS_SHOWN:
            details["values"] = [_safe(target.name, v) for v in values]
            inserted = _inserted_key(result) if len(values) == 1 else None
            if inserted is not None:
                details["id"] = inserted
    elif op == "update":
        after = values[0] if len(values) == 1 else {}
        key_names = {c.key for c in _key_columns(target)}
        if before:
            details["before"] = [_safe(target.name, row) for row in before[:ROWS_SHOWN]]
        details["after"] = _safe(target.name, {k: v for k, v in after.items()
                                               if k not in key_names})
    customers = _customers_of(target.name, sets if len(sets) > len(values) else values,
                              before or [])
    if "id" in details and target.name == "customers":
        customers.add(details["id"])
    slugs = {row["slug"] for row in values if isinstance(row.get("slug"), str)} \
        if target.name == "customers" else set()
    conn.info.setdefault(PENDING, []).append(
        Change(target.name, f"{target.name}.{op}", customers, details, slugs))


def _rows_written(conn: Connection, clause: Any, op: str, result: Any,
                  sets: Sequence[Mapping[str, Any]], before: list[Any] | None) -> int | None:
    """How many rows the statement wrote; None when that is not known yet. SQLite counts the
    rows of an UPDATE or DELETE … RETURNING only as its caller fetches them (rowcount is 0
    here), so an update's count is the rows read just before with the same WHERE."""
    if result.rowcount is not None and result.rowcount > 0:
        return int(result.rowcount)
    if op == "insert":
        return len(sets)
    returning = getattr(clause, "_returning", ())
    if returning and conn.dialect.name == "sqlite":
        return len(before) if before is not None and len(before) <= ROWS_SHOWN else None
    return 0


def _inline_value(value: Any) -> Any:
    """A value given with .values(): the literal, or for one SQL computes (`attempts + 1`)
    that SQL as text — not null, which would say the column was emptied."""
    if isinstance(value, BindParameter):
        return value.effective_value
    if isinstance(value, Null):
        return None
    try:
        sql = value.compile(compile_kwargs={"literal_binds": True})
    except Exception:  # noqa: BLE001 - a type without a literal form: its SQL with parameters
        sql = value
    return f"SQL: {sql}"


def record_rows(conn: Connection, target: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows written past SQLAlchemy's execute (PostgreSQL's COPY: db.bulk_insert): an insert
    event summarised as a count, as an executemany of as many rows would be."""
    if conn.info.get(SKIP) or not rows or _dml(target.insert()) is None:
        return
    table_name = target.name
    conn.info.setdefault(PENDING, []).append(Change(
        table_name, f"{table_name}.insert", _customers_of(table_name, rows, []),
        {"table": table_name, "rows": len(rows)}))


def record(conn: Connection, action: str, customer_id: int | None,
           details: dict[str, Any]) -> None:
    """An event a service names itself (`customer.forget`), beside the table changes: appended
    with them when the transaction on `conn` commits. `details` must hold no personal data."""
    ids = {customer_id} if customer_id is not None else set()
    conn.info.setdefault(PENDING, []).append(Change("", action, ids, dict(details)))


def customers_known(conn: Connection, slugs: Mapping[int, str]) -> None:
    """Customers (id -> slug) the transaction on `conn` has read or inserted itself: its events
    name them without reading their slugs again when it commits. A slug never changes once a
    customer exists, so what the transaction read is what the commit would read."""
    conn.info.setdefault(SLUGS, {}).update(slugs)


def _inserted_key(result: Any) -> Any:
    """The new row's primary key, when SQLAlchemy knows it (not for an executemany, nor a
    statement with its own RETURNING)."""
    try:
        key = result.inserted_primary_key
    except Exception:  # noqa: BLE001 - InvalidRequestError: RETURNING, executemany
        return None
    return key[0] if key is not None and len(key) == 1 else None


def _customers_of(table_name: str, values: Sequence[Mapping[str, Any]],
                  before: Sequence[Mapping[str, Any]]) -> set[int]:
    found: set[int] = set()
    column_name = "id" if table_name == "customers" else "customer_id"
    for row in [*values, *before]:
        value = row.get(column_name)
        if isinstance(value, int):
            found.add(value)
    return found


def _discard(conn: Connection) -> None:
    if conn.invalidated:
        # The DBAPI connection is gone (the server ended it, a cancelled statement): its info
        # went with it, and asking for it raises PendingRollbackError over the real error.
        return
    conn.info.pop(PENDING, None)
    conn.info.pop(SLUGS, None)
    conn.info.pop("unmo_audit_before", None)


def _before_commit(conn: Connection) -> None:
    """Append the pending changes' events, chained to the newest event, inside the transaction
    about to commit: on PostgreSQL under an advisory lock so that concurrent writers keep one
    linear chain; on SQLite this connection already holds the database's one write lock."""
    pending: list[Change] = conn.info.pop(PENDING, None) or []
    known: dict[int, str] = conn.info.pop(SLUGS, None) or {}
    conn.info.pop("unmo_audit_before", None)
    if not pending or conn.info.get(SKIP):
        return
    conn.info[SKIP] = True
    try:
        append_events(conn, pending, known)
    finally:
        conn.info[SKIP] = False


_trail_exists: set[str] = set()


def trail_exists(engine: Engine) -> None:
    """The database behind `engine` is at the newest schema, so it has the audit table: a write
    need not ask the catalogue (db.open_database says so after its schema check)."""
    _trail_exists.add(str(engine.url))


def _has_trail(conn: Connection) -> bool:
    """Whether the database has the audit table yet (an older schema, before migration 0009,
    has no trail to append to: its rows are counted by the genesis event when it migrates)."""
    where = str(conn.engine.url)
    if where in _trail_exists:
        return True
    if conn.dialect.has_table(conn, AUDIT_TABLE):
        _trail_exists.add(where)
        return True
    return False


def append_events(conn: Connection, pending: list[Change],
                  known: Mapping[int, str] | None = None) -> None:
    if not _has_trail(conn):
        return
    if conn.dialect.name == "postgresql":
        # Its own statement: a READ COMMITTED statement reads the snapshot taken as it starts,
        # so the newest event must be read by a statement that starts once the lock is held.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    slugs = dict(known or {})
    unknown = sorted({i for change in pending for i in change.customer_ids} - slugs.keys())
    next_id, previous = 1, ""
    for kind, row_id, value in conn.execute(_newest_event_and_slugs(unknown),
                                            {"ids": unknown} if unknown else {}):
        if kind == 0:  # the newest event (none in an empty trail)
            next_id, previous = row_id + 1, value
        else:
            slugs[row_id] = value
    who = origin()
    # When the event was recorded, by the real clock: UNMO_NOW (tests, demos, backfills) dates
    # what a command writes, but must not let anyone date its audit events as they please.
    at_value = clock.to_db(datetime.now(UTC))
    at = clock.iso(at_value) or ""
    rows = []
    for change in pending:
        named = sorted({slugs[i] for i in change.customer_ids if i in slugs} | change.slugs)
        customer = named[0] if len(named) == 1 else None
        if len(named) > 1:
            change.details["customers"] = named
        body = details_json(change.details)
        digest = chain_hash(previous, canonical(next_id, at, who.actor, who.command, customer,
                                                change.action, body))
        rows.append({"id": next_id, "at": at_value, "actor": who.actor,
                     "command": who.command, "customer": customer, "action": change.action,
                     "details": body, "hash": digest})
        previous, next_id = digest, next_id + 1
    conn.execute(events.insert(), rows)


def _newest_event_and_slugs(unknown: Sequence[int]) -> Any:
    """One statement for what the events need read: (0, id, hash) of the newest event, and
    (1, id, slug) of each customer in `unknown` (the :ids parameter)."""
    latest = select(events.c.id, events.c.hash).order_by(events.c.id.desc()).limit(1) \
        .subquery("latest")
    newest = select(literal_column("0"), latest.c.id, latest.c.hash)
    if not unknown:
        return newest
    return union_all(newest, select(literal_column("1"), _customers.c.id, _customers.c.slug)
                     .where(_customers.c.id.in_(bindparam("ids", expanding=True))))
