"""Onboarding: creating a validated customer's record, keys and folder all or nothing
(its answers are checked in services/onboarding_input.py, --from files read in
services/onboarding_batch.py, pre-flight and recovery in services/onboarding_workspace.py),
with every step timed (monotonic clock) and recorded as an onboarding session.

All or nothing: the folder is rendered into `customers/.tmp-<slug>-<token>` beside its target,
the database transaction commits, and only then is the folder renamed into place; if the rename
fails the rows are deleted again (compensation) and the temporary folder removed. A process killed
before the commit leaves only a temporary folder, which the next onboarding removes; one killed
between the commit and the rename leaves a complete temporary folder whose `.env` matches the
committed keys, which the next onboarding moves into place (roll forward).

Every timed step is a test-only failure and pause point (unmo_cli/testhooks.py), so tests can
prove what a failure or a kill at each step leaves behind.

Over 500 lines as one module: the creation, its compensation and its roll forward are one
protocol, which a reader must hold at once to trust it."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Float, bindparam, delete, insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from unmo_cli import apikeys, audit, clock, testhooks
from unmo_cli.db import database_exists, open_database
from unmo_cli.db.tables import (
    api_keys,
    customers,
    mrr_changes,
    onboarding_sessions,
    onboarding_steps,
)
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.names import fold_to_ascii, name_key  # noqa: F401 (re-exported)
from unmo_cli.progress import ProgressFactory
from unmo_cli.services.customer_folder import (
    ENV_FILE,
    CustomerProfile,
    FolderKeys,
    refuse_linked_customers_dir,
    render_customer_folder,
    write_folder,
)
from unmo_cli.services.customer_record import customer_json
from unmo_cli.services.onboarding_batch import load_customer_file, validate_records
from unmo_cli.services.onboarding_input import (  # noqa: F401 (re-exported)
    FIELDS,
    INDUSTRIES,
    INTEGRATIONS,
    LOOK_ALIKE_REASON,
    MAX_EVENTS_PER_DAY,
    MAX_MRR_CENTS,
    MAX_SLUG,
    OPTIONS,
    PARSERS,
    PLATFORMS,
    PROVIDERS,
    REQUIRED,
    CustomerInput,
    FieldError,
    build_input,
    field_errors,
    look_alike_key,
    missing_fields,
    parse_contact_name,
    parse_email,
    parse_events_per_day,
    parse_industry,
    parse_integration,
    parse_mrr,
    parse_name,
    parse_optional_email,
    parse_platforms,
    parse_provider,
    slugify,
    validate,
)
from unmo_cli.services.onboarding_workspace import (  # noqa: F401 (re-exported)
    TEMP_PREFIX,
    customers_lock,
    name_taken,
    preflight,
    recover_if_idle,
    recover_interrupted,
)
from unmo_cli.text import MAX_NAME
from unmo_cli.tiers import unknown_tier_problem
from unmo_cli.urls import PRODUCTION_API_URL, customer_url_problem
from unmo_cli.workspace import ensure_gitignore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from unmo_cli.db import Database
    from unmo_cli.workspace import Workspace


MODES = ("interactive", "flags", "batch")


# --- steps and timing ----------------------------------------------------------------------

@dataclass
class StepTimes:
    """The named, timed steps of one onboarding, in order."""

    steps: list[tuple[str, float, str]] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = clock.monotonic()
        try:
            testhooks.checkpoint(name)
            yield
        except BaseException:
            self.steps.append((name, clock.monotonic() - began, "failed"))
            raise
        self.steps.append((name, clock.monotonic() - began, "success"))

    def add(self, name: str, duration: float, outcome: str = "success") -> None:
        self.steps.append((name, duration, outcome))

    @property
    def total(self) -> float:
        return sum(duration for _, duration, _ in self.steps)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"name": n, "duration_s": round(d, 6)} for n, d, _ in self.steps]


# --- results ----------------------------------------------------------------------------------


@dataclass
class OnboardResult:
    customer: dict[str, Any]
    directory: str
    files: list[str]
    keys: list[dict[str, str]]
    onboarding: dict[str, Any] | None
    dry_run: bool = False
    # Full keys, only for --show-secrets; never part of repr or the default JSON.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # What could not be done after the commit (the command shows them on stderr).
    warnings: list[str] = field(default_factory=list)

    def as_json(self, *, show_secrets: bool = False) -> dict[str, Any]:
        keys = [dict(k) for k in self.keys]
        if show_secrets:
            for item in keys:
                item["key"] = self.secrets.get(f"{item['kind']}_{item['environment']}")
        document: dict[str, Any] = {
            "customer": self.customer,
            "directory": self.directory,
            "files": self.files,
            "keys": keys,
            "onboarding": self.onboarding,
        }
        if self.dry_run:
            document["dry_run"] = True
        return document


@dataclass
class _Work:
    """One customer on its way in."""

    item: CustomerInput
    times: StepTimes
    started_at: datetime
    began: float
    # The customer's row as inserted (the customers table's columns as attributes), its id and
    # the id of its onboarding session, once inserted.
    customer: SimpleNamespace | None = None
    customer_id: int | None = None
    session_id: int | None = None
    keys: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    files: list[str] = field(default_factory=list)
    temporary: Path | None = None
    placed: bool = False
    recorded_steps: int = 0
    rendered: dict[str, bytes] | None = field(default=None, repr=False)


# --- onboarding -------------------------------------------------------------------------------


def _profile(item: CustomerInput, created_at: datetime) -> CustomerProfile:
    return CustomerProfile(
        slug=item.slug, name=item.name, industry=item.industry, integration=item.integration,
        platforms=item.platforms, provider=item.provider, events_per_day=item.events_per_day,
        mrr_cents=item.mrr_cents, contact_name=item.contact_name,
        contact_email=item.contact_email, success_manager=item.success_manager,
        created_at=created_at,
    )


def _customer_row(item: CustomerInput, created_at: datetime) -> SimpleNamespace:
    """The customer's row as it is inserted (every column of the customers table but the id),
    its values as attributes."""
    return SimpleNamespace(
        slug=item.slug, name_key=item.name_key, name=item.name, industry=item.industry,
        integration=item.integration, platforms=",".join(item.platforms),
        provider=item.provider, events_per_day=item.events_per_day, mrr_cents=item.mrr_cents,
        contact_name=item.contact_name, contact_email=item.contact_email,
        success_manager=item.success_manager, phase="setup",
        created_at=clock.to_db(created_at), churned_at=None, churn_reason=None,
        tier=item.tier, renewal_date=None,
    )


def _key_list(keys: dict[tuple[str, str], str] | None) -> list[dict[str, str]]:
    listing = []
    for kind in ("publishable", "secret"):
        for environment in apikeys.ENVIRONMENTS:
            shown = (apikeys.hint(keys[(kind, environment)]) if keys
                     else apikeys.prefix(kind, environment) + "…")
            listing.append({"kind": kind, "environment": environment, "hint": shown})
    return listing


def onboard(ws: Workspace, raw: dict[str, Any], *, mode: str = "flags", dry_run: bool = False,
            prior_steps: list[tuple[str, float, str]] | None = None) -> OnboardResult:
    """Onboard one customer from its answers (option names as keys; see FIELDS)."""
    testhooks.reset()
    times = StepTimes(list(prior_steps or []))
    began = clock.monotonic()
    started_at = clock.now()
    with times.step("validate"):
        item = validate(raw)
        _check_tiers(ws, [item], lambda _number: "")
    return _onboard_all(ws, [(item, times, began, started_at)], mode=mode, dry_run=dry_run)[0]


def onboard_file(ws: Workspace, path: Path, given: dict[str, Any], *, dry_run: bool = False,
                 progress: ProgressFactory | None = None) -> list[OnboardResult]:
    """`onboard --from FILE`: every answer comes from the file, so answers also `given` as
    options (None when not) are refused; then onboard_records, advancing `progress`."""
    options = [OPTIONS[name] for name, value in given.items() if value is not None]
    if options:
        raise InputError(f"--from takes every field from the file; drop {', '.join(options)}.")
    records = load_customer_file(path)
    if progress is None:
        return onboard_records(ws, records, str(path), dry_run=dry_run)
    with progress(len(records), "Onboarding") as advance:
        return onboard_records(ws, records, str(path), dry_run=dry_run, advance=advance)


def onboard_records(ws: Workspace, records: list[dict[str, Any]], source: str, *,
                    dry_run: bool = False, advance: Callable[[int], None] | None = None
                    ) -> list[OnboardResult]:
    """Onboard the customers of a --from file (see load_customer_file) as one unit: every record
    is validated first (all problems reported at once, nothing written), then all are created in
    one transaction and moved into place together; if anything fails, none of them remains."""
    testhooks.reset()
    began = clock.monotonic()
    started_at = clock.now()
    prepared = []
    for item, duration in validate_records(records, source):
        times = StepTimes()
        times.add("validate", duration)
        prepared.append((item, times, began, started_at))
    _check_tiers(ws, [item for item, *_rest in prepared], lambda number: f"record {number}: ")
    return _onboard_all(ws, prepared, mode="batch", dry_run=dry_run, advance=advance)


def _check_tiers(ws: Workspace, items: list[CustomerInput], title: Callable[[int], str]
                 ) -> None:
    """A tier `tiers:` in unmo.yaml does not name is refused (any name, without `tiers:`)."""
    configured = ws.settings.tiers
    problems = [title(number) + problem for number, item in enumerate(items, start=1)
                if (problem := unknown_tier_problem(configured, item.tier,
                                                    "--tier" if len(items) == 1 else "tier"))]
    if problems:
        raise InputError("; ".join(p.rstrip(".") for p in problems) + ".")


def _onboard_all(ws: Workspace, prepared: list[tuple[CustomerInput, StepTimes, float, datetime]],
                 *, mode: str, dry_run: bool,
                 advance: Callable[[int], None] | None = None) -> list[OnboardResult]:
    assert mode in MODES
    check_public_url(ws)
    items = [p[0] for p in prepared]
    works = [_Work(item=i, times=t, began=b, started_at=s) for i, t, b, s in prepared]
    if dry_run:
        preflight(ws, items)
        return [_dry_run(ws, w) for w in works]

    existing = open_database(ws) if database_exists(ws) else None
    try:
        return _onboard_into(ws, works, existing, mode=mode, advance=advance)
    finally:
        if existing is not None:
            existing.dispose()


def _onboard_into(ws: Workspace, works: list[_Work], existing: Database | None, *, mode: str,
                  advance: Callable[[int], None] | None) -> list[OnboardResult]:
    items = [w.item for w in works]
    refuse_linked_customers_dir(ws.relative, ws.customers_dir)
    if existing is not None:
        recover_if_idle(ws, existing)
    preflight(ws, items, existing)
    # Keys and every file in memory first, so a template error writes nothing at all.
    for work in works:
        _render(ws, work)
        if advance is not None:
            advance(1)

    with _shared_step(works, "prepare_workspace"):
        try:
            ws.customers_dir.mkdir(parents=True, exist_ok=True)
            ensure_gitignore(ws.root)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot write the workspace at {ws.root}: "
                                     f"{exc.strerror}.") from None
        db = existing or open_database(ws)
    try:
        with customers_lock(ws, db), db.connection() as connection:
            try:
                _create(ws, connection, works, mode)
                with _shared_step(works, "commit"):
                    connection.commit()
            except IntegrityError:
                connection.rollback()
                _remove_temporaries(works)
                raise InputError(_collision_message(items)) from None
            except BaseException as exc:
                connection.rollback()
                _remove_temporaries(works)
                if not isinstance(exc, InputError):
                    _record_failure(db, works, mode, exc)
                raise
            _move_into_place(ws, db, works, mode)
        warnings = _finish_sessions(db, works)
    finally:
        if existing is None:
            db.dispose()
    results = [_result(ws, w) for w in works]
    for result in results:
        result.warnings = warnings
    return results


def check_public_url(ws: Workspace) -> str:
    """The URL new customers are given (api.public_url); an InputError when no customer could
    use it: it names this machine (the sandbox's http://127.0.0.1:8787/v1, say) or is not https.
    The demo onboards with the default, so it never meets this."""

    url = ws.settings.api.public_url
    problem = customer_url_problem(url)
    if problem:
        if os.environ.get("UNMO_API_PUBLIC_URL"):
            origin = "UNMO_API_PUBLIC_URL"
        else:
            origin = f"api.public_url in {ws.config_file}" if ws.config_file else "api.public_url"
        raise InputError(f"{origin} {url!r} {problem}, so it cannot go into a new customer's "
                         f"files; set it to the platform's URL (the default is "
                         f"{PRODUCTION_API_URL}) and point api.base_url at the sandbox instead.")
    return url.rstrip("/")


def _collision_message(items: list[CustomerInput]) -> str:
    names = ", ".join(repr(i.name) for i in items[:5])
    return (f"{names} {'is' if len(items) == 1 else 'are'} already onboarded (another onboarding "
            "took the name or folder meanwhile; names differing only by case or punctuation are "
            "one customer).")


def _render(ws: Workspace, work: _Work) -> None:
    with work.times.step("generate_keys"):
        for kind in ("publishable", "secret"):
            for environment in apikeys.ENVIRONMENTS:
                work.keys[(kind, environment)] = apikeys.generate(kind, environment)
    keys = FolderKeys(
        publishable={e: work.keys[("publishable", e)] for e in apikeys.ENVIRONMENTS},
        secret_hints={e: apikeys.hint(work.keys[("secret", e)]) for e in apikeys.ENVIRONMENTS},
        secret={e: work.keys[("secret", e)] for e in apikeys.ENVIRONMENTS},
    )
    with work.times.step("render_files"):
        work.rendered = render_customer_folder(
            ws.templates_dir, _profile(work.item, work.started_at), keys,
            ws.settings.api.public_url)
        work.files = sorted(work.rendered)


def _create(ws: Workspace, connection: Connection, works: list[_Work], mode: str) -> None:
    """Files first, rows second: the folders are written before the first INSERT, so the
    database's write lock is held only for the inserts and the commit."""

    for work in works:
        item, times = work.item, work.times
        files = dict(work.rendered or {})
        secret_file = files.pop(ENV_FILE)
        work.rendered = None
        with times.step("write_files"):
            work.temporary = ws.customers_dir / f"{TEMP_PREFIX}{item.slug}-{secrets.token_hex(4)}"
            try:
                work.temporary.mkdir()
                write_folder(work.temporary, files)
            except OSError as exc:
                raise EnvironmentFailure(f"cannot write {ws.relative(work.temporary)}: "
                                         f"{exc.strerror}.") from None
        with times.step("write_secrets"):
            try:
                write_folder(work.temporary, {ENV_FILE: secret_file})
            except OSError as exc:
                raise EnvironmentFailure(f"cannot write the .env of {item.slug}: "
                                         f"{exc.strerror}.") from None

    # The rows in a few bulk statements (a thousand customers are a handful of INSERTs) on the
    # tables' Core clauses: no ORM objects to track, and no model classes to build for them.
    # The time of a shared statement is divided among the customers it served.
    with _shared_step(works, "create_record"):
        for work in works:
            work.customer = _customer_row(work.item, work.started_at)
        # RETURNING gives the ids in no promised order: matched back by slug (unique).
        by_slug = {w.item.slug: w for w in works}
        for new_id, slug in connection.execute(
                insert(customers).returning(customers.c.id, customers.c.slug),
                [vars(w.customer) for w in works]):
            by_slug[slug].customer_id = new_id
        # The events name the new customers by slug without reading them back at the commit.
        audit.customers_known(connection, {w.customer_id: w.item.slug for w in works})
        connection.execute(insert(api_keys), [
            {"customer_id": w.customer_id, "kind": kind, "environment": environment,
             "key_hash": apikeys.hash_key(key), "hint": apikeys.hint(key),
             "publishable_value": key if kind == "publishable" else None,
             "created_at": clock.to_db(w.started_at)}
            for w in works for (kind, environment), key in w.keys.items()])
        # The MRR ledger's first entry: the reports read MRR from the ledger, as of any week.
        connection.execute(insert(mrr_changes), [
            {"customer_id": w.customer_id, "kind": "start", "mrr_cents": w.customer.mrr_cents,
             "effective_at": w.customer.created_at, "recorded_at": w.customer.created_at}
            for w in works])
    with _shared_step(works, "record_session"):
        finished = clock.to_db(clock.now())
        by_customer = {w.customer_id: w for w in works}
        for new_id, customer_id in connection.execute(
                insert(onboarding_sessions).returning(onboarding_sessions.c.id,
                                                      onboarding_sessions.c.customer_id),
                [{"customer_id": w.customer_id, "customer_name": w.item.name, "mode": mode,
                  "outcome": "success", "error": None, "started_at": clock.to_db(w.started_at),
                  "finished_at": finished, "duration_s": w.times.total} for w in works]):
            by_customer[customer_id].session_id = new_id
        connection.execute(insert(onboarding_steps), [
            {"session_id": w.session_id, "position": n, "name": name, "duration_s": d,
             "outcome": o}
            for w in works for n, (name, d, o) in enumerate(w.times.steps, start=1)])
        for work in works:
            work.recorded_steps = len(work.times.steps)


@contextmanager
def _shared_step(works: list[_Work], name: str) -> Iterator[None]:
    """A step done once for all `works`: each records an equal share of its time (a failure is
    recorded on the first)."""
    began = clock.monotonic()
    try:
        testhooks.checkpoint(name)
        yield
    except BaseException:
        works[0].times.add(name, clock.monotonic() - began, "failed")
        raise
    share = (clock.monotonic() - began) / len(works)
    for work in works:
        work.times.add(name, share)


def _move_into_place(ws: Workspace, db: Database, works: list[_Work], mode: str) -> None:
    """After the commit: rename every temporary folder into place; if one cannot be, undo them
    all (rows deleted, folders removed) so the file stays one unit."""
    current: _Work | None = None
    try:
        for work in works:
            current = work
            with work.times.step("move_into_place"):
                assert work.temporary is not None
                target = ws.customer_dir(work.item.slug)
                if target.exists() or target.is_symlink():
                    raise EnvironmentFailure(f"{ws.relative(target)} appeared while onboarding; "
                                             "nothing was onboarded.")
                os.rename(work.temporary, target)
                work.placed = True
    except BaseException as exc:
        name = current.item.slug if current else "?"
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).rstrip(".")
        try:
            _compensate(ws, db, works, mode, exc)
        except Exception as undo:  # noqa: BLE001 - a full disk fails the undo too: say so
            waiting = [ws.relative(w.temporary) for w in works
                       if not w.placed and w.temporary is not None and w.temporary.exists()]
            why = str(undo).rstrip(".") if isinstance(undo, EnvironmentFailure) else (
                type(undo).__name__)
            raise EnvironmentFailure(
                f"cannot move the folder of {name} into place ({reason}), nor undo the "
                f"onboarding ({why}): {_names(works)} stay onboarded"
                + (f", with {', '.join(waiting)} to be renamed to customers/<slug> once there "
                   "is room (the next unmo onboard does it)" if waiting else "") + ".") from None
        if isinstance(exc, OSError):
            raise EnvironmentFailure(f"cannot move the folder of {name} into place: "
                                     f"{reason}; nothing was onboarded.") from None
        raise


def _compensate(ws: Workspace, db: Database, works: list[_Work], mode: str,
                exc: BaseException) -> None:
    ids = [w.customer_id for w in works if w.customer_id is not None]
    session_ids = [w.session_id for w in works if w.session_id is not None]
    with db.connection() as connection:
        connection.execute(delete(onboarding_sessions).where(
            onboarding_sessions.c.id.in_(session_ids)))
        connection.execute(delete(api_keys).where(api_keys.c.customer_id.in_(ids)))
        connection.execute(delete(customers).where(customers.c.id.in_(ids)))
    for work in works:
        if work.placed:
            shutil.rmtree(ws.customer_dir(work.item.slug), ignore_errors=True)
    _remove_temporaries(works)
    _record_failure(db, works, mode, exc)


def _remove_temporaries(works: list[_Work]) -> None:
    for work in works:
        if work.temporary is not None and work.temporary.exists():
            shutil.rmtree(work.temporary, ignore_errors=True)


def _record_failure(db: Database, works: list[_Work], mode: str, exc: BaseException) -> None:
    """A failed onboarding is recorded on its own, without customer rows."""
    outcome = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    reason = str(exc) if isinstance(exc, EnvironmentFailure) else type(exc).__name__
    try:
        with db.connection() as connection:
            for work in works:
                _add_session(connection, work.item.name, mode, outcome, reason, work.started_at,
                             work.times)
    except Exception:  # noqa: BLE001 - the original failure is what the user must see
        pass


def record_cancelled(ws: Workspace, name: str | None, mode: str, duration_s: float,
                     steps: list[tuple[str, float, str]] | None = None) -> None:
    """An onboarding the user cancelled (Ctrl-C at a prompt or "no" at the confirm)."""

    times = StepTimes(list(steps or [("collect_answers", duration_s, "cancelled")]))
    db = open_database(ws)
    try:
        with db.connection() as connection:
            _add_session(connection, name or "", mode, "cancelled", "cancelled by the user",
                         clock.now(), times)
    finally:
        db.dispose()


def _add_session(connection: Connection, name: str, mode: str, outcome: str, error: str | None,
                 started_at: datetime, times: StepTimes) -> None:
    session_id = connection.execute(insert(onboarding_sessions).values(
        customer_id=None, customer_name=name[:MAX_NAME], mode=mode, outcome=outcome, error=error,
        started_at=clock.to_db(started_at), finished_at=clock.to_db(clock.now()),
        duration_s=times.total).returning(onboarding_sessions.c.id)).scalar_one()
    if times.steps:
        connection.execute(insert(onboarding_steps), [
            {"session_id": session_id, "position": n, "name": step, "duration_s": d,
             "outcome": o} for n, (step, d, o) in enumerate(times.steps, 1)])


def _finish_sessions(db: Database, works: list[_Work]) -> list[str]:
    """Add the steps that could only be timed after the commit (record_session, commit,
    move_into_place) and the final durations. The customers are onboarded by now, so a failure
    here (a full disk, a lost server) must not say otherwise: it becomes a warning, and the
    sessions keep the steps and durations recorded at the commit."""

    try:
        testhooks.fail_at("finish_sessions")
        _record_timings(db, works)
    except (EnvironmentFailure, SQLAlchemyError, OSError) as exc:
        reason = str(exc).rstrip(".") if isinstance(exc, EnvironmentFailure) else (
            exc.strerror if isinstance(exc, OSError) else type(exc).__name__)
        done = "is" if len(works) == 1 else "are"
        return [f"{_names(works)} {done} onboarded, but the timing of the last steps could not "
                f"be recorded ({reason}); `customer show` gives the durations up to the "
                "commit."]
    return []


def _names(works: list[_Work]) -> str:
    names = ", ".join(w.item.slug for w in works[:3])
    return names + (f" and {len(works) - 3} more" if len(works) > 3 else "")


def _record_timings(db: Database, works: list[_Work]) -> None:
    finished = clock.to_db(clock.now())
    with db.connection() as connection:
        connection.execute(insert(onboarding_steps), [
            {"session_id": w.session_id, "position": w.recorded_steps + n, "name": name,
             "duration_s": d, "outcome": o}
            for w in works
            for n, (name, d, o) in enumerate(w.times.steps[w.recorded_steps:], start=1)])
        connection.execute(
            update(onboarding_sessions)
            .where(onboarding_sessions.c.id == bindparam("session_id"))
            .values(duration_s=bindparam("total", type_=Float()),
                    finished_at=bindparam("finished", type_=DateTime())),
            [{"session_id": w.session_id, "total": w.times.total, "finished": finished}
             for w in works])


def _result(ws: Workspace, work: _Work) -> OnboardResult:
    assert work.customer is not None
    return OnboardResult(
        customer=customer_json(work.customer),
        directory=ws.relative(ws.customer_dir(work.item.slug)),
        files=work.files,
        keys=_key_list(work.keys),
        onboarding={"duration_s": round(work.times.total, 6), "steps": work.times.as_json()},
        secrets={f"{k}_{e}": v for (k, e), v in work.keys.items()},
    )


def _dry_run(ws: Workspace, work: _Work) -> OnboardResult:
    """What would be created, computed in memory with placeholder keys; nothing is written."""

    placeholder = {(k, e): apikeys.prefix(k, e) + "0" * 28
                   for k in ("publishable", "secret") for e in apikeys.ENVIRONMENTS}
    keys = FolderKeys(
        publishable={e: placeholder[("publishable", e)] for e in apikeys.ENVIRONMENTS},
        secret_hints={e: apikeys.prefix("secret", e) + "…" for e in apikeys.ENVIRONMENTS},
        secret={e: placeholder[("secret", e)] for e in apikeys.ENVIRONMENTS},
    )
    files = render_customer_folder(ws.templates_dir, _profile(work.item, work.started_at), keys,
                                   ws.settings.api.public_url)
    return OnboardResult(
        customer=customer_json(_customer_row(work.item, work.started_at)),
        directory=ws.relative(ws.customer_dir(work.item.slug)),
        files=sorted(files), keys=_key_list(None), onboarding=None, dry_run=True,
    )
