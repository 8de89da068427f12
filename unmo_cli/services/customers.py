"""Customers after onboarding: finding one by slug or name, listing, the detail view, the phase
and re-rendering their folders from the current templates (churn, reactivation and record
changes: services/accounts.py)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as sa_select
from sqlmodel import select

from unmo_cli import apikeys, clock, testhooks
from unmo_cli.db import lock_for_update, open_database, open_read_only
from unmo_cli.db.models import ApiKey, Customer, PhaseChange
from unmo_cli.errors import CheckFailed, EnvironmentFailure, InputError, NotFound, UnmoError
from unmo_cli.services.customer_detail import CustomerDetail as CustomerDetail
from unmo_cli.services.customer_detail import customer_detail as customer_detail
from unmo_cli.services.customer_detail import key_json as key_json
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    ENV_NAMES,
    CustomerProfile,
    FolderKeys,
    FolderWriter,
    open_folder,
    parse_env_text,
    pending_target,
    read_env_file,
    recorded_api_url,
    refuse_links,
    render_customer_folder,
    secret_keys_from_env,
    write_folder,
)
from unmo_cli.services.customer_lookup import (
    find_customer,
    open_existing,
    unknown_customer,
)
from unmo_cli.services.customer_record import PHASES as PHASES
from unmo_cli.services.customer_record import customer_json, platforms_of
from unmo_cli.urls import local_host
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlmodel import Session

    from unmo_cli.db.models import ApiKey, Customer
    from unmo_cli.workspace import Workspace


# --- lookup -------------------------------------------------------------------------------------


def get_customer(session: Session, slug_or_name: str) -> Customer:
    """The customer whose slug is `slug_or_name`, or whose name folds to the same key (so the
    exact name, in any case, works too); NotFound otherwise (customer_lookup.find_customer)."""
    customer: Customer = find_customer(session, slug_or_name, Customer)
    return customer


@contextmanager
def customer_session(ws: Workspace | None, slug_or_name: str
                     ) -> Iterator[tuple[Session, Customer]]:
    """One unit of work on one customer: the database session and the customer found by slug
    or name (see get_customer); committed when the block ends, rolled back if it raises, the
    database closed either way. A workspace without a database has no customers: NotFound, and
    no database is created."""
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug_or_name)
    try:
        with db.session() as session:
            yield session, get_customer(session, slug_or_name)
    finally:
        db.dispose()


def lock_customer(session: Session, customer: Customer) -> None:
    """Make `customer` this session's to change until it commits: other commands changing it
    (a rotation, a phase, a churn) wait (db.lock_for_update), and it is read again, so a check
    such as "not churned yet" holds for the write that follows."""

    assert customer.id is not None
    lock_for_update(session, Customer, [customer.id])
    session.refresh(customer)


def profile_of(customer: Customer) -> CustomerProfile:
    created = clock.from_db(customer.created_at)
    assert created is not None
    return CustomerProfile(
        slug=customer.slug, name=customer.name, industry=customer.industry,
        integration=customer.integration, platforms=tuple(platforms_of(customer)),
        provider=customer.provider, events_per_day=customer.events_per_day,
        mrr_cents=customer.mrr_cents, contact_name=customer.contact_name,
        contact_email=customer.contact_email, success_manager=customer.success_manager,
        created_at=created,
    )


def _open(ws: Workspace | None) -> tuple[Workspace, Any]:
    ws = ws or load_workspace()
    return ws, open_database(ws)


# --- list and show ------------------------------------------------------------------------------


def list_customers(ws: Workspace | None = None, *, phase: str | None = None) -> list[dict]:
    """Every customer (churned ones too, with churned_at set), oldest first."""

    if phase is not None:
        phase = _phase(phase)
    ws, db = open_existing(ws)
    if db is None:
        return []
    try:
        # Plain rows, not ORM objects: a list of 10,000 is read in one query, without an
        # identity map to fill (customer_json reads a row's columns by the same names).
        query = sa_select(Customer.__table__).order_by(Customer.created_at, Customer.id)
        if phase is not None:
            query = query.where(Customer.phase == phase)
        with db.engine.connect() as connection:
            return [customer_json(row) for row in connection.execute(query)]
    finally:
        db.dispose()


def keys_of(session: Session, customer: Customer, *, active_only: bool = False) -> list[ApiKey]:
    query = select(ApiKey).where(ApiKey.customer_id == customer.id)
    if active_only:
        query = query.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    query = query.order_by(ApiKey.kind, ApiKey.environment, ApiKey.created_at,
                           ApiKey.id)  # type: ignore[arg-type]
    return list(session.exec(query))


# --- lifecycle ----------------------------------------------------------------------------------


def _phase(value: str) -> str:
    phase = value.strip().lower()
    if phase not in PHASES:
        raise InputError(f"phase {value!r} is not one of {', '.join(PHASES)}.")
    return phase


def set_phase(ws: Workspace | None, slug: str, phase: str) -> dict[str, Any]:
    phase = _phase(phase)
    with customer_session(ws, slug) as (session, customer):
        lock_customer(session, customer)
        if customer.churned_at is not None:
            raise InputError(f"customer {customer.slug!r} churned on "
                             f"{clock.iso(customer.churned_at)}; its phase stays as it was.")
        testhooks.checkpoint("customer-change")
        if phase != customer.phase:  # the history a report of a past week reads

            session.add(PhaseChange(customer_id=customer.id, changed_at=clock.to_db(clock.now()),
                                    from_phase=customer.phase, to_phase=phase))
        customer.phase = phase
        session.add(customer)
        session.flush()
        return customer_json(customer)


# --- re-rendering -------------------------------------------------------------------------------


@dataclass
class RenderResult:
    slug: str
    directory: str
    changed: list[str]  # files written (or, with check, that differ)
    missing_secrets: bool = False
    local_api_url: str | None = None  # the recorded URL, when it names this machine


def folder_keys(session: Session, customer: Customer, folder: Path) -> FolderKeys:
    """The active keys for a render: publishable values from the database, secret keys from the
    existing `.env` (only if they still match the database's hashes)."""

    publishable: dict[str, str] = {}
    hints: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for key in keys_of(session, customer, active_only=True):
        if key.kind == "publishable" and key.publishable_value:
            publishable[key.environment] = key.publishable_value
        elif key.kind == "secret":
            hints[key.environment] = key.hint
            hashes[key.environment] = key.key_hash
    if set(publishable) != {"live", "test"}:
        raise EnvironmentFailure(f"customer {customer.slug!r} has no active publishable keys for "
                                 "both environments; run unmo keys rotate "
                                 f"{customer.slug} --kind publishable.")
    secret = secret_keys_from_env(read_env_file(folder / ENV_FILE))
    if secret is not None and not all(
        env in hashes and apikeys.same_hash(apikeys.hash_key(secret[env]), hashes[env])
        for env in ("live", "test")
    ):
        secret = None  # a stale .env: leave it for the user to see rather than re-write it
    return FolderKeys(publishable=publishable, secret_hints=hints, secret=secret)


# What `customer forget` writes over a contact's name and e-mail (services/privacy.py).
ERASED = "[erased]"


def forgotten(customer: Customer) -> bool:
    """Whether `customer forget` erased this customer: its folder was removed on purpose and
    its keys revoked, so there is nothing to render."""
    return customer.contact_email == ERASED


def render_customers(ws: Workspace | None, slugs: list[str], *, every: bool = False,
                     check: bool = False) -> list[RenderResult]:
    """Re-render customer folders from the current templates, keeping their keys. With `check`,
    nothing is written and CheckFailed lists the differing files."""

    if not slugs and not every:
        raise InputError("name the customers to render (slugs) or pass --all.")
    if slugs and every:
        raise InputError("pass either slugs or --all, not both.")
    ws, db = open_existing(ws)
    if db is None:
        if every:
            return []
        raise unknown_customer(*dict.fromkeys(slugs))
    results: list[RenderResult] = []
    try:
        with db.session() as session:
            if every:
                customers = [c for c in session.exec(select(Customer).order_by(Customer.slug))
                             if not forgotten(c)]
            else:
                customers = find_customers(session, slugs)
                for customer in customers:
                    if forgotten(customer):
                        raise InputError(f"customer {customer.slug!r} was forgotten (customer "
                                         "forget): it has no folder to render.")
            for customer in customers:  # every folder checked before any is written
                refuse_links(ws.relative, ws.customer_dir(customer.slug),
                             customers_dir=ws.customers_dir)
            for customer in customers:
                result = _render_one(ws, session, customer, check=check)
                if result is not None:
                    results.append(result)
    finally:
        db.dispose()
    if check:
        drifted = [f"{r.directory}/{name}" for r in results for name in r.changed]
        if drifted:
            raise CheckFailed(f"{len(drifted)} generated "
                              f"{'file differs' if len(drifted) == 1 else 'files differ'} from "
                              f"the current templates: {', '.join(drifted)}; run unmo customer "
                              "render to update them.")
    return results


def find_customers(session: Session, slugs_or_names: list[str]) -> list[Customer]:
    """The customers named (by slug or name, repeats once), in the order given; NotFound naming
    every unknown one at once."""
    found: dict[int | None, Customer] = {}
    unknown: list[str] = []
    for name in dict.fromkeys(slugs_or_names):
        try:
            customer = get_customer(session, name)
        except NotFound:
            unknown.append(name)
            continue
        found.setdefault(customer.id, customer)
    if unknown:
        raise unknown_customer(*unknown)
    return list(found.values())


def _render_one(ws: Workspace, session: Session, customer: Customer, *, check: bool
                ) -> RenderResult | None:
    """None for a customer forgotten meanwhile (not rendered)."""
    testhooks.checkpoint("customer-render")
    folder = ws.customer_dir(customer.slug)
    # The record is read again here, not used as read before the first folder was rendered: a
    # `customer forget` meanwhile (which holds the folder while it erases) must not see the
    # contact it erased written back into customers/<slug>/.
    if not folder.is_dir() and not folder.is_symlink():
        session.refresh(customer)
        return None if forgotten(customer) else \
            _render_files(ws, session, customer, None, check=check)
    with open_folder(ws.relative, folder, customers_dir=ws.customers_dir) as writer:
        session.refresh(customer)
        return None if forgotten(customer) else \
            _render_files(ws, session, customer, writer, check=check)


def _render_files(ws: Workspace, session: Session, customer: Customer,
                  writer: FolderWriter | None, *, check: bool) -> RenderResult:
    """Under the folder's lock (`writer`; None for a folder that does not exist yet, which is
    created whole)."""
    folder = ws.customer_dir(customer.slug)
    if not check and writer is not None:
        finish_pending_rotation(session, customer, writer)
    keys = folder_keys(session, customer, folder)
    api_url = customer_api_url(ws, folder)
    files = render_customer_folder(ws.templates_dir, profile_of(customer), keys, api_url)
    try:
        changed = [relative for relative, data in files.items()
                   if (writer.read(relative) if writer else None) != data]
        if not check and changed:
            if writer is None:
                refuse_links(ws.relative, folder, customers_dir=ws.customers_dir)
                write_folder(folder, files)
            else:
                for relative in changed:
                    writer.write(relative, files[relative])
    except OSError as exc:
        raise _folder_failure(ws, folder, exc) from None
    return RenderResult(slug=customer.slug, directory=ws.relative(folder), changed=changed,
                        missing_secrets=keys.secret is None,
                        local_api_url=api_url if local_host(api_url) else None)


def _folder_failure(ws: Workspace, folder: Path, exc: OSError) -> UnmoError:
    """A write that met a link swapped in after the check (ELOOP), or a file where a folder
    goes (ENOTDIR), is refused like a link the check found; any other OSError is the
    environment's."""

    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return InputError(f"cannot write {ws.relative(folder)}: a symbolic link or a file stands "
                          "where unmo writes a file or folder; unmo does not write through "
                          "links, so make it a plain folder and run the command again.")
    return EnvironmentFailure(f"cannot write {ws.relative(folder)}: {exc.strerror}.")


def customer_api_url(ws: Workspace, folder: Path) -> str:
    """The API URL to render a customer's folder with: the one it records (see
    recorded_api_url); the workspace's `api.public_url` only for a folder that records none."""
    return recorded_api_url(folder) or ws.settings.api.public_url


def finish_pending_rotation(session: Session, customer: Customer, writer: FolderWriter) -> None:
    """A rotation killed between its commit and its renames leaves pending files (`*.unmo-new`)
    beside their targets. Under the folder's lock no other command has any, so every one found
    is a killed command's: the set whose `.env` holds exactly the keys the database has active
    committed, and is put in place (`.env` last); every other never committed, and is removed."""

    pending = writer.pending_files()
    if not pending:
        return
    active = {(k.kind, k.environment): k.key_hash
              for k in keys_of(session, customer, active_only=True)}
    by_token: dict[str, list[tuple[str, str]]] = {}
    for relative in pending:
        target = pending_target(relative)
        assert target is not None
        by_token.setdefault(target[1], []).append((relative, target[0]))

    def committed(token: str) -> bool:
        env = next((p for p, t in by_token[token] if t == ENV_FILE), None)
        data = writer.read(env) if env else None
        values = parse_env_text(data.decode("utf-8", "replace")) if data else {}
        return bool(values) and all(
            name in values and (kind, env) in active
            and apikeys.same_hash(apikeys.hash_key(values[name]), active[(kind, env)])
            for (kind, env), name in ENV_NAMES.items())

    try:
        for token, files in by_token.items():
            if committed(token):
                for relative, target in sorted(files, key=lambda f: f[1] == ENV_FILE):
                    writer.replace(relative, target)
            else:
                for relative, _target in files:
                    writer.remove(relative)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot finish the interrupted rotation in "
                                 f"{writer.folder}: {exc.strerror}.") from None


def slugs_starting_with(prefix: str, ws: Workspace, *, connect_timeout_s: int = 2,
                        limit: int = 500) -> list[str]:
    """Customer slugs that start with `prefix`, in order, read without creating or migrating
    anything ([] when there is no database yet). Shell completion asks this on every Tab."""

    db = open_read_only(ws, connect_timeout_s=connect_timeout_s)
    if db is None:
        return []
    try:
        with db.engine.connect() as connection:
            query = (sa_select(Customer.slug)
                     .where(Customer.slug.startswith(prefix, autoescape=True))
                     .order_by(Customer.slug).limit(limit))
            return [slug for (slug,) in connection.execute(query)]
    finally:
        db.dispose()
