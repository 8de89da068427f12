"""`unmo sandbox`: the real server on 127.0.0.1 — the contract's endpoints, keys by hash (live and
test, revocations applied), scenarios, and `unmo health` against it end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support_health import make_customer, set_phase
from support_signals import interruptible, sigint_deliverable

from unmo_cli.services.health import attribution_installs, health_body_problem
from unmo_cli.services.sandbox import SandboxOptions, daily_installs, start_in_thread


@pytest.fixture
def sandbox(workspace: Path):
    """start(scenarios={...}, slow_ms=...) → base URL; every server is stopped afterwards."""
    stops = []

    def start(**options) -> str:
        url, stop = start_in_thread(SandboxOptions(port=0, key_refresh_s=0, **options))
        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


def get(url: str, key: str | None = None, method: str = "GET") -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, method=method)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_health_endpoint_speaks_the_contract(sandbox):
    keys = make_customer("acme")
    url = sandbox()
    status, body, headers = get(url + "/health", keys.live)
    assert status == 200 and headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert health_body_problem(document) is None
    assert document["status"] == "healthy"
    assert set(document["services"]) == {"database", "kafka", "redis", "clickhouse"}
    # the test key is accepted as well
    assert get(url + "/health", keys.test)[0] == 200


def test_unknown_missing_and_publishable_keys_get_401_json(sandbox):
    keys = make_customer("acme")
    url = sandbox()
    near_miss = keys.live[:-1] + ("x" if keys.live[-1] != "x" else "y")  # one character off
    for key in (None, "unmo_sk_live_" + "x" * 28, keys.publishable_live, "", near_miss,
                keys.live + "x", keys.live[:-1]):
        status, body, headers = get(url + "/health", key)
        assert status == 401, key
        assert "error" in json.loads(body)
        assert headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_revoked_and_rotated_keys_apply_without_restart(sandbox):
    from sqlalchemy import update

    from unmo_cli import apikeys, clock
    from unmo_cli.db import open_database
    from unmo_cli.db.models import ApiKey
    from unmo_cli.workspace import load_workspace

    keys = make_customer("acme")
    url = sandbox()
    assert get(url + "/health", keys.live)[0] == 200
    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(ApiKey).where(ApiKey.key_hash == apikeys.hash_key(keys.live))
                        .values(revoked_at=clock.to_db(clock.now())))
    db.dispose()
    assert get(url + "/health", keys.live)[0] == 401
    newcomer = make_customer("newcomer")
    assert get(url + "/health", newcomer.live)[0] == 200


def test_rotation_through_the_cli_applies(unmo, sandbox, workspace: Path):
    onboarded = _onboard(unmo, "Rotating Co")
    url = sandbox()
    old = _live_key(workspace, onboarded)
    assert get(url + "/health", old)[0] == 200
    ran = unmo("keys", "rotate", onboarded, "--kind", "secret", "--env", "live")
    assert ran.exit_code == 0, ran.stderr
    new = _live_key(workspace, onboarded)
    assert new != old
    assert get(url + "/health", old)[0] == 401
    assert get(url + "/health", new)[0] == 200


def test_analytics_validates_dates_and_is_deterministic(sandbox):
    keys = make_customer("acme", events_per_day=50_000)
    url = sandbox()
    endpoint = url + "/analytics/attribution"
    for query in ("", "?start_date=2026-11-22", "?start_date=2026-11-22&end_date=nope",
                  "?start_date=2026-11-23&end_date=2026-11-22",
                  "?start_date=20261122&end_date=2026-11-23",
                  "?start_date=2026-02-30&end_date=2026-03-01",
                  "?start_date=2020-01-01&end_date=2026-01-01",
                  "?start_date=2026-11-22&end_date=2026-11-23&attribution_model=magic"):
        status, body, _ = get(endpoint + query, keys.live)
        assert status == 400, query
        assert isinstance(json.loads(body)["error"], str)
    good = endpoint + "?start_date=2026-11-22&end_date=2026-11-23"
    status, body, _ = get(good, keys.live)
    assert status == 200
    installs, problem = attribution_installs(body)
    assert problem is None
    from datetime import date

    expected = sum(daily_installs("acme", 50_000, date(2026, 11, d)) for d in (22, 23))
    assert installs == expected and 800 <= installs <= 2400  # ~2 % of events, ±20 %
    document = json.loads(body)
    assert sum(c["installs"] for c in document["campaigns"]) == installs
    assert document["period"] == {"start_date": "2026-11-22", "end_date": "2026-11-23"}
    assert get(good, keys.live)[1] == body  # deterministic
    assert get(good)[0] == 401


def test_unknown_paths_and_methods(sandbox):
    keys = make_customer("acme")
    url = sandbox()
    assert get(url + "/nope", keys.live)[0] == 404
    assert get(url.replace("/v1", "/v2") + "/health", keys.live)[0] == 404
    status, body, _ = get(url + "/health", keys.live, method="POST")
    assert status == 405 and "error" in json.loads(body)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                                    "CONNECT", "BREW"])
def test_every_method_is_answered_in_json(sandbox, method: str):
    """Not the stdlib's 501 HTML page: a method other than GET/HEAD on a known path is 405 JSON
    with Allow (before authentication), on an unknown path 404 JSON, whatever the method."""
    keys = make_customer("acme")
    url = sandbox()
    for key in (keys.live, None):
        status, body, headers = _raw(url, method, "/v1/health", key)
        assert status == 405, (method, body)
        assert headers["content-type"] == "application/json"
        assert headers["allow"] == "GET, HEAD"
        assert json.loads(body)["code"] == "method_not_allowed"
    status, body, headers = _raw(url, method, "/v1/nope", keys.live)
    assert status == 404 and json.loads(body)["code"] == "not_found"


def test_head_is_get_without_a_body(sandbox):
    keys = make_customer("acme")
    url = sandbox()
    status, body, headers = _raw(url, "HEAD", "/v1/health", keys.live)
    assert status == 200 and body == b"" and headers["content-type"] == "application/json"
    assert int(headers["content-length"]) > 0
    assert _raw(url, "HEAD", "/v1/health", None)[:2] == (401, b"")
    assert _raw(url, "HEAD", "/v1/nope", None)[:2] == (404, b"")


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GET /v1/health HTTP/1.1 extra words\r\n\r\n", 400),
    (b"GET /v1/health HTTP/1.x\r\n\r\n", 400),
    (b"GET /v1/health HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
])
def test_a_request_that_is_not_http_gets_json_too(sandbox, request_bytes: bytes, status: int):
    import socket

    make_customer("acme")
    url = sandbox()
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request_bytes)
        answer = b""
        while chunk := connection.recv(65536):  # the sandbox closes the connection
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert b"Content-Type: application/json" in head and b"Connection: close" in head
    assert json.loads(body)["code"] == "bad_request"


def test_the_sandbox_serves_its_spec(sandbox):
    """GET /v1/openapi.yaml without a key: the bytes of docs/attribution-api.yaml."""
    make_customer("acme")
    url = sandbox()
    status, body, headers = get(url + "/openapi.yaml")
    assert status == 200 and headers["Content-Type"] == "application/yaml"
    spec = Path(__file__).resolve().parents[1] / "docs" / "attribution-api.yaml"
    assert body == spec.read_bytes()
    import yaml

    document = yaml.safe_load(body)
    assert {"/health", "/analytics/attribution", "/openapi.yaml"} <= set(document["paths"])
    assert document["servers"][0]["url"] == "http://127.0.0.1:8787/v1"


def _raw(url: str, method: str, path: str, key: str | None) -> tuple[int, bytes, dict]:
    """One request with any method (urllib would refuse CONNECT and invented ones)."""
    import http.client

    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def test_scenarios(sandbox):
    keys = {slug: make_customer(slug) for slug in
            ("fine", "shaky", "dead", "noisy", "lazy", "silent")}
    url = sandbox(scenarios={"shaky": "degraded", "dead": "down", "noisy": "garbage",
                             "lazy": "slow", "silent": "quiet"}, slow_ms=300)
    status, body, _ = get(url + "/health", keys["shaky"].live)
    assert status == 503 and json.loads(body)["services"]["kafka"] == "unhealthy"
    assert health_body_problem(json.loads(body)) is None
    assert get(url + "/health", keys["dead"].live)[0] == 500
    status, body, _ = get(url + "/health", keys["noisy"].live)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    assert get(url + "/health", keys["lazy"].live)[0] == 200  # eventually
    analytics = url + "/analytics/attribution?start_date=2026-11-22&end_date=2026-11-23"
    assert attribution_installs(get(analytics, keys["silent"].live)[1])[0] == 0
    assert attribution_installs(get(analytics, keys["fine"].live)[1])[0] > 0


def test_unmo_health_against_the_sandbox(unmo, sandbox):
    for slug in ("fine", "shaky", "dead", "noisy", "lazy", "silent", "launched"):
        make_customer(slug)
    set_phase("silent", "launch")
    set_phase("launched", "launch")
    url = sandbox(scenarios={"shaky": "degraded", "dead": "down", "noisy": "garbage",
                             "lazy": "slow", "silent": "quiet"}, slow_ms=2000)
    ran = unmo("health", "--format", "json", "--timeout", "0.5", "--retries", "0",
               env={"UNMO_API_URL": url})
    assert ran.exit_code == 1
    results = {r["customer"]: r for r in ran.json()["results"]}
    assert {slug: r["status"] for slug, r in results.items()} == {
        "fine": "healthy", "shaky": "degraded", "dead": "down", "noisy": "down",
        "lazy": "down", "silent": "degraded", "launched": "healthy"}
    assert results["shaky"]["services"]["kafka"] == "unhealthy"
    assert results["launched"]["installs"] > 0
    assert "timed out" in results["lazy"]["error"]


def test_onboarded_customer_is_healthy_against_the_sandbox(unmo, sandbox, workspace: Path):
    slug = _onboard(unmo, "TechStart Mobile")
    url = sandbox()
    ran = unmo("health", slug, "--format", "json", env={"UNMO_API_URL": url})
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert ran.json()["results"][0]["status"] == "healthy"
    assert _live_key(workspace, slug) not in ran.stdout + ran.stderr


def test_bad_scenarios_are_exit_2(unmo, workspace: Path):
    make_customer("acme")
    for args, words in ((["--scenario", "acme=sleepy"], "sleepy"),
                        (["--scenario", "acme"], "SLUG=SCENARIO"),
                        (["--scenario", "ghost=down"], "ghost"),
                        (["--port", "70000"], "70000")):
        ran = unmo("sandbox", *args)
        assert ran.exit_code == 2, args
        assert words in ran.stderr and ran.stderr.count("\n") == 1


def test_port_in_use_is_exit_3(unmo, sandbox):
    make_customer("acme")
    url = sandbox()
    port = url.rsplit(":", 1)[1].split("/")[0]
    ran = unmo("sandbox", "--port", port)
    assert ran.exit_code == 3 and port in ran.stderr


def test_ctrl_c_stops_cleanly(workspace: Path):
    make_customer("acme")
    lazy = make_customer("lazy")
    env = {k: v for k, v in os.environ.items()} | {"UNMO_WORKSPACE": str(workspace)}
    process = subprocess.Popen(
        [sys.executable, "-m", "unmo_cli", "sandbox", "--port", "0", "--scenario", "lazy=slow",
         "--slow-ms", "300"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    try:
        line = process.stderr.readline()
        assert "serving attribution-api.yaml at http://127.0.0.1:" in line
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        keys_env = (workspace / "customers/acme/.env").read_text()
        live = next(v for k, _, v in (x.partition("=") for x in keys_env.splitlines())
                    if k == "UNMO_SECRET_KEY_LIVE")
        assert get(url + "/health", live)[0] == 200
        # a client that gives up on a slow answer is a log line, not a traceback
        request = urllib.request.Request(url + "/health",
                                         headers={"Authorization": f"Bearer {lazy.live}"})
        with pytest.raises(OSError):
            urllib.request.urlopen(request, timeout=0.05)
        time.sleep(0.6)
        assert sigint_deliverable(process.pid)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "sandbox stopped." in stderr and "Traceback" not in stderr
    assert "GET /v1/health acme → 200" in stderr  # the request log, never a key
    assert "hung up before the answer" in stderr
    assert live not in stderr + stdout


def _onboard(unmo, name: str) -> str:
    from support_onboarding import onboard

    return onboard(unmo, name)["customer"]["slug"]


def _live_key(workspace: Path, slug: str) -> str:
    from support_onboarding import secret_keys

    return secret_keys(workspace / "customers" / slug)["UNMO_SECRET_KEY_LIVE"]
