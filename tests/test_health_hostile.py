"""`unmo health` against a hostile attribution API (support_hostile.HostileServer, raw sockets on
127.0.0.1): every misbehaviour is that customer's verdict, never the run's end; memory and time
stay bounded whatever the server sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support_health import make_customer
from support_hostile import HostileServer

from tests.conftest import query


@pytest.fixture
def hostile():
    server = HostileServer()
    yield server
    server.stop()


# play -> (status, words the verdict must hold)
HEALTH_PLAYS = {
    "healthy": ("healthy", None),
    "healthy-gzip": ("healthy", None),
    "healthy-chunked": ("healthy", None),
    "healthy-deflate": ("healthy", None),
    "healthy-raw-deflate": ("healthy", None),
    "healthy-gzip-chunked": ("healthy", None),
    "gzip-bomb": ("down", "inflates to more than 1 MiB (gzip)"),
    "gzip-bomb-chunked": ("down", "inflates to more than 1 MiB (gzip)"),
    "deflate-bomb": ("down", "inflates to more than 1 MiB (deflate)"),
    "double-gzip-bomb": ("down", "inflates to more than 1 MiB (gzip, gzip)"),
    "br": ("down", "Content-Encoding 'br' is not one unmo asked for"),
    "deep-array": ("down", "nests deeper than 32 levels"),
    "deep-object": ("down", "nests deeper than 32 levels"),
    "deep-in-field": ("down", "nests deeper than 32 levels"),
    "deep-401": ("unauthorized", "HTTP 401"),
    "slow-drip": ("down", "timed out (3 s timeout)"),
    "slow-headers": ("down", "timed out (3 s timeout)"),
    "huge-headers": ("down", "did not speak HTTP"),
    "endless-chunked": ("down", "it is over 1 MiB"),
    "huge-length": ("down", "Content-Length announces more than 1 MiB"),
    "short-length": ("down", "closed the connection"),
    "long-body": ("down", "not JSON"),
    "invalid-utf8": ("down", "not valid UTF-8"),
    "array": ("down", "not a JSON object"),
    "string": ("down", "not a JSON object"),
    "null": ("down", "not a JSON object"),
    "huge-number": ("down", "not JSON"),
    "reset": ("down", "transport failure"),
    "many-services": ("down", "services lists 20,000 entries, more than 64"),
}
# analytics play of a launched customer (its /health is healthy) -> (status, words)
ANALYTICS_PLAYS = {
    "gzip-bomb": ("down", "GET /analytics/attribution with a body unmo refused: it inflates"),
    "deep-array": ("degraded", "nests deeper than 32 levels"),
    "analytics-huge-installs": ("degraded", "total_installs is over 2,147,483,647"),
    "slow-drip": ("degraded", "timed out (3 s timeout)"),
}


def test_one_run_survives_every_hostile_answer_and_records_each(unmo, hostile, workspace: Path):
    for play in HEALTH_PLAYS:
        hostile.plays[make_customer(f"h-{play}").live] = play
    for play in ANALYTICS_PLAYS:
        hostile.analytics_plays[make_customer(f"a-{play}", phase="launch").live] = play
    report = workspace / "health.xml"
    started = time.monotonic()
    ran = unmo("health", "--format", "junit", "--output", str(report), "--timeout", "3",
               "--retries", "0", env={"UNMO_API_URL": hostile.url})
    elapsed = time.monotonic() - started
    assert ran.exit_code == 1, ran.stderr
    assert "Traceback" not in ran.stderr and "bug in unmo" not in ran.stderr
    expected = {f"h-{p}": v for p, v in HEALTH_PLAYS.items()} | {
        f"a-{p}": v for p, v in ANALYTICS_PLAYS.items()}

    suite = ET.parse(report).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == set(expected)
    for slug, (status, words) in expected.items():
        failure = cases[slug].find("failure")
        if status == "healthy":
            assert failure is None, (slug, failure.get("message") if failure is not None else "")
            continue
        assert failure is not None and failure.get("type") == status, slug
        assert words in failure.get("message"), (slug, failure.get("message"))

    recorded = dict(query("SELECT c.slug, h.status FROM health_checks h "
                          "JOIN customers c ON c.id = h.customer_id"))
    assert recorded == {slug: status for slug, (status, _w) in expected.items()}
    assert all(len(error or "") < 500 for (error,) in query("SELECT error FROM health_checks"))
    # Each attempt is cut at --timeout whatever the drip: the run does not wait for the
    # dripping servers (minutes of bytes) however slowly the CPU goes through the rest.
    assert elapsed < 30


_RSS_PROBE = """
import json, os, resource, subprocess, sys
process = subprocess.Popen([sys.executable, "-m", "unmo_cli", *sys.argv[1:]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = process.communicate()
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": process.returncode, "rss_kib": rss, "out": out.decode(),
                  "err": err.decode()}))
"""


def _max_rss(args: list[str], url: str) -> tuple[int, dict, int]:
    """Run `unmo ARGS` as the only child of a fresh process and read that child's max RSS
    (KiB, Linux) with resource.getrusage: (exit code, its JSON output, max RSS)."""
    env = os.environ | {"UNMO_API_URL": url}
    ran = subprocess.run([sys.executable, "-c", _RSS_PROBE, *args], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    probe = json.loads(ran.stdout)
    assert "Traceback" not in probe["err"], probe["err"]
    return probe["code"], json.loads(probe["out"]), probe["rss_kib"]


def test_decompression_bombs_cost_a_bounded_amount_of_memory(hostile, workspace: Path):
    bombs = ["gzip-bomb"] * 4 + ["gzip-bomb-chunked"] * 4 + ["deflate-bomb"] * 4
    keys = {make_customer(f"bomb-{index:02}").live: play for index, play in enumerate(bombs)}
    args = ["health", "--format", "json", "--retries", "0", "--timeout", "60",
            "--concurrency", "12", "--no-record"]
    code, document, calm_kib = _max_rss(args, hostile.url)
    assert code == 0, document
    hostile.plays.update(keys)
    code, document, bombed_kib = _max_rss(args, hostile.url)
    # Twelve bombs of 960 MiB each at once: httpx's own decoder took ~66 MB per check (1.4 GB
    # in all); capped while it inflates, each costs about 1 MiB more than a healthy answer.
    assert bombed_kib - calm_kib < 32 * 1024, (bombed_kib, calm_kib)
    assert code == 1
    assert {r["status"] for r in document["results"]} == {"down"}
    assert all("inflates to more than 1 MiB" in r["error"] for r in document["results"])


def test_a_slow_drip_meets_a_deadline_per_attempt(unmo, hostile):
    keys = make_customer("dripping")
    hostile.plays[keys.live] = "slow-drip"
    hostile.drip_s = 0.25  # well inside httpx's per-read timeout, so only a total deadline ends it
    started = time.monotonic()
    ran = unmo("health", "--format", "json", "--timeout", "1", "--retries", "2",
               env={"UNMO_API_URL": hostile.url})
    elapsed = time.monotonic() - started
    result = ran.json()["results"][0]
    assert result["status"] == "down"
    assert result["error"] == "timed out (1 s timeout) after 3 attempts"
    assert hostile.requests(keys.live) == 3
    # The help's bound: 2 × (1 + retries) × (timeout + 2 s) = 18 s; three attempts of 1 s and
    # two short backoffs in fact.
    assert 3 <= elapsed < 18


def test_help_says_what_bounds_the_total_time(unmo):
    text = " ".join(unmo("health", "--help").stdout.split())
    assert "each attempt ends after --timeout seconds whatever the server does" in text
    assert "2 × (1 + retries) × (timeout + 2 s)" in text
    assert "customers ÷ --concurrency" in text
    assert "1 MiB" in text and "32 levels" in text


def test_a_refused_answer_is_not_asked_again(unmo, hostile):
    keys = make_customer("bomb")
    hostile.plays[keys.live] = "gzip-bomb"
    ran = unmo("health", "--format", "json", "--retries", "3", env={"UNMO_API_URL": hostile.url})
    assert ran.json()["results"][0]["attempts"] == 1
    assert hostile.requests(keys.live) == 1


def test_unmo_asks_only_for_the_encodings_it_caps(unmo, workspace: Path):
    from support_health import PlayServer

    server = PlayServer()
    try:
        keys = make_customer("acme")
        server.plays[keys.live] = "healthy"
        unmo("health", env={"UNMO_API_URL": server.url})
        assert server.headers_seen[0]["Accept-Encoding"] == "gzip, deflate"
    finally:
        server.stop()


def test_an_unexpected_failure_in_one_check_is_that_customers_error(unmo, hostile, workspace,
                                                                     monkeypatch):
    """Whatever goes wrong inside one customer's check (here: unmo's own code raising, as a
    bug would) is recorded as that customer's `error`; the others are checked, the JUnit file
    is written."""
    from unmo_cli import attribution_api
    from unmo_cli.services import health

    broken = make_customer("broken-check")
    judged = make_customer("broken-verdict")
    hostile.plays[broken.live] = "healthy"
    hostile.plays[judged.live] = "array"
    make_customer("fine")
    make_customer("broken-folder")
    real_get, real_problem = attribution_api.AttributionApi.get_health, health.health_body_problem
    real_read = health.read_live_secret

    def read_live_secret(ws, slug):
        if slug == "broken-folder":
            raise OSError("detail-2b8")
        return real_read(ws, slug)

    async def get_health(self, secret_key):
        if secret_key == broken.live:
            raise RuntimeError("detail-7f3")
        return await real_get(self, secret_key)

    def body_problem(document):
        if isinstance(document, list):
            raise KeyError("detail-9c1")
        return real_problem(document)

    monkeypatch.setattr(attribution_api.AttributionApi, "get_health", get_health)
    monkeypatch.setattr(health, "health_body_problem", body_problem)
    monkeypatch.setattr(health, "read_live_secret", read_live_secret)
    report = workspace / "health.xml"
    ran = unmo("health", "--format", "junit", "--output", str(report),
               env={"UNMO_API_URL": hostile.url})
    assert ran.exit_code == 1
    cases = {c.get("name"): c.find("failure") for c in ET.parse(report).getroot().iter("testcase")}
    assert cases["fine"] is None
    assert cases["broken-check"].get("type") == "error"
    assert "RuntimeError" in cases["broken-check"].get("message")
    assert cases["broken-verdict"].get("type") == "error"
    assert "KeyError" in cases["broken-verdict"].get("message")
    assert cases["broken-folder"].get("type") == "error"
    assert "OSError" in cases["broken-folder"].get("message")
    assert "detail-" not in ran.stdout + ran.stderr  # the class, never the text
    assert dict(query("SELECT c.slug, h.status FROM health_checks h JOIN customers c "
                      "ON c.id = h.customer_id")) == {
        "broken-check": "error", "broken-verdict": "error", "broken-folder": "error",
        "fine": "healthy"}


# --- the bounded JSON reader ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.text(alphabet="[]{}\"\\:,1a ", max_size=4096).map(str.encode))
def test_read_json_never_raises(body):
    from unmo_cli.attribution_api import read_json

    document, problem = read_json(body)
    assert (problem is None) or (document is None and isinstance(problem, str))


@pytest.mark.parametrize("depth", [1, 31, 32, 33, 999, 100_000])
@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"k":', "}")])
def test_read_json_bounds_nesting(depth, opener, closer):
    from unmo_cli.attribution_api import MAX_JSON_DEPTH, read_json

    body = (opener * depth + "0" + closer * depth).encode()
    document, problem = read_json(body)
    if depth <= MAX_JSON_DEPTH:
        assert problem is None and document is not None
    else:
        assert document is None and problem == "it nests deeper than 32 levels"


def test_brackets_inside_strings_do_not_count_as_nesting():
    from unmo_cli.attribution_api import read_json

    body = json.dumps({"version": "[" * 5000 + '\\"{' * 100, "list": [[1]] * 50}).encode()
    document, problem = read_json(body)
    assert problem is None and document["version"].startswith("[[[")
