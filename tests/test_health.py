"""`unmo health` end to end: the real CLI against a scripted API server of the tests' own on
127.0.0.1 (support_health.PlayServer) that plays every answer and counts requests."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support_health import PlayServer, free_port, make_customer, set_phase, wait_for

from tests.conftest import query, snapshot_tables


@pytest.fixture
def api():
    server = PlayServer()
    yield server
    server.stop()


def run_health(unmo, api, *args, env=None):
    return unmo("health", *args, env={"UNMO_API_URL": api.url} | (env or {}))


def statuses(ran) -> dict[str, str]:
    return {r["customer"]: r["status"] for r in ran.json()["results"]}


def test_every_status_of_the_contract(unmo, api, workspace: Path):
    plays = {
        "a-healthy": "healthy", "b-status-degraded": "status-degraded",
        "c-kafka-unhealthy": "kafka-unhealthy", "d-503": "503", "e-401": "401", "f-403": "403",
        "g-500": "500", "h-502": "502", "i-garbage": "garbage",
        "j-missing-fields": "missing-fields", "k-wrong-types": "wrong-types", "l-404": "404",
    }
    for slug, play in plays.items():
        api.plays[make_customer(slug).live] = play
    launched = make_customer("m-launched", phase="launch")
    api.plays[launched.live] = "healthy"
    quiet = make_customer("n-launched-quiet", phase="launch")
    api.plays[quiet.live], api.installs[quiet.live] = "healthy", 0
    make_customer("o-no-env", write_env=False)
    no_key = make_customer("p-no-key")
    (workspace / "customers/p-no-key/.env").write_text("UNMO_API_URL=http://x\n")
    assert no_key

    ran = run_health(unmo, api, "--format", "json", "--retries", "0")
    assert ran.exit_code == 1, ran.stderr
    assert statuses(ran) == {
        "a-healthy": "healthy", "b-status-degraded": "degraded",
        "c-kafka-unhealthy": "degraded", "d-503": "degraded", "e-401": "unauthorized",
        "f-403": "unauthorized", "g-500": "down", "h-502": "down", "i-garbage": "down",
        "j-missing-fields": "down", "k-wrong-types": "down", "l-404": "down",
        "m-launched": "healthy", "n-launched-quiet": "degraded", "o-no-env": "error",
        "p-no-key": "error",
    }
    document = ran.json()
    assert document["summary"] == {"total": 16, "healthy": 2, "degraded": 4, "unauthorized": 2,
                                   "down": 6, "error": 2, "maintenance": 0}
    by_slug = {r["customer"]: r for r in document["results"]}
    assert set(by_slug["a-healthy"]) >= {"customer", "status", "http_status", "latency_ms",
                                         "error", "services"}
    assert by_slug["a-healthy"]["http_status"] == 200
    assert by_slug["a-healthy"]["latency_ms"] > 0
    assert by_slug["c-kafka-unhealthy"]["services"]["kafka"] == "unhealthy"
    assert by_slug["m-launched"]["installs"] == 42
    assert "no installs" in by_slug["n-launched-quiet"]["error"]
    assert "not JSON" in by_slug["i-garbage"]["error"]
    assert "uptime" in by_slug["k-wrong-types"]["error"]
    assert ".env" in by_slug["o-no-env"]["error"] and by_slug["o-no-env"]["http_status"] is None
    assert "UNMO_SECRET_KEY_LIVE" in by_slug["p-no-key"]["error"]
    # analytics is asked only for launched customers
    assert api.requests(launched.live, "/v1/analytics/attribution") == 1
    assert sum(n for (key, path), n in api.counts.items()
               if path == "/v1/analytics/attribution") == 2


def test_table_shows_status_code_latency_services_and_installs(unmo, api):
    keys = make_customer("techstart-mobile", phase="launch")
    api.plays[keys.live] = "healthy"
    other = make_customer("ecomgrowth-labs")
    api.plays[other.live] = "kafka-unhealthy"
    ran = run_health(unmo, api, "techstart-mobile", "ecomgrowth-labs")
    assert ran.exit_code == 1
    lines = {line.split()[0]: line for line in ran.stdout.splitlines() if line.strip()}
    assert "healthy" in lines["techstart-mobile"] and "200" in lines["techstart-mobile"]
    assert " ms" in lines["techstart-mobile"] and "42" in lines["techstart-mobile"]
    assert "degraded" in lines["ecomgrowth-labs"] and "kafka" in lines["ecomgrowth-labs"]
    assert "2 checked: 1 healthy, 1 degraded" in ran.stderr


def test_retries_are_counted_and_bounded(unmo, api):
    failing = make_customer("always-500")
    api.plays[failing.live] = "500"
    flaky = make_customer("flaky")
    api.plays[flaky.live] = "flaky"
    ran = run_health(unmo, api, "--format", "json", "--retries", "2")
    assert statuses(ran) == {"always-500": "down", "flaky": "healthy"}
    assert api.requests(failing.live) == 3
    assert api.requests(flaky.live) == 2
    by_slug = {r["customer"]: r for r in ran.json()["results"]}
    assert by_slug["always-500"]["attempts"] == 3 and "after 3 attempts" in \
        by_slug["always-500"]["error"]
    ran = run_health(unmo, api, "always-500", "--format", "json", "--retries", "0")
    assert api.requests(failing.live) == 4


@pytest.mark.parametrize("play", ["401", "403", "503"])
def test_no_retry_on_401_403_503(unmo, api, play):
    keys = make_customer("acme")
    api.plays[keys.live] = play
    ran = run_health(unmo, api, "--format", "json", "--retries", "5")
    assert ran.exit_code == 1
    assert api.requests(keys.live) == 1
    assert ran.json()["results"][0]["attempts"] == 1


def test_slow_server_hits_the_timeout_and_timeouts_are_retried(unmo, api):
    keys = make_customer("sluggish")
    api.plays[keys.live], api.delays[keys.live] = "healthy", 3.0
    ran = run_health(unmo, api, "--format", "json", "--timeout", "0.3", "--retries", "1")
    result = ran.json()["results"][0]
    assert ran.exit_code == 1
    assert result["status"] == "down"
    assert result["error"] == "timed out (0.3 s timeout) after 2 attempts"
    assert result["latency_ms"] is None and result["attempts"] == 2
    assert wait_for(lambda: api.requests(keys.live) == 2)


def test_timeout_defaults_to_the_api_timeout_setting(unmo, api, workspace: Path):
    keys = make_customer("sluggish")
    api.plays[keys.live], api.delays[keys.live] = "healthy", 3.0
    (workspace / "unmo.yaml").write_text("api:\n  timeout_s: 0.2\n")
    ran = run_health(unmo, api, "--format", "json", "--retries", "0")
    assert "timed out (0.2 s timeout)" in ran.json()["results"][0]["error"]


def test_concurrency_overlaps_and_is_bounded(unmo, api):
    n, delay = 8, 0.5
    for i in range(n):
        keys = make_customer(f"slow-{i}")
        api.plays[keys.live], api.delays[keys.live] = "healthy", delay
    ran = run_health(unmo, api, "--format", "json", "--concurrency", str(n))
    assert ran.exit_code == 0, ran.stdout
    assert api.max_in_flight == n  # every customer was in flight at once
    api.max_in_flight = 0
    ran = run_health(unmo, api, "--format", "json", "--concurrency", "3")
    assert ran.exit_code == 0
    assert api.max_in_flight == 3  # and never more than --concurrency


def test_connection_refused_is_down_after_retries(unmo, workspace: Path):
    make_customer("acme")
    url = f"http://127.0.0.1:{free_port()}/v1"
    ran = unmo("health", "--format", "json", env={"UNMO_API_URL": url})
    result = ran.json()["results"][0]
    assert ran.exit_code == 1
    assert result["status"] == "down" and result["attempts"] == 3
    assert "could not connect" in result["error"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/v1", "http://", "not a url",
                                 "http://127.0.0.1:99999/v1", "http://user:pw@127.0.0.1/v1",
                                 "http://127.0.0.1/v1?x=1", "http://api.example.com/v1"])
def test_malformed_base_url_is_exit_3_and_writes_nothing(unmo, workspace: Path, url, request):
    make_customer("acme")
    check_unchanged = request.getfixturevalue("unchanged")  # taken after the customer exists
    ran = unmo("health", env={"UNMO_API_URL": url})
    assert ran.exit_code == 3
    assert ran.stderr.startswith("error: UNMO_API_URL") and ran.stderr.count("\n") == 1
    assert "https://HOST/v1" in ran.stderr and "Traceback" not in ran.stderr
    assert "pw" not in ran.stderr
    check_unchanged()


def test_https_and_loopback_base_urls_are_accepted():
    from unmo_cli.attribution_api import validate_base_url

    for url in ("https://api.unmogrowp.example/v1/", "http://localhost:8787/v1",
                "http://LOCALHOST.:8787/v1", "http://[::1]:8787/v1", "http://127.0.0.2/v1",
                "http://127.255.0.9/v1", "http://[::ffff:127.0.0.1]:8787/v1",
                "https://sandbox.localhost/v1"):
        assert validate_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize("host", ["api.localhost", "x.y.LOCALHOST", "localhost.example.com",
                                  "127.0.0.1.nip.io", "2130706433", "0x7f000001", "127.1",
                                  "[::ffff:10.0.0.1]", "[fe80::1]", "10.0.0.1", "0.0.0.0"])
def test_plain_http_to_a_name_that_might_leave_the_machine_is_refused(unmo, workspace, host,
                                                                       request):
    """Only literal loopback addresses and `localhost` carry keys over plain http: a name under
    .localhost is resolved by DNS on glibc like any other, so whoever answers DNS would decide
    where the keys go in clear."""
    make_customer("acme")
    check_unchanged = request.getfixturevalue("unchanged")
    ran = unmo("health", env={"UNMO_API_URL": f"http://{host}:8787/v1"})
    assert ran.exit_code == 3
    assert "unencrypted" in ran.stderr and "127.0.0.1, [::1] or localhost" in ran.stderr
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    check_unchanged()


@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}",
                     fullmatch=True))
def test_no_name_under_localhost_is_trusted_as_loopback(label):
    from unmo_cli.attribution_api import is_loopback_host

    assert not is_loopback_host(f"{label}.localhost")
    assert not is_loopback_host(f"{label}.localhost.")


def test_malformed_base_url_in_unmo_yaml_names_the_file(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("api:\n  base_url: localhost:8787\n")
    ran = unmo("health")
    assert ran.exit_code == 3 and "unmo.yaml" in ran.stderr and "localhost:8787" in ran.stderr


def test_junit_parsed_back(unmo, api, workspace: Path):
    good = make_customer("good")
    api.plays[good.live] = "healthy"
    bad = make_customer("bad")
    api.plays[bad.live] = "500"
    worse = make_customer("worse")
    api.plays[worse.live] = "401"
    ran = run_health(unmo, api, "--all", "--format", "junit", "--output", "health.xml",
                     "--retries", "0")
    assert ran.exit_code == 1
    assert "wrote health.xml" in ran.stderr
    assert "good" in ran.stdout  # the table still goes to the log
    suite = ET.parse(workspace / "health.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("name") == "unmo-health"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    assert float(suite.get("time")) >= 0
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"good", "bad", "worse"}
    assert all(c.get("classname") == "unmo.health" and float(c.get("time")) >= 0
               for c in cases.values())
    assert cases["good"].find("failure") is None
    for name, status, why in (("bad", "down", "HTTP 500"), ("worse", "unauthorized", "HTTP 401")):
        failure = cases[name].find("failure")
        assert failure.get("type") == status
        assert why in failure.get("message") and why in failure.text
        assert failure.get("message") == failure.text
    # to stdout when there is no --output
    ran = run_health(unmo, api, "--format", "junit", "--retries", "0")
    assert ET.fromstring(ran.stdout.encode()).get("tests") == "3"


def test_json_output_file_and_unwritable_output(unmo, api, workspace: Path, request):
    keys = make_customer("acme")
    api.plays[keys.live] = "healthy"
    (workspace / "a-file").write_text("x")
    check_unchanged = request.getfixturevalue("unchanged")
    for place, says in (("missing/dir/health.json", "'missing/dir' does not exist"),
                        (str(workspace / "customers"), "is a folder; name a file"),
                        ("a-file/health.json", "'a-file' is not a folder")):
        ran = run_health(unmo, api, "--format", "json", "--output", place)
        # the contract's exit 3, "folder not writable" — the same as `report weekly --output`
        assert ran.exit_code == 3, (place, ran.stderr)
        assert says in ran.stderr and ran.stderr.count("\n") == 1
    check_unchanged()  # nothing checked, nothing recorded
    assert api.requests(keys.live) == 0
    ran = run_health(unmo, api, "--format", "json", "--output", "health.json")
    assert ran.exit_code == 0
    assert json.loads((workspace / "health.json").read_text())["summary"]["healthy"] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_in_a_read_only_folder_is_exit_3(unmo, api, workspace: Path):
    keys = make_customer("acme")
    api.plays[keys.live] = "healthy"
    locked = workspace / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        ran = run_health(unmo, api, "--output", "locked/health.xml", "--format", "junit")
    finally:
        locked.chmod(0o700)
    assert ran.exit_code == 3 and "permission denied" in ran.stderr
    assert api.requests(keys.live) == 0 and list(locked.iterdir()) == []


def test_output_replaces_a_file_whole_and_keeps_its_mode(unmo, api, workspace: Path):
    keys = make_customer("acme")
    api.plays[keys.live] = "500"
    target = workspace / "health.xml"
    target.write_text("<old/>")
    target.chmod(0o640)
    ran = run_health(unmo, api, "--format", "junit", "--output", "health.xml", "--retries", "0")
    assert ran.exit_code == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert ET.parse(target).getroot().get("failures") == "1"
    assert sorted(p.name for p in workspace.iterdir() if p.name.startswith(".health")) == []


def test_secrets_never_appear_in_any_output(unmo, api, workspace: Path):
    keys = {}
    for slug, play in (("ok", "healthy"), ("echo", "401"), ("boom", "500"), ("junk", "garbage")):
        keys[slug] = make_customer(slug, phase="launch")
        api.plays[keys[slug].live] = play
    # a server that echoes the key back in its error must not get it into our output
    from support_health import PLAYS, json_answer

    echoed = keys["echo"].live
    PLAYS["echo-key"] = lambda n: json_answer(401, {"error": f"bad key {echoed}"})
    api.plays[echoed] = "echo-key"
    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 1\n")
    outputs = []
    for fmt in ("table", "json", "junit"):
        ran = run_health(unmo, api, "--format", fmt, "--output", f"out.{fmt}", "--retries", "1")
        outputs += [ran.stdout, ran.stderr, (workspace / f"out.{fmt}").read_text()]
    ran = run_health(unmo, api, "--format", "json", env={"UNMO_DEBUG": "1"})
    outputs += [ran.stdout, ran.stderr]
    outputs.append(json.dumps(snapshot_tables(workspace), default=str))
    assert query("SELECT COUNT(*) FROM health_checks")[0][0] == 16
    assert query("SELECT COUNT(*) FROM alerts")[0][0] >= 3
    assert "bad key unmo_sk_live_…" in ran.stdout
    secrets = [k.live for k in keys.values()] + [k.test for k in keys.values()]
    for text in outputs:
        for secret in secrets:
            assert secret not in text and secret[13:] not in text
    # the bearer really was the live secret key
    assert any(h.get("Authorization") == f"Bearer {keys['ok'].live}" for h in api.headers_seen)


def test_every_result_is_recorded_in_one_run(unmo, api):
    good = make_customer("good", phase="launch")
    api.plays[good.live] = "kafka-unhealthy"
    make_customer("nokey", write_env=False)
    ran = run_health(unmo, api, "--format", "json", env={"UNMO_NOW": "2026-11-23T10:00:00Z"})
    assert ran.json()["checked_at"] == "2026-11-23T10:00:00Z"
    rows = query("SELECT c.slug, h.checked_at, h.status, h.http_status, h.latency_ms, h.error, "
                 "h.services, h.installs FROM health_checks h JOIN customers c "
                 "ON c.id = h.customer_id ORDER BY c.slug")
    assert [r[0] for r in rows] == ["good", "nokey"]
    good_row, nokey_row = rows
    assert str(good_row[1]).startswith("2026-11-23 10:00:00")
    assert good_row[2:4] == ("degraded", 200) and good_row[4] > 0
    assert "kafka" in good_row[5] and json.loads(good_row[6])["kafka"] == "unhealthy"
    assert good_row[7] == 42
    assert nokey_row[2] == "error" and nokey_row[3] is None and ".env" in nokey_row[5]


def test_no_record_writes_nothing(unmo, api, workspace: Path):
    keys = make_customer("acme")
    api.plays[keys.live] = "500"
    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 1\n")
    ran = run_health(unmo, api, "--no-record", "--retries", "0", "--format", "json")
    assert ran.exit_code == 1 and ran.json()["recorded"] is False
    assert query("SELECT COUNT(*) FROM health_checks") == [(0,)]
    assert query("SELECT COUNT(*) FROM alerts") == [(0,)]


def test_fail_on_down(unmo, api):
    degraded = make_customer("deg")
    api.plays[degraded.live] = "503"
    healthy = make_customer("fine")
    api.plays[healthy.live] = "healthy"
    assert run_health(unmo, api).exit_code == 1
    ran = run_health(unmo, api, "--fail-on", "down")
    assert ran.exit_code == 0, ran.stderr
    for play in ("401", "500"):
        api.plays[healthy.live] = play
        assert run_health(unmo, api, "--fail-on", "down", "--retries", "0").exit_code == 1
    api.plays[healthy.live] = "healthy"
    make_customer("nokey", write_env=False)
    assert run_health(unmo, api, "--fail-on", "down").exit_code == 1  # error fails too


def test_all_skips_churned_customers_but_a_named_one_is_checked(unmo, api):
    active = make_customer("active")
    api.plays[active.live] = "healthy"
    gone = make_customer("gone", churned=True)
    api.plays[gone.live] = "500"
    ran = run_health(unmo, api, "--all", "--format", "json")
    assert statuses(ran) == {"active": "healthy"} and ran.exit_code == 0
    assert api.requests(gone.live) == 0
    ran = run_health(unmo, api, "--format", "json")  # no slugs: the same as --all
    assert statuses(ran) == {"active": "healthy"}
    ran = run_health(unmo, api, "gone", "--format", "json", "--retries", "0")
    assert statuses(ran) == {"gone": "down"}


def test_unknown_customers_and_bad_options_are_exit_2(unmo, api, request):
    make_customer("acme")
    check_unchanged = request.getfixturevalue("unchanged")
    ran = run_health(unmo, api, "acme", "nope", "nada")
    assert ran.exit_code == 2 and "'nope', 'nada'" in ran.stderr
    for args in (["acme", "--all"], ["--concurrency", "0"], ["--retries", "-1"],
                 ["--timeout", "0"], ["--format", "xml"], ["--fail-on", "never"]):
        ran = run_health(unmo, api, *args)
        assert ran.exit_code == 2, args
        assert "Traceback" not in ran.stderr
    check_unchanged()


def test_no_customers_is_a_pass_with_a_warning_and_creates_nothing(unmo, api, workspace: Path):
    """No database yet: nothing to check, so exit 0 and an empty result (a CI job keeps
    working), with a warning that says so on stderr — and, like every reading command, no
    database created."""
    ran = run_health(unmo, api, "--format", "json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["summary"]["total"] == 0 and ran.json()["results"] == []
    assert "warning: nothing to check" in ran.stderr and "0 checked" in ran.stderr
    ran = run_health(unmo, api, "--format", "junit", "--output", "health.xml", "--all")
    assert ran.exit_code == 0
    suite = ET.parse(workspace / "health.xml").getroot()
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == \
        ("unmo-health", "0", "0")
    assert not (workspace / ".unmo").exists(), "health created a database"
    ran = run_health(unmo, api, "acme")
    assert ran.exit_code == 2 and "unknown customer 'acme'" in ran.stderr
    assert not (workspace / ".unmo").exists()
    assert not any(path for path, _n in api.counts)  # the API was never asked


def test_no_active_customers_warns_too(unmo, api):
    make_customer("gone", churned=True)
    ran = run_health(unmo, api, "--all")
    assert ran.exit_code == 0 and "warning: nothing to check" in ran.stderr


def test_customer_named_by_exact_name(unmo, api):
    keys = make_customer("techstart-mobile")
    api.plays[keys.live] = "healthy"
    ran = run_health(unmo, api, "Techstart Mobile", "--format", "json")
    assert statuses(ran) == {"techstart-mobile": "healthy"}


@pytest.mark.parametrize(("now", "day"), [("2026-11-23T00:05:00Z", "2026-11-22"),
                                           ("2026-11-23T23:59:59Z", "2026-11-22"),
                                           ("2026-11-23T01:30:00+02:00", "2026-11-21")])
def test_installs_are_asked_for_the_last_complete_utc_day(unmo, api, now, day):
    """"The last day" is one whole UTC date, the one before now's: start_date = end_date."""
    keys = make_customer("launched", phase="launch")
    api.plays[keys.live], api.installs[keys.live] = "healthy", 0
    ran = run_health(unmo, api, "--format", "json", env={"UNMO_NOW": now})
    asked = [q for token, path, q in api.queries
             if token == keys.live and path == "/v1/analytics/attribution"]
    assert asked == [{"start_date": [day], "end_date": [day]}]
    result = ran.json()["results"][0]
    assert result["status"] == "degraded"
    assert result["error"] == f"no installs on {day} (the last complete UTC day) for a " \
                              "launched customer"


def test_health_phase_change_starts_the_installs_check(unmo, api):
    keys = make_customer("acme")
    api.plays[keys.live], api.installs[keys.live] = "healthy", 0
    assert run_health(unmo, api).exit_code == 0
    set_phase("acme", "launch")
    ran = run_health(unmo, api, "--format", "json")
    assert statuses(ran) == {"acme": "degraded"}


def test_table_output_file_is_plain_text(unmo, api, workspace: Path):
    keys = make_customer("acme")
    api.plays[keys.live] = "healthy"
    ran = run_health(unmo, api, "--output", "health.txt")
    assert ran.exit_code == 0
    text = (workspace / "health.txt").read_text()
    assert "acme" in text and "healthy" in text and "\x1b[" not in text


def test_recorded_checks_feed_the_weekly_report(unmo, api):
    good = make_customer("good")
    bad = make_customer("bad")
    api.plays[good.live], api.plays[bad.live] = "healthy", "500"
    for day in ("2026-11-24T10:00:00Z", "2026-11-25T10:00:00Z"):
        ran = run_health(unmo, api, "--retries", "0", env={"UNMO_NOW": day})
        assert ran.exit_code == 1
    api.plays[bad.live] = "503"
    run_health(unmo, api, env={"UNMO_NOW": "2026-11-26T10:00:00Z"})
    ran = unmo("report", "weekly", "--week", "2026-W48", "--format", "json",
               env={"UNMO_NOW": "2026-12-01T10:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    health = ran.json()["health"]
    # 6 checks: 3 healthy, 2 down, 1 degraded
    assert health["checks"] == 6
    assert health["availability_pct"] == 66.67 and health["healthy_pct"] == 50.0
    assert health["p95_latency_ms"] is not None
