"""Health alerts (Gatus-style thresholds over recorded checks, stored then posted to a real
webhook on 127.0.0.1) and the health summary and score of `customer show`."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support_health import PlayServer, free_port, make_customer

from tests.conftest import query


@pytest.fixture
def api():
    server = PlayServer()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    """A Slack-compatible receiver: every POSTed {"text": …} lands in `received`."""
    received: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length))["text"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # noqa: A002
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.received = received
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret"
    yield server
    server.shutdown()
    server.server_close()


def check(unmo, api, env=None):
    ran = unmo("health", "--format", "json", "--retries", "0",
               env={"UNMO_API_URL": api.url} | (env or {}))
    return ran, [a["rule"] for a in ran.json()["alerts"]]


def test_one_failing_alert_after_the_threshold_and_one_resolved_notice(unmo, api, webhook):
    keys = make_customer("acme")
    api.plays[keys.live] = "500"
    env = {"UNMO_ALERT_WEBHOOK": webhook.url}
    raised = [check(unmo, api, env)[1] for _ in range(5)]  # default thresholds: 3 and 2
    assert raised == [[], [], ["health_failing"], [], []]
    api.plays[keys.live] = "healthy"
    raised = [check(unmo, api, env)[1] for _ in range(3)]
    assert raised == [[], ["health_resolved"], []]
    api.plays[keys.live] = "503"  # degraded counts as not healthy
    raised = [check(unmo, api, env)[1] for _ in range(3)]
    assert raised == [[], [], ["health_failing"]]
    rows = query("SELECT rule, notified_at FROM alerts ORDER BY id")
    assert [r[0] for r in rows] == ["health_failing", "health_resolved", "health_failing"]
    assert all(r[1] is not None for r in rows)  # delivered
    assert len(webhook.received) == 3
    assert "health_failing" in webhook.received[0] and "acme" in webhook.received[0]
    assert "HTTP 500" in webhook.received[0]
    assert "health_resolved" in webhook.received[1]
    assert keys.live not in "".join(webhook.received)


def test_thresholds_come_from_unmo_yaml(unmo, api, workspace: Path):
    (workspace / "unmo.yaml").write_text(
        "alerts:\n  health_failure_threshold: 1\n  health_success_threshold: 1\n")
    keys = make_customer("acme")
    api.plays[keys.live] = "401"
    assert check(unmo, api)[1] == ["health_failing"]
    assert check(unmo, api)[1] == []
    api.plays[keys.live] = "healthy"
    assert check(unmo, api)[1] == ["health_resolved"]


def test_checks_of_other_customers_do_not_count(unmo, api):
    flapping = make_customer("flapping")
    steady = make_customer("steady")
    api.plays[flapping.live], api.plays[steady.live] = "500", "healthy"
    check(unmo, api)
    check(unmo, api, )
    assert check(unmo, api, )[1] == ["health_failing"]
    ran = unmo("health", "steady", "--format", "json", env={"UNMO_API_URL": api.url})
    assert ran.json()["alerts"] == []
    assert query("SELECT c.slug FROM alerts a JOIN customers c ON c.id = a.customer_id") == \
        [("flapping",)]


def test_a_dead_webhook_keeps_the_alert_pending_and_does_not_change_the_exit_code(unmo, api,
                                                                                   workspace):
    (workspace / "unmo.yaml").write_text(
        "alerts:\n  health_failure_threshold: 1\n  health_success_threshold: 1\n")
    keys = make_customer("acme")
    api.plays[keys.live] = "503"
    dead = {"UNMO_ALERT_WEBHOOK": f"http://127.0.0.1:{free_port()}/hook"}
    ran, rules = check(unmo, api, dead)
    assert rules == ["health_failing"] and ran.exit_code == 1
    ran = unmo("health", "--fail-on", "down", "--retries", "0",
               env={"UNMO_API_URL": api.url} | dead)
    assert ran.exit_code == 0  # degraded tolerated; the webhook's failure is only a warning
    api.plays[keys.live] = "healthy"
    ran, rules = check(unmo, api, dead)
    assert rules == ["health_resolved"] and ran.exit_code == 0
    assert "could not deliver" in ran.stderr and "unmo alerts notify" in ran.stderr
    rows = query("SELECT rule, notified_at, attempts FROM alerts ORDER BY id")
    assert [(rule, notified) for rule, notified, _n in rows] == [
        ("health_failing", None), ("health_resolved", None)]
    assert all(attempts >= 1 for _r, _n, attempts in rows)  # tried, kept pending


def test_no_webhook_configured_keeps_alerts_pending(unmo, api, workspace):
    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 1\n")
    keys = make_customer("acme")
    api.plays[keys.live] = "500"
    ran, rules = check(unmo, api)
    assert rules == ["health_failing"]
    assert "pending" in ran.stderr
    assert query("SELECT COUNT(*) FROM alerts WHERE notified_at IS NULL") == [(1,)]


def test_customer_show_has_last_health_and_a_score(unmo, api):
    keys = make_customer("acme", phase="launch")
    api.plays[keys.live] = "healthy"
    ran = unmo("customer", "show", "acme", "--json")
    assert ran.exit_code == 0, ran.stderr
    health = ran.json()["health"]
    assert health["score"] is None and health["color"] is None and health["last_status"] is None
    env = {"UNMO_API_URL": api.url, "UNMO_NOW": "2026-11-23T10:00:00Z"}
    assert unmo("health", env=env).exit_code == 0
    ran = unmo("customer", "show", "acme", "--json", env={"UNMO_NOW": "2026-11-23T12:00:00Z"})
    health = ran.json()["health"]
    assert health["last_status"] == "healthy" and health["last_http_status"] == 200
    assert health["last_checked_at"] == "2026-11-23T10:00:00Z"
    assert health["checks_7d"] == 1 and health["availability_pct_7d"] == 100.0
    assert health["engagement"] == 100.0 and health["last_installs"] == 42
    assert health["sentiment"] is None  # no feedback: left out, weights renormalised
    assert health["score"] >= 80 and health["color"] == "green"
    ran = unmo("feedback", "add", "acme", "--satisfaction", "2", "--nps", "0",
               "--received-at", "2026-11-22T10:00:00Z", env={"UNMO_NOW": "2026-11-23T11:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("customer", "show", "acme", "--json", env={"UNMO_NOW": "2026-11-23T12:00:00Z"})
    health = ran.json()["health"]
    assert health["satisfaction_pct_30d"] == 20.0 and health["nps_30d"] == -100
    assert health["sentiment"] < 20
    assert health["color"] in ("yellow", "red") and health["score"] < 80
    # the human view shows it too
    ran = unmo("customer", "show", "acme", env={"UNMO_NOW": "2026-11-23T12:00:00Z"})
    assert "Health" in ran.stdout and "last_status" in ran.stdout
    # checks older than 7 days leave the technical part out
    ran = unmo("customer", "show", "acme", "--json", env={"UNMO_NOW": "2026-12-10T12:00:00Z"})
    health = ran.json()["health"]
    assert health["checks_7d"] == 0 and health["technical"] is None
    assert health["last_status"] == "healthy"  # the last check is still shown
