"""Finding one customer by slug or name, and opening a workspace's database only when it exists,
without the model classes of db/models.py: the read paths that avoid building them (`task
list`, `customer timeline`) look customers up here, through db/tables.py's Core clauses;
services/customers.py re-exports these for everything else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from unmo_cli.db import database_exists, open_database
from unmo_cli.db.tables import customers
from unmo_cli.errors import NotFound
from unmo_cli.names import name_key
from unmo_cli.text import text_problem
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row
    from sqlmodel import Session

    from unmo_cli.workspace import Workspace


def lookup_text(slug_or_name: str) -> str:
    """What a slug or name is looked up as (NotFound for text no customer is named with)."""
    text = slug_or_name.strip()
    if text_problem(text):
        # Not text any customer is named with (a control character, bytes that were not UTF-8,
        # a line break), nor always text a database can be asked about: no match.
        raise unknown_customer(slug_or_name)
    return text


def unknown_customer(*slugs_or_names: str) -> NotFound:
    """The one sentence for customers that are not in the workspace (every one at once)."""
    named = ", ".join(repr(s) for s in slugs_or_names)
    noun = "customer" if len(slugs_or_names) == 1 else "customers"
    return NotFound(f"unknown {noun} {named}; run unmo customer list to see the slugs.")


def open_existing(ws: Workspace | None) -> tuple[Workspace, Any]:
    """The workspace and its database, or None for the database when there is none yet: reading
    commands must not create one."""

    ws = ws or load_workspace()
    if not database_exists(ws):
        return ws, None
    return ws, open_database(ws)


def find_customer(session: Session | Connection, slug_or_name: str, what: Any = customers) -> Any:
    """The customer whose slug is `slug_or_name`, or whose name folds to the same key (so the
    exact name, in any case, works too); NotFound otherwise. `what` is what is read: the Core
    clause (a plain row, its columns by name) or a model class (its object, through an ORM
    session) — services.customers.get_customer passes Customer."""
    text = lookup_text(slug_or_name)
    columns = customers.c if what is customers else what.__table__.c
    key = name_key(text) if text else ""
    for condition in (columns.slug == text, columns.name_key == key if key else None):
        if condition is None:
            continue
        found = session.execute(select(what).where(condition)).first()
        if found is not None:
            return found if what is customers else found[0]
    raise unknown_customer(slug_or_name)


def customer_row(session: Session | Connection, slug_or_name: str) -> Row[Any]:
    """find_customer's customers row as a plain row (no model classes are built)."""
    return find_customer(session, slug_or_name)


@contextmanager
def customer_row_session(ws: Workspace | None, slug_or_name: str
                         ) -> Iterator[tuple[Connection, Row[Any]]]:
    """As services.customers.customer_session, for reading: a Core connection (no model classes
    are built) and the customer's row
    (customer_row), every statement on it reading one state of the database (a snapshot). A
    workspace without a database has no customers: NotFound, and no database is created."""
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug_or_name)
    try:
        with db.connection(snapshot=True) as connection:
            yield connection, customer_row(connection, slug_or_name)
    finally:
        db.dispose()
