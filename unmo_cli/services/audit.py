"""Reading the audit trail: checking its hash chain (`audit verify`), listing events (`audit
list`) and exporting them as JSON Lines with their hashes (`audit export`), so an auditor can
check the chain without unmo. Recording is unmo_cli/audit.py's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from hmac import compare_digest
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, select, type_coerce

from unmo_cli import audit, clock
from unmo_cli.db import open_read_only
from unmo_cli.db.models import AuditEvent
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.files import check_output_path
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.db import Database
    from unmo_cli.workspace import Workspace

MAX_LIMIT = 1_000_000
BATCH = 10_000


@dataclass(frozen=True)
class Verdict:
    """`audit verify`: `holds`, the events checked, the newest one's id and hash (write them
    down: deleting the newest events is only seen against such a record), and when the chain
    breaks, the first event that does not follow and why."""

    holds: bool
    events: int
    head_id: int | None
    head_hash: str | None
    broken_at: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"holds": self.holds, "events": self.events, "head_id": self.head_id,
                "head_hash": self.head_hash, "broken_at": self.broken_at,
                "problem": self.problem}


def _open(ws: Workspace | None) -> Database | None:
    return open_read_only(ws if ws is not None else load_workspace())


def _columns() -> list[Any]:
    """The event's columns, `at` as stored: on SQLite a text that anyone with the file can
    replace with one no datetime parses, which must be reported as tampering, not crash."""
    t = AuditEvent.__table__.c
    return [t.id, type_coerce(t.at, String).label("at"), t.actor, t.command, t.customer,
            t.action, t.details, t.hash]


def _instant(value: Any) -> datetime | None:
    """A stored `at` (a datetime on PostgreSQL, text on SQLite) as naive UTC; None if it is
    not a time."""
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return clock.to_db(parsed)


def _rows(connection: Connection, query: Any) -> Iterator[Any]:
    result = connection.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    yield from result


VERIFY_SQL = ("SELECT id, at, actor, command, customer, action, details, hash "
              "FROM audit_events ORDER BY id")
# PostgreSQL: every text as its UTF-8 bytes, and the time in the text form SQLite stores
# (always six digits of microseconds), so one loop checks both databases' rows.
VERIFY_SQL_POSTGRESQL = (
    "SELECT id, convert_to(to_char(at, 'YYYY-MM-DD HH24:MI:SS.US'), 'UTF8'), "
    "convert_to(actor, 'UTF8'), convert_to(command, 'UTF8'), convert_to(customer, 'UTF8'), "
    "convert_to(action, 'UTF8'), convert_to(details, 'UTF8'), convert_to(hash, 'UTF8') "
    "FROM audit_events ORDER BY id")


def verify(ws: Workspace | None = None) -> Verdict:
    """Walk the chain oldest first: each event's hash must be SHA-256(previous hash ‖ its
    canonical JSON) and ids consecutive from 1. Rows come straight from the driver
    (db.raw_rows): a million events are checked in a few seconds."""
    db = _open(ws)
    if db is None:
        return Verdict(holds=True, events=0, head_id=None, head_hash=None)
    previous, expected_id, count = b"", 1, 0
    # audit.canonical, inlined and on the UTF-8 bytes: this loop runs a million times.
    string, sha256 = _json_bytes, hashlib.sha256
    try:
        for event_id, at, actor, command, customer, action, details, digest in \
                db.raw_rows(VERIFY_SQL_POSTGRESQL if db.dialect == "postgresql"
                            else VERIFY_SQL):
            if event_id != expected_id:
                problem = (f"event #{expected_id} is missing (deleted)"
                           if event_id > expected_id else f"event #{event_id} is out of order")
                return Verdict(False, count, event_id, _text(digest), expected_id, problem)
            if type(details) is str:  # PostgreSQL's driver gives str and datetime
                at, actor, command, customer, action, details, digest = (
                    audit.stored_instant(at).encode(), actor.encode(), command.encode(),
                    None if customer is None else customer.encode(), action.encode(),
                    details.encode(), digest.encode())
            elif len(at) == 26 and not at.endswith(b".000000"):
                at = b"%bT%bZ" % (at[:10], at[11:])
            else:
                at = audit.stored_instant(at.decode()).encode()
            body = b"".join((
                previous, b'{"action":', string(action), b',"actor":', string(actor),
                b',"at":"', at, b'","command":', string(command), b',"customer":',
                b"null" if customer is None else string(customer), b',"details":', details,
                b',"id":', b"%d" % event_id, b"}"))
            if not compare_digest(sha256(body).hexdigest().encode(), digest):
                return Verdict(False, count, event_id, _text(digest), event_id,
                               f"event #{event_id} does not match its hash: it was edited, or "
                               "an event before it was deleted, inserted or reordered")
            previous, expected_id, count = digest, expected_id + 1, count + 1
    finally:
        db.dispose()
    return Verdict(True, count, expected_id - 1 if count else None,
                   _text(previous) if previous else None)


_NEEDS_ESCAPE = re.compile(rb'["\\\x00-\x1f]')


def _json_bytes(value: bytes) -> bytes:
    """`value` (UTF-8) as a JSON string the way the canonical form writes it (audit.json_string:
    only ", \\ and control characters escaped); quoted as it is when none is there."""
    if _NEEDS_ESCAPE.search(value) is None:
        return b'"' + value + b'"'
    return audit.json_string(value.decode()).encode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Event:
    id: int
    at: Any  # datetime; the stored text when it is not a time (tampered with on SQLite)
    actor: str
    command: str
    customer: str | None
    action: str
    details: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        instant = _instant(self.at)
        return {"id": self.id, "at": clock.iso(instant) if instant else str(self.at),
                "actor": self.actor,
                "command": self.command, "customer": self.customer, "action": self.action,
                "details": _details(self.details), "hash": self.hash}

    def shown_at(self) -> str:
        instant = _instant(self.at)
        return instant.strftime("%Y-%m-%d %H:%M:%S") if instant else str(self.at)


def _details(text: str) -> Any:
    """The details as JSON, or as stored when someone replaced them with what is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _filtered(ws: Workspace, customer: str | None, actor: str | None,
              since: str | None) -> Any:
    t = AuditEvent.__table__.c
    query = select(*_columns())
    if customer is not None:
        query = query.where(t.customer == customer.strip())
    if actor is not None:
        query = query.where(t.actor == actor.strip())
    if since is not None:
        start = clock.parse_day_or_instant(since, ws.settings.timezone, what="--since")
        query = query.where(t.at >= clock.to_db(start))
    return query


def list_events(ws: Workspace | None = None, *, customer: str | None = None,
                actor: str | None = None, since: str | None = None,
                limit: int = 100) -> list[Event]:
    """The newest `limit` events matching the filters, oldest first."""
    ws = ws if ws is not None else load_workspace()
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"--limit {limit} must be between 1 and {MAX_LIMIT:,}.")
    query = _filtered(ws, customer, actor, since)
    db = _open(ws)
    if db is None:
        return []
    t = AuditEvent.__table__.c
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(query.order_by(t.id.desc()).limit(limit)).all()
    finally:
        db.dispose()
    return [Event(*row) for row in reversed(rows)]


@dataclass(frozen=True)
class ExportResult:
    output: str
    events: int
    first_id: int | None
    last_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {"output": self.output, "events": self.events, "first_id": self.first_id,
                "last_id": self.last_id}


def export_events(ws: Workspace | None, since: str, output: Path) -> ExportResult:
    """`audit export --since DATE -o FILE`: JSON Lines, one event a line with its `hash` and
    the `previous_hash` it was chained to, so the chain can be checked from the first line
    on; written whole (a temporary file renamed into place) or not at all."""
    ws = ws if ws is not None else load_workspace()
    query = _filtered(ws, None, None, since)
    target = check_output_path(output, option="--output")
    db = _open(ws)
    t = AuditEvent.__table__.c
    count, first, last = 0, None, None
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            if db is not None:
                with db.engine.connect() as connection:
                    start = connection.execute(query.with_only_columns(t.id)
                                               .order_by(t.id).limit(1)).scalar()
                    previous = ""
                    if start is not None and start > 1:
                        previous = connection.execute(
                            select(t.hash).where(t.id == start - 1)).scalar() or ""
                    for row in _rows(connection, query.order_by(t.id)):
                        event = Event(*row).to_json()
                        event["previous_hash"] = previous
                        stream.write(json.dumps(event, ensure_ascii=False, sort_keys=True)
                                     + "\n")
                        previous = row[-1]
                        count += 1
                        first = row[0] if first is None else first
                        last = row[0]
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, target)
        temporary = None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot write {str(output)!r}: "
                                 f"{exc.strerror or type(exc).__name__}.") from None
    finally:
        if db is not None:
            db.dispose()
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
    return ExportResult(str(output), count, first, last)
