"""How `unmo health` holds its HTTP clients: one keep-alive connection per client, at most
--concurrency of them, reused across customers; one SSL context for the run, and the CA bundle
loaded only when TLS can be spoken (https, or a proxy from the environment)."""

from __future__ import annotations

import asyncio
import os
import ssl
import threading

import pytest
from support_health import PlayServer, make_customer

from unmo_cli import attribution_api
from unmo_cli.attribution_api import AttributionApi, _ssl_context_for


@pytest.fixture
def api():
    server = PlayServer()
    ports: set[int] = set()
    lock = threading.Lock()
    serve = server._serve

    def counting(handler):
        with lock:
            ports.add(handler.client_address[1])
        serve(handler)

    server._serve = counting  # type: ignore[method-assign]
    server.ports = ports  # type: ignore[attr-defined]
    yield server
    server.stop()


def test_customers_share_a_few_keep_alive_connections(unmo, api):
    for n in range(12):
        keys = make_customer(f"shop-{n:02d}")
        api.plays[keys.live], api.delays[keys.live] = "healthy", 0.05
    ran = unmo("health", "--format", "json", "--concurrency", "3",
               env={"UNMO_API_URL": api.url})
    assert ran.exit_code == 0, ran.stdout
    assert ran.json()["summary"]["healthy"] == 12
    assert api.max_in_flight == 3
    # Every connection carried several customers' calls: no connection per call, no more
    # connections than --concurrency.
    assert len(api.ports) <= 3


def test_plain_http_loads_no_certificate_authority_and_refuses_any_tls_peer(monkeypatch):
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    context = _ssl_context_for("http://127.0.0.1:8787/v1")
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_https_gets_httpx_own_verifying_context(monkeypatch):
    for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    context = _ssl_context_for("https://api.unmogrowp.example/v1")
    assert context.cert_store_stats()["x509_ca"] > 0
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_proxy_in_the_environment_gets_the_verifying_context_too(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")
    assert _ssl_context_for("http://127.0.0.1:8787/v1").cert_store_stats()["x509_ca"] > 0


def test_one_ssl_context_serves_every_client_of_a_run(api, workspace, monkeypatch):
    made = []
    real = attribution_api._ssl_context_for

    def counting(url: str) -> ssl.SSLContext:
        made.append(url)
        return real(url)

    monkeypatch.setattr(attribution_api, "_ssl_context_for", counting)
    keys = [make_customer(f"one-{n}").live for n in range(6)]
    for key in keys:
        api.plays[key], api.delays[key] = "healthy", 0.05

    async def run() -> list[int | None]:
        async with AttributionApi(api.url, timeout_s=5, concurrency=4) as client:
            answers = await asyncio.gather(*(client.get_health(k) for k in keys))
            assert len(client._clients) == 4  # made as calls needed them, never more
        return [a.status_code for a in answers]

    assert asyncio.run(run()) == [200] * 6
    assert len(made) == 1


def test_one_customer_makes_one_client(api, workspace):
    key = make_customer("solo").live
    api.plays[key] = "healthy"

    async def run() -> int:
        async with AttributionApi(api.url, timeout_s=5, concurrency=32) as client:
            assert (await client.get_health(key)).status_code == 200
            return len(client._clients)

    assert asyncio.run(run()) == 1
