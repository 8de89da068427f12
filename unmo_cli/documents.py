"""Reading what a user hands unmo as JSON, YAML or a number in text, so that no shape of input
(nested too deep, a number of 5,000 digits, NaN, a date past the year 9999 in UTC) surfaces as
anything but a sentence: DocumentError for a document, None or a marker for a value, and the
field checks that follow say what is wrong with it.

Numbers in documents are read exactly: floats as Decimal (so `2500.0000000000000001` is not
rounded to 2500 before the cents check sees it), integers of at most MAX_DIGITS digits (beyond
that a TooManyDigits marker, which no field check accepts), and the non-finite ones (JSON's NaN
and Infinity, YAML's .nan and .inf) as a NotFinite marker."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

# Far beyond every number unmo stores (events per day, scores, ids fit in 19 digits), and far
# below Python's int/str conversion limit (4,300 digits), which raises ValueError.
MAX_DIGITS = 30

_WHOLE = re.compile(r"[+-]?\d+")


class DocumentError(ValueError):
    """A document that cannot be read at all; `str()` reads after the file's name and line."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


class TooManyDigits:
    """Stands for an integer literal of more than MAX_DIGITS digits: no field accepts it, and
    its repr is what an error message shows instead of the digits."""

    def __init__(self, text: str):
        self.digits = len(text.lstrip("+-"))

    def __repr__(self) -> str:
        return f"a number of {self.digits:,} digits"

    __str__ = __repr__


class NotFinite:
    """Stands for NaN or an infinity in a document: no field accepts it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"the non-finite number {self.text}"

    __str__ = __repr__


def whole_number(text: str) -> int | None:
    """`text` (spaces around it allowed) as an int when it is a whole number of at most
    MAX_DIGITS digits with an optional sign; None otherwise, never an exception."""
    stripped = text.strip()
    if len(stripped) > MAX_DIGITS + 1 or not _WHOLE.fullmatch(stripped):
        return None
    return int(stripped)


def too_long_for_int(text: str) -> bool:
    """Whether `text`'s digits are too many to turn into an int safely (see MAX_DIGITS)."""
    return len(text.strip().lstrip("+-")) > MAX_DIGITS


def _json_int(text: str) -> int | TooManyDigits:
    return TooManyDigits(text) if too_long_for_int(text) else int(text)


def _json_float(text: str) -> Decimal | NotFinite | TooManyDigits:
    if len(text) > 1000:  # a literal no one types: do not let Decimal chew on it
        return TooManyDigits(text)
    value = Decimal(text)
    return value if value.is_finite() else NotFinite(text)


def _json_constant(text: str) -> NotFinite:
    return NotFinite(text)


def json_decoder() -> json.JSONDecoder:
    """A JSONDecoder that reads numbers exactly (see the module docstring); its `decode` and
    `raw_decode` raise RecursionError for documents nested too deeply (see NESTED_TOO_DEEPLY)."""
    return json.JSONDecoder(parse_int=_json_int, parse_float=_json_float,
                            parse_constant=_json_constant)


_DECODER = json_decoder()


def load_json(text: str) -> Any:
    """The JSON document `text`; json.JSONDecodeError for bad syntax, DocumentError when it is
    nested too deeply for the parser (Python's recursion limit: about 1,000 levels)."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        raise DocumentError(NESTED_TOO_DEEPLY) from None


NESTED_TOO_DEEPLY = ("nested too deeply (brackets inside brackets, hundreds of levels); a record "
                     "is a flat object of fields")


# --- YAML ---------------------------------------------------------------------------------------


def _yaml_loader() -> type:
    """A safe loader (libyaml's when present) whose integers, floats and depth follow the rules
    of the module docstring."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class ExactLoader(base):  # type: ignore[misc, valid-type]
        pass

    def construct_int(loader: Any, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        if too_long_for_int(text):
            return TooManyDigits(text)
        return yaml.SafeLoader.construct_yaml_int(loader, node)

    def construct_float(loader: Any, node: Any) -> Any:
        text = str(node.value).replace("_", "")
        if len(text) > 1000:
            return TooManyDigits(text)
        try:
            value = Decimal(text)
        except InvalidOperation:  # .inf, .nan, base 60 (1:30.5): YAML's own reading
            number = yaml.SafeLoader.construct_yaml_float(loader, node)
            return number if number == number and abs(number) != float("inf") \
                else NotFinite(str(node.value))
        return value if value.is_finite() else NotFinite(str(node.value))

    ExactLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
    ExactLoader.add_constructor("tag:yaml.org,2002:float", construct_float)
    return ExactLoader


_loader: type | None = None


def load_yaml(text: str) -> Any:
    """The YAML document `text` read safely; yaml.YAMLError for bad syntax (libyaml refuses
    nesting past 1,000 levels itself), DocumentError when the pure-Python parser, used without
    libyaml, meets the recursion limit."""
    import yaml  # lazy: PyYAML only when there is a YAML file to read

    global _loader
    if _loader is None:
        _loader = _yaml_loader()
    try:
        return yaml.load(text, Loader=_loader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise DocumentError(NESTED_TOO_DEEPLY) from None


def is_finite_number(value: Any) -> bool:
    """An int, a finite float or a finite Decimal (bool is not a number here)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, Decimal):
        return value.is_finite()
    return False
