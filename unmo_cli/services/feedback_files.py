"""Survey exports as files: the format (by --format or the extension), the text (UTF-8), and
its records in each of the three formats (CSV, a JSON list, JSON Lines), numbered by the
line they start on, before any value is checked.

CSV and JSON Lines are streamed: a first pass over the bytes checks the whole file is UTF-8 text
and not empty (so those refusals still come before any record), then the records are read one
line at a time as the import checks them, so memory does not grow with the file. A JSON list is
one document: it is read whole, as json's parser needs; JSON Lines is the format for big
exports."""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from unmo_cli.documents import NESTED_TOO_DEEPLY, json_decoder
from unmo_cli.errors import EnvironmentFailure, InputError

FORMATS = ("csv", "json", "jsonl")
COLUMNS = ("customer", "satisfaction", "nps", "category", "comment", "received_at", "id")
REQUIRED_COLUMNS = ("customer", "satisfaction")
COLUMN_SET = frozenset(COLUMNS)
EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


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


SCAN_CHUNK = 1 << 20  # bytes per read of the first pass


def scan_text(path: Path) -> int:
    """The first pass over a file to be streamed: refuse what read_text refuses (no file, not
    UTF-8, empty) without holding the file, and return its number of lines (the progress total).
    A refusal is worded by read_text itself, which reads the file whole only then."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines, blank = 0, True
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(SCAN_CHUNK):
                lines += chunk.count(b"\n")
                text = decoder.decode(chunk)
                if blank and text.strip():
                    blank = False
            decoder.decode(b"", final=True)
    except (OSError, UnicodeDecodeError):
        read_text(path)  # raises the sentence for it
        raise
    if blank:
        read_text(path)
    return lines + 1


def line_pieces(path: Path, *, keepends: bool) -> Iterator[str]:
    """The file's text in the pieces str.splitlines gives (so records are numbered as when the
    file was read whole), read one line at a time. scan_text has checked the encoding."""
    with path.open("rb") as handle:
        first = True
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # the file changed since scan_text read it
                raise InputError(f"{path.name}: line {number} is not UTF-8 text (byte "
                                 f"0x{raw[exc.start]:02X}); save the file as UTF-8.") from None
            if first:
                text, first = text.removeprefix("\ufeff"), False
            yield from text.splitlines(keepends=keepends)


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
    return list(iter_csv(name, text.splitlines(keepends=True)))


def iter_csv(name: str, pieces: Iterable[str]) -> Iterator[RawRow]:
    """A header line (line 1) naming the columns, then one row per record; a quoted field may
    span lines, and a record is numbered by the line it starts on."""
    reader = csv.reader(pieces, strict=True)
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
    return _csv_records(name, reader, width, pick)


def _csv_records(name: str, reader: Any, width: int, pick: Any) -> Iterator[RawRow]:
    start = reader.line_num + 1
    try:
        for record in reader:
            if record:
                if len(record) == width:
                    record.append(None)
                    yield RawRow(start, None, None, pick(record))
                elif all(not value.strip() for value in record):
                    pass  # a line of only commas is a blank line too
                else:
                    yield RawRow(start, None, f"has {len(record)} fields, the header has "
                                              f"{width}")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{name}: line {start}: not valid CSV ({exc}); is the file "
                         "truncated?") from None


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
    return list(iter_json_lines(name, text.splitlines()))


def iter_json_lines(name: str, lines: Iterable[str]) -> Iterator[RawRow]:
    """One JSON object per line; blank lines are skipped. A line that is not a JSON object is an
    invalid record (reported with its line), so `--skip-invalid` can still import the rest."""
    loads, exact = _PLAIN_JSON.decode, _EXACT_JSON.decode  # see read_json_list
    for number, line in enumerate(lines, start=1):
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
            yield RawRow(number, None, f"is not valid JSON ({exc.msg} at column "
                                       f"{exc.colno}; truncated?)")
            continue
        except RecursionError:
            yield RawRow(number, None, f"is {NESTED_TOO_DEEPLY}")
            continue
        if isinstance(value, dict):
            yield RawRow(number, value)
        else:
            yield RawRow(number, None, f"is a JSON {_json_kind(value)}, not an object")


def read_feedback_file(path: Path, fmt: str | None = None) -> tuple[str, list[RawRow]]:
    """The file's format and its records, before any value is checked. A file that cannot be read
    as a whole (not UTF-8, empty, wrong header, truncated JSON) is an InputError naming it."""
    chosen, _lines, records = open_feedback_file(path, fmt)
    return chosen, list(records)


def open_feedback_file(path: Path, fmt: str | None = None
                       ) -> tuple[str, int, Iterator[RawRow]]:
    """The file's format, its number of lines and its records as they are read (see the module
    docstring). Not UTF-8 or empty is refused here; a wrong header or a truncated document while
    the records are read, before the import writes anything it would keep."""
    chosen = import_format(path, fmt)
    if chosen == "json":
        text = read_text(path)
        return chosen, text.count("\n") + 1, iter(read_json_list(path.name, text))
    lines = scan_text(path)
    if chosen == "csv":
        return chosen, lines, iter_csv(path.name, line_pieces(path, keepends=True))
    return chosen, lines, iter_json_lines(path.name, line_pieces(path, keepends=False))


