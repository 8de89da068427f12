"""A Tab on a server database answers from the slug cache in the user's cache folder
(unmo_cli/completion.py): filled and refreshed by a detached process the Tab does not wait for,
never trusted when it is not this user's plain file for this database, read by the server again
once the workspace's customers/ changed — through the real entry point, a real bash, a real
PostgreSQL and hostile servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support_onboarding import onboard

from unmo_cli import completion
from unmo_cli.completion import (
    cache_file,
    database_identity,
    read_cache,
    read_slugs,
    refill_cache,
    starting_with,
)

# Run in a fresh interpreter: the completion protocol's variables, the real entry point, what it
# printed, and whether psycopg was imported (a Tab the cache answers must not need it).
_PROBE = """
import contextlib, io, json, sys
from unmo_cli.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        main()
    except SystemExit:
        pass
print(json.dumps({"offered": out.getvalue().split(), "stderr": err.getvalue(),
                  "psycopg": "psycopg" in sys.modules}))
"""


def _tab_env(words: str, **extra: str) -> dict[str, str]:
    """The environment of Typer's bash script for a Tab after `unmo WORDS` (the last word the
    one completed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_UNMO", "COMP_"))}
    env.update(_UNMO_COMPLETE="complete_bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1",
               COMP_WORDS=f"unmo {words}", COMP_CWORD=str(len(words.split(" "))), **extra)
    return env


def _tab(words: str, **extra: str) -> dict:
    """One Tab press after `unmo WORDS`."""
    ran = subprocess.run([sys.executable, "-c", _PROBE], env=_tab_env(words, **extra),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def _write_cache(url: str, slugs: list[str], customers_dir: Path, *, age_s: float = 0,
                 **changes: object) -> Path:
    """A cache as a refresh writes it, for the database at `url`, `age_s` old."""
    identity = database_identity(url)
    path = cache_file(identity)
    assert path is not None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        seen = os.stat(customers_dir).st_mtime_ns
    except FileNotFoundError:
        seen = None
    document = {"format": completion.CACHE_FORMAT, "database": identity,
                "seen": {str(customers_dir): seen}, "slugs": slugs, **changes}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as file:
        json.dump(document, file)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers (a database server
    that hangs); counts the connections it was offered."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _refused_url() -> str:
    """A PostgreSQL URL on a port nobody listens on: a read from the server fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql+psycopg://unmo@127.0.0.1:{port}/unmo"


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def _wait_for(check, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- without a database server ------------------------------------------------------------


def test_the_identity_names_the_database_never_its_password(monkeypatch: pytest.MonkeyPatch):
    base = "postgresql+psycopg://ops:s3cret@db.example:5432/unmo?sslmode=require"
    identity = database_identity(base)
    assert database_identity(base.replace("s3cret", "other")) == identity
    assert database_identity(base + "&password=x") == identity
    assert "s3cret" not in identity
    for other in (base.replace("db.example", "db2.example"), base.replace("5432", "5433"),
                  base.replace("/unmo?", "/unmo2?"), base.replace("ops:", "ro:"),
                  base.replace("require", "disable")):
        assert database_identity(other) != identity, other
    for secret in ("&sslpassword=x", "&pass%77ord=x", "&PASSWORD=x"):
        assert database_identity(base + secret) == identity, secret
    monkeypatch.setenv("PGHOST", "elsewhere.example")
    assert database_identity(base) != identity


@pytest.mark.parametrize("password", ["hunter#2", "a?b=c", "x/y", "p:w#rd", "%40t"])
def test_a_password_of_any_characters_is_left_out(password: str):
    """SQLAlchemy ends the password at the first @ after it (a # or ? inside it does not end
    the URL): two databases behind the same such password stay two."""
    prod = f"postgresql+psycopg://ops:{password}@prod.example:5432/unmo"
    staging = f"postgresql+psycopg://ops:{password}@staging.example:5432/unmo_staging"
    assert database_identity(prod) != database_identity(staging)
    assert database_identity(prod) == database_identity(
        "postgresql+psycopg://ops:other@prod.example:5432/unmo")


def test_a_fresh_cache_answers_without_the_server_or_psycopg(workspace: Path, cache_home: Path):
    url = _refused_url()
    assert _tab("customer show ac", UNMO_DATABASE_URL=url)["offered"] == []  # the server: no
    _write_cache(url, ["zeta", "acme-games", "acme-apps", "beta"], workspace / "customers")
    seen = _tab("customer show ac", UNMO_DATABASE_URL=url)
    assert seen == {"offered": ["acme-games", "acme-apps"], "stderr": "", "psycopg": False}
    assert _tab("keys list ", UNMO_DATABASE_URL=url)["offered"] == ["zeta", "acme-games",
                                                                     "acme-apps", "beta"]


def _hostile(path: Path, workspace: Path, url: str, kind: str) -> None:
    slugs = ["acme-games"]
    if kind == "link":
        real = _write_cache(url, slugs, workspace / "customers")
        elsewhere = real.with_name("elsewhere.json")
        real.rename(elsewhere)
        path.symlink_to(elsewhere)
    elif kind == "readable by others":
        _write_cache(url, slugs, workspace / "customers").chmod(0o644)
    elif kind == "another database":
        _write_cache(url, slugs, workspace / "customers", database="0" * 64)
    elif kind == "cut short":
        real = _write_cache(url, slugs, workspace / "customers")
        real.write_bytes(real.read_bytes()[:-7])
    elif kind == "not slugs":
        _write_cache(url, [["acme-games"]], workspace / "customers")
    elif kind == "another format":
        _write_cache(url, slugs, workspace / "customers", format=99)
    elif kind == "customers changed since":
        _write_cache(url, slugs, workspace / "customers")
        (workspace / "customers").mkdir()
    elif kind == "another workspace's":
        _write_cache(url, slugs, workspace.parent / "other" / "customers")
    elif kind == "too old":
        _write_cache(url, slugs, workspace / "customers",
                     age_s=completion.CACHE_MAX_AGE_S + 60)
    elif kind == "dated ahead":  # a clock set back: no age at all
        _write_cache(url, slugs, workspace / "customers", age_s=-86400)
    elif kind == "old, in another user's folder":  # so it cannot be refreshed
        _write_cache(url, slugs, workspace / "customers", age_s=completion.REFRESH_AFTER_S + 5)
        try:
            os.chown(path.parent, 65534, 65534)
        except PermissionError:
            pytest.skip("giving a folder to another user needs root")
    elif kind == "a fifo":
        path.parent.mkdir(mode=0o700, parents=True)
        os.mkfifo(path, 0o600)
    elif kind == "a folder":
        path.mkdir(mode=0o700, parents=True)
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", [
    "link", "readable by others", "another database", "cut short", "not slugs", "another format",
    "customers changed since", "another workspace's", "too old", "dated ahead",
    "old, in another user's folder", "a fifo", "a folder"])
def test_a_cache_that_cannot_be_trusted_is_not_read(workspace: Path, cache_home: Path,
                                                    kind: str):
    """The server (refused here) is asked instead, so nothing is offered; and quietly."""
    url = _refused_url()
    path = cache_file(database_identity(url))
    assert path is not None
    _hostile(path, workspace, url, kind)
    began = time.monotonic()
    seen = _tab("customer show ac", UNMO_DATABASE_URL=url)
    assert seen == {"offered": [], "stderr": "", "psycopg": True}
    assert time.monotonic() - began < 30  # a fifo is not waited on


def _refresh_running(path: Path) -> bool:
    """Whether a refresh holds the lock on the cache's refresh mark."""
    import fcntl

    with open(path.with_name(path.name + ".refresh"), "rb") as mark:
        try:
            fcntl.flock(mark, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the refresh is a forked process")
def test_a_tab_does_not_wait_for_its_refresh(workspace: Path, cache_home: Path,
                                             silent_server: SilentServer, tmp_path: Path):
    """A cache older than REFRESH_AFTER_S answers at once, in a real bash's command
    substitution, from a bash holding another descriptor on the caller's pipe (the caller waits
    for every process that holds it), with stdin closed (the refresh mark then opens as fd 0);
    the refresh it starts hangs on the server, is the only one while it runs, gives up, and
    leaves the cache as it was."""
    url = f"postgresql+psycopg://unmo@127.0.0.1:{silent_server.port}/unmo?connect_timeout=4"
    path = _write_cache(url, ["acme-games", "beta"], workspace / "customers",
                        age_s=completion.REFRESH_AFTER_S + 5)
    before = path.read_bytes(), path.stat().st_mtime_ns
    env = _tab_env("customer show a", UNMO_DATABASE_URL=url, UNMO_PYTHON=sys.executable)
    began = time.monotonic()
    ran = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                          'exec 3>&1; offered=$("$UNMO_PYTHON" -m unmo_cli 0<&-); '
                          'echo "$offered"'],
                         env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - began
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    assert ran.stdout.split() == ["acme-games"]
    assert took < 3.5, f"the Tab waited {took:.1f} s (the refresh hangs for 4 s)"
    _wait_for(lambda: silent_server.accepted)  # the refresh did start, and hangs there
    assert _refresh_running(path)
    # While it runs, a Tab starts no second one, even with its mark dated long ago.
    old = time.time() - 3600
    os.utime(path.with_name(path.name + ".refresh"), (old, old))
    assert _tab("customer show a", UNMO_DATABASE_URL=url)["offered"] == ["acme-games"]
    _wait_for(lambda: not _refresh_running(path))  # it gave up (connect_timeout)
    assert len(silent_server.accepted) == 1
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name,
                                                                    path.name + ".refresh"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the refresh is a forked process")
def test_a_link_at_the_refresh_mark_is_not_written_through(workspace: Path, cache_home: Path,
                                                          tmp_path: Path):
    """Nor is the cache it marks trusted once old: the server is asked (refused here)."""
    url = _refused_url()
    path = _write_cache(url, ["acme-games"], workspace / "customers",
                        age_s=completion.REFRESH_AFTER_S + 5)
    target = tmp_path / "target"
    target.write_text("keep\n")
    stamp = time.time() - 3600
    os.utime(target, (stamp, stamp))
    path.with_name(path.name + ".refresh").symlink_to(target)
    assert _tab("customer show a", UNMO_DATABASE_URL=url)["offered"] == []
    time.sleep(1)
    assert target.read_text() == "keep\n" and target.stat().st_mtime == pytest.approx(stamp)


# --- on a real PostgreSQL -------------------------------------------------------------------


def _three(unmo) -> None:
    """Three customers, onboarded a while ago (customers/ changed 10 s back: a refresh right
    after a change does not note the folder, see RACY_S)."""
    for name in ("TechStart Mobile", "Acme Games", "EcomGrowth Labs"):
        onboard(unmo, name)
    while_ago = time.time() - 10
    os.utime(Path(os.environ["UNMO_WORKSPACE"]) / "customers", (while_ago, while_ago))


def _insert_behind_unmo(slug: str) -> None:
    """A customer another workspace onboarded: a row, and no folder here."""
    from test_completion_quick import _insert

    _insert([slug])


@pytest.mark.postgres
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the refresh is a forked process")
def test_a_tab_fills_the_cache_which_then_answers_and_refreshes(workspace: Path, unmo,
                                                                cache_home: Path):
    _three(unmo)
    url = os.environ["UNMO_DATABASE_URL"]
    first = _tab("customer show ")
    assert first["offered"] == ["acme-games", "ecomgrowth-labs", "techstart-mobile"]
    assert first["psycopg"]  # no cache yet: the server answered
    path = cache_file(database_identity(url))
    assert path is not None
    _wait_for(path.exists)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    password = url.partition("://")[2].partition("@")[0].partition(":")[2]
    assert not password or password not in path.read_text()
    cached = read_cache(path, database_identity(url))
    assert cached is not None and cached.slugs == first["offered"]

    _insert_behind_unmo("acme-zebra")
    fresh = _tab("customer show acme")
    assert fresh == {"offered": ["acme-games"], "stderr": "", "psycopg": False}  # the cache

    old = time.time() - completion.REFRESH_AFTER_S - 5
    for stale in (path, path.with_name(path.name + ".refresh")):
        os.utime(stale, (old, old))
    assert _tab("customer show acme")["offered"] == ["acme-games"]  # and a refresh started
    _wait_for(lambda: _tab("customer show acme")["offered"] == ["acme-games", "acme-zebra"])


@pytest.mark.postgres
def test_a_locked_table_does_not_hang_a_tab(workspace: Path, unmo, cache_home: Path):
    """A migration holding the customers table: the Tab gives up within the server timeout
    and offers nothing, quietly (the statement's lock wait is bounded on the server)."""
    import psycopg

    _three(unmo)
    url = os.environ["UNMO_DATABASE_URL"]
    with psycopg.connect("postgresql://" + url.partition("://")[2]) as holder:
        holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        seen = _tab("customer show acme")
        took = time.monotonic() - began
        holder.rollback()
    assert seen["offered"] == [] and seen["stderr"] == ""
    assert took < completion.SERVER_TIMEOUT_S + 8, f"the Tab waited {took:.1f} s"


@pytest.mark.postgres
def test_an_onboarding_here_is_offered_at_the_next_tab(workspace: Path, unmo, cache_home: Path):
    _three(unmo)
    url = os.environ["UNMO_DATABASE_URL"]
    path = cache_file(database_identity(url))
    assert path is not None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    killed, writing = (path.with_name(f".{path.name}.{pid}.tmp") for pid in (99998, 99999))
    for stray in (killed, writing):
        stray.write_text("{")
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    refill_cache(path, url, database_identity(url), workspace / "customers")
    assert not killed.exists() and writing.exists()  # a refresh killed an hour ago: cleared
    assert _tab("customer show ")["psycopg"] is False  # the cache answers
    onboard(unmo, "Acme Apps")
    seen = _tab("customer show acme")
    assert seen["offered"] == ["acme-apps", "acme-games"] and seen["psycopg"]


@pytest.mark.postgres
def test_a_change_within_a_clock_tick_of_the_read_is_not_trusted(
        workspace: Path, unmo, cache_home: Path, monkeypatch: pytest.MonkeyPatch):
    """On a file system whose clock ticks in seconds, an onboarding committed just after the
    refresh's read can leave customers/ with the mtime noted before it: a folder changed within
    RACY_S of the read is not noted, so the Tab asks the server."""
    _three(unmo)
    url = os.environ["UNMO_DATABASE_URL"]
    identity = database_identity(url)
    path = cache_file(identity)
    assert path is not None
    customers = workspace / "customers"
    os.utime(customers)  # changed just now
    noted = customers.stat().st_mtime_ns
    real_read = completion._read_server

    def read_then_onboard(*args, **kwargs):
        slugs = real_read(*args, **kwargs)
        onboard(unmo, "Acme Apps")  # committed after the read
        os.utime(customers, ns=(noted, noted))  # and within the same tick of a coarse clock
        return slugs

    monkeypatch.setattr(completion, "_read_server", read_then_onboard)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    refill_cache(path, url, identity, customers)
    cached = read_cache(path, identity)
    assert cached is not None and "acme-apps" not in cached.slugs
    assert _tab("customer show acme")["offered"] == ["acme-apps", "acme-games"]


@pytest.fixture
def odd_slugs(workspace: Path) -> list[str]:
    """The odd slugs, in a column whose collation orders them unlike Python (ICU's root
    locale: `acme acmé acme_games acme-games Acme-Games …`), when the server has ICU."""
    from sqlalchemy import text
    from test_completion_quick import ODD_SLUGS, _insert

    from unmo_cli.db import open_database
    from unmo_cli.workspace import load_workspace

    slugs = ODD_SLUGS + [f"bulk-{n:04d}" for n in range(600)]
    _insert(slugs)
    db = open_database(load_workspace())
    try:
        with db.engine.begin() as connection:
            if connection.scalar(text("SELECT count(*) FROM pg_collation "
                                      "WHERE collname = 'und-x-icu'")):
                connection.execute(text('ALTER TABLE customers ALTER COLUMN slug '
                                        'TYPE VARCHAR(64) COLLATE "und-x-icu"'))
    finally:
        db.dispose()
    return slugs


@pytest.mark.postgres
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.one_of(st.text("abAB-_%/é'\\z1", max_size=6), st.sampled_from(
    ["", "acme", "acme_", "acme%", "acme/", "Acme", "bulk-", "bulk-05", "b-1", "é"])),
    limit=st.sampled_from([1, 3, 500]))
def test_the_cache_answers_as_the_server_does(workspace: Path, odd_slugs: list[str],
                                              cache_home: Path, prefix: str, limit: int):
    url = os.environ["UNMO_DATABASE_URL"]
    identity = database_identity(url)
    path = cache_file(identity)
    assert path is not None
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        refill_cache(path, url, identity, workspace / "customers")
    cached = read_cache(path, identity)
    assert cached is not None and sorted(cached.slugs) == sorted(odd_slugs)
    assert starting_with(cached.slugs, prefix, limit=limit) == read_slugs(url, prefix,
                                                                          limit=limit)
