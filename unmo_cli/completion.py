"""Shell completion of customer slugs for SLUG arguments (Typer's `--install-completion`).

Completion runs on every Tab press, so it must be quick, silent and harmless: it reads the
workspace's database only when one already exists (never creating a file, a folder or a schema,
never migrating), gives up fast on a server that does not answer, and any failure means "no
suggestions" — never an error in the middle of someone's command line. Only stdlib at import
time, and the light workspace module: the command modules import this one at start-up.

It is also the one read that does not go through unmo_cli.db: a Tab press must answer within
0.2 s, and importing SQLAlchemy and the models alone costs more than that. So the slug column is
read with one query through the DB-API driver itself — the standard library's sqlite3, or
psycopg for PostgreSQL (its import, ~50-90 ms, makes a Tab there slower) — asking exactly what
services.customers.slugs_starting_with asks through the ORM (a test holds the two equal)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from unmo_cli.workspace import load_workspace, set_workspace_override

MAX_SUGGESTIONS = 500
# A completion that waits longer than this for a database server is worse than none.
SERVER_TIMEOUT_S = 2
BUSY_TIMEOUT_S = 2
# SQLAlchemy's startswith(autoescape=True), which the ORM query uses: the same LIKE, the same
# escape character, so both paths match the same rows on either database.
_ESCAPE = "/"
_QUERY = ("SELECT slug FROM customers WHERE slug LIKE {mark} ESCAPE '/' "
          "ORDER BY slug LIMIT {mark}")


def complete_customer_slug(incomplete: str, ctx: Any = None) -> list[str]:
    """The slugs of the workspace's customers that start with `incomplete`, in order; [] when
    there is no workspace database or anything goes wrong."""
    try:
        return _slugs_starting_with(incomplete or "", _explicit_workspace(ctx))
    except Exception:  # noqa: BLE001 - completion must never fail the shell
        return []


def _explicit_workspace(ctx: Any) -> Path | None:
    """`unmo --workspace PATH … <Tab>`: the global option, as parsed for the completion."""
    root = ctx.find_root() if ctx is not None else None
    value = root.params.get("workspace") if root is not None else None
    return Path(value) if value else None


def _slugs_starting_with(prefix: str, workspace: Path | None) -> list[str]:
    if workspace is not None:
        set_workspace_override(workspace)
    try:
        ws = load_workspace()
    finally:
        if workspace is not None:
            set_workspace_override(None)
    return read_slugs(ws.database_url, prefix, limit=MAX_SUGGESTIONS)


def read_slugs(url: str, prefix: str, *, limit: int) -> list[str]:
    """The first `limit` slugs starting with `prefix`, in order, from the database at `url` (a
    workspace's database_url); [] when there is no SQLite file. Writes nothing, creates nothing."""
    pattern = "".join(_ESCAPE + c if c in "%_/" else c for c in prefix) + "%"
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            return []
        connection = sqlite3.connect(_read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            connection.execute("PRAGMA query_only=ON")
            rows = connection.execute(_QUERY.format(mark="?"), (pattern, limit)).fetchall()
        finally:
            connection.close()
        return [slug for (slug,) in rows]
    return _read_server(url, pattern, limit)


def _read_only_uri(path: Path) -> str:
    """mode=ro; and immutable=1 when the folder cannot take the -shm file a WAL database wants
    beside it and no writer left a -wal with content (as unmo_cli.db opens such a file)."""
    query = "mode=ro"
    wal = path.with_name(path.name + "-wal")
    if not os.access(path.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size):
        query += "&immutable=1"
    return f"file:{quote(path.as_posix())}?{query}"


def _read_server(url: str, pattern: str, limit: int) -> list[str]:
    import psycopg  # lazy: psycopg is the optional postgres extra, only for a server database

    scheme, _, rest = url.partition("://")
    if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        return []  # not a database unmo reads; the command itself will say so
    # SQLAlchemy's URL for psycopg is libpq's own URI form once the driver name is dropped:
    # the same percent-encoding, and query parameters that are libpq's keywords.
    options: dict[str, Any] = {"application_name": "unmo"}
    if "connect_timeout=" not in rest:
        options["connect_timeout"] = SERVER_TIMEOUT_S
    with psycopg.connect("postgresql://" + rest, autocommit=True, **options) as connection:
        rows = connection.execute(_QUERY.format(mark="%s"), (pattern, limit)).fetchall()
    return [slug for (slug,) in rows]
