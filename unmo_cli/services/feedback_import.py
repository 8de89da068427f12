"""`feedback import`, all or nothing: every record of the file checked (services/
feedback_values.py), then in one transaction the new rows stored (duplicates by id skipped)
and the alert rules evaluated (services/alerts.py); delivery after the commit.

Memory does not grow with the file: the checked rows go, in batches, into a staging table of the
import's own connection (unmo_cli/db/staging.py), the bad rows into a temporary file
(services/feedback_invalid.py). Ids repeated with different values, duplicates of stored rows
and the rows that raise alerts are then found by SQL over the staged rows, which are copied into
`feedback` with one INSERT … SELECT; nothing of them is kept in the process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError

from unmo_cli import clock, testhooks
from unmo_cli.db import lock_for_update
from unmo_cli.db.models import Customer, Feedback
from unmo_cli.db.staging import index_staged, next_ids, stage_rows, staging_table
from unmo_cli.errors import InputError
from unmo_cli.progress import ProgressFactory
from unmo_cli.services.alerts import (
    AlertDraft,
    DeliveryReport,
    deliver_pending,
    drop_alert,
    drop_crossed,
    dropped_before,
    feedback_alerts,
    record_alerts,
    satisfaction_windows,
)
from unmo_cli.services.customers import open_existing
from unmo_cli.services.feedback_files import RawRow, open_feedback_file
from unmo_cli.services.feedback_invalid import InvalidReport, InvalidRow
from unmo_cli.services.feedback_records import CustomerIndex, CustomerRef, check_record
from unmo_cli.services.triggers import fire_playbooks
from unmo_cli.text import shown

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace


WRITE_BATCH = 5_000  # rows per bulk insert into the staging table, per page of alerting rows


class InvalidRows(InputError):
    """Some records are invalid and `--skip-invalid` was not given: nothing was written."""

    def __init__(self, name: str, fmt: str, invalid: InvalidReport, valid: int):
        self.file = name
        self.format = fmt
        self.invalid = invalid
        self.valid = valid
        count = len(invalid)
        super().__init__(
            f"{name} has {count} invalid row{'s' if count != 1 else ''} (first at line "
            f"{invalid.first_line}); nothing was imported. Fix {'them' if count != 1 else 'it'}, "
            f"or pass --skip-invalid to import the {valid} valid "
            f"row{'s' if valid != 1 else ''}."
        )

    def result(self) -> ImportResult:
        """The import with nothing imported: a script reads a refusal the way it reads a
        success (the same keys)."""
        return ImportResult(self.file, self.format, len(self.invalid) + self.valid, 0, 0,
                            self.invalid)

    def to_json(self) -> dict[str, Any]:
        return self.result().to_json()


@dataclass
class ImportResult:
    file: str
    format: str
    rows: int
    imported: int
    duplicates: int
    invalid: InvalidReport
    alerts: list[int] = field(default_factory=list)  # ids of the alerts raised
    delivery: DeliveryReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.json_document(), "invalid": [row.to_json() for row in self.invalid]}

    def json_document(self) -> dict[str, Any]:
        """to_json with `invalid` an iterator, for console.emit_json to write row by row."""
        return {"file": self.file, "format": self.format, "rows": self.rows,
                "imported": self.imported, "duplicates": self.duplicates,
                "invalid": (row.to_json() for row in self.invalid), "alerts": len(self.alerts),
                "delivery": self.delivery.to_json() if self.delivery else None}


def _steps(progress: ProgressFactory | None, total: int, description: str
           ) -> AbstractContextManager[Callable[[int], None]]:
    if progress is None:
        return nullcontext(lambda _n=1: None)
    return progress(total, description)


def _staging(name: str) -> Table:
    """A temporary table of the import's connection (db/staging.py) for the rows of the file."""
    return Table(
        name, MetaData(),
        Column("line", Integer, primary_key=True, autoincrement=False),
        Column("customer_id", Integer, nullable=False),
        Column("received_at", DateTime, nullable=False),
        Column("satisfaction", Integer, nullable=False),
        Column("nps", Integer),
        Column("category", String(16), nullable=False),
        Column("comment", Text),
        Column("external_id", String(200)),
        Column("feedback_id", Integer),  # in _KEPT: the row's id in feedback
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )


_STAGED = _staging("feedback_import_staging")  # every valid row, as checked
_KEPT = _staging("feedback_import_new")  # the rows to store, with their feedback ids
_CONTENT = ("received_at", "satisfaction", "nps", "category", "comment")
_COPIED = ("customer_id", "received_at", "satisfaction", "nps", "category", "comment",
           "external_id")


def import_feedback(ws: Workspace, path: Path, *, fmt: str | None = None,
                    skip_invalid: bool = False, raise_alerts: bool = True,
                    progress: ProgressFactory | None = None) -> ImportResult:
    """Import a survey export. The whole file is read and every record checked before anything
    is written; then, in one transaction, the new rows are inserted (rows whose `id` is already
    stored for that customer, or repeated in the file, are counted as duplicates) and their
    alerts recorded. Delivery is tried after the commit."""

    testhooks.reset()
    chosen, lines, records = open_feedback_file(path, fmt)
    name = path.name
    now = clock.now()
    ws, db = open_existing(ws)
    if db is None:  # no customers yet: every row is refused, and no database is created
        checked = _check_records(records, lines, CustomerIndex(None), now, progress, name)
        if checked.invalid and not skip_invalid:
            raise InvalidRows(name, chosen, checked.invalid, checked.valid)
        return ImportResult(name, chosen, checked.total, 0, 0, checked.invalid)
    try:
        with db.session() as session, staging_table(session, _STAGED) as staged, \
                staging_table(session, _KEPT) as kept:
            customers = CustomerIndex(session)
            checked = _check_records(records, lines, customers, now, progress, name,
                                     (session, staged))
            index_staged(session, staged, ("customer_id", "external_id", "line"))
            invalid, conflicts = _with_conflicts(session, staged, checked.invalid,
                                                 customers.by_id())
            valid = checked.valid - conflicts
            if invalid and not skip_invalid:
                raise InvalidRows(name, chosen, invalid, valid)
            # Imports touching the same customers take turns from here: each one's duplicate
            # check and drop rule see the rows the one before it committed.
            lock_customers(session, checked.customer_ids)
            fresh = _keep_new(session, staged, kept)
            duplicates = valid - fresh
            alert_ids = _write(ws, session, kept, fresh, checked.customer_ids,
                               customers.by_id(), raise_alerts, progress, name)
            testhooks.checkpoint("import-insert")  # rows and alerts inserted, not committed
        result = ImportResult(name, chosen, checked.total, fresh, duplicates, invalid,
                              alert_ids)
        testhooks.checkpoint("import-deliver")  # committed, alerts not yet delivered
        if alert_ids:
            result.delivery = deliver_pending(ws, db, alert_ids)
        return result
    finally:
        db.dispose()


@dataclass
class _CheckedFile:
    invalid: InvalidReport
    valid: int  # rows staged
    total: int  # records read
    customer_ids: set[int]  # of the valid rows


def _check_records(records: Iterator[RawRow], lines: int, customers: CustomerIndex,
                   now: datetime, progress: ProgressFactory | None, name: str,
                   staging: tuple[Session, Table] | None = None) -> _CheckedFile:
    """Every record checked as it is read: the valid ones staged in batches (into `staging`'s
    table; without one, only counted), the invalid ones spooled. Progress counts the file's
    lines (known before the records are)."""
    invalid = InvalidReport()
    batch: list[dict[str, Any]] = []
    customer_ids: set[int] = set()
    valid = total = shown_line = 0
    with _steps(progress, lines, f"checking {name}") as advance:
        for total, raw in enumerate(records, start=1):
            outcome = check_record(raw, customers, now)
            if isinstance(outcome, InvalidRow):
                invalid.add(outcome)
            else:
                line, ref, received_at, satisfaction, nps, category, comment, external_id = \
                    outcome
                customer_ids.add(ref.id)
                batch.append({"line": line, "customer_id": ref.id, "received_at": received_at,
                              "satisfaction": satisfaction, "nps": nps, "category": category,
                              "comment": comment, "external_id": external_id})
                if len(batch) == WRITE_BATCH:
                    valid += _stage(staging, batch)
                    batch = []
            if total % 5000 == 0:
                advance(raw.line - shown_line)
                shown_line = raw.line
        valid += _stage(staging, batch)
        advance(lines - shown_line)
    return _CheckedFile(invalid, valid, total, customer_ids)


def _stage(staging: tuple[Session, Table] | None, batch: list[dict[str, Any]]) -> int:
    if batch and staging is not None:
        stage_rows(*staging, batch)
    return len(batch)


def lock_customers(session: Session, ids: set[int]) -> None:
    if ids:
        lock_for_update(session, Customer, sorted(ids))


def _conflicting(staged: Table) -> Any:
    """The staged rows whose id (for their customer) is on an earlier line with different
    values, each with that earliest line. A file that gives one id to two different responses
    is wrong on one of the two lines, and unmo cannot tell which: the later row is invalid,
    naming the first. A row repeated exactly (a survey export that overlaps itself) is kept,
    and counted as a duplicate when written."""
    first_lines = (select(staged.c.customer_id, staged.c.external_id,
                          func.min(staged.c.line).label("line"))
                   .where(staged.c.external_id.is_not(None))
                   .group_by(staged.c.customer_id, staged.c.external_id)
                   .having(func.count() > 1).subquery())
    first = staged.alias("first_row")
    return (select(staged.c.line, staged.c.external_id, staged.c.customer_id, first.c.line)
            .join(first_lines, and_(first_lines.c.customer_id == staged.c.customer_id,
                                    first_lines.c.external_id == staged.c.external_id))
            .join(first, first.c.line == first_lines.c.line)
            .where(staged.c.line != first.c.line,
                   or_(*(staged.c[name].is_distinct_from(first.c[name]) for name in _CONTENT))))


def _with_conflicts(session: Session, staged: Table, invalid: InvalidReport,
                    customers: dict[int, CustomerRef]) -> tuple[InvalidReport, int]:
    """The invalid rows with the conflicting ids among the staged ones, in line order, and how
    many of those there are."""
    found = 0

    def conflicts() -> Iterator[InvalidRow]:
        nonlocal found
        rows = session.execute(_conflicting(staged).order_by(staged.c.line),
                               execution_options={"yield_per": WRITE_BATCH})
        for line, external_id, customer_id, first_line in rows:
            found += 1
            yield InvalidRow(line, f"id {shown(external_id)} is also on line {first_line} for "
                                   f"{customers[customer_id].slug} with different values; "
                                   "one id is one response")

    pending = conflicts()
    head = next(pending, None)
    if head is None:
        return invalid, 0
    return invalid.merged(_chain(head, pending)), found


def _chain(head: InvalidRow, rest: Iterator[InvalidRow]) -> Iterator[InvalidRow]:
    yield head
    yield from rest


def _keep_new(session: Session, staged: Table, kept: Table) -> int:
    """Copy into `kept`, numbered with their feedback ids, the staged rows to store: those
    without an id, and those whose id is neither stored for their customer already nor on an
    earlier staged line (the same response again, or a conflicting one, reported as invalid);
    how many. One INSERT … SELECT rather than deleting from the staged rows and updating them,
    which rewrites each row and its index entries."""
    earlier = staged.alias("earlier")
    stored: Any = Feedback.__table__
    columns = [c.name for c in staged.c if c.name != "feedback_id"]
    session.execute(insert(kept).from_select(
        ["feedback_id", *columns],
        select(next_ids(session, stored, staged.c.line), *(staged.c[c] for c in columns))
        .where(or_(staged.c.external_id.is_(None), and_(
            ~exists().where(stored.c.customer_id == staged.c.customer_id,
                            stored.c.external_id == staged.c.external_id),
            ~exists().where(earlier.c.customer_id == staged.c.customer_id,
                            earlier.c.external_id == staged.c.external_id,
                            earlier.c.line < staged.c.line))))
        .order_by(staged.c.line)))
    fresh = session.execute(select(func.count()).select_from(kept)).scalar_one()
    index_staged(session, kept, ("customer_id", "received_at", "line"))
    return int(fresh)


def _write(ws: Workspace, session: Session, staged: Table, fresh: int, customer_ids: set[int],
           customers: dict[int, CustomerRef], raise_alerts: bool,
           progress: ProgressFactory | None, name: str) -> list[int]:
    """Copy the new rows (`staged`: _KEPT, numbered) into feedback and record their alerts, a
    page of rows at a time; returns the alert ids."""

    if not fresh:
        return []
    settings = ws.settings.alerts
    playbook_settings = ws.settings
    # Each customer's latest new response (the later line among equal times) anchors the drop
    # rule; its "before" state must be read before the new rows exist.
    latest: dict[int, tuple[datetime, int]] = {}
    for customer_id in sorted(customer_ids):
        row = session.execute(
            select(staged.c.received_at, staged.c.feedback_id)
            .where(staged.c.customer_id == customer_id)
            .order_by(staged.c.received_at.desc(), staged.c.line.desc()).limit(1)).first()
        if row is not None:
            latest[customer_id] = (row[0], row[1])
    before = ({cid: dropped_before(session, cid, at, settings.drop_points)
               for cid, (at, _id) in latest.items()} if raise_alerts else {})

    table: Any = Feedback.__table__
    with _steps(progress, fresh, f"writing {name}") as advance:
        try:
            session.execute(insert(table).from_select(
                ["id", *_COPIED, "source"],
                select(staged.c.feedback_id, *(staged.c[c] for c in _COPIED),
                       literal("import")).order_by(staged.c.line)))
        except IntegrityError:
            raise InputError(f"{name}: another import stored some of these ids at the same "
                             "time; nothing was imported, run the import again (stored ids are "
                             "skipped).") from None
        advance(fresh)
    if not raise_alerts:
        return []

    alert_ids: list[int] = []
    below = settings.satisfaction_below
    after = 0
    while True:  # the rows that raise a per-response alert, a page at a time (keyset on line)
        page = session.execute(
            select(staged.c.line, staged.c.feedback_id, staged.c.customer_id,
                   staged.c.satisfaction, staged.c.nps, staged.c.category, staged.c.comment,
                   staged.c.received_at)
            .where(staged.c.line > after,
                   or_(staged.c.satisfaction < below, staged.c.nps <= 6))
            .order_by(staged.c.line).limit(WRITE_BATCH)).all()
        if not page:
            break
        drafts: list[AlertDraft] = []
        for _line, feedback_id, customer_id, satisfaction, nps, category, comment, at in page:
            ref = customers[customer_id]
            drafts.extend(feedback_alerts(
                settings, customer_id=customer_id, customer_name=ref.name, slug=ref.slug,
                feedback_id=feedback_id, satisfaction=satisfaction, nps=nps,
                category=category, comment=comment, received_at=at))
        alert_ids.extend(record_alerts(session, drafts))
        fire_playbooks(session, playbook_settings, [(d.customer_id, d.rule) for d in drafts])
        after = page[-1][0]

    drops: list[AlertDraft] = []
    for customer_id, (at, feedback_id) in latest.items():
        windows = satisfaction_windows(session, customer_id, at)
        if drop_crossed(before[customer_id], windows, settings.drop_points):
            ref = customers[customer_id]
            drops.append(drop_alert(settings, windows, customer_id=customer_id,
                                    customer_name=ref.name, slug=ref.slug,
                                    feedback_id=feedback_id))
    alert_ids.extend(record_alerts(session, drops))
    fire_playbooks(session, playbook_settings, [(d.customer_id, d.rule) for d in drops])
    return alert_ids
