"""Several unmo processes on one workspace at once, as a team shares it: real subprocesses on
the same database (SQLite with WAL and a busy timeout, or PostgreSQL in its pass, where the
`workspace` fixture's UNMO_DATABASE_URL is inherited by every subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import query
from support_launcher import UnmoProcess
from support_onboarding import flags, secret_keys
from support_races import wait_done_or_blocked

REPORT_NOW = "2026-11-25T12:00:00Z"  # the report's week is 2026-W47 (16–22 Nov)
ONBOARDED_AT = "2026-11-02T10:00:00Z"


def _spawn(*args: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", **extra}
    return UnmoProcess([sys.executable, "-m", "unmo_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def _run(*args: str, **extra: str) -> tuple[int, str, str]:
    return _finish(_spawn(*args, **extra))


def _wait_for(marker: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before pausing: "
                                 f"{process.communicate()[1]}")
        assert time.monotonic() < deadline, "never reached the pause"
        time.sleep(0.02)


def _single_sentence(stderr: str) -> None:
    assert stderr.startswith("error: "), stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr


# --- two onboardings of one name ------------------------------------------------------------

# (first name, second name, pause both after their pre-flight check): the same name twice, and
# names that differ only by case and punctuation, which are one customer.
RACES = [("Race Games", "Race Games", True), ("Photon Apps", "photon-apps", True),
         ("Quasar Labs", "Quasar Labs", False), ("Nimbus Pay", "NIMBUS  pay!", False)]


@pytest.mark.slow
@pytest.mark.empty_database  # the first race also migrates the database
def test_two_onboardings_of_one_name_make_exactly_one_customer(unmo, workspace: Path):
    for first, second, pause in RACES:
        slug = first.lower().replace(" ", "-")
        # Paused right after the pre-flight check, both have seen the name free: only the
        # database's unique constraints can stop the second one.
        hooks = {"UNMO_TEST_PAUSE_AT": "prepare_workspace", "UNMO_TEST_PAUSE_S": "0.5"} \
            if pause else {}
        processes = [_spawn("onboard", name, *flags(), "--yes", "--json", **hooks)
                     for name in (first, second)]
        outcomes = [_finish(p) for p in processes]
        codes = sorted(code for code, _out, _err in outcomes)
        assert codes == [0, 2], f"{first!r} vs {second!r}: {outcomes}"
        (_, won, _), (_, _, lost) = sorted(outcomes, key=lambda o: o[0])
        assert json.loads(won)["customer"]["slug"] == slug
        loser_err = "\n".join(line for line in lost.splitlines()
                              if not line.startswith("unmo: paused at")) + "\n"
        _single_sentence(loser_err)
        assert "already onboarded" in loser_err

        assert query("SELECT count(*) FROM customers WHERE slug = :slug", slug=slug) == [(1,)]
        assert query("SELECT count(*) FROM api_keys k JOIN customers c ON c.id = k.customer_id "
                     "WHERE c.slug = :slug", slug=slug) == [(4,)]
        folders = sorted(p.name for p in (workspace / "customers").iterdir())
        assert slug in folders and not [f for f in folders if f.startswith(".tmp-")]
        # The folder that stayed is the winner's: its .env holds the keys the database knows.
        live = secret_keys(workspace / "customers" / slug)["UNMO_SECRET_KEY_LIVE"]
        ran = unmo("keys", "verify", live, "--json")
        assert ran.exit_code == 0 and ran.json()["customer"] == slug
    assert query("SELECT count(*) FROM customers") == [(len(RACES),)]
    assert query("SELECT count(*) FROM api_keys") == [(4 * len(RACES),)]


def test_two_onboardings_of_different_names_at_once_both_succeed(unmo, workspace: Path):
    unmo("onboard", "Already Here", *flags(), "--yes")  # the database is there
    # Both paused after their pre-flight check, so their transactions and audit events overlap.
    hooks = {"UNMO_TEST_PAUSE_AT": "prepare_workspace", "UNMO_TEST_PAUSE_S": "0.5"}
    processes = [_spawn("onboard", name, *flags("hybrid"), "--yes", "--json", **hooks)
                 for name in ("Left Games", "Right Games")]
    outcomes = [_finish(p) for p in processes]
    assert [code for code, _out, _err in outcomes] == [0, 0], outcomes
    for slug in ("left-games", "right-games"):
        assert query("SELECT count(*) FROM api_keys k JOIN customers c ON c.id = k.customer_id "
                     "WHERE c.slug = :slug", slug=slug) == [(4,)]
        assert query("SELECT count(*) FROM onboarding_sessions s JOIN customers c ON "
                     "c.id = s.customer_id WHERE c.slug = :slug AND s.outcome = 'success'",
                     slug=slug) == [(1,)]
        # Every row written for it is in the trail, named by its slug.
        assert query("SELECT action FROM audit_events WHERE customer = :slug ORDER BY id",
                     slug=slug) == [("customers.insert",), ("api_keys.insert",),
                                    ("mrr_changes.insert",), ("onboarding_sessions.insert",)]
    folders = sorted(p.name for p in (workspace / "customers").iterdir())
    assert folders == ["already-here", "left-games", "right-games"]
    ran = unmo("audit", "verify")  # one linear chain, whoever committed first
    assert ran.exit_code == 0, ran.stderr


# --- a feedback import while reports run ----------------------------------------------------


def _onboard_pilots(unmo, workspace: Path, count: int = 3) -> list[str]:
    records = [{"name": f"Pilot {n:02d}", "contact_name": "Growth Team",
                "contact_email": f"growth{n}@pilot.example", "industry": "gaming",
                "integration": "s2s", "events_per_day": 50000, "provider": "adjust",
                "mrr": 1000} for n in range(1, count + 1)]
    path = workspace.parent / "pilots.yaml"
    path.write_text(yaml.safe_dump(records))
    ran = unmo("onboard", "--from", str(path), "--yes", "--json",
               env={"UNMO_NOW": ONBOARDED_AT})
    assert ran.exit_code == 0, ran.stderr
    return [f"pilot-{n:02d}" for n in range(1, count + 1)]


def _survey(path: Path, slugs: list[str], rows: int) -> Path:
    lines = ["customer,satisfaction,nps,category,comment,received_at,id"]
    for n in range(rows):
        lines.append(f"{slugs[n % len(slugs)]},{7 + n % 4},{6 + n % 5},support,fine,"
                     f"2026-11-{16 + n % 7}T{8 + n % 10:02d}:00:00Z,s-{n}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _report(**extra: str) -> dict:
    code, out, err = _run("report", "weekly", "--format", "json", UNMO_NOW=REPORT_NOW, **extra)
    assert code == 0, err
    return json.loads(out)


def test_reports_and_another_writer_while_an_import_holds_its_transaction(unmo,
                                                                         workspace: Path):
    slugs = _onboard_pilots(unmo, workspace)
    survey = _survey(workspace.parent / "survey.csv", slugs, 3000)
    marker = workspace.parent / "import-paused"
    importer = _spawn("feedback", "import", str(survey), "--json", UNMO_NOW=REPORT_NOW,
                      UNMO_TEST_PAUSE_AT="import-insert", UNMO_TEST_PAUSE_FILE=str(marker),
                      UNMO_TEST_PAUSE_S="120")
    try:
        _wait_for(marker, importer)
        # The import has inserted its 3,000 rows and holds its transaction open: reports read
        # the last committed state, whole, without waiting for it.
        with ThreadPoolExecutor(max_workers=2) as pool:
            reports = list(pool.map(lambda _n: _report(), range(2)))
        for report in reports:
            assert report["satisfaction"]["responses"] == 0
        assert importer.poll() is None, "the import finished before the reports read"
        # Another writer meanwhile waits for the lock (SQLite) or takes its own row
        # (PostgreSQL); it does not fail.
        adder = _spawn("feedback", "add", slugs[0], "--satisfaction", "9",
                       "--received-at", "2026-11-20T10:00:00Z", UNMO_NOW=REPORT_NOW)
        time.sleep(0.3)
    finally:
        marker.unlink(missing_ok=True)  # releases the import
    code, out, err = _finish(importer)
    assert code == 0, err
    assert json.loads(out)["imported"] == 3000
    code, _out, err = _finish(adder)
    assert code == 0, err
    after = _report()
    assert after["satisfaction"]["responses"] == 3001
    assert query("SELECT count(*) FROM feedback") == [(3001,)]


def test_an_import_and_reports_started_together_all_succeed(unmo, workspace: Path):
    slugs = _onboard_pilots(unmo, workspace)
    survey = _survey(workspace.parent / "survey.csv", slugs, 5000)
    processes = [_spawn("feedback", "import", str(survey), "--json", UNMO_NOW=REPORT_NOW)]
    processes += [_spawn("report", "weekly", "--format", "json", UNMO_NOW=REPORT_NOW)
                  for _ in range(3)]
    outcomes = [_finish(p) for p in processes]
    for code, _out, err in outcomes:
        assert code == 0, err
    assert json.loads(outcomes[0][1])["imported"] == 5000
    for _code, out, _err in outcomes[1:]:
        # Each report saw the import entirely or not at all.
        assert json.loads(out)["satisfaction"]["responses"] in (0, 5000)


# --- health checks writing while reports read -------------------------------------------------


@pytest.fixture
def sandbox_url(workspace: Path):
    from unmo_cli.services.sandbox import SandboxOptions, start_in_thread
    from unmo_cli.workspace import load_workspace

    url, stop = start_in_thread(SandboxOptions(port=0, latency_ms=50, key_refresh_s=0),
                                workspace=load_workspace())
    try:
        yield url
    finally:
        stop()


@pytest.mark.slow
def test_health_runs_write_while_reports_read(unmo, workspace: Path, sandbox_url: str):
    slugs = _onboard_pilots(unmo, workspace, count=12)
    week = "2026-W48"  # the week of REPORT_NOW, where the checks are recorded
    rounds, writers, readers = 2, 2, 3
    for _ in range(rounds):
        processes = [_spawn("health", "--all", "--format", "json", "--retries", "0",
                            UNMO_API_URL=sandbox_url, UNMO_NOW=REPORT_NOW)
                     for _ in range(writers)]
        processes += [_spawn("report", "weekly", "--week", week, "--format", "json",
                             UNMO_NOW=REPORT_NOW) for _ in range(readers)]
        outcomes = [_finish(p) for p in processes]
        for code, out, err in outcomes[:writers]:
            assert code == 0, err
            assert json.loads(out)["summary"]["healthy"] == len(slugs)
        for code, out, err in outcomes[writers:]:
            assert code == 0, err
            checks = json.loads(out)["health"]["checks"]
            assert checks % len(slugs) == 0, "a report saw half of a health run"
    assert query("SELECT count(*) FROM health_checks") == [(rounds * writers * len(slugs),)]
    this_week = json.loads(_run("report", "weekly", "--week", week, "--format", "json",
                                UNMO_NOW=REPORT_NOW)[1])
    assert this_week["health"]["checks"] == rounds * writers * len(slugs)
    assert this_week["health"]["availability_pct"] == 100.0


# --- concurrent key rotations of one customer -------------------------------------------------


def _assert_one_active_key_each(unmo, folder: Path, slug: str) -> None:
    """Exactly one active key per kind x environment, and it is the one the folder holds."""
    active = query("SELECT k.kind, k.environment, count(*) FROM api_keys k JOIN customers c "
                   "ON c.id = k.customer_id WHERE c.slug = :slug AND k.revoked_at IS NULL "
                   "GROUP BY k.kind, k.environment ORDER BY k.kind, k.environment", slug=slug)
    assert active == [("publishable", "live", 1), ("publishable", "test", 1),
                      ("secret", "live", 1), ("secret", "test", 1)], active
    for name, key in secret_keys(folder).items():
        if name.startswith("UNMO_") and "_KEY_" in name:
            ran = unmo("keys", "verify", key, "--json")
            assert ran.exit_code == 0 and ran.json()["customer"] == slug, (name, ran.stdout)
    assert not list(folder.rglob("*.unmo-new")), "a pending file was left behind"
    ran = unmo("customer", "render", slug, "--check")
    assert ran.exit_code == 0, ran.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args", [(), ("--kind", "publishable"), ("--env", "live")])
def test_concurrent_rotations_of_one_customer_leave_one_active_key_each(unmo, workspace: Path,
                                                                         args):
    """Five `keys rotate` of one customer at once: they take turns (a row lock on PostgreSQL,
    the write lock on SQLite, and a lock on the customer's folder for its files), so each
    succeeds, and the keys the database holds active are exactly those in `.env`."""
    ran = unmo("onboard", "Rota Games", *flags("hybrid"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    folder = workspace / "customers" / "rota-games"
    before = secret_keys(folder)
    processes = [_spawn("keys", "rotate", "rota-games", *args, "--json") for _ in range(5)]
    outcomes = [_finish(p) for p in processes]
    for code, _out, err in outcomes:
        assert code == 0, err
    rotated = [json.loads(out)["rotated"] for _code, out, _err in outcomes]
    per_racer = len(rotated[0])
    assert all(len(r) == per_racer for r in rotated)
    # Serialised: each racer revoked the key the one before it created (and the first the
    # original), so the old hints chain into the new ones.
    old = sorted(item["old_hint"] for r in rotated for item in r)
    new = sorted(item["new_hint"] for r in rotated for item in r)
    assert len(set(new)) == 5 * per_racer
    assert len(set(old) - set(new)) == per_racer, "two racers revoked the same key"
    _assert_one_active_key_each(unmo, folder, "rota-games")
    revoked = query("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL")
    assert revoked == [(5 * per_racer,)]
    after = secret_keys(folder)
    for name in before:
        if name.startswith("UNMO_") and "_KEY_" in name and before[name] != after[name]:
            assert unmo("keys", "verify", before[name]).exit_code == 1


@pytest.mark.slow
def test_rotations_from_two_workspaces_on_one_database_still_take_turns(unmo, workspace: Path):
    """Two checkouts of the team workspace (each with its own customers/ folder) on one
    database: the folders' locks cannot see each other, so only the database's lock (the
    customer's row on PostgreSQL, the write lock on SQLite) keeps the keys right."""
    from unmo_cli.workspace import load_workspace

    ran = unmo("onboard", "Twin Apps", *flags("s2s"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    other = workspace.parent / "ws-copy"
    other.mkdir()
    shutil.copytree(workspace / "customers", other / "customers", symlinks=True)
    shared = {"UNMO_DATABASE_URL": load_workspace().database_url}
    processes = [_spawn("keys", "rotate", "twin-apps", "--json", UNMO_WORKSPACE=str(root),
                        **shared) for root in (workspace, other) * 3]
    outcomes = [_finish(p) for p in processes]
    for code, _out, err in outcomes:
        assert code == 0, err
    olds = [item["old_hint"] for _c, out, _e in outcomes for item in json.loads(out)["rotated"]]
    assert len(olds) == len(set(olds)) == 12, "two rotations revoked the same key"
    active = query("SELECT kind, environment, count(*) FROM api_keys WHERE revoked_at IS NULL "
                   "GROUP BY kind, environment ORDER BY kind, environment")
    assert active == [("publishable", "live", 1), ("publishable", "test", 1),
                      ("secret", "live", 1), ("secret", "test", 1)], active
    # The last rotation's folder holds the active keys (the other one is a checkout behind).
    # Read in this process: the race is over, and `keys verify` only reads the database.
    current = [root for root in (workspace, other) if all(
        unmo("keys", "verify", key, env={"UNMO_WORKSPACE": str(root), **shared}).exit_code == 0
        for name, key in secret_keys(root / "customers" / "twin-apps").items()
        if "_KEY_" in name)]
    assert len(current) == 1


# --- other read-then-write commands ------------------------------------------------------------


def _second_while_first_paused(workspace: Path, first: list[str], second: list[str], point: str,
                               *, wait_s: float = 5.0
                               ) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """`first` paused at `point` (after what it read, before it writes), `second` run to its end
    meanwhile, or until it waits for a lock `first` holds (support_races: asleep without using
    CPU), at most `wait_s` (less than SQLite's busy timeout), then `first` released; both
    outcomes."""
    marker = workspace.parent / f"paused-{time.monotonic_ns()}"
    held = _spawn(*first, UNMO_TEST_PAUSE_AT=point, UNMO_TEST_PAUSE_FILE=str(marker),
                  UNMO_TEST_PAUSE_S="120")
    try:
        _wait_for(marker, held)
        racer = _spawn(*second)
        wait_done_or_blocked(racer, timeout=wait_s)
    finally:
        marker.unlink(missing_ok=True)
    return _finish(held), _finish(racer)


def _without_pause_line(stderr: str) -> str:
    return "".join(line + "\n" for line in stderr.splitlines()
                   if not line.startswith("unmo: paused at"))


@pytest.mark.parametrize("second", [["customer", "churn", "lock-co", "--reason", "second"],
                                    ["customer", "phase", "lock-co", "launch"]])
def test_churn_and_phase_do_not_act_on_what_another_changed_meanwhile(unmo, workspace: Path,
                                                                      second):
    ran = unmo("onboard", "Lock Co", *flags("s2s"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    first, other = _second_while_first_paused(
        workspace, ["customer", "churn", "lock-co", "--reason", "first"], second,
        "customer-change")
    assert first[0] == 0, first[2]
    # The second one ran after the churn committed: it sees the customer churned and refuses,
    # in one sentence, instead of overwriting the churn or changing a churned customer.
    assert other[0] == 2, other
    _single_sentence(other[2])
    assert "churned on" in other[2]
    assert query("SELECT phase, churn_reason FROM customers") == [("setup", "first")]


def test_two_acks_of_one_alert_keep_the_first_time(unmo, workspace: Path):
    ran = unmo("onboard", "Ack Co", *flags("s2s"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert unmo("feedback", "add", "ack-co", "-s", "2").exit_code == 0
    first, second = _second_while_first_paused(workspace, ["alerts", "ack", "1"],
                                               ["alerts", "ack", "1"], "alerts-ack", wait_s=30)
    assert second[0] == 0 and "acknowledged alert #1" in second[2], second
    acked_at = query("SELECT acked_at FROM alerts")
    # The paused one read the alert as open, but by its write it was acknowledged: it says so
    # and keeps the other's time.
    assert first[0] == 0, first
    assert "already acknowledged" in _without_pause_line(first[2]), first[2]
    assert query("SELECT acked_at FROM alerts") == acked_at


def test_the_same_file_imported_twice_at_once_is_stored_once_and_both_succeed(unmo,
                                                                            workspace: Path):
    """The second import waits for the first (the customers' rows locked, or SQLite's write
    lock) and then counts its rows as duplicates, instead of failing on the unique ids."""
    slugs = _onboard_pilots(unmo, workspace)
    survey = _survey(workspace.parent / "survey.csv", slugs, 300)
    first, second = _second_while_first_paused(
        workspace, ["feedback", "import", str(survey), "--json"],
        ["feedback", "import", str(survey), "--json"], "import-insert")
    assert first[0] == 0, first[2]
    assert second[0] == 0, second[2]
    counts = sorted((json.loads(o)["imported"], json.loads(o)["duplicates"])
                    for o in (first[1], second[1]))
    assert counts == [(0, 300), (300, 0)]
    assert query("SELECT count(*) FROM feedback") == [(300,)]


def test_a_render_while_a_rotation_replaces_files_waits_for_it(unmo, workspace: Path):
    """The rotation has committed and is replacing its files; a render meanwhile used to take
    the rotation's pending files for a killed one's (and the rotation then failed on a vanished
    file, or the render wrote the old keys back). It waits for the folder now."""
    ran = unmo("onboard", "Render Race", *flags("hybrid"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    folder = workspace / "customers" / "render-race"
    rotation, render = _second_while_first_paused(
        workspace, ["keys", "rotate", "render-race", "--kind", "publishable"],
        ["customer", "render", "render-race"], "rotate-replace@2")
    assert rotation[0] == 0, rotation[2]
    assert render[0] == 0, render[2]
    _assert_one_active_key_each(unmo, folder, "render-race")


def test_two_health_runs_at_once_raise_a_failing_alert_once(unmo, workspace: Path):
    """Each run decides its health alerts from the recorded history and the open alerts; the
    first one paused after deciding (its alert stored, not committed), the second used to decide
    the same on PostgreSQL and store a second alert. They take turns on the customers' rows."""
    import socket

    ran = unmo("onboard", "Down Co", *flags("s2s"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    (workspace / "unmo.yaml").write_text("alerts:\n  health_failure_threshold: 1\n")
    with socket.socket() as probe:  # a port nobody listens on: the API is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {"UNMO_API_URL": f"http://127.0.0.1:{port}/v1"}
    os.environ.update(down)
    try:
        first, second = _second_while_first_paused(
            workspace, ["health", "down-co", "--retries", "0", "--format", "json"],
            ["health", "down-co", "--retries", "0", "--format", "json"], "health-record")
    finally:
        os.environ.pop("UNMO_API_URL")
    for code, out, err in (first, second):
        assert code == 1, err
        assert json.loads(out)["results"][0]["status"] == "down"
    assert query("SELECT count(*) FROM health_checks") == [(2,)]
    assert query("SELECT rule FROM alerts") == [("health_failing",)]


@pytest.mark.parametrize(("second", "ledger"), [
    (["customer", "set", "ledger-co", "--mrr", "4000"],
     [("start", 250050), ("change", 300000), ("change", 400000)]),
    (["customer", "churn", "ledger-co", "--reason", "meanwhile"],
     [("start", 250050), ("change", 300000), ("churn", 0)]),
])
def test_a_record_change_and_another_writer_take_turns_on_the_ledger(unmo, workspace: Path,
                                                                      second, ledger):
    ran = unmo("onboard", "Ledger Co", *flags("s2s"), "--yes", "--json")
    assert ran.exit_code == 0, ran.stderr
    first, other = _second_while_first_paused(
        workspace, ["customer", "set", "ledger-co", "--mrr", "3000"], second, "customer-change")
    assert first[0] == 0, first[2]
    assert other[0] == 0, other[2]
    # The second waited for the first's lock and then acted on what it had committed: the
    # ledger is in the order the changes took effect, and today's MRR is the last one's.
    assert query("SELECT kind, mrr_cents FROM mrr_changes ORDER BY effective_at, id") == ledger
    expected_mrr = 400000 if second[1] == "set" else 300000
    assert query("SELECT mrr_cents FROM customers") == [(expected_mrr,)]
