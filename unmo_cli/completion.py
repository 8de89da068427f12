"""Shell completion of customer slugs for SLUG arguments (Typer's `--install-completion`).

Completion runs on every Tab press, so it must be quick, silent and harmless: it reads the
workspace's database only when one already exists (never creating a file, a folder or a schema,
never migrating), gives up fast on a server that does not answer, and any failure means "no
suggestions" — never an error in the middle of someone's command line. Only stdlib at import
time, and the light workspace module: the command modules import this one at start-up.

It is also the one read that does not go through unmo_cli.db: a Tab press must answer within
0.2 s, and importing SQLAlchemy and the models alone costs more than that. So the slug column is
read with one query through the driver itself — the standard library's sqlite3, or for
PostgreSQL libpq, the C library psycopg drives, called through ctypes (importing psycopg,
~0.4 G instructions, was nearly half of a Tab there; psycopg when no libpq loads) — asking
exactly what services.customers.slugs_starting_with asks through the ORM (a test holds the two
equal)."""

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
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        return []  # not a database unmo reads; the command itself will say so
    # SQLAlchemy's URL for psycopg is libpq's own URI form once the driver name is dropped:
    # the same percent-encoding, and query parameters that are libpq's keywords.
    options: dict[str, Any] = {"application_name": "unmo"}
    if "connect_timeout=" not in rest:
        options["connect_timeout"] = SERVER_TIMEOUT_S
    libpq = _libpq()
    if libpq is not None:
        return _read_through_libpq(libpq, "postgresql://" + rest, options, pattern, limit)
    import psycopg  # lazy: psycopg is the optional postgres extra, only for a server database

    with psycopg.connect("postgresql://" + rest, autocommit=True, **options) as connection:
        rows = connection.execute(_QUERY.format(mark="%s"), (pattern, limit)).fetchall()
    return [slug for (slug,) in rows]


_CONNECTION_OK = 0  # libpq's ConnStatusType and ExecStatusType values used here
_PGRES_TUPLES_OK = 2
# The query with libpq's numbered parameters.
_NUMBERED_QUERY = _QUERY.replace("{mark}", "$1", 1).replace("{mark}", "$2")


def _libpq() -> Any:
    """libpq through ctypes, its functions' C types declared; None when it cannot be loaded.
    The copy the psycopg-binary wheel carries (what psycopg itself uses then), found beside
    that package without importing it, else the system's."""
    import ctypes  # lazy: only a Tab on a server database
    from importlib.util import find_spec  # lazy: as ctypes

    spec = find_spec("psycopg_binary")
    places = [] if spec is None or spec.origin is None else [
        *Path(spec.origin).parent.with_name("psycopg_binary.libs").glob("libpq*.so*"),  # Linux
        *Path(spec.origin).parent.joinpath(".dylibs").glob("libpq*.dylib")]  # macOS
    for place in [*map(str, places), "libpq.so.5", "libpq.5.dylib"]:
        try:
            libpq = ctypes.CDLL(place)
        except OSError:
            continue
        pointer, text, number = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        texts = ctypes.POINTER(text)
        for name, result, arguments in (
                ("PQconnectdbParams", pointer, [texts, texts, number]),
                ("PQstatus", number, [pointer]),
                ("PQexecParams", pointer, [pointer, text, number, pointer, texts, pointer,
                                           pointer, number]),
                ("PQresultStatus", number, [pointer]),
                ("PQntuples", number, [pointer]),
                ("PQgetvalue", text, [pointer, number, number]),
                ("PQclear", None, [pointer]),
                ("PQfinish", None, [pointer])):
            function = getattr(libpq, name)
            function.restype, function.argtypes = result, arguments
        return libpq
    return None


def _read_through_libpq(libpq: Any, uri: str, options: dict[str, Any], pattern: str,
                        limit: int) -> list[str]:
    """The query on one connection made from `uri` (libpq expands it) and `options`, which
    override what it says, as psycopg.connect's keyword arguments do; text in and out as
    UTF-8 (the server converts from its own encoding). A connection or query that fails is
    a RuntimeError (the caller offers nothing)."""
    import ctypes  # lazy: only a Tab on a server database

    settings = {"dbname": uri, **{k: str(v) for k, v in options.items()},
                "client_encoding": "UTF8"}

    def strings(values: list[str]) -> Any:
        return (ctypes.c_char_p * (len(values) + 1))(*(v.encode() for v in values), None)

    connection = libpq.PQconnectdbParams(strings(list(settings)),
                                         strings(list(settings.values())), 1)
    try:
        if libpq.PQstatus(connection) != _CONNECTION_OK:
            raise RuntimeError("no connection")
        result = libpq.PQexecParams(connection, _NUMBERED_QUERY.encode(), 2, None,
                                    strings([pattern, str(limit)]), None, None, 0)
        try:
            if libpq.PQresultStatus(result) != _PGRES_TUPLES_OK:
                raise RuntimeError("the query failed")
            return [libpq.PQgetvalue(result, row, 0).decode()
                    for row in range(libpq.PQntuples(result))]
        finally:
            libpq.PQclear(result)
    finally:
        libpq.PQfinish(connection)
