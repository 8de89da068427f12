"""Owns the text of unmo's JSON documents: the compact encoder every command's JSON goes
through (console writes with it: indented for a person, compact for a pipe), and the rows of a
long array (the weekly report's portfolio, the SLA's customers) that write their own compact
text from their fields instead of through a dict each — the same bytes as the encoder's, without
the dict's cost. console.iter_json writes a JsonRows array that way; every other reader of the
document still gets the rows' dicts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Protocol

from unmo_cli.clock import iso


def default(value: Any) -> Any:
    """What the encoder makes of the values JSON has no type for."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# Standard JSON on one line through the json module's C encoder. NaN or an infinity is a
# ValueError (a bug: every number unmo reads is refused unless finite), never the `NaN` that JSON
# readers reject.
COMPACT = json.JSONEncoder(ensure_ascii=False, default=default, allow_nan=False,
                           separators=(",", ":"))

# A str as COMPACT writes it: quoted, `"` `\` and control characters escaped, everything else
# (non-ASCII, emoji) as it is. The json module's own function (its C version), so the escaping
# cannot drift from the encoder's.
_string = encode_basestring


def scalar(value: Any) -> str:
    """A value as COMPACT writes it, faster for JSON's scalars: int.__repr__ and float.__repr__
    for numbers (NaN and the infinities a ValueError, as COMPACT's), true/false/null, strings
    by json's encode_basestring. The helpers below are this with one type checked first: each
    gives COMPACT's text whatever it is given (a None a field's annotation does not admit)."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is str:
        return _string(value)
    return COMPACT.encode(value)  # a subclass (an IntEnum), a date...: the encoder's own answer


def _float(value: float) -> str:
    if math.isfinite(value):
        return float.__repr__(value)
    raise ValueError(f"Out of range float values are not JSON compliant: {value!r}")


def number(value: int | float | None) -> str:
    """scalar, for an int, a float or None."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float(value)
    return scalar(value)


def optional_string(value: str | None) -> str:
    """scalar, for a str or None."""
    if value is None:
        return "null"
    if type(value) is str:
        return _string(value)
    return scalar(value)


def boolean(value: bool | None) -> str:
    """scalar, for True, False or None."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return scalar(value)


def strings(values: Iterable[str | None]) -> str:
    """An array of strings: `["ios","android"]`."""
    return "[" + ",".join(map(optional_string, values)) + "]"


class JsonRow(Protocol):
    """A row that is one object of a JSON array: `as_json()` is the object, `json_text()` its
    compact text, exactly `COMPACT.encode(row.as_json())` (tests/test_json_output.py holds each
    row class to this with a hypothesis property)."""

    def as_json(self) -> dict[str, Any]: ...

    def json_text(self) -> str: ...


class JsonRows(Iterator[dict[str, Any]]):
    """A document's array of rows, made as it is read. Iterated, it yields each row's
    `as_json()` (what any reader of the document — an indented dump, a template, a list() —
    got before); `texts()` yields each row's `json_text()` instead, for the compact writer,
    which then never builds the dicts. One pass, like any iterator."""

    def __init__(self, rows: Iterable[JsonRow]) -> None:
        self._rows = iter(rows)

    def __next__(self) -> dict[str, Any]:
        return next(self._rows).as_json()

    def texts(self) -> Iterator[str]:
        for row in self._rows:
            yield row.json_text()
