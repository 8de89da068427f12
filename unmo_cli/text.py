"""The one rule for text unmo stores and shows again (customer names, comments, ids, churn
reasons, settings): what a person could have typed, and nothing that would drive the terminal of
whoever reads it back, reorder what they see, or that a database, YAML or e-mail cannot hold;
and how long each kind of free text may be."""

from __future__ import annotations

import re

# Control characters other than tab, line feed and carriage return: C0 (NUL cannot be held by
# PostgreSQL's text; ESC, BEL and friends would retitle a reader's terminal, rewrite its lines or
# set its clipboard), DEL and C1 (CSI, NEL). Lone surrogates: bytes that were not UTF-8 when a
# shell handed them over. Noncharacters (U+FFFE, U+FDD0 …): YAML and XML refuse them.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17))
# Bidirectional controls (embeddings, overrides, isolates and the invisible marks LRM, RLM and
# ALM): they reorder how the text around them is displayed, so "Acme\u202etxt.exe" shows as
# "Acmeexe.txt" (the Trojan Source trick); no name, comment or setting needs one.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ALWAYS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + _BIDI + _NONCHARACTERS
_LINE_BREAKS = "\n\r\u2028\u2029"
_MULTI_LINE = re.compile(f"[{_ALWAYS}]")
_ONE_LINE = re.compile(f"[{_ALWAYS}{_LINE_BREAKS}]")
_BIDI_RE = re.compile(f"[{_BIDI}]")

# The longest free text unmo stores, in characters (README, "Limits"): names of customers and
# contacts, survey ids, churn reasons, feedback comments.
MAX_NAME = 200
MAX_ID = 200
MAX_REASON = 1_000
MAX_COMMENT = 10_000
MAX_TASK_TITLE = 200  # a task's title (one line)


def text_problem(text: str, *, allow_newlines: bool = False) -> str | None:
    """Why `text` cannot be stored, as words that read after "contains" (e.g. "a control
    character (U+001B) at position 4"), or None when it can. Tabs are always fine; line breaks
    (LF, CR, U+2028, U+2029) only with `allow_newlines`. Positions count characters from 1."""
    found = (_MULTI_LINE if allow_newlines else _ONE_LINE).search(text)
    if found is None:
        return None
    char = found.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        what = "bytes that are not UTF-8"
    elif char in _LINE_BREAKS:
        what = f"a line break (U+{code:04X})"
    elif 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        what = f"a noncharacter (U+{code:04X})"
    elif _BIDI_RE.fullmatch(char):
        what = f"a bidirectional control (U+{code:04X})"
    else:
        what = f"a control character (U+{code:04X})"
    return f"{what} at position {found.start() + 1}"


def one_line(text: str) -> str:
    """`text` made storable and printable on one line: every run of characters text_problem
    refuses (control characters, line breaks, …) becomes a single space. For words unmo did not
    choose but must show or record, such as what a server answered."""
    return _ONE_LINE_RUNS.sub(" ", text)


_ONE_LINE_RUNS = re.compile(f"[{_ALWAYS}{_LINE_BREAKS}]+")


def length_problem(text: str, limit: int) -> str | None:
    """Words reading after the field's name ("is 50,000,000 characters long; at most 10,000 are
    accepted") when `text` is longer than `limit` characters, else None."""
    if len(text) <= limit:
        return None
    return f"is {len(text):,} characters long; at most {limit:,} are accepted"


def shown(value: object, limit: int = 60) -> str:
    """`repr(value)` for an error message, cut to about `limit` characters with the full length
    said, so that a 50 MB value makes a one-line sentence, not a 50 MB one."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 1]}… ({len(str(value)):,} characters)"


_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"^(?P<local>{_LOCAL})@(?P<domain>{_LABEL}(?:\.{_LABEL})+)$")


def plain_email(text: str) -> str | None:
    """`text` as an address `local@domain.tld` (no display name, the domain lowercased), or
    None when it is not one: the one rule for the addresses unmo stores (a contact, a success
    manager, a task's owner, `user.email`)."""
    match = _EMAIL_RE.match(text) if len(text) <= 254 else None
    if not match or len(match.group("local")) > 64:
        return None
    return f"{match.group('local')}@{match.group('domain').lower()}"


def address_hint(address: str) -> str:
    """An address as output shows it: its domain, not the person."""
    _local, _, domain = address.rpartition("@")
    return f"…@{domain}" if domain else "…"
