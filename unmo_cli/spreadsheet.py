"""Owns the CSV files unmo writes: every one goes through csv_text, so that a spreadsheet opening
it (LibreOffice, Excel, Google Sheets) reads each text cell as text, never as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

# OWASP's "CSV injection" list: a cell starting with one of these is a formula (or becomes one)
# in some spreadsheet. Tab and carriage return are there because a spreadsheet may strip them
# and then read what follows.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """A cell as a spreadsheet must read it: numbers (int, float, not bool) stay numbers, so
    -3.5 in a numeric column is still -3.5; None is an empty cell; any other value is text, and
    text starting with = + - @ tab or CR gets a leading ' (which spreadsheets show as typed)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document, every cell through spreadsheet_cell. Lines end in CRLF (RFC 4180),
    which also makes the csv module quote a cell holding a lone CR: with LF endings it wrote
    that CR bare, and every reader split the row there."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(name) for name in header])
    for row in rows:
        writer.writerow([spreadsheet_cell(value) for value in row])
    return buffer.getvalue()
