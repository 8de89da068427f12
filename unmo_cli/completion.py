"""Shell completion of customer slugs for SLUG arguments (Typer's `--install-completion`).

Completion runs on every Tab press, so it must be quick, silent and harmless: it reads the
workspace's database only when one already exists (never creating a database, a folder or a
schema, never migrating), gives up fast on a server that does not answer, and any failure means
"no suggestions" — never an error in the middle of someone's command line. Only stdlib at import
time, and the light workspace module: the command modules import this one at start-up.

It is also the one read that does not go through unmo_cli.db: a Tab press must answer within
0.2 s, and importing SQLAlchemy and the models alone costs more than that. So the slug column is
read with one query through the DB-API driver itself — the standard library's sqlite3, or
psycopg for PostgreSQL — asking exactly what services.customers.slugs_starting_with asks through
the ORM (a test holds the two equal).

A server database is also read ahead: psycopg's import alone (~0.1 s) and a connection to a
server across a network (several round trips) cost a Tab more than its budget, so the slugs of a
server database are kept in the user's cache folder (`$XDG_CACHE_HOME/unmo`, else
`~/.cache/unmo`: one owner-only file per database, named by a digest of where it is, never of
its password, holding the slugs as the database ordered them), and a Tab answers from that
file, the way gcloud completes resource names from its cache. The server is asked instead when
the file is missing or not to be trusted, over CACHE_MAX_AGE_S old, or older than a change to
the workspace's `customers/` (an onboarding here, a forget, a pull). A Tab that finds it over
REFRESH_AFTER_S old starts a refresh in a detached process (one at a time, REFRESH_TIMEOUT_S at
most) and answers at once, so a customer onboarded from another workspace is offered from the
next Tab on; when no refresh can be started (the cache folder cannot be written), it asks the
server. The file can lack a new slug until its refresh, or offer one whose onboarding was undone
or whose row a restored backup lost; `unmo customer show` then says the customer is unknown.
Without a home folder unmo can write to, every Tab asks the server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import stat
import time
from contextlib import suppress
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, unquote

try:
    import fcntl
except ImportError:  # not a POSIX system: no refresh in the background, so no cache
    fcntl = None  # type: ignore[assignment]

from unmo_cli.user_cache import cache_dir, make_cache_dir, owned
from unmo_cli.workspace import Workspace, load_workspace, set_workspace_override

MAX_SUGGESTIONS = 500
# A completion that waits longer than this for a database server is worse than none.
SERVER_TIMEOUT_S = 2
BUSY_TIMEOUT_S = 2
# SQLAlchemy's startswith(autoescape=True), which the ORM query uses: the same LIKE, the same
# escape character, so both paths match the same rows on either database.
_ESCAPE = "/"
_QUERY = ("SELECT slug FROM customers WHERE slug LIKE {mark} ESCAPE '/' "
          "ORDER BY slug LIMIT {mark}")
# Every slug, in the order the prefix query returns them (the database's collation): the first
# `limit` of the cached ones starting with a prefix are the prefix query's answer.
_ALL_QUERY = "SELECT slug FROM customers ORDER BY slug"

CACHE_FORMAT = 1
REFRESH_AFTER_S = 10
CACHE_MAX_AGE_S = 3600
# A refresh still running after this is killed (its alarm); on the server, its statement and
# its wait for a lock end sooner.
REFRESH_TIMEOUT_S = 30
REFRESH_STATEMENT_TIMEOUT_MS = 20_000
REFRESH_LOCK_TIMEOUT_MS = 5_000
# A customers/ folder changed this shortly before a read may change again within the same tick
# of a coarse file system clock (a second on some): its mtime then proves nothing (as git's
# "racy" index entries).
RACY_S = 2
STRAY_AFTER_S = 600  # a refresh's temporary file this old was left by a killed one
MAX_WORKSPACES_SEEN = 64  # workspaces whose customers/ one cache file notes
# A link planted where the cache or its mark goes is neither followed nor written through.
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
# What, besides the URL, names the database libpq connects to.
_LIBPQ_TARGET_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
                     "PGSERVICEFILE", "PGOPTIONS")
# user:password@ as SQLAlchemy's URL parser reads it (the password ends at the first @, so it
# may hold # ? /), and the query parameters that are secrets to libpq.
_URL_PASSWORD = re.compile(r"^([\w+]+://[^:/]*):[^@]*@")
_SECRET_PARAMETERS = {"password", "sslpassword"}


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
    if ws.database_url.startswith("sqlite:///"):
        return read_slugs(ws.database_url, prefix, limit=MAX_SUGGESTIONS)
    return _server_slugs(ws, prefix)


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


def _read_server(url: str, pattern: str | None, limit: int | None, *,
                 refresh: bool = False) -> list[str]:
    """The slugs LIKE `pattern`, at most `limit`; with pattern None, every slug. The statement
    and its wait for a lock are bounded on the server too (a table locked by a migration must
    not hang a Tab): SERVER_TIMEOUT_S for a Tab, longer for a refresh in the background."""
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
        statement_ms, lock_ms = ((REFRESH_STATEMENT_TIMEOUT_MS, REFRESH_LOCK_TIMEOUT_MS)
                                 if refresh else (SERVER_TIMEOUT_S * 1000,) * 2)
        # One round trip: without parameters, psycopg sends both in one simple query.
        connection.execute(f"SET statement_timeout = {statement_ms}; "
                           f"SET lock_timeout = {lock_ms}")
        if pattern is None:
            rows = connection.execute(_ALL_QUERY).fetchall()
        else:
            rows = connection.execute(_QUERY.format(mark="%s"), (pattern, limit)).fetchall()
    return [slug for (slug,) in rows]


# --- a server database's slugs, kept in the user's cache folder -----------------------------


class Cached(NamedTuple):
    slugs: list[str]  # every slug, in the database's order
    seen: dict[str, int | None]  # customers/ folder -> its mtime (ns) seen before the read
    written_ns: int  # the file's mtime: when the read began


def _server_slugs(ws: Workspace, prefix: str) -> list[str]:
    """The slugs starting with `prefix` (at most MAX_SUGGESTIONS, in the database's order): from
    the cache when it can answer for this workspace, else from the server. When the cache could
    not answer or is older than REFRESH_AFTER_S, a refresh is started — and when none can be
    (the cache folder cannot be written), an old cache is not trusted either."""
    url = ws.database_url
    identity = database_identity(url)
    path = cache_file(identity)
    cached = read_cache(path, identity) if path else None
    if cached is not None and not _answers_here(cached, ws.customers_dir):
        cached = None
    claimed: int | None = None
    if path and (cached is None or _age_ns(cached) > REFRESH_AFTER_S * 1_000_000_000):
        status, claimed = _claim_refresh(path)
        if status == _UNWRITABLE:
            cached = None
    try:
        if cached is None:
            slugs = read_slugs(url, prefix, limit=MAX_SUGGESTIONS)
        else:
            slugs = starting_with(cached.slugs, prefix, limit=MAX_SUGGESTIONS)
        if claimed is not None:
            _refresh_in_background(claimed, path, url, identity, ws.customers_dir)
    finally:
        if claimed is not None:
            os.close(claimed)  # the refresh keeps its own copy, and the lock with it
    return slugs


def starting_with(slugs: list[str], prefix: str, *, limit: int) -> list[str]:
    """The first `limit` of `slugs` (every slug, in the database's order) that start with
    `prefix`: what the prefix query answers (LIKE 'prefix%' is case-sensitive on PostgreSQL)."""
    return list(islice((slug for slug in slugs if slug.startswith(prefix)), limit))


def cache_file(identity: str) -> Path | None:
    """Where the slugs of the database named `identity` are kept; None without a home."""
    folder = cache_dir()
    return folder / f"slugs-{identity[:32]}.json" if folder else None


def _age_ns(cached: Cached) -> int:
    return time.time_ns() - cached.written_ns


def _customers_seen(customers_dir: Path) -> int | None:
    try:
        return os.stat(customers_dir).st_mtime_ns
    except OSError:
        return None


def _answers_here(cached: Cached, customers_dir: Path) -> bool:
    """The cache may answer a Tab in the workspace whose folders are in `customers_dir`: it is
    no older than CACHE_MAX_AGE_S (and not dated ahead of the clock), and was read after this
    workspace's `customers/` last changed (an onboarding here moves its folder in after its
    commit; so do a forget and a pull). The folder's mtime is compared with the one noted before
    the read, by equality: the folder's own clock."""
    if not 0 <= _age_ns(cached) <= CACHE_MAX_AGE_S * 1_000_000_000:
        return False
    key = str(customers_dir)
    return key in cached.seen and cached.seen[key] == _customers_seen(customers_dir)


def database_identity(url: str) -> str:
    """A digest naming the database `url` reaches — its password and other secrets left out,
    libpq's target environment variables put in — so a cache made for one database never
    answers for another and holds nothing secret."""
    base, _, query = _URL_PASSWORD.sub(r"\1@", url, count=1).partition("?")
    parameters = sorted(item for item in query.split("&") if item and unquote(
        item.partition("=")[0]).strip().lower() not in _SECRET_PARAMETERS)
    target = [base, *parameters,
              *(f"{name}={os.environ.get(name, '')}" for name in _LIBPQ_TARGET_ENV)]
    return hashlib.sha256("\n".join(target).encode("utf-8", "surrogatepass")).hexdigest()


def read_cache(path: Path, identity: str) -> Cached | None:
    """The cache at `path`, or None when it cannot be used: missing, not a regular file of this
    user's (a link is not followed), readable by others, another database's, or not whole."""
    try:
        fd = os.open(path, os.O_RDONLY | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with open(fd, encoding="utf-8") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode) or not owned(info, others=0o077):
                return None
            document = json.loads(file.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(document, dict) or document.get("format") != CACHE_FORMAT
            or document.get("database") != identity):
        return None
    slugs, seen = document.get("slugs"), document.get("seen")
    if (not isinstance(slugs, list) or not all(isinstance(slug, str) for slug in slugs)
            or not isinstance(seen, dict)
            or not all(value is None or type(value) is int for value in seen.values())):
        return None
    return Cached(slugs, seen, info.st_mtime_ns)


def refill_cache(path: Path, url: str, identity: str, customers_dir: Path) -> None:
    """Read every slug from the server into the cache at `path`, noting the mtime of the
    workspace's `customers/` first — unless it changed within RACY_S, when the next Tab there
    asks the server — and keeping the other workspaces' notes (each was taken before an
    earlier read, so before this one too): a new owner-only file, dated when the read began,
    renamed over the old one. A failed read leaves the old cache; a cache that cannot be
    written is removed, so that no Tab trusts it any longer. Raises on any failure."""
    seen = dict(previous.seen) if (previous := read_cache(path, identity)) else {}
    key = str(customers_dir)
    seen.pop(key, None)
    while len(seen) >= MAX_WORKSPACES_SEEN:
        seen.pop(next(iter(seen)))
    noted = _customers_seen(customers_dir)
    began_ns = time.time_ns()
    if noted is None or began_ns - noted >= RACY_S * 1_000_000_000:
        seen[key] = noted
    slugs = _read_server(url, None, None, refresh=True)
    make_cache_dir()  # made by the Tab that claimed this refresh, unless removed since
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600)
        with open(fd, "w", encoding="utf-8") as file:
            # ASCII: a folder's name that is not UTF-8 (a surrogate) is kept as its escape.
            json.dump({"format": CACHE_FORMAT, "database": identity, "seen": seen,
                       "slugs": slugs}, file, separators=(",", ":"))
            file.flush()
            os.utime(file.fileno(), ns=(began_ns, began_ns))
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        with suppress(OSError):
            os.unlink(path)
        raise
    # What a refresh killed while writing (its alarm, a reboot) left behind.
    for stray in path.parent.glob(f".{path.name}.*.tmp"):
        with suppress(OSError):
            if stray.lstat().st_mtime < time.time() - STRAY_AFTER_S:
                stray.unlink()


def _refresh_in_background(lock: int, path: Path, url: str, identity: str,
                           customers_dir: Path) -> None:
    """Run refill_cache in a detached process (its own session, no file of the Tab's open but
    the refresh mark `lock`, whose lock it holds until it ends, REFRESH_TIMEOUT_S at most). The
    Tab does not wait: the process lets go of the shell's pipe before it connects."""
    try:
        child = os.fork()
    except OSError:
        return
    if child:
        with suppress(OSError):
            os.waitpid(child, 0)  # it forks the refresher and exits at once
        return
    try:  # the child: never returns into the Tab's code
        os.setsid()
        if os.fork() == 0:
            lock = fcntl.fcntl(lock, fcntl.F_DUPFD, 3)  # not 0-2 (a Tab run with stdin closed)
            devnull = os.open(os.devnull, os.O_RDWR)
            for stream in (0, 1, 2):
                os.dup2(devnull, stream)
            os.closerange(3, lock)
            os.closerange(lock + 1, _open_max())
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # its caller may have ignored it
            signal.alarm(REFRESH_TIMEOUT_S)
            refill_cache(path, url, identity, customers_dir)
    except BaseException:  # noqa: BLE001, S110 - a failed refresh leaves the old cache
        pass
    finally:
        os._exit(0)


def _open_max() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 1024)
    except (AttributeError, ValueError, OSError):
        return 65536


_CLAIMED, _BUSY, _UNWRITABLE = "claimed", "busy", "unwritable"


def _claim_refresh(path: Path) -> tuple[str, int | None]:
    """(_CLAIMED, the refresh mark's descriptor, locked and dated now) when this Tab is to
    refresh the cache; (_BUSY, None) when a refresh is running or started less than
    REFRESH_AFTER_S ago (by the mark's mtime; one dated ahead of the clock is old); and
    (_UNWRITABLE, None) when the cache folder cannot be made or written, or is not this user's
    alone, or the system cannot lock or fork."""
    if fcntl is None or not hasattr(os, "fork"):
        return _UNWRITABLE, None
    folder = make_cache_dir()  # None unless this user's alone
    if folder != path.parent or not os.access(folder, os.W_OK | os.X_OK):
        return _UNWRITABLE, None
    mark = path.with_name(path.name + ".refresh")
    flags = os.O_RDWR | _NO_FOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    created = True
    try:
        fd = os.open(mark, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        created = False
        try:
            fd = os.open(mark, flags)
        except OSError:
            return _UNWRITABLE, None
    except OSError:
        return _UNWRITABLE, None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode) or not owned(os.fstat(fd)):
            os.close(fd)
            return _UNWRITABLE, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return _BUSY, None  # a refresh is running
        info = os.fstat(fd)  # dated by the refresh that held the lock last
        if not created and 0 <= time.time_ns() - info.st_mtime_ns < REFRESH_AFTER_S * 1_000_000_000:
            os.close(fd)
            return _BUSY, None  # one has just ended
        os.utime(fd)
        return _CLAIMED, fd
    except OSError:
        os.close(fd)
        return _UNWRITABLE, None
