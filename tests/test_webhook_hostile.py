"""The alert webhook is a server unmo does not control, like the attribution API: one that drips
its answer a byte at a time cannot hold a run past the post's deadline, a compressed bomb in its
answer costs no memory (only the status is read), and a plain-http URL to another machine, which
would carry the webhook's token in clear, is refused without a connection being made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import query
from support_hostile import HostileServer
from support_onboarding import onboard


@pytest.fixture
def hostile():
    server = HostileServer(drip_s=0.2)
    yield server
    server.stop()


def _one_pending_alert(unmo) -> None:
    onboard(unmo, "TechStart Mobile")
    ran = unmo("feedback", "add", "techstart-mobile", "--satisfaction", "2")
    assert ran.exit_code == 0, ran.stderr
    assert query("SELECT count(*) FROM alerts WHERE notified_at IS NULL") == [(1,)]


def _hook_url(server: HostileServer) -> str:
    return server.url.removesuffix("/v1") + "/services/T0/B0/secret-hook-token"


def test_a_webhook_dripping_its_answer_is_cut_at_the_deadline(unmo, hostile):
    _one_pending_alert(unmo)
    hostile.plays[""] = "slow-headers"  # ~300 bytes at 0.2 s each: a minute of answer
    started = time.monotonic()
    ran = unmo("alerts", "notify", env={"UNMO_ALERT_WEBHOOK": _hook_url(hostile)})
    elapsed = time.monotonic() - started
    assert ran.exit_code == 3
    assert ran.stderr.strip() == (
        "error: the webhook failed (no answer within 5 s after sending it; the webhook may have "
        "received it, so it is not retried in this run); 1 alert stays pending.")
    assert "secret-hook-token" not in ran.stderr
    assert elapsed < 20  # 5 s + 1 s of slack, on a busy machine; main waited out the drip
    # The outcome is unknown (the post may have arrived): not repeated within this run.
    assert hostile.requests("", "/services/T0/B0/secret-hook-token") == 1


_RSS_PROBE = """
import json, resource, subprocess, sys
process = subprocess.Popen([sys.executable, "-m", "unmo_cli", *sys.argv[1:]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = process.communicate()
print(json.dumps({"code": process.returncode, "err": err.decode(),
                  "rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _notify_rss(url: str) -> dict:
    env = os.environ | {"UNMO_ALERT_WEBHOOK": url}
    ran = subprocess.run([sys.executable, "-c", _RSS_PROBE, "alerts", "notify", "--json"],
                         env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(ran.stdout)


@pytest.mark.slow
def test_a_bomb_in_the_webhooks_answer_costs_no_memory(unmo, hostile, workspace: Path):
    _one_pending_alert(unmo)
    hostile.plays[""] = "healthy"
    baseline = _notify_rss(_hook_url(hostile))  # nothing pending: the process's own size
    assert baseline["code"] == 0, baseline["err"]
    unmo("feedback", "add", "techstart-mobile", "--satisfaction", "2")
    hostile.plays[""] = "gzip-bomb"  # 200 with 960 MiB of zeros behind 1 MiB of gzip
    probe = _notify_rss(_hook_url(hostile))
    assert probe["code"] == 0, probe["err"]  # a 2xx is delivered, whatever its body
    assert query("SELECT count(*) FROM alerts WHERE notified_at IS NULL") == [(0,)]
    assert probe["rss_kib"] - baseline["rss_kib"] < 32 * 1024, (baseline, probe)


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/services/T0/B0/secret-hook-token",
    "http://hooks.localhost/services/T0/B0/secret-hook-token",
    "ftp://127.0.0.1/services/T0/B0/secret-hook-token",
])
def test_a_webhook_url_that_would_leak_its_token_is_refused(unmo, url):
    _one_pending_alert(unmo)
    ran = unmo("alerts", "notify", env={"UNMO_ALERT_WEBHOOK": url})
    assert ran.exit_code == 3
    assert "secret-hook-token" not in ran.stderr
    reason = ("must use https (plain http only to a loopback address)" if url.startswith("http:")
              else "is not an http(s) URL")
    assert reason in ran.stderr, ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1
    # Refused before any attempt: the alert stays pending with no attempt counted.
    assert query("SELECT attempts, notified_at FROM alerts") == [(0, None)]
