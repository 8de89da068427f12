"""`unmo sandbox`: a local stand-in for the attribution API (docs/attribution-api.yaml, packaged
and served at /v1/openapi.yaml) over real HTTP, accepting the workspace's non-revoked secret keys
by their SHA-256 hash, with per-customer scenarios for demos and tests. It conforms to that spec
under Schemathesis (tests/test_sandbox_conformance.py), every answer JSON.

The standard library's ThreadingHTTPServer is enough here: three GET endpoints, a thread per
keep-alive connection (the CLI opens at most --concurrency of them), no dependency to install or
keep current, and sleeping "slow" handlers do not hold up the others. Answering every method in
JSON takes one override (send_error, where the stdlib sends its HTML pages), so no web framework
is needed for it either."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from unmo_cli import __version__, apikeys, clock
from unmo_cli.db import open_database
from unmo_cli.db.tables import api_keys, customers
from unmo_cli.errors import EnvironmentFailure, InputError
from unmo_cli.services.customer_lookup import unknown_customer
from unmo_cli.workspace import load_workspace

if TYPE_CHECKING:
    from unmo_cli.db import Database
    from unmo_cli.workspace import Workspace

SCENARIOS = {
    "healthy": "200, every service healthy, installs flowing",
    "degraded": "503 with kafka unhealthy (analytics still answer)",
    "slow": "answers only after --slow-ms (beyond the CLI's timeout by default)",
    "down": "500 on every endpoint",
    # Breaks attribution-api.yaml on purpose (Schemathesis flags it): what a client must take
    # for down.
    "garbage": "200 with a body that is not JSON",
    "quiet": "healthy, but no installs (a launched customer shows degraded)",
}
API_VERSION = "1.0.0"
BASE_PATH = "/v1"
ATTRIBUTION_MODELS = ("first_click", "last_click", "linear", "time_decay", "position_based")
SERVICES = ("database", "kafka", "redis", "clickhouse")
MAX_PERIOD_DAYS = 366
SPEC_PATH = f"{BASE_PATH}/openapi.yaml"
ENDPOINTS = (f"{BASE_PATH}/health", f"{BASE_PATH}/analytics/attribution", SPEC_PATH)
ALLOWED_METHODS = ("GET", "HEAD")
ALLOW = ", ".join(ALLOWED_METHODS)
SPEC_FILE = "attribution-api.yaml"
# Share of a customer's daily events that are installs: a plausible figure for attribution.
INSTALL_SHARE = 0.02
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 8787
    scenarios: Mapping[str, str] = field(default_factory=dict)
    slow_ms: int = 6000
    latency_ms: int = 0
    # Keys are re-read at most this often (0: on every request), so rotations and revocations
    # apply without a restart.
    key_refresh_s: float = 1.0


def parse_scenarios(items: Iterable[str]) -> dict[str, str]:
    """`SLUG=SCENARIO` items as a mapping; InputError naming the item and what is accepted."""
    scenarios: dict[str, str] = {}
    for item in items:
        slug, sep, scenario = item.partition("=")
        slug, scenario = slug.strip(), scenario.strip().lower()
        if not sep or not slug:
            raise InputError(f"--scenario {item!r} is not SLUG=SCENARIO (e.g. acme=degraded).")
        if scenario not in SCENARIOS:
            raise InputError(f"--scenario {item!r}: {scenario!r} is not one of: "
                             f"{', '.join(SCENARIOS)}.")
        scenarios[slug] = scenario
    return scenarios


MAX_DELAY_MS = 3_600_000


def validate_options(options: SandboxOptions) -> None:
    if not 0 <= options.port <= 65535:
        raise InputError(f"--port {options.port} must be between 0 and 65535 (0: any free port).")
    if not (0 <= options.slow_ms <= MAX_DELAY_MS and 0 <= options.latency_ms <= MAX_DELAY_MS):
        # above an hour, time.sleep itself refuses some values (OverflowError) mid-request
        raise InputError(f"--slow-ms and --latency-ms must be from 0 to {MAX_DELAY_MS:,} "
                         "(an hour).")
    if options.key_refresh_s < 0:
        raise InputError("the key refresh interval must be 0 or more seconds.")
    for slug, scenario in options.scenarios.items():
        if scenario not in SCENARIOS:
            raise InputError(f"scenario {scenario!r} for {slug!r} is not one of: "
                             f"{', '.join(SCENARIOS)}.")


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyOwner:
    slug: str
    events_per_day: int
    environment: str


class KeyRing:
    """The workspace's non-revoked secret keys by SHA-256 hash, re-read from the database at most
    every `refresh_s` seconds. The sandbox never sees a key in clear except the bearer it is
    handed, which it hashes at once."""

    def __init__(self, db: Database, refresh_s: float) -> None:
        self._db = db
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._keys: dict[str, KeyOwner] = {}
        self._loaded_at: float | None = None

    def owner(self, bearer: str) -> KeyOwner | None:
        """The owner of a live or test secret key that is not revoked, or None.

        A dict lookup by the bearer's SHA-256 hash, and nothing more: how long the lookup takes
        can only depend on the hash, and hashes of a guess say nothing about the keys that are
        accepted (one cannot steer a guess's hash toward a stored one prefix by prefix), so it
        is no timing oracle on the key. A constant-time comparison after the lookup would
        compare a hash with itself. What makes the check meaningful is what the ring holds:
        only non-revoked secret keys, re-read every `refresh_s` seconds (tests: a wrong,
        revoked or rotated key gets 401, the current one 200)."""
        self._refresh()
        return self._keys.get(apikeys.hash_key(bearer))

    def close(self) -> None:
        self._db.dispose()

    def _refresh(self) -> None:
        now = clock.monotonic()
        with self._lock:
            if self._loaded_at is not None and now - self._loaded_at < self._refresh_s:
                return
            try:
                self._keys = self._load()
            except Exception:  # noqa: BLE001 - keep serving the keys we had if the read fails
                if self._loaded_at is None:
                    raise
            self._loaded_at = now

    def _load(self) -> dict[str, KeyOwner]:
        key, customer = api_keys.c, customers.c  # Core: no model classes (a faster start)
        with self._db.connection() as connection:
            rows = connection.execute(
                select(key.key_hash, key.environment, customer.slug, customer.events_per_day)
                .join(customers, customer.id == key.customer_id)
                .where(key.kind == "secret", key.revoked_at.is_(None))
            ).all()
        return {key_hash: KeyOwner(slug, events, environment)
                for key_hash, environment, slug, events in rows}


# --- the API's answers (pure) ------------------------------------------------------------------


def health_body(scenario: str, uptime_s: int) -> tuple[int, dict[str, Any]]:
    """GET /health for a scenario: (status code, Health document)."""
    services = dict.fromkeys(SERVICES, "healthy")
    status = "healthy"
    code = 200
    if scenario == "degraded":
        services["kafka"] = "unhealthy"
        status, code = "degraded", 503
    return code, {"status": status, "timestamp": clock.iso(clock.now()), "version": API_VERSION,
                  "services": services, "uptime": max(0, int(uptime_s))}


def daily_installs(slug: str, events_per_day: int, day: date) -> int:
    """Deterministic, plausible installs of a customer on a day: about INSTALL_SHARE of its
    events, varied by ±20 % by a hash of (slug, day) so charts are not flat."""
    seed = int(hashlib.sha256(f"{slug}|{day.isoformat()}".encode()).hexdigest()[:8], 16)
    factor = 0.8 + 0.4 * seed / 0xFFFFFFFF
    return int(events_per_day * INSTALL_SHARE * factor)


def attribution_body(slug: str, events_per_day: int, query: Mapping[str, list[str]],
                     scenario: str) -> tuple[int, dict[str, Any]]:
    """GET /analytics/attribution: (200, AttributionAnalytics) or (400, Error)."""
    dates: dict[str, date] = {}
    for name in ("start_date", "end_date"):
        values = query.get(name) or []
        if len(values) != 1 or not values[0]:
            return 400, _error(f"{name} is required, once, as YYYY-MM-DD", "invalid_parameter")
        text = values[0]
        try:
            if not _DATE_RE.match(text):
                raise ValueError
            dates[name] = date.fromisoformat(text)
        except ValueError:
            return 400, _error(f"{name} {text!r} is not a date (YYYY-MM-DD)", "invalid_parameter")
    start, end = dates["start_date"], dates["end_date"]
    if start > end:
        return 400, _error("start_date is after end_date", "invalid_parameter")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        return 400, _error(f"the period is longer than {MAX_PERIOD_DAYS} days",
                           "invalid_parameter")
    model = (query.get("attribution_model") or ["last_click"])[0]
    if model not in ATTRIBUTION_MODELS:
        return 400, _error(f"attribution_model {model!r} is not one of "
                           f"{', '.join(ATTRIBUTION_MODELS)}", "invalid_parameter")
    installs = 0
    if scenario != "quiet":
        day = start
        while day <= end:
            installs += daily_installs(slug, events_per_day, day)
            day = date.fromordinal(day.toordinal() + 1)
    split = [("search", "Search", 0.5), ("social", "Social", 0.3), ("video", "Video", 0.2)]
    campaigns = []
    left = installs
    for index, (key, name, share) in enumerate(split):
        count = left if index == len(split) - 1 else int(installs * share)
        left -= count
        campaigns.append({"campaign_id": f"{slug}-{key}", "name": name, "installs": count,
                          "revenue": round(count * 1.8, 2), "cost": round(count * 1.2, 2)})
    revenue = round(sum(c["revenue"] for c in campaigns), 2)
    cost = round(sum(c["cost"] for c in campaigns), 2)
    return 200, {
        "period": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "attribution_model": model,
        "metrics": {"total_installs": installs, "total_revenue": revenue,
                    "cost_per_install": round(cost / installs, 2) if installs else 0,
                    "return_on_ad_spend": round(revenue / cost, 2) if cost else 0},
        "campaigns": campaigns,
    }


@cache
def api_spec() -> bytes:
    """The bytes of attribution-api.yaml: packaged in the wheel as unmo_cli/data/, or docs/ of
    a source checkout (an editable install)."""
    here = Path(__file__).resolve().parents[1]
    for candidate in (here / "data" / SPEC_FILE, here.parent / "docs" / SPEC_FILE):
        if candidate.is_file():
            return candidate.read_bytes()
    raise EnvironmentFailure(f"the packaged {SPEC_FILE} is missing; reinstall unmo.")


def _error(message: str, code: str) -> dict[str, str]:
    return {"error": message, "code": code}


# --- the server --------------------------------------------------------------------------------


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops connections when a run opens 32 at once.
    request_queue_size = 256

    def __init__(self, options: SandboxOptions, keyring: KeyRing,
                 log: Callable[[str], None] | None) -> None:
        self.options = options
        self.keyring = keyring
        self.log = log
        self.stopping = threading.Event()
        self.started = clock.monotonic()
        if ":" in options.host:
            self.address_family = socket.AF_INET6
        super().__init__((options.host, options.port), SandboxHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}{BASE_PATH}"

    def close(self) -> None:
        self.stopping.set()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of socketserver's traceback. A client that stopped waiting (its
        timeout hit a slow scenario) is routine, not an error."""

        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            if self.log is not None:
                self.log(f"client {client_address[0]}:{client_address[1]} hung up before the "
                         "answer")
            return
        if self.log is not None:
            self.log(f"error while answering {client_address[0]}:{client_address[1]}: "
                     f"{type(error).__name__}")


class SandboxHandler(BaseHTTPRequestHandler):
    """Every answer is JSON (the spec itself excepted), whatever the method or the path: unknown
    paths 404, methods other than GET and HEAD 405 with `Allow`, and the requests the stdlib
    refuses on its own (a malformed request line, headers too long) in the same Error shape."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the CLI's client expects
    # Headers and body go out as two writes; with Nagle's algorithm on, the second waits for
    # the client's delayed ACK (~40 ms) on every keep-alive answer.
    disable_nagle_algorithm = True
    server_version = f"unmo-sandbox/{__version__}"
    server: SandboxServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._answer()

    # HEAD is GET without the body (RFC 9110 §9.3.2); _send_raw leaves the body out.
    do_HEAD = do_GET  # noqa: N815

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The stdlib calls this for a method that has no do_X (501) and for requests it cannot
        parse; both get JSON here instead of its HTML page. An unknown method is routed like any
        other, so it gets the 404 or 405 a known method would."""
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            self._answer()
            return
        self.close_connection = True
        # A request line it cannot read leaves the version at HTTP/0.9, which would send the
        # body without a status line or headers.
        self.request_version = self.protocol_version
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send(code, _error(message or phrase, "bad_request"))

    def _answer(self) -> None:
        path = urlsplit(self.path)
        endpoint = path.path.rstrip("/")
        if self._has_body():
            # No operation takes a body; rather than read one, answer and close the connection
            # so its bytes are never taken for the next request.
            self.close_connection = True
        if endpoint not in ENDPOINTS:
            self._send(404, _error(f"no endpoint {path.path}", "not_found"))
            return
        if self.command not in ALLOWED_METHODS:
            self.close_connection = True
            self._send(405, _error(f"{self.command} is not allowed on {endpoint}; "
                                   f"allowed: {ALLOW}", "method_not_allowed"))
            return
        if endpoint == SPEC_PATH:
            self._send_raw(200, api_spec(), "application/yaml")
            return
        owner = self._authenticate()
        if owner is None:
            return
        options = self.server.options
        scenario = options.scenarios.get(owner.slug, "healthy")
        delay_ms = options.latency_ms + (options.slow_ms if scenario == "slow" else 0)
        if delay_ms and self.server.stopping.wait(delay_ms / 1000):
            return
        if scenario == "down":
            self._send(500, _error("internal error", "internal"), owner)
            return
        if scenario == "garbage":
            self._send_raw(200, b"<html><body>502 Bad Gateway</body></html>\n", "text/html",
                           owner)
            return
        if endpoint.endswith("/health"):
            uptime = clock.monotonic() - self.server.started
            self._send(*health_body(scenario, int(uptime)), owner)
        else:
            self._send(*attribution_body(owner.slug, owner.events_per_day,
                                         parse_qs(path.query, keep_blank_values=True),
                                         scenario), owner)

    def _has_body(self) -> bool:
        length = self.headers.get("Content-Length", "0").strip()
        return length not in ("", "0") or "Transfer-Encoding" in self.headers

    def _authenticate(self) -> KeyOwner | None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self._send(401, _error("missing bearer token", "unauthorized"))
            return None
        owner = self.server.keyring.owner(token.strip())
        if owner is None:
            self._send(401, _error("unknown or revoked key", "unauthorized"))
        return owner

    def _send(self, code: int, document: Mapping[str, Any], owner: KeyOwner | None = None
              ) -> None:
        self._send_raw(code, json.dumps(document).encode(), "application/json", owner)

    def _send_raw(self, code: int, body: bytes, content_type: str,
                  owner: KeyOwner | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="unmo-sandbox"')
        if code == 405:
            self.send_header("Allow", ALLOW)
        if self.close_connection:
            self.send_header("Connection", "close")
        if self.server.log is not None:
            # Logged before the body goes out, so the line exists once the client has its answer.
            who = owner.slug if owner else "-"
            path = urlsplit(getattr(self, "path", "")).path  # unset when the request line was bad
            self.server.log(f"{self.command} {path} {who} → {code}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Our own line per answer (above); the stdlib's would add nothing and go to stderr
        # even under tests.
        return None


def create_server(options: SandboxOptions, *, workspace: Workspace | None = None,
                  log: Callable[[str], None] | None = None) -> SandboxServer:
    """A bound server (not yet serving). Unknown scenario slugs → NotFound (exit 2); an address
    in use → EnvironmentFailure (exit 3)."""

    validate_options(options)
    api_spec()  # a broken install is exit 3 now, not a 500 at the first request for the spec
    ws = workspace or load_workspace()
    db = open_database(ws)
    if options.scenarios:
        with db.connection() as connection:
            known = set(connection.scalars(select(customers.c.slug).where(
                customers.c.slug.in_(list(options.scenarios)))).all())
        unknown = [slug for slug in options.scenarios if slug not in known]
        if unknown:
            db.dispose()
            raise unknown_customer(*unknown)
    keyring = KeyRing(db, options.key_refresh_s)
    try:
        return SandboxServer(options, keyring, log)
    except OSError as exc:
        db.dispose()
        reason = exc.strerror or type(exc).__name__
        raise EnvironmentFailure(f"cannot listen on {options.host}:{options.port}: {reason}; "
                                 "pass another --port or --host.") from None


def serve(options: SandboxOptions, *, workspace: Workspace | None = None,
          log: Callable[[str], None] | None = None,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C (or SIGTERM), then close cleanly and return."""
    server = create_server(options, workspace=workspace, log=log)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if on_ready is not None:
            on_ready(server.url)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        server.keyring.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def start_in_thread(options: SandboxOptions | None = None, *,
                    workspace: Workspace | None = None,
                    log: Callable[[str], None] | None = None) -> tuple[str, Callable[[], None]]:
    """Serve in a background thread (tests, `unmo demo`): returns (base URL, stop). Port 0
    picks a free port."""
    server = create_server(options or SandboxOptions(port=0), workspace=workspace, log=log)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="unmo-sandbox", daemon=True)
    thread.start()

    def stop() -> None:
        server.stopping.set()
        server.shutdown()
        thread.join()
        server.close()
        server.keyring.close()

    return server.url, stop
