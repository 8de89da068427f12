"""API keys after onboarding: listing (hints only), verifying a key offline and against the
database, and rotation (revoke, create, rewrite `.env` and the files that hold the key).

A rotation keeps the database and the customer's files in agreement: the new files are written
beside their targets, the database commits, then they replace the old ones with `.env` last; if
a replacement fails, the files already replaced get their old bytes back and the database change
is undone, so the customer keeps working keys. A process killed after the commit leaves the
pending files (`*.unmo-new`), which the next rotation or render puts in place."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import col, delete, select

from unmo_cli import apikeys, clock, testhooks
from unmo_cli.db.models import ApiKey, Customer
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    FolderKeys,
    FolderWriter,
    open_folder,
    pending_name,
    read_env_file,
    render_customer_folder,
    secret_keys_from_env,
)
from unmo_cli.services.customers import (
    customer_api_url,
    customer_session,
    finish_pending_rotation,
    forgotten,
    key_json,
    keys_of,
    lock_customer,
    open_existing,
    profile_of,
)
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from unmo_cli.workspace import Workspace

@dataclass
class KeyListing:
    slug: str
    keys: list[dict[str, Any]]


def list_keys(ws: Workspace | None, slug: str) -> KeyListing:
    """Every key of a customer, revoked ones included, as hints."""
    with customer_session(ws, slug) as (session, customer):
        return KeyListing(slug=customer.slug,
                          keys=[key_json(k) for k in keys_of(session, customer)])


# --- verify -------------------------------------------------------------------------------------


@dataclass
class Verification:
    """What a key is. status: active | revoked | unknown | malformed."""

    status: str
    hint: str
    kind: str | None = None
    environment: str | None = None
    customer: str | None = None  # slug
    customer_name: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "valid": self.status == "active", "hint": self.hint,
                "kind": self.kind, "environment": self.environment, "customer": self.customer,
                "created_at": self.created_at, "revoked_at": self.revoked_at,
                "reason": self.reason}


def verify_key(ws: Workspace | None, key: str) -> Verification:
    """Checks the format and checksum offline, then looks the key's hash up. Never raises for
    a bad key: the command decides the exit code (0 active, 1 revoked, 2 malformed/unknown)."""

    key = key.strip()
    hint = apikeys.hint(key) if len(key) > 8 else "…"
    try:
        shape = apikeys.parse(key)
    except apikeys.MalformedKey as exc:
        return Verification(status="malformed", hint=hint, reason=str(exc))
    ws, db = open_existing(ws)
    if db is None:
        return Verification(status="unknown", hint=hint, kind=shape.kind,
                            environment=shape.environment,
                            reason="no key with this hash exists in this workspace")
    try:
        with db.session() as session:
            row = session.exec(select(ApiKey, Customer).join(Customer).where(
                ApiKey.key_hash == apikeys.hash_key(key))).first()
    finally:
        db.dispose()
    if row is None:
        return Verification(status="unknown", hint=hint, kind=shape.kind,
                            environment=shape.environment,
                            reason="well formed, but no key with this hash exists in this "
                                   "workspace")
    api_key, customer = row
    return Verification(
        status="revoked" if api_key.revoked_at else "active", hint=api_key.hint,
        kind=api_key.kind, environment=api_key.environment, customer=customer.slug,
        customer_name=customer.name, created_at=clock.iso(api_key.created_at),
        revoked_at=clock.iso(api_key.revoked_at),
    )


# --- rotate -------------------------------------------------------------------------------------


@dataclass
class RotateResult:
    slug: str
    rotated: list[dict[str, str]]  # kind, environment, old_hint, new_hint
    files: list[str]  # files rewritten, relative to the customer folder
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def as_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        rotated = [dict(r) for r in self.rotated]
        if show_secrets:
            for item in rotated:
                item["key"] = self.secrets[f"{item['kind']}_{item['environment']}"]
        return {"customer": self.slug, "rotated": rotated, "files": self.files}


def _choices(value: str | None, accepted: tuple[str, ...], option: str) -> tuple[str, ...]:
    if value is None:
        return accepted
    text = value.strip().lower()
    if text not in accepted:
        raise InputError(f"{option} {value!r} is not one of {', '.join(accepted)}.")
    return (text,)


def rotate_keys(ws: Workspace | None, slug: str, *, kind: str | None = "secret",
                environment: str | None = None) -> RotateResult:
    """Revoke the chosen keys (default: both secret keys), create new ones, and rewrite the
    customer's `.env` and every file that changes, all or nothing (see the module docstring).
    The files keep the API URL the customer was given (customer_api_url).

    Rotations of one customer take turns: the folder's lock (open_folder) covers reading `.env`
    to replacing it, and the customer's row lock (lock_customer) the keys read and written, so
    however many run at once each revokes exactly the keys the one before it left active."""

    kinds = _choices(kind, ("publishable", "secret"), "--kind")
    environments = _choices(environment, apikeys.ENVIRONMENTS, "--env")
    testhooks.reset()
    ws = ws or load_workspace()
    with customer_session(ws, slug) as (session, customer), \
            open_folder(ws.relative, ws.customer_dir(customer.slug),
                        customers_dir=ws.customers_dir) as writer:
        lock_customer(session, customer)
        if forgotten(customer):  # erased while this rotation waited for its folder
            raise InputError(f"customer {customer.slug!r} was forgotten (customer forget): its "
                             "keys stay revoked.")
        folder = writer.folder
        finish_pending_rotation(session, customer, writer)
        active = {(k.kind, k.environment): k for k in keys_of(session, customer,
                                                                  active_only=True)}
        secret = secret_keys_from_env(read_env_file(folder / ENV_FILE))
        secret = dict(secret) if secret and _matches(secret, active) else None
        keeps_a_secret = "secret" not in kinds or len(environments) < 2
        if secret is None and keeps_a_secret:
            raise InputError(f"the .env of {customer.slug} is missing or does not hold its "
                             "current secret keys, so it cannot be rewritten with one key "
                             f"kept; rotate both: unmo keys rotate {customer.slug} --kind "
                             "secret.")
        now = clock.to_db(clock.now())
        new, rotated = _issue(session, customer.id, kinds, environments, active, now)
        kept = [e for e in apikeys.ENVIRONMENTS
                if ("publishable", e) not in new and ("publishable", e) not in active]
        if kept:
            raise InputError(f"{customer.slug} has no active publishable {kept[0]} key to keep; "
                             f"rotate it too: unmo keys rotate {customer.slug} --kind "
                             "publishable.")
        publishable = {e: new.get(("publishable", e)) or active[("publishable", e)]
                       .publishable_value for e in apikeys.ENVIRONMENTS}
        secret = secret or {}
        secret.update({e: v for (k, e), v in new.items() if k == "secret"})
        keys = FolderKeys(
            publishable=publishable,  # type: ignore[arg-type]
            secret_hints={e: apikeys.hint(secret[e]) for e in apikeys.ENVIRONMENTS},
            secret=secret,
        )
        files = render_customer_folder(ws.templates_dir, profile_of(customer), keys,
                                       customer_api_url(ws, folder))
        originals = {name: _current(writer, name) for name in files}
        changed = [name for name, data in files.items() if originals[name] != data]
        session.flush()
        _commit_with_files(session, writer, {n: files[n] for n in changed}, originals,
                           undo=lambda: _undo_rotation(session, customer.id, now, new))
    return RotateResult(slug=customer.slug, rotated=rotated, files=changed,
                        secrets={f"{k}_{e}": v for (k, e), v in new.items()})


def _issue(session: Any, customer_id: int | None, kinds: tuple[str, ...],
           environments: tuple[str, ...], active: dict[tuple[str, str], Any], now: Any
           ) -> tuple[dict[tuple[str, str], str], list[dict[str, Any]]]:
    """Revoke the active keys of each kind and environment, add new ones; returns the new keys
    and what changed, as hints."""

    new: dict[tuple[str, str], str] = {}
    rotated = []
    for k in kinds:
        for e in environments:
            old = active.get((k, e))
            key = new[(k, e)] = apikeys.generate(k, e)
            if old is not None:
                old.revoked_at = now
                session.add(old)
            session.add(ApiKey(customer_id=customer_id, kind=k, environment=e,
                               key_hash=apikeys.hash_key(key), hint=apikeys.hint(key),
                               publishable_value=key if k == "publishable" else None,
                               created_at=now))
            rotated.append({"kind": k, "environment": e,
                            "old_hint": old.hint if old else None,
                            "new_hint": apikeys.hint(key)})
    return new, rotated


def _matches(secret: dict[str, str], active: dict[tuple[str, str], Any]) -> bool:
    return all(("secret", e) in active and apikeys.same_hash(
        apikeys.hash_key(secret[e]), active[("secret", e)].key_hash) for e in apikeys.ENVIRONMENTS)


def _current(writer: FolderWriter, name: str) -> bytes | None:
    """A file's bytes before the rotation (None if it does not exist yet): the backup a failed
    rotation restores."""
    try:
        return writer.read(name)
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read {writer.folder / name}: {exc.strerror}.") \
            from None


def _write_pending(writer: FolderWriter, files: dict[str, bytes]) -> list[tuple[str, str]]:
    """Every file written beside its target under this process's pending name; on a failure
    (a full disk) the ones already written are removed and nothing is left behind."""
    pending: list[tuple[str, str]] = []
    try:
        for name, data in files.items():
            temporary = pending_name(name, writer.token)
            writer.create(temporary, data)
            pending.append((temporary, name))
    except OSError as exc:
        _discard(writer, pending)
        raise EnvironmentFailure(f"cannot write in {writer.folder}: {exc.strerror}; nothing "
                                 "was changed, the old keys stay active.") from None
    return pending


def _discard(writer: FolderWriter, pending: list[tuple[str, str]]) -> None:
    for temporary, _ in pending:
        # One that cannot be removed is swept by the next rotation or render
        # (finish_pending_rotation).
        with suppress(OSError):
            writer.remove(temporary)


def _commit_with_files(session: Any, writer: FolderWriter, files: dict[str, bytes],
                       originals: dict[str, bytes | None], undo: Callable[[], None]) -> None:
    """Write `files` beside their targets, commit, then move them over the targets, `.env`
    last: until it is replaced the customer's secret keys are the old ones. If a replacement
    fails (or is interrupted), `undo` reverts the committed rows and the files already replaced
    get their original bytes back, or are removed if they are new, so the files and the
    database keep agreeing; if even `undo` fails, the pending files stay for the next render to
    put in place (finish_pending_rotation), and the message says so."""
    folder = writer.folder
    pending = _write_pending(writer, files)
    try:
        session.commit()
    except BaseException:
        _discard(writer, pending)
        raise
    replaced: list[str] = []
    try:
        for temporary, target in sorted(pending, key=lambda p: p[1] == ENV_FILE):
            testhooks.checkpoint("rotate-replace")
            writer.replace(temporary, target)
            replaced.append(target)
    except BaseException as exc:
        reason = _reason(exc)
        try:
            undo()
        except Exception as undo_failed:  # noqa: BLE001 - told to the user below
            raise EnvironmentFailure(
                f"cannot rewrite the files of {folder.name}: {reason}; its new keys are "
                f"recorded ({_reason(undo_failed)} when undoing them), so run unmo customer "
                f"render {folder.name} to put the files that hold them in place.") from None
        _discard(writer, pending)
        unrestored = _restore(writer, replaced, originals)
        if not isinstance(exc, (OSError, EnvironmentFailure)):
            raise
        advice = (f"; {', '.join(unrestored)} could not be restored either: run unmo customer "
                  f"render {folder.name}" if unrestored else "")
        raise EnvironmentFailure(f"cannot rewrite the files of {folder.name}: {reason}; the old "
                                 f"keys stay active{advice}.") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, EnvironmentFailure):
        return str(exc).rstrip(".")
    return type(exc).__name__


def _restore(writer: FolderWriter, replaced: list[str], originals: dict[str, bytes | None]
             ) -> list[str]:
    """Put back the bytes `replaced` files had before; returns those that could not be."""
    failed = []
    for relative in reversed(replaced):
        before = originals.get(relative)
        try:
            if before is None:
                writer.remove(relative)
            else:
                writer.write(relative, before)
        except OSError:
            failed.append(relative)
    return failed


def _undo_rotation(session: Any, customer_id: int | None, revoked_at: Any,
                   new: dict[tuple[str, str], str]) -> None:
    """After a committed rotation whose files could not be replaced: the new keys deleted, the
    ones it revoked active again, committed."""

    session.exec(delete(ApiKey).where(  # type: ignore[call-overload]
        col(ApiKey.key_hash).in_([apikeys.hash_key(k) for k in new.values()])))
    for (kind, environment) in new:
        old = session.exec(select(ApiKey).where(
            ApiKey.customer_id == customer_id, ApiKey.kind == kind,
            ApiKey.environment == environment, ApiKey.revoked_at == revoked_at)).all()
        for row in old:
            row.revoked_at = None
            session.add(row)
    session.commit()


def secret_key(ws: Workspace, slug: str, environment: str = "live") -> str | None:
    """The customer's secret key for `environment` as its `.env` holds it (None if absent)."""
    values = read_env_file(ws.customer_dir(slug) / ENV_FILE)
    secret = secret_keys_from_env(values)
    return secret.get(environment) if secret else None
