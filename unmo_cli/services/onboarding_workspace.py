"""The workspace side of onboarding: the pre-flight (names and folders already taken, read
before anything is created), the lock that makes concurrent onboardings take turns, and the
recovery of an interrupted one (a temporary folder removed, or rolled forward when its rows
were committed)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from unmo_cli import apikeys
from unmo_cli.db import database_exists, open_database
from unmo_cli.db.tables import api_keys, customers
from unmo_cli.errors import InputError
from unmo_cli.names import name_key
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    read_env_file,
    secret_keys_from_env,
)
from unmo_cli.services.onboarding_input import (
    LOOK_ALIKE_REASON,
    CustomerInput,
    FieldError,
    look_alike_key,
    parse_name,
    slugify,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.db import Database
    from unmo_cli.workspace import Workspace

TEMP_PREFIX = ".tmp-"


def preflight(ws: Workspace, items: list[CustomerInput], db: Database | None = None) -> None:
    """Refuse, before writing anything, names already onboarded and folders already present."""
    problems = []
    taken: dict[str, str] = {}
    # Folders first, then the database: a racing onboarding commits before it moves its folder
    # into place, so a folder seen here belongs to a customer the database already shows; read
    # the other way round, the winner's commit and move could fall between the two reads and
    # its folder be reported as one without a customer.
    folders_present = {item.slug: ws.customer_dir(item.slug).exists()
                       or ws.customer_dir(item.slug).is_symlink() for item in items}
    if items and (db is not None or database_exists(ws)):
        taken = _taken_names(ws, db)
    for item in items:
        existing = taken.get(item.name_key) or taken.get("slug:" + item.slug)
        look_alike = taken.get("look:" + look_alike_key(item.name))
        folder = ws.customer_dir(item.slug)
        if existing:
            problems.append(f"{item.name!r} is already onboarded as {existing} (names differing "
                            "only by case or punctuation are one customer)")
        elif look_alike:
            problems.append(f"{item.name!r} looks like {look_alike}: {LOOK_ALIKE_REASON}")
        elif folders_present[item.slug]:
            problems.append(f"the folder {ws.relative(folder)} already exists but no customer "
                            f"{item.slug!r} is in the database; move it away or delete it, then "
                            "onboard again")
    if problems:
        raise InputError("; ".join(problems) + ".")


def name_taken(ws: Workspace, name: str) -> str | None:
    """Why `name` cannot be onboarded in this workspace (already a customer, or its folder
    exists), or None; for checking an answer as it is typed."""
    try:
        item_name = parse_name(name)
    except FieldError:
        return None
    slug, key = slugify(item_name), name_key(item_name)
    if database_exists(ws):
        taken = _taken_names(ws)
        existing = taken.get(key) or taken.get("slug:" + slug)
        if existing:
            return f"already onboarded as {existing}"
        look_alike = taken.get("look:" + look_alike_key(item_name))
        if look_alike:
            return f"looks like {look_alike}: {LOOK_ALIKE_REASON}"
    if ws.customer_dir(slug).exists():
        return f"the folder customers/{slug} already exists"
    return None


def _taken_names(ws: Workspace, shared: Database | None = None) -> dict[str, str]:
    """Every customer by name key, by slug and by look-alike key. Look-alikes share no column to
    ask for, so every name is read anyway (ICU computes thousands of skeletons in milliseconds):
    one statement, so the three are of one moment (on PostgreSQL a second statement could see a
    racing onboarding's commit the first did not, and call the same name a look-alike)."""
    db = shared or open_database(ws)
    taken: dict[str, str] = {}
    try:
        with db.connection() as connection:
            for key, slug, name in connection.execute(
                    select(customers.c.name_key, customers.c.slug, customers.c.name)):
                shown = f"{name!r} ({slug})"
                taken[key] = taken["slug:" + slug] = shown
                taken.setdefault("look:" + look_alike_key(name), shown)
    finally:
        if shared is None:
            db.dispose()
    return taken


@contextmanager
def customers_lock(ws: Workspace, db: Database) -> Iterator[None]:
    """Onboardings in flight hold a shared lock on customers/; stale temporary folders are only
    touched under the exclusive lock, i.e. when no other onboarding is running (and read in a
    transaction of their own, ended before the onboarding's inserts begin theirs)."""

    folder = ws.customers_dir
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # someone is onboarding: their temporary folders are not stale
        else:
            if any(folder.glob(TEMP_PREFIX + "*")):
                with db.connection() as connection:
                    recover_interrupted(ws, connection)
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def recover_if_idle(ws: Workspace, db: Database) -> list[str]:
    """Before the pre-flight check: finish or sweep what killed onboardings left, unless an
    onboarding is running. So the retry of an onboarding killed after its commit finds the
    folder in place (and the name taken), not a stray temporary folder."""

    folder = ws.customers_dir
    if not folder.is_dir() or not any(folder.glob(TEMP_PREFIX + "*")):
        return []
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # someone is onboarding: their temporary folders are not stale
        with db.connection() as connection:
            return recover_interrupted(ws, connection)
    finally:
        os.close(fd)  # releases the lock


def recover_interrupted(ws: Workspace, connection: Connection) -> list[str]:
    """Finish or undo onboardings a killed process left behind (call under the exclusive lock).
    A temporary folder whose `.env` matches a committed customer's secret keys, and whose target
    is absent, is moved into place; any other is removed. Returns the slugs moved into place."""

    moved = []
    for temporary in sorted(ws.customers_dir.glob(TEMP_PREFIX + "*")):
        match = re.fullmatch(re.escape(TEMP_PREFIX) + r"([a-z0-9-]+)-[0-9a-f]{8}", temporary.name)
        target = ws.customer_dir(match.group(1)) if match else None
        if match and target is not None and not target.exists() and not target.is_symlink() \
                and temporary.is_dir() and not temporary.is_symlink():
            customer_id = connection.execute(select(customers.c.id).where(
                customers.c.slug == match.group(1))).scalar()
            if customer_id is not None and _env_matches(connection, customer_id, temporary):
                os.rename(temporary, target)
                moved.append(match.group(1))
                continue
        shutil.rmtree(temporary, ignore_errors=True)
    return moved


def _env_matches(connection: Connection, customer_id: int, folder: Path) -> bool:
    secret = secret_keys_from_env(read_env_file(folder / ENV_FILE))
    if secret is None:
        return False
    # The newest active secret key of each environment (as customers.keys_of orders them).
    hashes = dict(connection.execute(
        select(api_keys.c.environment, api_keys.c.key_hash)
        .where(api_keys.c.customer_id == customer_id, api_keys.c.kind == "secret",
               api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.environment, api_keys.c.created_at, api_keys.c.id)).all())
    return all(env in hashes and apikeys.same_hash(apikeys.hash_key(secret[env]), hashes[env])
               for env in ("live", "test"))
