"""Customer feedback: recording one response, importing survey exports (CSV, JSON, JSON Lines),
listing them (the 30-day summary `customer show` displays is services/summaries.py). Each write
evaluates the alert
rules (services/alerts.py) in the same transaction and tries delivery after the commit."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from unmo_cli import clock, testhooks
from unmo_cli.documents import NESTED_TOO_DEEPLY, json_decoder, whole_number
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.names import name_key  # the folding get_customer uses
from unmo_cli.progress import ProgressFactory
from unmo_cli.services.alerts import (
    AlertDraft,
    AlertView,
    DeliveryReport,
    drop_alert,
    drop_crossed,
    dropped_before,
    feedback_alerts,
    redact_secret_keys,
    satisfaction_windows,
)
from unmo_cli.services.summaries import SUMMARY_WINDOW, feedback_summary  # noqa: F401 (re-exported)
from unmo_cli.text import MAX_COMMENT, MAX_ID, length_problem, shown, text_problem

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace

CATEGORIES = ("technical", "business", "support", "other")
FORMATS = ("csv", "json", "jsonl")
COLUMNS = ("customer", "satisfaction", "nps", "category", "comment", "received_at", "id")
REQUIRED_COLUMNS = ("customer", "satisfaction")
_COLUMN_SET = frozenset(COLUMNS)
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXTERNAL_ID_MAX = MAX_ID
MAX_LIMIT = 1_000_000_000  # --limit: more rows than any workspace holds, and fits every SQL LIMIT
LOOKUP_CHUNK = 500  # ids per IN (…) when looking for already imported rows



# --- values ----------------------------------------------------------------------------------


class FieldError(ValueError):
    """One field's value is not accepted; the message names the field and what is accepted."""


_SCORES = {str(n): n for n in range(11)}


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, str):
        quick = _SCORES.get(value)
        if quick is not None and low <= quick <= high:
            return quick
        number = whole_number(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = None
    if number is None:
        raise FieldError(f"{name} {shown(value)} is not a whole number from {low} to {high}")
    if not low <= number <= high:
        raise FieldError(f"{name} {number} is out of range; use a whole number from {low} to "
                         f"{high}")
    return number


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_satisfaction(value: Any) -> int:
    if _blank(value):
        raise FieldError("satisfaction is required (a whole number from 1 to 10)")
    return _whole(value, "satisfaction", 1, 10)


def check_nps(value: Any) -> int | None:
    return None if _blank(value) else _whole(value, "nps", 0, 10)


def check_category(value: Any) -> str:
    if _blank(value):
        return "other"
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in CATEGORIES:
            return folded
    raise FieldError(f"category {shown(value)} is not one of {', '.join(CATEGORIES)}")


def _storable(text: str, name: str, *, breaks: bool = True) -> str:
    """`text` if unmo may store it (see unmo_cli/text.py), else FieldError saying why."""
    problem = text_problem(text, allow_newlines=breaks)
    if problem:
        allowed = "tabs and line breaks are fine" if breaks else "one line of plain text"
        raise FieldError(f"{name} contains {problem}; send plain UTF-8 text ({allowed})")
    return text


def check_comment(value: Any) -> str | None:
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise FieldError(f"comment {shown(value)} must be text")
    text = value.strip()
    too_long = length_problem(text, MAX_COMMENT)
    if too_long:
        raise FieldError(f"comment {too_long}")
    return redact_secret_keys(_storable(text, "comment"))


def check_received_at(value: Any, default: datetime) -> datetime:
    """A naive UTC datetime for the database; blank means `default` (now)."""
    if _blank(value):
        return clock.to_db(default)
    if not isinstance(value, str):
        raise FieldError(f"received_at {shown(value)} must be an ISO 8601 date and time, "
                         "e.g. 2026-11-23T10:00:00+01:00")
    try:
        return clock.to_db(clock.parse_instant(value, what="received_at"))
    except InputError as exc:
        raise FieldError(str(exc).rstrip(".")) from None


def check_external_id(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FieldError(f"id {shown(value)} must be text or a whole number")
    text = str(value).strip()
    too_long = length_problem(text, EXTERNAL_ID_MAX)
    if too_long:
        raise FieldError(f"id {too_long}")
    return _storable(text, "id", breaks=False)


# --- add ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackView:
    id: int
    customer: str  # slug
    customer_name: str
    received_at: datetime
    satisfaction: int
    nps: int | None
    category: str
    comment: str | None
    source: str
    external_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "customer": self.customer, "customer_name": self.customer_name,
                "received_at": clock.iso(self.received_at), "satisfaction": self.satisfaction,
                "nps": self.nps, "category": self.category, "comment": self.comment,
                "source": self.source, "external_id": self.external_id}


@dataclass(frozen=True)
class AddResult:
    feedback: FeedbackView
    alerts: list[AlertView]
    delivery: DeliveryReport


def add_feedback(ws: Workspace, customer: str, *, satisfaction: Any, nps: Any = None,
                 category: Any = None, comment: Any = None, received_at: Any = None,
                 external_id: Any = None, source: str = "cli",
                 within: Callable[[Session, Any], None] | None = None) -> AddResult:
    """Record one response (source `cli`, or `survey` from the survey page), raise its alerts,
    commit, then try to deliver them. Every value is checked before the database is opened; a
    bad one writes nothing. `within(session, row)` runs in the same transaction once the row is
    stored and before the alert rules read: the survey page claims its invitation there (and
    drops the answer it replaces); whatever it raises rolls everything back."""
    from sqlalchemy.exc import IntegrityError

    from unmo_cli.db.models import Feedback
    from unmo_cli.services.alerts import deliver_raised, record_alert
    from unmo_cli.services.customers import customer_session

    values, problems = _checked_values({
        "satisfaction": (check_satisfaction, satisfaction), "nps": (check_nps, nps),
        "category": (check_category, category), "comment": (check_comment, comment),
        "received_at": (lambda v: check_received_at(v, clock.now()), received_at),
        "external_id": (check_external_id, external_id),
    })
    if problems:
        raise InputError("; ".join(problems) + ".")
    settings = ws.settings.alerts
    with customer_session(ws, customer) as (session, found):
        assert found.id is not None
        _lock_customers(session, {found.id})  # the id check and the drop rule read, then write
        if values["external_id"] is not None:
            _refuse_known_id(session, found.id, found.slug, values["external_id"])
        before = dropped_before(session, found.id, values["received_at"], settings.drop_points)
        row = Feedback(customer_id=found.id, source=source, **values)
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # the same id stored by another command a moment ago
            raise InputError(f"feedback id {values['external_id']!r} is already recorded "
                             f"for {found.slug}; ids are unique per customer.") from None
        assert row.id is not None
        if within is not None:
            within(session, row)
        drafts = feedback_alerts(settings, customer_id=found.id, customer_name=found.name,
                                 slug=found.slug, feedback_id=row.id,
                                 satisfaction=row.satisfaction, nps=row.nps,
                                 category=row.category, comment=row.comment,
                                 received_at=row.received_at)
        windows = satisfaction_windows(session, found.id, row.received_at)
        if drop_crossed(before, windows, settings.drop_points):
            drafts.append(drop_alert(settings, windows, customer_id=found.id,
                                     customer_name=found.name, slug=found.slug,
                                     feedback_id=row.id))
        ids = [record_alert(session, d.customer_id, d.rule, d.text, d.score,
                            feedback_id=d.feedback_id) for d in drafts]
        view = FeedbackView(row.id, found.slug, found.name, clock.from_db(row.received_at),
                            row.satisfaction, row.nps, row.category, row.comment, row.source,
                            row.external_id)
    # Committed: the alerts exist whatever the webhook does now.
    delivery, alerts = deliver_raised(ws, ids)
    return AddResult(view, alerts, delivery)


def _checked_values(checks: dict[str, tuple[Callable[[Any], Any], Any]]
                    ) -> tuple[dict[str, Any], list[str]]:
    """Every field checked, so one error sentence names every bad value at once."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, (check, raw) in checks.items():
        try:
            values[name] = check(raw)
        except FieldError as exc:
            problems.append(str(exc))
    return values, problems


def _refuse_known_id(session: Session, customer_id: int, slug: str, external_id: str) -> None:
    from sqlalchemy import select

    from unmo_cli.db.models import Feedback

    known = session.execute(select(Feedback.id).where(
        Feedback.customer_id == customer_id, Feedback.external_id == external_id)).first()
    if known is not None:
        raise InputError(f"feedback id {external_id!r} is already recorded for {slug} "
                         f"(feedback #{known[0]}); ids are unique per customer.")


# --- import: reading the file -----------------------------------------------------------------


class RawRow(NamedTuple):
    """One record as read from the file, numbered by the line it starts on (a tuple rather than
    a dataclass: there are 100,000 of them). JSON gives `fields` (the object); CSV gives
    `values`, the record's values in COLUMNS order (None for a column the file lacks)."""

    line: int
    fields: dict[str, Any] | None
    problem: str | None = None  # a record that is not even an object / has the wrong width
    values: tuple[Any, ...] | None = None


def import_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        chosen = fmt.strip().lower()
        if chosen not in FORMATS:
            raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
        return chosen
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise InputError(f"{path.name}: cannot tell the format from the extension "
                         f"{path.suffix or '(none)'!r}; name it .csv, .json or .jsonl, or pass "
                         "--format csv|json|jsonl.")
    return found


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (a BOM is allowed); empty or undecodable files are refused."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; pass a CSV, JSON or JSON Lines file.") from None
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {path}: {exc.strerror}.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path.name}: line {line} is not UTF-8 text (byte "
                         f"0x{data[exc.start]:02X}); save the file as UTF-8.") from None
    if not text.strip():
        raise InputError(f"{path.name} is empty; expected a header line and rows "
                         "(CSV), a JSON list of objects, or one JSON object per line.")
    return text


def _columns_problem(name: str, columns: list[str], where: str) -> str | None:
    unknown = [c for c in columns if c not in COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if unknown:
        return (f"{name}: {where}unknown column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(c) for c in unknown)}; the columns are {', '.join(COLUMNS)}")
    if missing:
        return (f"{name}: {where}missing required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}; the columns are {', '.join(COLUMNS)}")
    if repeated:
        return f"{name}: {where}column {', '.join(repeated)} appears more than once"
    return None


def read_csv(name: str, text: str) -> list[RawRow]:
    """A header line (line 1) naming the columns, then one row per record; a quoted field may
    span lines, and a record is numbered by the line it starts on."""
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = next(reader)
        while not header:
            header = next(reader)
    except StopIteration:
        raise InputError(f"{name} is empty; expected a header line.") from None
    except csv.Error as exc:
        raise InputError(f"{name}: line {reader.line_num}: not valid CSV ({exc}).") from None
    header_line = reader.line_num
    columns = [c.strip().lower() for c in header]
    problem = _columns_problem(name, columns, f"line {header_line}: ")
    if problem:
        raise InputError(problem + ".")
    width = len(columns)
    # Each record gets a None appended, so a column the file lacks reads as None (index -1).
    pick = itemgetter(*(columns.index(c) if c in columns else -1 for c in COLUMNS))
    rows: list[RawRow] = []
    append = rows.append
    start = reader.line_num + 1
    try:
        for record in reader:
            if record:
                if len(record) == width:
                    record.append(None)
                    append(RawRow(start, None, None, pick(record)))
                elif all(not value.strip() for value in record):
                    pass  # a line of only commas is a blank line too
                else:
                    append(RawRow(start, None, f"has {len(record)} fields, the header has "
                                               f"{width}"))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{name}: line {start}: not valid CSV ({exc}); is the file "
                         "truncated?") from None
    return rows


_SPACE = re.compile(r"[ \t\n\r]*")


_PLAIN_JSON = json.JSONDecoder()
_EXACT_JSON = json_decoder()


def read_json_list(name: str, text: str) -> list[RawRow]:
    """A JSON list of objects; each record is numbered by the line its object starts on.
    Read with the C decoder's own numbers (the common case, fast); a file holding an integer
    past Python's digit limit (ValueError) is read again with documents' exact decoder, whose
    markers the field checks refuse row by row."""
    try:
        return _read_json_list(name, text, _PLAIN_JSON)
    except InputError:
        raise
    except ValueError:  # not JSONDecodeError: int/str conversion limit
        return _read_json_list(name, text, _EXACT_JSON)


def _read_json_list(name: str, text: str, decoder: json.JSONDecoder) -> list[RawRow]:
    length = len(text)
    position = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
    if text[position] != "[":
        _json_whole_check(name, text)
        raise InputError(f"{name}: line {text.count(chr(10), 0, position) + 1}: expected a JSON "
                         "list of objects ([{…}, …]).")
    position += 1
    line, counted = 1, 0
    rows: list[RawRow] = []
    try:
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if position < length and text[position] == "]":
            position += 1
        else:
            while True:
                line += text.count("\n", counted, position)
                counted = position
                value, position = decoder.raw_decode(text, position)
                if isinstance(value, dict):
                    rows.append(RawRow(line, value))
                else:
                    rows.append(RawRow(line, None, f"is a JSON {_json_kind(value)}, "
                                                   "not an object"))
                position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
                if position >= length:
                    raise _truncated(name, text)
                if text[position] == ",":
                    position = _SPACE.match(text, position + 1).end()  # type: ignore[union-attr]
                    continue
                if text[position] == "]":
                    position += 1
                    break
                raise _json_problem(name, text, position, "expected ',' or ']' after an item")
    except json.JSONDecodeError as exc:
        if _ends_early(exc, text):
            raise _truncated(name, text) from None
        raise _json_problem(name, text, exc.pos, exc.msg) from None
    except IndexError:
        raise _truncated(name, text) from None
    except RecursionError:
        raise InputError(f"{name}: line {line}: the record is {NESTED_TOO_DEEPLY}.") from None
    position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
    if position < length:
        raise _json_problem(name, text, position, "extra data after the list")
    return rows


def _json_whole_check(name: str, text: str) -> None:
    """Name the syntax error (with its line) when a non-list document is not even JSON."""
    try:
        json_decoder().decode(text)
    except RecursionError:
        raise InputError(f"{name}: {NESTED_TOO_DEEPLY}; expected a JSON list of objects.") \
            from None
    except json.JSONDecodeError as exc:
        if _ends_early(exc, text):
            raise _truncated(name, text) from None
        raise _json_problem(name, text, exc.pos, exc.msg) from None


def _ends_early(exc: json.JSONDecodeError, text: str) -> bool:
    """The document stops mid-value (a cut download), rather than holding a wrong character."""
    return exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")


def _truncated(name: str, text: str) -> InputError:
    return InputError(f"{name}: line {text.count(chr(10)) + 1}: the JSON ends before the list is "
                      "closed; is the file truncated?")


def _json_problem(name: str, text: str, position: int, message: str) -> InputError:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return InputError(f"{name}: line {line} column {column}: not valid JSON ({message}).")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def read_json_lines(name: str, text: str) -> list[RawRow]:
    """One JSON object per line; blank lines are skipped. A line that is not a JSON object is an
    invalid record (reported with its line), so `--skip-invalid` can still import the rest."""
    rows: list[RawRow] = []
    loads, exact = _PLAIN_JSON.decode, _EXACT_JSON.decode  # see read_json_list
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            try:
                value = loads(line)
            except json.JSONDecodeError:
                raise
            except ValueError:  # an integer past Python's digit limit
                value = exact(line)
        except json.JSONDecodeError as exc:
            rows.append(RawRow(number, None, f"is not valid JSON ({exc.msg} at column "
                                             f"{exc.colno}; truncated?)"))
            continue
        except RecursionError:
            rows.append(RawRow(number, None, f"is {NESTED_TOO_DEEPLY}"))
            continue
        if isinstance(value, dict):
            rows.append(RawRow(number, value))
        else:
            rows.append(RawRow(number, None, f"is a JSON {_json_kind(value)}, not an object"))
    return rows


def read_feedback_file(path: Path, fmt: str | None = None) -> tuple[str, list[RawRow]]:
    """The file's format and its records, before any value is checked. A file that cannot be read
    as a whole (not UTF-8, empty, wrong header, truncated JSON) is an InputError naming it."""
    chosen = import_format(path, fmt)
    text = read_text(path)
    reader = {"csv": read_csv, "json": read_json_list, "jsonl": read_json_lines}[chosen]
    return chosen, reader(path.name, text)


# --- import: checking and writing -------------------------------------------------------------


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
        from sqlalchemy import select

        from unmo_cli.db.models import Customer

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
        if not fields.keys() <= _COLUMN_SET:
            return _check_slowly(raw.line, fields, customers, now)
        values = tuple(map(fields.get, COLUMNS))
    who, satisfaction, nps, category, comment, received, external_id = values
    try:
        customer = customers.known(who)
        satisfaction = _SCORES[satisfaction]
        nps = None if nps is None or nps == "" else _SCORES[nps]
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
    unknown = [key for key in fields if key not in _COLUMN_SET]
    if unknown:
        problems.append(f"unknown field{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(repr(k) for k in unknown)} (the fields are "
                        f"{', '.join(COLUMNS)})")
    who = fields.get("customer")
    customer = None
    if _blank(who):
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
    from sqlalchemy import func, select

    from unmo_cli.db.models import Feedback

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
    from unmo_cli.services.customers import open_existing

    testhooks.reset()
    chosen, records = read_feedback_file(path, fmt)
    name = path.name
    now = clock.now()
    ws, db = open_existing(ws)
    if db is None:  # no customers yet: every row is refused, and no database is created
        valid, invalid = _check_records(records, _CustomerIndex(None), now, progress, name)
        if invalid and not skip_invalid:
            raise InvalidRows(name, chosen, invalid, len(valid))
        return ImportResult(name, chosen, len(records), 0, 0, invalid)
    try:
        with db.session() as session:
            valid, invalid = _check_records(records, _CustomerIndex(session), now, progress,
                                            name)
            if invalid and not skip_invalid:
                raise InvalidRows(name, chosen, invalid, len(valid))
            # Imports touching the same customers take turns from here: each one's duplicate
            # check and drop rule see the rows the one before it committed.
            _lock_customers(session, {row[1].id for row in valid})
            fresh, duplicates = _without_duplicates(session, valid)
            alert_ids = _write(ws, session, fresh, raise_alerts, progress, name)
            testhooks.checkpoint("import-insert")  # rows and alerts inserted, not committed
        result = ImportResult(name, chosen, len(records), len(fresh), duplicates, invalid,
                              alert_ids)
        testhooks.checkpoint("import-deliver")  # committed, alerts not yet delivered
        if alert_ids:
            from unmo_cli.services.alerts import deliver_pending

            result.delivery = deliver_pending(ws, db, alert_ids)
        return result
    finally:
        db.dispose()


def _check_records(records: list[RawRow], customers: _CustomerIndex, now: datetime,
                   progress: ProgressFactory | None, name: str
                   ) -> tuple[list[_Checked], list[InvalidRow]]:
    valid: list[_Checked] = []
    invalid: list[InvalidRow] = []
    with _steps(progress, len(records), f"checking {name}") as advance:
        for position, raw in enumerate(records, start=1):
            outcome = _check_record(raw, customers, now)
            (invalid if isinstance(outcome, InvalidRow) else valid).append(outcome)
            if position % 5000 == 0:
                advance(5000)
        advance(len(records) % 5000)
    valid, repeated = _without_conflicting_ids(valid)
    if repeated:
        invalid = sorted(invalid + repeated, key=lambda row: row.line)
    return valid, invalid


def _lock_customers(session: Session, ids: set[int]) -> None:
    from unmo_cli.db import lock_for_update
    from unmo_cli.db.models import Customer

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
    from sqlalchemy.exc import IntegrityError

    from unmo_cli.db import bulk_insert
    from unmo_cli.db.models import Feedback
    from unmo_cli.services.alerts import record_alerts

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
            ids = bulk_insert(session, table, [values(rows[i]) for i in alerting],
                              returning_ids=True)
            feedback_ids.update(zip(alerting, ids, strict=True))
            advance(len(alerting))
            plain = [values(row) for i, row in enumerate(rows) if i not in alerting_set]
            bulk_insert(session, table, plain)
            advance(len(plain))
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
    return record_alerts(session, drafts)


def _latest_id(session: Session, customer_id: int, at: datetime) -> int | None:
    from sqlalchemy import func, select

    from unmo_cli.db.models import Feedback

    return session.execute(select(func.max(Feedback.id)).where(
        Feedback.customer_id == customer_id, Feedback.received_at == at)).scalar()


# --- list --------------------------------------------------------------------------------------


def parse_since(text: str, timezone: str) -> datetime:
    """`--since`: a date (midnight in the workspace's timezone) or an ISO 8601 instant."""
    from datetime import date
    from zoneinfo import ZoneInfo

    raw = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise InputError(f"--since {text!r} is not a date; use YYYY-MM-DD or an ISO 8601 "
                             "time.") from None
        return clock.in_utc(datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)),
                            f"--since {text!r} (midnight in {timezone})")
    try:
        return clock.parse_instant(raw, what="--since")
    except clock.OutsideCalendar:
        raise
    except InputError:
        raise InputError(f"--since {shown(text)} is not a date; use YYYY-MM-DD or an ISO 8601 "
                         "time.") from None


def list_feedback(ws: Workspace, customer: str | None = None, *, since: str | None = None,
                  limit: int | None = None) -> list[FeedbackView]:
    """Responses, newest first; for one customer and/or since a date."""
    from unmo_cli.services.customers import customer_session, open_existing

    start = parse_since(since, ws.settings.timezone) if since else None
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"--limit {limit} must be between 1 and {MAX_LIMIT:,}.")
    if customer is not None:
        with customer_session(ws, customer) as (session, found):
            return _listed(session, found.id, start, limit)
    ws, db = open_existing(ws)
    if db is None:
        return []
    try:
        with db.session() as session:
            return _listed(session, None, start, limit)
    finally:
        db.dispose()


def _listed(session: Session, customer_id: int | None, start: datetime | None,
            limit: int | None) -> list[FeedbackView]:
    from sqlalchemy import select

    from unmo_cli.db.models import Customer, Feedback

    query = (select(Feedback, Customer.slug, Customer.name)
             .join(Customer, Customer.id == Feedback.customer_id)
             .order_by(Feedback.received_at.desc(), Feedback.id.desc()))
    if customer_id is not None:
        query = query.where(Feedback.customer_id == customer_id)
    if start is not None:
        query = query.where(Feedback.received_at >= clock.to_db(start))
    if limit is not None:
        query = query.limit(limit)
    return [_view(row, slug, name) for row, slug, name in session.execute(query)]


def _view(row: Any, slug: str, name: str) -> FeedbackView:
    received = clock.from_db(row.received_at)
    assert received is not None
    return FeedbackView(row.id, slug, name, received, row.satisfaction, row.nps, row.category,
                        row.comment, row.source, row.external_id)
