"""Who runs unmo and with which command line, for the audit trail (unmo_cli/audit.py): set once
by the command boundary (cli.py), which must stay light, so nothing here imports SQLAlchemy."""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from unmo_cli import apikeys
from unmo_cli.errors import InputError

REDACTED = "‹redacted›"
MAX_ACTOR = 254  # characters of audit_events.actor (a VARCHAR on PostgreSQL)
# Command-line parameters (by their Python names) whose values are personal or free text.
PERSONAL_PARAMETERS = {"contact_name", "contact_email", "comment", "text", "note", "reason",
                       "title", "key"}


@dataclass
class Origin:
    """Who writes and with which command: set once by the command boundary."""

    command: str
    actor: str = field(default_factory=lambda: default_actor())


_origin: ContextVar[Origin | None] = ContextVar("unmo_audit_origin", default=None)


def default_actor() -> str:
    """`UNMO_ACTOR`, else the operating system's `user@host`; InputError (exit 2, before the
    command does anything) for an UNMO_ACTOR the trail could not store."""
    named = as_utf8(os.environ.get("UNMO_ACTOR", "").strip())
    if len(named) > MAX_ACTOR:
        raise InputError(f"UNMO_ACTOR is {len(named):,} characters long; the audit trail keeps "
                         f"at most {MAX_ACTOR}: give a shorter name.")
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return as_utf8(f"{user}@{socket.gethostname()}")[:MAX_ACTOR]


def as_utf8(text: str) -> str:
    """`text` as UTF-8 can carry it. Python hands over bytes of the command line or the
    environment that are not UTF-8 (a file name in Latin-1) as lone surrogates, which no
    database and no hash can take: they become visible escapes (`\\udce9`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def set_origin(command: str) -> None:
    _origin.set(Origin(command=command))


def origin() -> Origin:
    found = _origin.get()
    return found if found is not None else Origin(command="unmo")


# A key, or a fragment long enough to matter; not a hint (`unmo_sk_live_…a9F2`), which would
# otherwise be hinted again into `unmo_sk_live_……a9F2`.
_KEY_LIKE = re.compile(r"unmo_(?:pk|sk)_[0-9A-Za-z_]*[0-9A-Za-z]{5,}")
_URL_PASSWORD = re.compile(r"(?<=://)([^/:@\s]+):[^/@\s]+@")


def redact_keys(text: str) -> str:
    """Anything shaped like an unmo key becomes its hint; a URL's password becomes ***."""
    if "unmo_" in text:
        text = _KEY_LIKE.sub(lambda m: apikeys.hint(m.group(0)), text)
    return _URL_PASSWORD.sub(r"\1:***@", text) if "@" in text else text


def _shown_value(name: str, value: Any) -> str:
    if name in PERSONAL_PARAMETERS:
        return REDACTED
    return redact_keys(as_utf8(str(value)))


def command_line(path: str, parameters: Iterable[tuple[str, str | None, Any]]) -> str:
    """The command as typed, rebuilt from what was parsed — (name, option or None for an
    argument, value) — with personal and secret values REDACTED and keys as their hints."""
    parts = [as_utf8(path)]
    for name, option, value in parameters:
        if value is None or value is False or value == () or value == []:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for one in values:
            if option is None:
                parts.append(_shown_value(name, one))
            elif one is True:
                parts.append(option)
            else:
                parts.append(f"{option} {_shown_value(name, one)}")
    return " ".join(parts)


