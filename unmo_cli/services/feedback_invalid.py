"""The invalid rows of a `feedback import`, in line order, kept in a temporary file rather than
in memory: every bad row is still reported (`FILE:LINE: problem` on stderr, each in the JSON's
`invalid`), and a file of a million bad rows costs disk, not a million messages in the heap."""

from __future__ import annotations

import heapq
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any


@dataclass(frozen=True)
class InvalidRow:
    line: int
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


class InvalidReport:
    """Invalid rows added in line order, read back (iterated) as often as needed; `len` counts
    them. The spool is made at the first row (most imports have none) and removed when the
    report is closed or collected."""

    def __init__(self, rows: Iterable[InvalidRow] = ()) -> None:
        self._spool: IO[str] | None = None
        self._at_end = True  # False once read: the next row is appended after a seek
        self.count = 0
        self.first_line: int | None = None
        for row in rows:
            self.add(row)

    def add(self, row: InvalidRow) -> None:
        if self._spool is None:
            # Kept open across calls (closed by close()), so not a with block.
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        elif not self._at_end:
            self._spool.seek(0, 2)
            self._at_end = True
        if self.first_line is None:
            self.first_line = row.line
        # One JSON array a line: an error may hold any character, json escapes line breaks.
        self._spool.write(json.dumps([row.line, row.error], ensure_ascii=False) + "\n")
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[InvalidRow]:
        spool = self._spool
        if spool is None:
            return
        spool.flush()
        spool.seek(0)
        self._at_end = False
        for text in spool:
            line, error = json.loads(text)
            yield InvalidRow(line, error)

    def merged(self, later: Iterable[InvalidRow]) -> InvalidReport:
        """This report and `later` (rows in line order too) as one report in line order; this
        one is closed."""
        report = InvalidReport(heapq.merge(self, later, key=lambda row: row.line))
        self.close()
        return report

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
