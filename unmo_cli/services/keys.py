"""API keys after onboarding: listing (hints only), verifying a key offline and against the
database, and rotation (revoke, create, rewrite `.env` and the files that hold the key)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmo_cli import apikeys, clock
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    PENDING_SUFFIX,
    FolderKeys,
    read_env_file,
    render_customer_folder,
    secret_keys_from_env,
)
from unmo_cli.services.customers import (
    finish_pending_rotation,
    get_customer,
    key_json,
    keys_of,
    open_existing,
    profile_of,
    unknown_customer,
)

if TYPE_CHECKING:
    from unmo_cli.workspace import Workspace

@dataclass
class KeyListing:
    slug: str
    keys: list[dict[str, Any]]


def list_keys(ws: Workspace | None, slug: str) -> KeyListing:
    """Every key of a customer, revoked ones included, as hints."""
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
            return KeyListing(slug=customer.slug,
                              keys=[key_json(k) for k in keys_of(session, customer)])
    finally:
        db.dispose()


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
    from sqlmodel import select

    from unmo_cli.db.models import ApiKey, Customer

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
    customer's `.env` and every file that changes. Files are written beside their targets first,
    the database commits, then they replace the old ones; if that fails the database change is
    undone."""
    kinds = _choices(kind, ("publishable", "secret"), "--kind")
    environments = _choices(environment, apikeys.ENVIRONMENTS, "--env")
    ws, db = open_existing(ws)
    if db is None:
        raise unknown_customer(slug)
    try:
        with db.session() as session:
            customer = get_customer(session, slug)
            folder = ws.customer_dir(customer.slug)
            if not folder.is_dir():
                raise InputError(f"the folder {ws.relative(folder)} is missing; run unmo "
                                 f"customer render {customer.slug} first.")
            finish_pending_rotation(session, customer, folder)
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
            from unmo_cli.db.models import ApiKey

            new: dict[tuple[str, str], str] = {}
            rotated = []
            for k in kinds:
                for e in environments:
                    old = active.get((k, e))
                    key = new[(k, e)] = apikeys.generate(k, e)
                    if old is not None:
                        old.revoked_at = now
                        session.add(old)
                    session.add(ApiKey(customer_id=customer.id, kind=k, environment=e,
                                       key_hash=apikeys.hash_key(key), hint=apikeys.hint(key),
                                       publishable_value=key if k == "publishable" else None,
                                       created_at=now))
                    rotated.append({"kind": k, "environment": e,
                                    "old_hint": old.hint if old else None,
                                    "new_hint": apikeys.hint(key)})
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
                                           ws.settings.api.base_url)
            changed = [name for name, data in files.items() if _differs(folder / name, data)]
            session.flush()
            pending = _write_pending(folder, {n: files[n] for n in changed})
            try:
                session.commit()
            except BaseException:
                _discard(pending)
                raise
            try:
                for temporary, target in pending:
                    os.replace(temporary, target)
            except OSError as exc:
                _discard(pending)
                _undo_rotation(db, customer.id, now, new)
                raise EnvironmentFailure(f"cannot rewrite the files of {customer.slug}: "
                                         f"{exc.strerror}; the old keys stay active.") from None
    finally:
        db.dispose()
    return RotateResult(slug=customer.slug, rotated=rotated, files=changed,
                        secrets={f"{k}_{e}": v for (k, e), v in new.items()})


def _matches(secret: dict[str, str], active: dict[tuple[str, str], Any]) -> bool:
    return all(("secret", e) in active and apikeys.same_hash(
        apikeys.hash_key(secret[e]), active[("secret", e)].key_hash) for e in apikeys.ENVIRONMENTS)


def _differs(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except FileNotFoundError:
        return True


def _write_pending(folder: Path, files: dict[str, bytes]) -> list[tuple[Path, Path]]:
    from unmo_cli.services.customer_folder import write_private_file

    pending = []
    try:
        for name, data in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + PENDING_SUFFIX)
            if name == ENV_FILE:
                write_private_file(temporary, data)
            else:
                temporary.write_bytes(data)
            pending.append((temporary, target))
    except OSError as exc:
        _discard(pending)
        raise EnvironmentFailure(f"cannot write in {folder}: {exc.strerror}.") from None
    return pending


def _discard(pending: list[tuple[Path, Path]]) -> None:
    for temporary, _ in pending:
        temporary.unlink(missing_ok=True)


def _undo_rotation(db: Any, customer_id: int | None, revoked_at: Any,
                   new: dict[tuple[str, str], str]) -> None:
    from sqlmodel import col, delete, select

    from unmo_cli.db.models import ApiKey

    with db.session() as session:
        session.exec(delete(ApiKey).where(  # type: ignore[call-overload]
            col(ApiKey.key_hash).in_([apikeys.hash_key(k) for k in new.values()])))
        for (kind, environment) in new:
            old = session.exec(select(ApiKey).where(
                ApiKey.customer_id == customer_id, ApiKey.kind == kind,
                ApiKey.environment == environment, ApiKey.revoked_at == revoked_at)).all()
            for row in old:
                row.revoked_at = None
                session.add(row)


def secret_key(ws: Workspace, slug: str, environment: str = "live") -> str | None:
    """The customer's secret key for `environment` as its `.env` holds it (None if absent)."""
    values = read_env_file(ws.customer_dir(slug) / ENV_FILE)
    secret = secret_keys_from_env(values)
    return secret.get(environment) if secret else None
