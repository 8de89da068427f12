"""Customer health: checking every integration against the attribution API (`unmo health`), the
classification of what a check saw, its record and the Gatus-style health alerts. The health
summary and score `customer show` prints live in services/summaries.py (re-exported here).

Over 500 lines as one module: one check's life (request, classification, record, alerts)
read in order; splitting is left to the owners of the health speed work."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, or_, select

from unmo_cli import apikeys, clock, testhooks
from unmo_cli.attribution_api import AttributionApi, read_json, validate_base_url
from unmo_cli.db import lock_for_update
from unmo_cli.db.tables import alerts, customers, health_checks
from unmo_cli.errors import EnvironmentFailure, InputError, NotFound, UnmoError
from unmo_cli.files import check_output_path
from unmo_cli.services.alerts import deliver_pending, delivery_notice, headline, record_alert
from unmo_cli.services.customer_folder import ENV_FILE, ENV_NAMES, read_env_file
from unmo_cli.services.customer_lookup import customer_row, open_existing, unknown_customer
from unmo_cli.services.maintenance import windows_at
from unmo_cli.services.summaries import (  # noqa: F401 (re-exported)
    TECHNICAL_WINDOW,
    health_summary,
)
from unmo_cli.services.summaries import unhealthy_services as _unhealthy
from unmo_cli.services.triggers import fire_playbooks
from unmo_cli.text import one_line
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

    from unmo_cli.attribution_api import ApiAnswer, AttributionApi
    from unmo_cli.db import Database
    from unmo_cli.workspace import Settings, Workspace

STATUSES = ("healthy", "degraded", "unauthorized", "down", "error", "maintenance")
FAIL_ON = ("degraded", "down")
HEALTH_BODY_STATUSES = ("healthy", "degraded", "unhealthy")
SERVICE_STATUSES = ("healthy", "unhealthy")
MAX_CONCURRENCY = 512
MAX_RETRIES = 10
# Bounds of what a Health answer may hold before unmo prints and stores it: the platform has a
# handful of services, and installs are stored in a 32-bit column.
MAX_SERVICES = 64
MAX_SERVICE_NAME = 64
MAX_INSTALLS = 2**31 - 1
_SECRET_RE = re.compile(r"unmo_sk_(?:live|test)_[0-9A-Za-z]{4,}")
_DATE_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$"
)

ProgressFactory = Callable[[int, str], AbstractContextManager[Callable[..., None]]]

# --- classification (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class HealthProbe:
    """Everything one check saw, before it is judged. `transport_failure` is set when GET /health
    got no HTTP answer after its retries, `refused` when it answered with a body unmo would not
    read (ApiAnswer.refused); the `analytics_*` fields only for a launched customer whose /health
    answered. `internal_failure` is set when unmo itself failed during the check."""

    credential_problem: str | None = None
    http_status: int | None = None
    body: bytes = b""
    latency_ms: float | None = None
    transport_failure: str | None = None
    refused: str | None = None
    attempts: int = 1
    timeout_s: float = 5.0
    launched: bool = False
    installs_day: str | None = None  # the UTC date the installs were asked for
    analytics_status: int | None = None
    analytics_body: bytes = b""
    analytics_failure: str | None = None
    analytics_refused: str | None = None
    internal_failure: str | None = None


@dataclass(frozen=True)
class Verdict:
    status: str
    error: str | None = None
    services: dict[str, str] | None = None
    installs: int | None = None


def classify_health(probe: HealthProbe) -> Verdict:
    """The contract's table (cli.md, `unmo health`), first match wins:

    - error: nothing to check with (no .env, no or malformed live secret key), or unmo itself
      failed during the check;
    - down: no HTTP answer (connection refused, timeout) after retries, or an answer slower than
      the timeout;
    - down: an answer whose body unmo refused to read (over 1 MiB once inflated, an encoding it
      did not ask for), from GET /health or, for a launched customer, the analytics call;
    - unauthorized: 401 or 403;
    - degraded: 503 (whatever its body);
    - down: any other 5xx, any status the API does not document for /health (404, 429, 3xx …),
      or a 200 whose body is not the documented Health JSON;
    - degraded: a body `status` other than healthy, any service unhealthy, or — for a customer in
      the `launch` phase — no installs over the last day (last_complete_day), or installs that
      could not be read;
    - healthy otherwise."""
    if probe.credential_problem:
        return Verdict("error", probe.credential_problem)
    if probe.internal_failure:
        return Verdict("error", probe.internal_failure)
    tries = f" after {probe.attempts} attempt{'s' if probe.attempts != 1 else ''}"
    if probe.http_status is None:
        return Verdict("down", (probe.transport_failure or "no answer") + tries)
    if probe.latency_ms is not None and probe.latency_ms > probe.timeout_s * 1000:
        return Verdict("down", f"answered in {probe.latency_ms:g} ms, over the "
                               f"{probe.timeout_s:g} s timeout")
    code = probe.http_status
    if probe.refused:
        return Verdict("down", f"HTTP {code} from GET /health with a body unmo refused: "
                               f"{probe.refused}")
    if probe.launched and probe.analytics_refused:
        return Verdict("down", f"HTTP {probe.analytics_status} from GET /analytics/attribution "
                               f"with a body unmo refused: {probe.analytics_refused}")
    document, problem = _health_document(probe.body)
    services = document["services"] if document is not None else None
    if code in (401, 403):
        said = _server_error(probe.body)
        return Verdict("unauthorized", f"HTTP {code}: the API refused the live secret key (wrong, "
                                       f"revoked or unknown to the platform)"
                                       + (f": {said}" if said else ""))
    if code == 503:
        unhealthy = _unhealthy(services)
        return Verdict("degraded", "HTTP 503: the API reports degraded service"
                       + (f"; unhealthy: {', '.join(unhealthy)}" if unhealthy else ""),
                       services, _installs_of(probe)[0])
    if code >= 500:
        return Verdict("down", f"HTTP {code}{tries}")
    if code != 200:
        return Verdict("down", f"unexpected HTTP {code} from GET /health")
    if document is None:
        return Verdict("down", f"HTTP 200 but the body is not the documented Health JSON: "
                               f"{problem}")
    unhealthy = _unhealthy(services)
    installs, installs_problem = _installs_of(probe)
    if document["status"] != "healthy":
        return Verdict("degraded", f"the API reports status {document['status']!r}"
                       + (f"; unhealthy: {', '.join(unhealthy)}" if unhealthy else ""),
                       services, installs)
    if unhealthy:
        return Verdict("degraded", f"unhealthy: {', '.join(unhealthy)}", services, installs)
    if probe.launched:
        day = (f"on {probe.installs_day} (the last complete UTC day)" if probe.installs_day
               else "over the last day")
        if installs_problem:
            return Verdict("degraded", f"installs {day} unknown: {installs_problem}",
                           services, None)
        if installs == 0:
            return Verdict("degraded", f"no installs {day} for a launched customer", services,
                           0)
    return Verdict("healthy", None, services, installs)


def health_body_problem(document: Any) -> str | None:
    """Why `document` is not the documented Health object (required status, timestamp, version,
    services, uptime with their types), or None when it is."""
    if not isinstance(document, dict):
        return "not a JSON object"
    missing = [k for k in ("status", "timestamp", "version", "services", "uptime")
               if k not in document]
    if missing:
        return "missing " + ", ".join(missing)
    if document["status"] not in HEALTH_BODY_STATUSES:
        return "status is not one of " + ", ".join(HEALTH_BODY_STATUSES)
    stamp = document["timestamp"]
    if not isinstance(stamp, str) or not _DATE_TIME_RE.match(stamp) or _bad_instant(stamp):
        return "timestamp is not an ISO 8601 date-time"
    if not isinstance(document["version"], str):
        return "version is not a string"
    services = document["services"]
    if not isinstance(services, dict) or not all(
            isinstance(k, str) and v in SERVICE_STATUSES for k, v in services.items()):
        return "services is not an object of healthy/unhealthy"
    if len(services) > MAX_SERVICES:
        return f"services lists {len(services):,} entries, more than {MAX_SERVICES}"
    if any(len(name) > MAX_SERVICE_NAME for name in services):
        return f"a service name is longer than {MAX_SERVICE_NAME} characters"
    uptime = document["uptime"]
    if isinstance(uptime, bool) or not isinstance(uptime, int) or uptime < 0:
        return "uptime is not a whole number of seconds"
    return None


def attribution_installs(body: bytes) -> tuple[int | None, str | None]:
    """`metrics.total_installs` of an AttributionAnalytics body, or why it cannot be read."""
    document, problem = read_json(body)
    if problem:
        return None, f"the analytics body is not accepted: {problem}"
    if not isinstance(document, dict) or any(
            k not in document for k in ("period", "attribution_model", "metrics", "campaigns")):
        return None, "the analytics body is not the documented AttributionAnalytics JSON"
    figures = document["metrics"]
    installs = figures.get("total_installs") if isinstance(figures, dict) else None
    if isinstance(installs, bool) or not isinstance(installs, int) or installs < 0:
        return None, "the analytics body has no metrics.total_installs"
    if installs > MAX_INSTALLS:
        return None, f"metrics.total_installs is over {MAX_INSTALLS:,}, not a plausible count"
    return installs, None


def _bad_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        return True
    return False


def _health_document(body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    document, problem = read_json(body)
    if problem:
        return None, problem
    problem = health_body_problem(document)
    return (None, problem) if problem else (document, None)


def _installs_of(probe: HealthProbe) -> tuple[int | None, str | None]:
    if not probe.launched:
        return None, None
    if probe.analytics_status is None:
        return None, (probe.analytics_failure or "no answer") + " from GET /analytics/attribution"
    if probe.analytics_status != 200:
        return None, f"GET /analytics/attribution answered HTTP {probe.analytics_status}"
    return attribution_installs(probe.analytics_body)


def _server_error(body: bytes) -> str | None:
    document, _problem = read_json(body)
    said = document.get("error") if isinstance(document, dict) else None
    return said[:200] if isinstance(said, str) and said.strip() else None


def is_failure(status: str, fail_on: str = "degraded") -> bool:
    """Whether a status fails the run. `--fail-on degraded` (the default): anything not healthy.
    `--fail-on down` tolerates degraded only; unauthorized and error still fail, since those
    customers could not be checked at all. `maintenance` (inside a planned window) never
    fails."""
    if status in ("healthy", "maintenance"):
        return False
    return not (fail_on == "down" and status == "degraded")


def _server_words(text: str | None, secrets: Iterable[str]) -> str | None:
    """What a server said, fit to print and record: no secret key, and on one line of storable
    text (text.one_line: ESC sequences would drive the reader's terminal, line breaks would
    split a CI log line, a lone surrogate from a JSON escape could not be printed or stored)."""
    if text is None:
        return None

    return one_line(scrub_secrets(text, secrets) or "")


def scrub_secrets(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    """`text` with every secret key (the given ones, and anything shaped like one) replaced by
    its hint: error text may quote what a server said, and a server may echo a key."""
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, apikeys.hint(secret))
    return _SECRET_RE.sub(lambda m: apikeys.hint(m.group(0)), text)


# --- health alerts (pure state machine) ---------------------------------------------------------


def next_health_alert(recent: list[str], alert_open: bool, failure_threshold: int,
                      success_threshold: int) -> str | None:
    """Gatus-style thresholds over a customer's recorded statuses, newest first.

    Two states: *closed* (no health alert open) and *open* (the last health alert raised for the
    customer is `health_failing`). Closed → open, raising `health_failing`, when the newest
    `failure_threshold` checks are all not healthy. Open → closed, raising `health_resolved`,
    when the newest `success_threshold` checks are all healthy. Nothing else raises an alert, so
    a customer that keeps failing gets one alert, not one per check."""
    if not alert_open:
        window = recent[:failure_threshold]
        if len(window) == failure_threshold and all(s != "healthy" for s in window):
            return "health_failing"
        return None
    window = recent[:success_threshold]
    if len(window) == success_threshold and all(s == "healthy" for s in window):
        return "health_resolved"
    return None


# --- the run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthRequest:
    """What `unmo health` was asked; None timeout means the workspace's api.timeout_s."""

    slugs: tuple[str, ...] = ()
    all_customers: bool = False
    timeout_s: float | None = None
    concurrency: int = 32
    retries: int = 2
    fail_on: str = "degraded"
    record: bool = True
    output: Path | None = None


@dataclass(frozen=True)
class CustomerHealth:
    customer: str
    status: str
    http_status: int | None
    latency_ms: float | None
    error: str | None
    services: dict[str, str] | None
    installs: int | None
    attempts: int
    duration_ms: float
    phase: str

    @property
    def unhealthy_services(self) -> list[str]:
        return _unhealthy(self.services)

    def as_json(self) -> dict[str, Any]:
        return {"customer": self.customer, "status": self.status,
                "http_status": self.http_status, "latency_ms": self.latency_ms,
                "error": self.error, "services": self.services, "installs": self.installs,
                "attempts": self.attempts, "duration_ms": self.duration_ms, "phase": self.phase}


@dataclass
class HealthRun:
    checked_at: datetime
    fail_on: str
    results: list[CustomerHealth]
    duration_s: float = 0.0
    recorded: bool = True
    alerts: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        counts = {"total": len(self.results)} | {status: 0 for status in STATUSES}
        for result in self.results:
            counts[result.status] += 1
        return counts

    @property
    def failures(self) -> list[CustomerHealth]:
        return [r for r in self.results if is_failure(r.status, self.fail_on)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe(self) -> str:
        """One line for stderr: "5 checked: 3 healthy, 1 degraded, 1 down"."""
        counts = self.summary
        parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
        return f"{counts['total']} checked: " + (", ".join(parts) if parts else "none") + "."


@dataclass(frozen=True)
class _Target:
    customer_id: int
    slug: str
    phase: str
    secret: str | None
    problem: str | None
    maintenance: str | None = None  # the window's words, when inside one: not called


def run_health(request: HealthRequest, *, workspace: Workspace | None = None,
               progress: ProgressFactory | None = None,
               now: datetime | None = None) -> HealthRun:
    """Check the requested customers (`unmo health`), record each result as a health_checks row in
    one transaction (unless request.record is False), raise and deliver health alerts.

    With neither slugs nor --all, every active customer is checked (like `--all`); customers
    named explicitly are checked even when churned — `--all` skips churned ones. `now` (default
    clock.now(), so UNMO_NOW) is the run's checked_at and decides "the last day" of the installs
    check; a run dated in the past checks the customers as they were then (select_customers) and
    its alerts follow the checks recorded up to then.

    A workspace without a database has no customers: nothing is checked, no database is
    created (health only reads until it has results to record), and the run is empty — exit 0,
    with a warning, so a CI job pointed at the wrong folder does not pass unnoticed. Named
    customers there are unknown (exit 2)."""

    ws = workspace or load_workspace()
    settings = ws.settings
    timeout_s = settings.api.timeout_s if request.timeout_s is None else request.timeout_s
    _validate_request(request, timeout_s)
    base_url = validate_base_url(settings.api.base_url, origin=_origin_of_base_url(ws))
    if request.output is not None:
        check_output_path(request.output)

    checked_at = now or clock.now()
    ws, db = open_existing(ws)
    if db is None:
        if request.slugs:
            raise unknown_customer(*dict.fromkeys(request.slugs))
        return HealthRun(checked_at=checked_at, fail_on=request.fail_on, results=[],
                         recorded=False, warnings=[NOTHING_TO_CHECK])
    try:
        # Core statements on db/tables.py's clauses, plain rows: a run builds no model classes
        # and imports neither SQLModel, pydantic nor SQLAlchemy's ORM.
        with db.connection() as connection:
            chosen = select_customers(connection, request.slugs, request.all_customers,
                                      at=checked_at)
            windows = windows_at(connection, [c.id for c in chosen], checked_at)
        targets = [_target(ws, c, windows.get(c.id)) for c in chosen]
        started = clock.monotonic()
        called = [t for t in targets if t.maintenance is None]
        probes = iter(_probe(called, base_url, timeout_s, request, checked_at, progress))
        results = [_in_maintenance(t) if t.maintenance is not None else _result(t, *next(probes))
                   for t in targets]
        run = HealthRun(checked_at=checked_at, fail_on=request.fail_on, results=results,
                        duration_s=round(clock.monotonic() - started, 3),
                        recorded=request.record and bool(results))
        if not results:
            run.warnings.append(NOTHING_TO_CHECK)
        if request.record and results:
            _record(db, ws, run, targets)
    finally:
        db.dispose()
    return run


NOTHING_TO_CHECK = ("nothing to check: the workspace has no active customers (is this the "
                    "right workspace? see `unmo customer list`).")


def _validate_request(request: HealthRequest, timeout_s: float) -> None:
    if request.slugs and request.all_customers:
        raise InputError("pass customer slugs or --all, not both.")
    if request.fail_on not in FAIL_ON:
        raise InputError(f"--fail-on {request.fail_on!r} is not one of: {', '.join(FAIL_ON)}.")
    if not 1 <= request.concurrency <= MAX_CONCURRENCY:
        raise InputError(f"--concurrency {request.concurrency} must be between 1 and "
                         f"{MAX_CONCURRENCY}.")
    if not 0 <= request.retries <= MAX_RETRIES:
        raise InputError(f"--retries {request.retries} must be between 0 and {MAX_RETRIES}.")
    if not timeout_s > 0 or timeout_s > 600:
        raise InputError(f"timeout {timeout_s:g} (--timeout or api.timeout_s) must be more than 0 "
                         "and at most 600 seconds.")


def _origin_of_base_url(ws: Workspace) -> str:
    if os.environ.get("UNMO_API_URL"):
        return "UNMO_API_URL"
    return f"api.base_url in {ws.config_file}" if ws.config_file else "api.base_url"


def select_customers(connection: Connection, slugs: Iterable[str], all_customers: bool,
                     at: datetime | None = None) -> list[Row[Any]]:
    """The customers to check at instant `at` (default now): those named (by slug or exact name;
    every unknown one reported at once, and so is one created after `at`), or every customer
    active at `at` — created by then and not churned by then. Ordered by slug for stable
    output."""

    instant = clock.to_db(at or clock.now())
    names = list(dict.fromkeys(slugs))
    if not names:
        query = select(customers).where(
            customers.c.created_at <= instant,
            or_(customers.c.churned_at.is_(None), customers.c.churned_at > instant))
        return list(connection.execute(query.order_by(customers.c.slug)).all())

    found: dict[int, Row[Any]] = {}
    unknown: list[str] = []
    for name in names:
        try:
            customer = customer_row(connection, name)
        except NotFound:
            unknown.append(name)
            continue
        found[customer.id] = customer
    if unknown:  # every one at once, so a CI job's typos are fixed in one go
        raise unknown_customer(*unknown)
    later = sorted(c.slug for c in found.values() if c.created_at > instant)
    if later:
        when = clock.iso(instant)
        were = "it was" if len(later) == 1 else "they were"
        raise InputError(f"{', '.join(later)} did not exist yet at {when}, the instant this "
                         f"check is dated (UNMO_NOW): {were} created later.")
    return sorted(found.values(), key=lambda c: c.slug)


def read_live_secret(ws: Workspace, slug: str) -> tuple[str | None, str | None]:
    """The live secret key from customers/<slug>/.env, or (None, why there is none) — the why
    never quotes the file's content."""

    path = ws.customer_dir(slug) / ENV_FILE
    shown = ws.relative(path)
    variable = ENV_NAMES[("secret", "live")]
    if not path.is_file():
        return None, f"no {shown}: nothing to check with (restore it, or run " \
                     f"`unmo keys rotate {slug} --kind secret --env live`)"
    try:
        value = read_env_file(path).get(variable)
    except (EnvironmentFailure, UnicodeDecodeError) as exc:
        reason = str(exc) if isinstance(exc, EnvironmentFailure) else f"{shown} is not UTF-8"
        return None, reason.rstrip(".")
    if not value:
        return None, f"{shown} has no {variable}: nothing to check with"
    try:
        shape = apikeys.parse(value)
    except apikeys.MalformedKey as exc:
        return None, f"{variable} in {shown} is malformed: {exc}"
    if shape.kind != "secret" or shape.environment != "live":
        return None, f"{variable} in {shown} is a {shape.kind} {shape.environment} key, " \
                     "not a live secret key"
    return value, None


def _target(ws: Workspace, customer: Row[Any], window: Any = None) -> _Target:
    if window is not None:  # planned maintenance: the API is not called, so no key is read
        words = f"maintenance window #{window.id} until {clock.iso(window.end_at)}: " \
                f"{window.reason}"
        return _Target(customer.id, customer.slug, customer.phase, None, None, words)
    try:
        secret, problem = read_live_secret(ws, customer.slug)
    except UnmoError as exc:  # this customer's folder (a link out of the workspace, say)
        secret, problem = None, str(exc).rstrip(".")
    except Exception as exc:  # one customer's folder, not the run
        secret, problem = None, _internal_failure("read", exc)
    return _Target(customer.id, customer.slug, customer.phase, secret, problem)


def _probe(targets: list[_Target], base_url: str, timeout_s: float, request: HealthRequest,
           now: datetime, progress: ProgressFactory | None
           ) -> list[tuple[HealthProbe, float]]:
    """Run every customer's calls on one event loop and one client; (probe, duration ms) each."""
    if not targets:
        return []
    if progress is None:
        return asyncio.run(_probe_all(targets, base_url, timeout_s, request, now, lambda: None))
    with progress(len(targets), "checking customers") as advance:
        return asyncio.run(_probe_all(targets, base_url, timeout_s, request, now, advance))


async def _probe_all(targets: list[_Target], base_url: str, timeout_s: float,
                     request: HealthRequest, now: datetime, advance: Callable[[], None]
                     ) -> list[tuple[HealthProbe, float]]:
    day = last_complete_day(now).isoformat()
    # `concurrency` workers take the customers in turn, each waiting for its calls: as many in
    # flight as asked, without a task per customer.
    pending = iter(enumerate(targets))
    probes: list[tuple[HealthProbe, float]] = [(HealthProbe(), 0.0)] * len(targets)

    async with AttributionApi(base_url, timeout_s=timeout_s, concurrency=request.concurrency,
                              retries=request.retries) as api:

        async def check(target: _Target) -> tuple[HealthProbe, float]:
            if target.secret is None:
                return HealthProbe(credential_problem=target.problem, timeout_s=timeout_s), 0.0
            started = clock.monotonic()
            try:
                probe = await _probe_one(api, target.secret, target.phase, day, timeout_s)
            except Exception as exc:  # one customer's check, not the run
                probe = HealthProbe(internal_failure=_internal_failure("check", exc),
                                    timeout_s=timeout_s)
            return probe, round((clock.monotonic() - started) * 1000, 1)

        async def worker() -> None:
            for index, target in pending:
                probes[index] = await check(target)
                advance()

        await asyncio.gather(*(worker() for _ in range(min(request.concurrency, len(targets)))))
    return probes


async def _probe_one(api: AttributionApi, secret: str, phase: str, day: str, timeout_s: float
                     ) -> HealthProbe:
    health = await api.get_health(secret)
    analytics: ApiAnswer | None = None
    launched = phase == "launch"
    if launched and health.status_code in (200, 503) and health.refused is None:
        analytics = await api.get_attribution(secret, day, day)
    return HealthProbe(
        http_status=health.status_code, body=health.body, latency_ms=health.latency_ms,
        transport_failure=health.failure, refused=health.refused, attempts=health.attempts,
        timeout_s=timeout_s, launched=launched, installs_day=day,
        analytics_status=analytics.status_code if analytics else None,
        analytics_body=analytics.body if analytics else b"",
        analytics_failure=analytics.failure if analytics else None,
        analytics_refused=analytics.refused if analytics else None,
    )


def _internal_failure(stage: str, exc: BaseException) -> str:
    """The `error` verdict's words when unmo itself failed on one customer: the run goes on,
    records it and says so; UNMO_DEBUG=1 adds the traceback to stderr."""
    if os.environ.get("UNMO_DEBUG") == "1":
        traceback.print_exception(exc, file=sys.stderr)
    doing = {"check": "checked", "judge": "judged", "read": "read the key of"}[stage]
    return (f"unmo failed while it {doing} this customer ({type(exc).__name__}); this is a bug "
            "in unmo, run again with UNMO_DEBUG=1 to see the traceback")


def _in_maintenance(target: _Target) -> CustomerHealth:
    """A customer inside a maintenance window: recorded as `maintenance`, without a call."""
    return CustomerHealth(customer=target.slug, status="maintenance", http_status=None,
                          latency_ms=None, error=target.maintenance, services=None,
                          installs=None, attempts=0, duration_ms=0.0, phase=target.phase)


def _result(target: _Target, probe: HealthProbe, duration_ms: float) -> CustomerHealth:
    try:
        return _judged(target, probe, duration_ms)
    except Exception as exc:  # one customer's verdict, not the run
        failed = HealthProbe(internal_failure=_internal_failure("judge", exc),
                             timeout_s=probe.timeout_s)
        return _judged(target, failed, duration_ms, attempts=probe.attempts)


def _judged(target: _Target, probe: HealthProbe, duration_ms: float,
            attempts: int | None = None) -> CustomerHealth:
    verdict = classify_health(probe)
    secrets = [target.secret] if target.secret else []
    return CustomerHealth(
        customer=target.slug, status=verdict.status,
        http_status=probe.http_status, latency_ms=probe.latency_ms,
        error=_server_words(verdict.error, secrets),
        # Service names are the server's words too: a server that echoes the key there, or
        # sends terminal escapes, must not get them printed or recorded.
        services=None if verdict.services is None else {
            _server_words(name, secrets) or "": _server_words(state, secrets) or ""
            for name, state in verdict.services.items()},
        installs=verdict.installs,
        attempts=(probe.attempts if attempts is None else attempts) if target.secret else 0,
        duration_ms=duration_ms, phase=target.phase,
    )


def last_complete_day(now: datetime) -> date:
    """"The last day" of the contract's installs check, for an API whose periods are whole,
    inclusive UTC dates: the last complete UTC day before `now` — yesterday (UTC). One whole day,
    so the count does not depend on the hour of the check (today so far would read zero
    installs just after midnight, and yesterday-plus-today would be up to two days). The price:
    a customer launched today is judged on yesterday, which the verdict names."""
    return now.astimezone(UTC).date() - timedelta(days=1)


# --- the record and the alerts -------------------------------------------------------------------


def _record(db: Database, ws: Workspace, run: HealthRun, targets: list[_Target]) -> None:
    """One transaction: every result as a health_checks row, then the health alerts those rows
    call for (stored before any webhook is tried); delivery follows the commit."""

    at = clock.to_db(run.checked_at)
    rows = [{"customer_id": t.customer_id, "checked_at": at, "status": r.status,
             "http_status": r.http_status, "latency_ms": r.latency_ms, "error": r.error,
             "services": json.dumps(r.services, sort_keys=True) if r.services is not None
             else None, "installs": r.installs}
            for t, r in zip(targets, run.results, strict=True)]
    with db.connection() as connection:
        # Runs checking the same customers take turns from here, so each one's alert decision
        # reads the history and open alerts the one before it committed (no alert twice).
        lock_for_update(connection, customers, sorted({t.customer_id for t in targets}))
        connection.execute(insert(health_checks), rows)
        run.alerts = raise_health_alerts(connection, {t.customer_id: r for t, r in
                                                   zip(targets, run.results, strict=True)},
                                         ws.settings, run.checked_at)
        testhooks.checkpoint("health-record")  # decided and stored, not committed
    if run.alerts:
        run.warnings.extend(_deliver(ws, db, [a["id"] for a in run.alerts]))


def raise_health_alerts(connection: Connection, latest: dict[int, CustomerHealth],
                        settings: Settings, now: datetime) -> list[dict[str, Any]]:
    """Apply next_health_alert to each checked customer's recorded history (the newest
    max(thresholds) rows, this run's included) and store the alerts it calls for."""

    latest = {i: r for i, r in latest.items() if r.status != "maintenance"}
    if not latest:
        return []
    failure_n = settings.alerts.health_failure_threshold
    success_n = settings.alerts.health_success_threshold
    depth = max(failure_n, success_n)
    ids = list(latest)
    # As of `now`: a run dated in the past (UNMO_NOW) must not read checks or alerts recorded
    # after it.
    at = clock.to_db(now)
    check, alert = health_checks.c, alerts.c
    rank = func.row_number().over(partition_by=check.customer_id,
                                  order_by=(check.checked_at.desc(),
                                            check.id.desc())).label("rank")
    # Checks inside maintenance windows are not part of a customer's streak.
    ranked = (select(check.customer_id, check.status, rank)
              .where(check.customer_id.in_(ids), check.checked_at <= at,
                     check.status != "maintenance").subquery())
    history: dict[int, list[str]] = {i: [] for i in ids}
    for customer_id, status, _rank in connection.execute(
            select(ranked).where(ranked.c.rank <= depth)
            .order_by(ranked.c.customer_id, ranked.c.rank)):
        history[customer_id].append(status)
    newest = (select(func.max(alert.id))
              .where(alert.rule.in_(("health_failing", "health_resolved")),
                     alert.customer_id.in_(ids), alert.created_at <= at)
              .group_by(alert.customer_id))
    open_ids = {customer_id for customer_id, rule in connection.execute(
        select(alert.customer_id, alert.rule).where(alert.id.in_(newest)))
        if rule == "health_failing"}
    raised = []
    names: dict[int, str] = {}
    for customer_id, result in latest.items():
        rule = next_health_alert(history[customer_id], customer_id in open_ids,
                                 failure_n, success_n)
        if rule is None:
            continue
        if not names:
            names = {i: n for i, n in connection.execute(
                select(customers.c.id, customers.c.name).where(customers.c.id.in_(ids)))}
        text = _alert_text(rule, names.get(customer_id, result.customer), result, failure_n,
                           success_n)
        alert_id = record_alert(connection, customer_id, rule, text, None, created_at=now)
        raised.append({"id": alert_id, "customer": result.customer, "rule": rule, "text": text,
                       "customer_id": customer_id})
    fire_playbooks(connection, settings, [(a.pop("customer_id"), a["rule"]) for a in raised],
                   now=now)
    return raised


def _alert_text(rule: str, name: str, result: CustomerHealth, failure_n: int,
                success_n: int) -> str:
    if rule == "health_failing":
        why = (f"Integration not healthy for {failure_n} checks in a row; last check: "
               f"{result.status} — {result.error or 'no detail'}.")
    else:
        why = f"Integration healthy again: {success_n} healthy checks in a row."
    return f"{headline(rule, name, result.customer)}\n{why}"


def _deliver(ws: Workspace, db: Database, alert_ids: list[int]) -> list[str]:
    """Post the alerts just raised; a dead webhook leaves them pending (for `unmo alerts
    notify`) and never changes the health verdict or the exit code."""

    notice = delivery_notice(deliver_pending(ws, db, alert_ids))
    return [notice] if notice else []


# --- outputs -------------------------------------------------------------------------------------


def health_document(run: HealthRun) -> dict[str, Any]:
    """The contract's JSON: checked_at, summary, results (plus fail_on, passed, duration_s,
    alerts; and per result installs, attempts, duration_ms, phase)."""
    return {"checked_at": clock.iso(run.checked_at), "summary": run.summary,
            "results": [r.as_json() for r in run.results], "fail_on": run.fail_on,
            "passed": run.passed, "duration_s": run.duration_s, "recorded": run.recorded,
            "alerts": [{"id": a["id"], "customer": a["customer"], "rule": a["rule"]}
                       for a in run.alerts]}


def failure_text(result: CustomerHealth) -> str:
    """Why a customer is not healthy, in one line (JUnit's message attribute and text)."""
    return f"{result.status}: {result.error or 'no detail'}"


def junit_xml(run: HealthRun) -> str:
    """One <testsuite name="unmo-health">, one <testcase> per customer (time = its check's
    duration), a <failure> for each not healthy whose message attribute and text both say why
    (some CI systems read only one of them); a customer inside a maintenance window is
    <skipped> (message: the window)."""

    skipped = [r for r in run.results if r.status == "maintenance"]
    not_healthy = [r for r in run.results if r.status not in ("healthy", "maintenance")]
    suite = ET.Element("testsuite", {
        "name": "unmo-health", "tests": str(len(run.results)),
        "failures": str(len(not_healthy)), "errors": "0", "skipped": str(len(skipped)),
        "time": f"{run.duration_s:.3f}", "timestamp": clock.iso(run.checked_at) or "",
    })
    for result in run.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": "unmo.health", "name": result.customer,
            "time": f"{result.duration_ms / 1000:.3f}",
        })
        if result.status == "maintenance":
            ET.SubElement(case, "skipped", {"message": result.error or "maintenance"})
        elif result.status != "healthy":
            why = failure_text(result)
            failure = ET.SubElement(case, "failure", {"message": why, "type": result.status})
            failure.text = why
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
