"""`feedback import`, all or nothing: every record of the file checked (services/
feedback_values.py), then in one transaction the new rows stored (duplicates by id skipped)
and the alert rules evaluated (services/alerts.py); delivery after the commit."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from unmo_cli import clock, testhooks
from unmo_cli.db import bulk_insert, lock_for_update
from unmo_cli.db.models import Customer, Feedback
from unmo_cli.errors import InputError
from unmo_cli.names import name_key  # the folding get_customer uses
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
    redact_secret_keys,
    satisfaction_windows,
)
from unmo_cli.services.customers import open_existing
from unmo_cli.services.feedback_files import COLUMN_SET, COLUMNS, RawRow, open_feedback_file
from unmo_cli.services.feedback_values import (
    CATEGORIES,
    EXTERNAL_ID_MAX,
    SCORES,
    FieldError,
    check_category,
    check_comment,
    check_external_id,
    check_nps,
    check_received_at,
    check_satisfaction,
    is_blank,
)
from unmo_cli.services.triggers import fire_playbooks
from unmo_cli.text import MAX_COMMENT, shown, text_problem

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace


WRITE_BATCH = 5_000  # rows per bulk insert of an import
LOOKUP_CHUNK = 500  # ids per IN (…) when looking for already imported rows


@dataclass(frozen=True)
class InvalidRow:
    line: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


class InvalidRows(InputError):
    """Some records are invalid and `--skip-invalid` was not given: nothing was written."""

    def __init__(self, name: str, fmt: str, invalid: list[InvalidRow], valid: int):
        self.file = name
        self.format = fmt
        self.invalid = invalid
        self.valid = valid
        count = len(invalid)
        super().__init__(
            f"{name} has {count} invalid row{'s' if count != 1 else ''} (first at line "
            f"{invalid[0].line}); nothing was imported. Fix {'them' if count != 1 else 'it'}, "
            f"or pass --skip-invalid to import the {valid} valid row{'s' if valid != 1 else ''}."
        )

    def to_json(self) -> dict[str, Any]:
        """The import's JSON with nothing imported: the keys of ImportResult.to_json(), so a
        script reads a refusal the way it reads a success."""
        return ImportResult(self.file, self.format, len(self.invalid) + self.valid, 0, 0,
                            self.invalid).to_json()


@dataclass
class ImportResult:
    file: str
    format: str
    rows: int
    imported: int
    duplicates: int
    invalid: list[InvalidRow]
    alerts: list[int] = field(default_factory=list)  # ids of the alerts raised
    delivery: DeliveryReport | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "rows": self.rows,
                "imported": self.imported, "duplicates": self.duplicates,
                "invalid": [row.to_json() for row in self.invalid], "alerts": len(self.alerts),
                "delivery": self.delivery.to_json() if self.delivery else None}


@dataclass
class _CustomerRef:
    id: int
    slug: str
    name: str


class _CustomerIndex:
    """Every customer, read with one query; a row's `customer` is a slug or a name (matched like
    `get_customer`: by its folded name key)."""

    def __init__(self, session: Session | None):
        self._by_slug: dict[str, _CustomerRef] = {}
        self._by_key: dict[str, _CustomerRef] = {}
        self._seen: dict[str, _CustomerRef | None] = {}
        if session is None:
            return
        for cid, slug, name, key in session.execute(
                select(Customer.id, Customer.slug, Customer.name, Customer.name_key)):
            ref = _CustomerRef(cid, slug, name)
            self._by_slug[slug] = ref
            self._by_key[key] = ref

    def find(self, text: str) -> _CustomerRef | None:
        if text in self._seen:
            return self._seen[text]

        stripped = text.strip()
        ref = self._by_slug.get(stripped)
        if ref is None and stripped:
            ref = self._by_key.get(name_key(stripped))
        self._seen[text] = ref
        return ref

    def known(self, text: Any) -> _CustomerRef | None:
        """`find` for the fast path: a memo hit, or the full lookup."""
        ref = self._seen.get(text)
        return ref if ref is not None else self.find(text)


# (line, customer, received_at, satisfaction, nps, category, comment, external_id)
_Checked = tuple[int, _CustomerRef, datetime, int, int | None, str, str | None, str | None]


_CATEGORY_OF: dict[Any, str] = {None: "other", "": "other", **{c: c for c in CATEGORIES}}


def _check_record(raw: RawRow, customers: _CustomerIndex, now: datetime
                  ) -> _Checked | InvalidRow:
    """One record's values, or what is wrong with it. A fast path takes the common case (clean
    strings from a CSV or JSON Lines); anything unusual goes through the field checks, which
    name every problem of the row."""
    values = raw.values
    if values is None:
        fields = raw.fields
        if fields is None:
            return InvalidRow(raw.line, f"the record {raw.problem}")
        if not fields.keys() <= COLUMN_SET:
            return _check_slowly(raw.line, fields, customers, now)
        values = tuple(map(fields.get, COLUMNS))
    who, satisfaction, nps, category, comment, received, external_id = values
    try:
        customer = customers.known(who)
        satisfaction = SCORES[satisfaction]
        nps = None if nps is None or nps == "" else SCORES[nps]
        category = _CATEGORY_OF[category]
        if comment is not None:
            if len(comment) > MAX_COMMENT or text_problem(comment, allow_newlines=True):
                raise ValueError  # the field check names the character
            comment = redact_secret_keys(comment.strip()) or None
        if received is None or received == "":
            received_at = clock.to_db(now)
        elif received[-1] == "Z":  # the usual export form: already UTC, parse it naive
            received_at = datetime.fromisoformat(received[:-1])
            if received_at.tzinfo is not None:
                raise ValueError
        else:
            received_at = datetime.fromisoformat(received)
            if received_at.tzinfo is not None:
                received_at = received_at.astimezone(UTC).replace(tzinfo=None)
        if not clock.MIN_YEAR <= received_at.year <= clock.MAX_YEAR:
            raise ValueError  # the field check says which years are accepted
        if external_id is not None:
            external_id = external_id.strip() or None
            if external_id is not None and (len(external_id) > EXTERNAL_ID_MAX
                                            or text_problem(external_id)):
                raise ValueError
        if customer is not None and satisfaction >= 1:
            return (raw.line, customer, received_at, satisfaction, nps, category, comment,
                    external_id)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
        pass  # OverflowError: an offset that takes the time past the year 1 or 9999 in UTC
    return _check_slowly(raw.line, raw.fields or dict(zip(COLUMNS, values, strict=True)),
                         customers, now)


def _check_slowly(line: int, fields: dict[str, Any], customers: _CustomerIndex, now: datetime
                  ) -> _Checked | InvalidRow:
    problems: list[str] = []
    unknown = [key for key in fields if key not in COLUMN_SET]
    if unknown:
        problems.append(f"unknown field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(k) for k in unknown)} (the fields are "
                        f"{', '.join(COLUMNS)})")
    who = fields.get("customer")
    customer = None
    if is_blank(who):
        problems.append("customer is required (a slug or the exact name)")
    elif not isinstance(who, str):
        problems.append(f"customer {who!r} must be a slug or a name")
    else:
        customer = customers.find(who)
        if customer is None:
            problems.append(f"unknown customer {who!r}")
    checked: list[Any] = []
    for check, key in _CHECKS:
        try:
            checked.append(check(fields.get(key)))
        except FieldError as exc:
            problems.append(str(exc))
    try:
        received_at = check_received_at(fields.get("received_at"), now)
    except FieldError as exc:
        problems.append(str(exc))
    if problems:
        return InvalidRow(line, "; ".join(problems))
    assert customer is not None
    satisfaction, nps, category, comment, external_id = checked
    return (line, customer, received_at, satisfaction, nps, category, comment, external_id)


_CHECKS: tuple[tuple[Callable[[Any], Any], str], ...] = (
    (check_satisfaction, "satisfaction"), (check_nps, "nps"), (check_category, "category"),
    (check_comment, "comment"), (check_external_id, "id"),
)


def _known_external_ids(session: Session, wanted: dict[int, set[str]]) -> set[tuple[int, str]]:
    """(customer_id, external_id) pairs already stored. Per customer, one COUNT decides: when it
    stores few ids compared with the file, read them all in one query; otherwise look the file's
    ids up in chunks of LOOKUP_CHUNK (set-based either way, never one query per row)."""

    known: set[tuple[int, str]] = set()
    for customer_id, ids in wanted.items():
        stored = session.execute(select(func.count(Feedback.external_id)).where(
            Feedback.customer_id == customer_id)).scalar() or 0
        if stored <= 2 * len(ids):
            known.update((customer_id, external_id) for (external_id,) in session.execute(
                select(Feedback.external_id).where(Feedback.customer_id == customer_id,
                                                   Feedback.external_id.is_not(None)))
                if external_id in ids)
            continue
        ordered = sorted(ids)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start:start + LOOKUP_CHUNK]
            known.update((customer_id, external_id) for (external_id,) in session.execute(
                select(Feedback.external_id).where(Feedback.customer_id == customer_id,
                                                   Feedback.external_id.in_(chunk))))
    return known


def _steps(progress: ProgressFactory | None, total: int, description: str
           ) -> AbstractContextManager[Callable[[int], None]]:
    if progress is None:
        return nullcontext(lambda _n=1: None)
    return progress(total, description)


def import_feedback(ws: Workspace, path: Path, *, fmt: str | None = None,
                    skip_invalid: bool = False, raise_alerts: bool = True,
                    progress: ProgressFactory | None = None) -> ImportResult:
    """Import a survey export. The whole file is read and every record checked before anything
    is written; then, in one transaction, the new rows are bulk-inserted (rows whose `id` is
    already stored for that customer, or repeated in the file, are counted as duplicates) and
    their alerts recorded. Delivery is tried after the commit."""

    testhooks.reset()
    chosen, lines, records = open_feedback_file(path, fmt)
    name = path.name
    now = clock.now()
    ws, db = open_existing(ws)
    if db is None:  # no customers yet: every row is refused, and no database is created
        valid, invalid, total = _check_records(records, lines, _CustomerIndex(None), now,
                                               progress, name)
        if invalid and not skip_invalid:
            raise InvalidRows(name, chosen, invalid, len(valid))
        return ImportResult(name, chosen, total, 0, 0, invalid)
    try:
        with db.session() as session:
            valid, invalid, total = _check_records(records, lines, _CustomerIndex(session),
                                                   now, progress, name)
            if invalid and not skip_invalid:
                raise InvalidRows(name, chosen, invalid, len(valid))
            # Imports touching the same customers take turns from here: each one's duplicate
            # check and drop rule see the rows the one before it committed.
            lock_customers(session, {row[1].id for row in valid})
            fresh, duplicates = _without_duplicates(session, valid)
            alert_ids = _write(ws, session, fresh, raise_alerts, progress, name)
            testhooks.checkpoint("import-insert")  # rows and alerts inserted, not committed
        result = ImportResult(name, chosen, total, len(fresh), duplicates, invalid,
                              alert_ids)
        testhooks.checkpoint("import-deliver")  # committed, alerts not yet delivered
        if alert_ids:
            result.delivery = deliver_pending(ws, db, alert_ids)
        return result
    finally:
        db.dispose()


def _check_records(records: Iterator[RawRow], lines: int, customers: _CustomerIndex,
                   now: datetime, progress: ProgressFactory | None, name: str
                   ) -> tuple[list[_Checked], list[InvalidRow], int]:
    """Every record checked as it is read; the valid ones, the invalid ones and how many there
    were. Progress counts the file's lines (known before the records are)."""
    valid: list[_Checked] = []
    invalid: list[InvalidRow] = []
    total = shown_line = 0
    with _steps(progress, lines, f"checking {name}") as advance:
        for total, raw in enumerate(records, start=1):
            outcome = _check_record(raw, customers, now)
            (invalid if isinstance(outcome, InvalidRow) else valid).append(outcome)
            if total % 5000 == 0:
                advance(raw.line - shown_line)
                shown_line = raw.line
        advance(lines - shown_line)
    valid, repeated = _without_conflicting_ids(valid)
    if repeated:
        invalid = sorted(invalid + repeated, key=lambda row: row.line)
    return valid, invalid, total


def lock_customers(session: Session, ids: set[int]) -> None:
    if ids:
        lock_for_update(session, Customer, sorted(ids))


def _without_conflicting_ids(rows: list[_Checked]) -> tuple[list[_Checked], list[InvalidRow]]:
    """A file that gives one id (for one customer) to two different responses is wrong on one
    of the two lines, and unmo cannot tell which: the later row is invalid, naming the earlier.
    A row repeated exactly (a survey export that overlaps itself) is kept, and counted as a
    duplicate when it is written."""
    first: dict[tuple[int, str], _Checked] = {}
    kept: list[_Checked] = []
    conflicts: list[InvalidRow] = []
    for row in rows:
        external_id = row[7]
        if external_id is None:
            kept.append(row)
            continue
        earlier = first.setdefault((row[1].id, external_id), row)
        if earlier is not row and earlier[2:7] != row[2:7]:
            conflicts.append(InvalidRow(row[0], f"id {shown(external_id)} is also on line "
                                                f"{earlier[0]} for {row[1].slug} with different "
                                                "values; one id is one response"))
            continue
        kept.append(row)
    return kept, conflicts


def _without_duplicates(session: Session, rows: list[_Checked]) -> tuple[list[_Checked], int]:
    wanted: dict[int, set[str]] = {}
    for row in rows:
        if row[7] is not None:
            wanted.setdefault(row[1].id, set()).add(row[7])
    known = _known_external_ids(session, wanted) if wanted else set()
    fresh: list[_Checked] = []
    duplicates = 0
    for row in rows:
        external_id = row[7]
        if external_id is not None:
            key = (row[1].id, external_id)
            if key in known:
                duplicates += 1
                continue
            known.add(key)
        fresh.append(row)
    return fresh, duplicates


def _write(ws: Workspace, session: Session, rows: list[_Checked], raise_alerts: bool,
           progress: ProgressFactory | None, name: str) -> list[int]:
    """Bulk-insert the rows and record their alerts; returns the alert ids. Rows that raise a
    per-response alert are inserted asking for their ids so the alert can point at its row; the
    rest are inserted without (db.bulk_insert: COPY on PostgreSQL, executemany on SQLite)."""

    if not rows:
        return []
    settings = ws.settings.alerts
    below = settings.satisfaction_below
    # The drop rule's "before" state must be read before the new rows exist.
    latest: dict[int, tuple[datetime, int]] = {}
    for index, row in enumerate(rows):
        seen = latest.get(row[1].id)
        if seen is None or row[2] >= seen[0]:
            latest[row[1].id] = (row[2], index)
    before = ({cid: dropped_before(session, cid, at, settings.drop_points)
               for cid, (at, _index) in latest.items()} if raise_alerts else {})

    alerting = [i for i, row in enumerate(rows)
                if raise_alerts and (row[3] < below or (row[4] is not None and row[4] <= 6))]
    alerting_set = set(alerting)
    table: Any = Feedback.__table__
    feedback_ids: dict[int, int] = {}

    def values(row: _Checked) -> dict[str, Any]:
        return {"customer_id": row[1].id, "received_at": row[2], "satisfaction": row[3],
                "nps": row[4], "category": row[5], "comment": row[6], "source": "import",
                "external_id": row[7]}

    try:
        with _steps(progress, len(rows), f"writing {name}") as advance:
            # In batches, so the rows are never all held twice (as rows and as values); all in
            # the caller's one transaction, so a failure still writes nothing.
            for chunk in _batches(alerting):
                ids = bulk_insert(session, table, [values(rows[i]) for i in chunk],
                                  returning_ids=True)
                feedback_ids.update(zip(chunk, ids, strict=True))
                advance(len(chunk))
            plain = (i for i in range(len(rows)) if i not in alerting_set)
            for chunk in _batches(plain):
                bulk_insert(session, table, [values(rows[i]) for i in chunk])
                advance(len(chunk))
    except IntegrityError:
        raise InputError(f"{name}: another import stored some of these ids at the same time; "
                         "nothing was imported, run the import again (stored ids are skipped)."
                         ) from None
    if not raise_alerts:
        return []

    drafts: list[AlertDraft] = []
    for index in alerting:
        row = rows[index]
        drafts.extend(feedback_alerts(
            settings, customer_id=row[1].id, customer_name=row[1].name, slug=row[1].slug,
            feedback_id=feedback_ids[index], satisfaction=row[3], nps=row[4], category=row[5],
            comment=row[6], received_at=row[2]))
    for customer_id, (at, index) in latest.items():
        windows = satisfaction_windows(session, customer_id, at)
        if drop_crossed(before[customer_id], windows, settings.drop_points):
            ref = rows[index][1]
            drafts.append(drop_alert(
                settings, windows, customer_id=customer_id, customer_name=ref.name,
                slug=ref.slug,
                feedback_id=feedback_ids.get(index) or _latest_id(session, customer_id, at)))
    ids = record_alerts(session, drafts)
    fire_playbooks(session, ws.settings, [(d.customer_id, d.rule) for d in drafts])
    return ids


def _batches(indexes: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for index in indexes:
        batch.append(index)
        if len(batch) == WRITE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _latest_id(session: Session, customer_id: int, at: datetime) -> int | None:
    return session.execute(select(func.max(Feedback.id)).where(
        Feedback.customer_id == customer_id, Feedback.received_at == at)).scalar()


