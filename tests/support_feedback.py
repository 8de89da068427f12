"""Test support for `unmo feedback` and `unmo alerts`: customers made through the data layer (fast
enough for property tests; onboarding has its own tests), and a webhook receiver of the tests' own
on 127.0.0.1 that records every request and answers with the status it is told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from support_accounts import record_ledger

from unmo_cli import clock


def make_customer(name: str, *, slug: str | None = None) -> int:
    """A customer row in the workspace the test runs in; returns its id."""
    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.services.onboarding import name_key, slugify
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    try:
        with db.session() as session:
            customer = Customer(
                slug=slug or slugify(name), name_key=name_key(name), name=name,
                industry="gaming", integration="s2s", platforms="", provider="adjust",
                events_per_day=1000, mrr_cents=10_000, contact_name="Dana Lee",
                contact_email="dana@example.com",
                created_at=clock.to_db(clock.parse_instant("2026-01-01T09:00:00Z")))
            session.add(customer)
            session.flush()
            assert customer.id is not None
            record_ledger(session, customer)
            return customer.id
    finally:
        db.dispose()


@dataclass
class Received:
    path: str
    body: dict
    content_type: str
    idempotency_key: str | None = None


@dataclass
class WebhookReceiver:
    """What the receiver was sent, and the status it answers with (settable between calls)."""

    url: str
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called in the handler before it answers, while the client waits for the response.
    on_request: Callable[[], None] | None = None
    # Seconds the handler waits, after recording the post, before it answers: more than the
    # client's timeout makes a webhook that accepted the alert but answered too late.
    answer_after_s: float = 0.0
    # Take the post, then close the connection without any answer.
    hang_up: bool = False

    @property
    def texts(self) -> list[str]:
        with self.lock:
            return [r.body["text"] for r in self.requests]

    def rules(self) -> list[str]:
        """The rule named on each delivered text's first line (`unmo alert · RULE · …`)."""
        return [text.split("\n", 1)[0].split(" · ")[1] for text in self.texts]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[WebhookReceiver]:
    """A real HTTP server on 127.0.0.1 (random port) in a thread."""
    receiver = WebhookReceiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Received(self.path, json.loads(raw or b"{}"),
                                                  self.headers.get("Content-Type", ""),
                                                  self.headers.get("Idempotency-Key")))
                status, delay = receiver.status, receiver.answer_after_s
            if receiver.on_request is not None:
                receiver.on_request()
            if receiver.hang_up:
                self.close_connection = True
                return
            if delay:
                time.sleep(delay)
            body = b"ok" if 200 <= status < 300 else b"internal_error"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (timed out) and hung up
                pass

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-token"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def write_csv(path, header: str, *lines: str) -> None:
    path.write_text("\n".join((header, *lines)) + "\n", encoding="utf-8")


def write_json(path, items: list) -> None:
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")


def write_jsonl(path, items: list) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


ONBOARD_FLAGS = ["--contact-name", "Dana Lee", "--contact-email", "dana@example.com",
                 "--industry", "gaming", "--integration", "s2s", "--events-per-day", "1000",
                 "--provider", "adjust", "--mrr", "100", "--yes"]


def onboard(unmo, name: str) -> str:
    """A customer created the way a user does it; returns the slug."""
    ran = unmo("onboard", name, *ONBOARD_FLAGS, "--json")
    assert ran.exit_code == 0, ran.stderr
    return ran.json()["customer"]["slug"]


def feedback_rows() -> list[tuple]:
    from tests.conftest import query

    return query("SELECT customer_id, satisfaction, nps, category, comment, source, "
                 "external_id, received_at FROM feedback ORDER BY id")


def alert_rows() -> list[tuple]:
    from tests.conftest import query

    return query("SELECT id, rule, score, notified_at, acked_at, attempts, last_error, "
                 "feedback_id FROM alerts ORDER BY id")
