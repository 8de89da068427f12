"""Notes on a customer's timeline (`unmo customer note`): a call, a meeting, a decision, dated
when it happened; `unmo customer timeline` shows them among everything else."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from unmo_cli import clock
from unmo_cli.db.models import Note
from unmo_cli.errors import InputError
from unmo_cli.services.accounts import resolve_effective
from unmo_cli.services.customers import customer_session
from unmo_cli.text import MAX_COMMENT, length_problem, shown, text_problem
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from datetime import datetime

    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import Workspace

# Who writes the note: the person or job running unmo, as an environment variable until the
# workspace has a setting for it (the notes table keeps up to 254 characters, an e-mail's
# longest).
ACTOR_ENV = "UNMO_ACTOR"
MAX_AUTHOR = 254


def parse_note_text(text: str) -> str:
    """A note's text: free text of several lines if need be, without surrounding blank space;
    InputError when it is empty, holds what text_problem refuses, or is too long."""
    cleaned = text.strip()
    if not cleaned:
        raise InputError("the note is empty; give its TEXT (e.g. \"Call with Ann: renewal in "
                         "March\").")
    problem = text_problem(cleaned, allow_newlines=True)
    if problem:
        raise InputError(f"the note contains {problem}; give plain text.")
    too_long = length_problem(cleaned, MAX_COMMENT)
    if too_long:
        raise InputError(f"the note {too_long}.")
    return cleaned


def note_author() -> str | None:
    """UNMO_ACTOR, the person or job running unmo (None when unset or blank)."""
    actor = os.environ.get(ACTOR_ENV, "").strip()
    if not actor:
        return None
    problem = text_problem(actor)
    if problem:
        raise InputError(f"{ACTOR_ENV} {shown(actor)} contains {problem}; set it to a name or "
                         "an e-mail address.")
    too_long = length_problem(actor, MAX_AUTHOR)
    if too_long:
        raise InputError(f"{ACTOR_ENV} {too_long}; set it to a name or an e-mail address.")
    return actor


def note_time(text: str | None, customer: Customer, timezone: str) -> datetime:
    """When the note's event happened (naive UTC): now by default; a date is its midnight in
    the workspace's time zone (the onboarding day: the moment of onboarding). Not before the
    customer existed, not in the future (exit 2)."""
    if text is not None:
        instant = clock.parse_day_or_instant(text, timezone, what="--at")
        if instant > clock.now():
            raise InputError(f"--at {text.strip()} is in the future; a note records what has "
                             "happened.")
    return resolve_effective(text, customer, timezone, what="--at")


def add_note(ws: Workspace | None, slug: str, text: str, *, at: str | None = None
             ) -> dict[str, Any]:
    """`unmo customer note`: record a note dated `at` (now by default; not before the customer
    existed, not in the future). JSON: {"customer", "at", "text", "author", "recorded_at"}."""
    cleaned = parse_note_text(text)
    ws = ws if ws is not None else load_workspace()
    author = note_author() or ws.settings.user.email
    with customer_session(ws, slug) as (session, customer):
        when = note_time(at, customer, ws.settings.timezone)
        recorded = clock.to_db(clock.now())
        session.add(Note(customer_id=customer.id, at=when, text=cleaned, author=author,
                         recorded_at=recorded))
        session.flush()
        return {"customer": customer.slug, "at": clock.iso(when), "text": cleaned,
                "author": author, "recorded_at": clock.iso(recorded)}
