"""Test support for `unmo health` and `unmo sandbox`: customers made through the data layer (with
their keys hashed and their .env written as onboarding does), and a scripted API server of the
tests' own on 127.0.0.1 that plays every answer the contract names and counts what it is asked."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from support_accounts import record_ledger

from unmo_cli import apikeys, clock

HEALTHY_BODY = {"status": "healthy", "timestamp": "2026-11-23T10:00:00Z", "version": "1.0.0",
                "services": {"database": "healthy", "kafka": "healthy", "redis": "healthy",
                             "clickhouse": "healthy"}, "uptime": 3600}


@dataclass
class Keys:
    live: str
    test: str
    publishable_live: str
    publishable_test: str


def make_customer(slug: str, *, phase: str = "setup", events_per_day: int = 10_000,
                  churned: bool = False, write_env: bool = True,
                  created_at: datetime | None = None,
                  churned_at: datetime | None = None) -> Keys:
    """A customer row, its four keys (secret ones hashed) and customers/<slug>/.env (0600), in the
    workspace the tests run in. `churned` churns it when it was created, `churned_at` then."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import ApiKey, Customer
    from unmo_cli.workspace import load_workspace

    ws = load_workspace()
    keys = Keys(apikeys.generate("secret", "live"), apikeys.generate("secret", "test"),
                apikeys.generate("publishable", "live"), apikeys.generate("publishable", "test"))
    at = clock.to_db(created_at or clock.parse_instant("2026-11-01T09:00:00Z"))
    db = open_database(ws)
    try:
        with db.session() as session:
            customer = Customer(
                slug=slug, name_key=slug.replace("-", ""), name=slug.replace("-", " ").title(),
                industry="gaming", integration="sdk", platforms="ios,android",
                provider="appsflyer", events_per_day=events_per_day, mrr_cents=250_000,
                contact_name="Growth Team", contact_email=f"growth@{slug}.example", phase=phase,
                created_at=at,
                churned_at=clock.to_db(churned_at) if churned_at else at if churned else None,
                churn_reason="moved on" if churned or churned_at else None)
            session.add(customer)
            session.flush()
            record_ledger(session, customer)
            for key in (keys.live, keys.test, keys.publishable_live, keys.publishable_test):
                shape = apikeys.parse(key)
                session.add(ApiKey(
                    customer_id=customer.id, kind=shape.kind, environment=shape.environment,
                    key_hash=apikeys.hash_key(key), hint=apikeys.hint(key), created_at=at,
                    publishable_value=key if shape.kind == "publishable" else None))
    finally:
        db.dispose()
    if write_env:
        write_env_file(ws.customer_dir(slug), keys)
    return keys


def write_env_file(folder: Path, keys: Keys, *, api_url: str = "http://127.0.0.1:8787/v1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"UNMO_SECRET_KEY_LIVE={keys.live}\nUNMO_SECRET_KEY_TEST={keys.test}\n"
                     f"UNMO_PUBLISHABLE_KEY_LIVE={keys.publishable_live}\n"
                     f"UNMO_PUBLISHABLE_KEY_TEST={keys.publishable_test}\n"
                     f"UNMO_API_URL={api_url}\n")
    return path


def set_phase(slug: str, phase: str) -> None:
    from sqlmodel import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer = session.exec(select(Customer).where(Customer.slug == slug)).one()
            customer.phase = phase
            session.add(customer)
    finally:
        db.dispose()


# --- the scripted server ----------------------------------------------------------------------

# An answer is (status, body bytes, content type); a Play decides it per request.
Answer = tuple[int, bytes, str]


def json_answer(status: int, document: object) -> Answer:
    return status, json.dumps(document).encode(), "application/json"


PLAYS: dict[str, Callable[[int], Answer]] = {
    # the argument is how many times this key has asked before (0 on the first request)
    "healthy": lambda n: json_answer(200, HEALTHY_BODY),
    "status-degraded": lambda n: json_answer(200, HEALTHY_BODY | {"status": "degraded"}),
    "kafka-unhealthy": lambda n: json_answer(
        200, HEALTHY_BODY | {"services": HEALTHY_BODY["services"] | {"kafka": "unhealthy"}}),
    "503": lambda n: json_answer(503, HEALTHY_BODY | {
        "status": "degraded", "services": HEALTHY_BODY["services"] | {"kafka": "unhealthy"}}),
    "401": lambda n: json_answer(401, {"error": "unknown or revoked key"}),
    "403": lambda n: json_answer(403, {"error": "forbidden"}),
    "500": lambda n: json_answer(500, {"error": "internal"}),
    "502": lambda n: (502, b"bad gateway", "text/plain"),
    "404": lambda n: json_answer(404, {"error": "no such endpoint"}),
    "garbage": lambda n: (200, b"<html>definitely not json</html>", "text/html"),
    "missing-fields": lambda n: json_answer(200, {"status": "healthy"}),
    "wrong-types": lambda n: json_answer(200, HEALTHY_BODY | {"uptime": "an hour"}),
    "flaky": lambda n: json_answer(500, {"error": "boom"}) if n == 0
    else json_answer(200, HEALTHY_BODY),
}


@dataclass
class PlayServer:
    """Answers GET /v1/health and /v1/analytics/attribution for each bearer as told by `plays`
    (key → play name), `installs` (key → total_installs) and `delays` (key → seconds before
    answering); counts requests per (key, path) and the most requests in flight at once."""

    plays: dict[str, str] = field(default_factory=dict)
    installs: dict[str, int] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    analytics_plays: dict[str, str] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    # (bearer, path, query parameters) of every request, in arrival order
    queries: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        play = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                play._serve(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return None

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def requests(self, key: str, path: str = "/v1/health") -> int:
        return self.counts[(key, path)]

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        parts = urlsplit(handler.path)
        path = parts.path
        with self._lock:
            seen = self.counts[(token, path)]
            self.counts[(token, path)] += 1
            self.headers_seen.append(dict(handler.headers))
            self.queries.append((token, path, parse_qs(parts.query, keep_blank_values=True)))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = self.delays.get(token, 0.0)
            if delay:
                self._closing.wait(delay)
            if path == "/v1/analytics/attribution":
                name = self.analytics_plays.get(token)
                if name is not None:
                    status, body, kind = PLAYS[name](seen)
                else:
                    status, body, kind = json_answer(200, {
                        "period": {"start_date": "x", "end_date": "y"},
                        "attribution_model": "last_click",
                        "metrics": {"total_installs": self.installs.get(token, 42)},
                        "campaigns": []})
            else:
                status, body, kind = PLAYS[self.plays.get(token, "401")](seen)
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout): nothing to answer to
        finally:
            with self._lock:
                self.in_flight -= 1


def free_port() -> int:
    """A port nothing listens on (bound then released), for connection-refused checks."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
