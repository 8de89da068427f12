"""kill -9 at any step: an onboarding (one customer or a batch) or a feedback import killed while
paused at each of its steps leaves no orphan row, no half-made folder in place, and the retry
succeeds. Extends tests/test_onboard_failures.py (which kills single onboardings before the
commit and after it, retrying with another name) to every step, batches and imports, with the
database's invariants checked after each kill.

The processes pause through the test-only hooks UNMO_TEST_PAUSE_AT / UNMO_TEST_PAUSE_FILE /
UNMO_TEST_PAUSE_S (services/onboarding.py, services/feedback.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import query
from support_launcher import UnmoProcess
from support_onboarding import flags, onboard, secret_keys

PILOTS = Path(__file__).resolve().parents[1] / "unmo_cli" / "data" / "pilot-customers.yaml"
PILOT_SLUGS = ["ecomgrowth-labs", "financetrack-pro", "techstart-mobile"]
# Every step of an onboarding, in order; the last one runs after the commit.
STEPS = ["validate", "generate_keys", "render_files", "prepare_workspace", "write_files",
         "write_secrets", "create_record", "record_session", "commit", "move_into_place"]
AFTER_COMMIT = {"move_into_place"}


def _paused(workspace: Path, args: list[str], point: str) -> subprocess.Popen:
    """`unmo ARGS…` started and left paused at `point`."""
    marker = workspace.parent / f"paused-{time.monotonic_ns()}"
    env = {**os.environ, "UNMO_TEST_PAUSE_AT": point, "UNMO_TEST_PAUSE_FILE": str(marker),
           "UNMO_TEST_PAUSE_S": "120", "NO_COLOR": "1"}
    process = UnmoProcess([sys.executable, "-m", "unmo_cli", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"unmo {' '.join(args)} exited {process.returncode} before "
                                 f"pausing at {point}: {process.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"never paused at {point}"
        time.sleep(0.02)
    return process


def _kill_9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def _one(sql: str, **params) -> int:
    rows = query(sql, **params)
    return rows[0][0] if rows else 0


def assert_consistent(workspace: Path) -> None:
    """What a kill may never leave: orphan rows, a customer without its four keys or its
    successful onboarding session, a folder in place that is half-written or has no customer."""
    orphans = {
        "api_keys": "SELECT count(*) FROM api_keys k LEFT JOIN customers c "
                    "ON c.id = k.customer_id WHERE c.id IS NULL",
        "onboarding_steps": "SELECT count(*) FROM onboarding_steps t LEFT JOIN "
                            "onboarding_sessions s ON s.id = t.session_id WHERE s.id IS NULL",
        "onboarding_sessions": "SELECT count(*) FROM onboarding_sessions s LEFT JOIN customers c "
                               "ON c.id = s.customer_id WHERE s.customer_id IS NOT NULL AND "
                               "c.id IS NULL",
        "feedback": "SELECT count(*) FROM feedback f LEFT JOIN customers c "
                    "ON c.id = f.customer_id WHERE c.id IS NULL",
        "alerts": "SELECT count(*) FROM alerts a LEFT JOIN feedback f ON f.id = a.feedback_id "
                  "WHERE a.feedback_id IS NOT NULL AND f.id IS NULL",
    }
    for table, sql in orphans.items():
        assert _one(sql) == 0, f"orphan rows in {table}"
    incomplete = query("SELECT c.slug FROM customers c LEFT JOIN api_keys k "
                       "ON k.customer_id = c.id GROUP BY c.slug HAVING count(k.id) <> 4")
    assert incomplete == [], f"customers without their four keys: {incomplete}"
    unrecorded = query("SELECT c.slug FROM customers c WHERE NOT EXISTS (SELECT 1 FROM "
                       "onboarding_sessions s WHERE s.customer_id = c.id AND "
                       "s.outcome = 'success')")
    assert unrecorded == [], f"customers without a successful onboarding: {unrecorded}"
    slugs = {slug for (slug,) in query("SELECT slug FROM customers")}
    folder = workspace / "customers"
    placed = {p.name for p in folder.iterdir() if not p.name.startswith(".")} \
        if folder.is_dir() else set()
    assert placed <= slugs, f"folders in place without a customer: {placed - slugs}"
    for slug in placed:
        assert (folder / slug / ".env").is_file() and (folder / slug / "customer.yaml").is_file()
    for slug in slugs - placed:  # committed, its move killed: waiting to be rolled forward
        assert list(folder.glob(f".tmp-{slug}-*")), f"{slug} has no folder at all"


def assert_settled(unmo, workspace: Path, slugs: list[str]) -> None:
    """Everything in place and working: exactly these folders, no leftovers, keys that verify,
    folders that match the templates."""
    assert_consistent(workspace)
    folders = sorted(p.name for p in (workspace / "customers").iterdir())
    assert folders == sorted(slugs), folders
    assert sorted(s for (s,) in query("SELECT slug FROM customers")) == sorted(slugs)
    for slug in slugs:
        live = secret_keys(workspace / "customers" / slug)["UNMO_SECRET_KEY_LIVE"]
        ran = unmo("keys", "verify", live, "--json")
        assert ran.exit_code == 0 and ran.json()["customer"] == slug, ran.stderr
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 0, ran.stderr


# --- onboarding ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_an_onboarding_killed_at_any_step(unmo, workspace: Path, step: str):
    process = _paused(workspace, ["onboard", "TechStart Mobile", *flags(), "--yes"], step)
    _kill_9(process)
    assert_consistent(workspace)
    committed = step in AFTER_COMMIT
    assert _one("SELECT count(*) FROM customers") == (1 if committed else 0)

    # The retry, the same command again: before the commit it onboards; after it, the killed
    # run's folder is completed first and the name is reported as taken.
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes", "--json")
    if committed:
        assert ran.exit_code == 2, ran.stderr
        assert "already onboarded" in ran.stderr and ran.stderr.count("\n") == 1
    else:
        assert ran.exit_code == 0, ran.stderr
        assert ran.json()["customer"]["slug"] == "techstart-mobile"
    assert_settled(unmo, workspace, ["techstart-mobile"])


@pytest.mark.slow
@pytest.mark.parametrize("point", ["write_files@2", "create_record", "commit",
                                   "move_into_place@2"])
def test_a_batch_killed_midway(unmo, workspace: Path, point: str):
    """A --from file is one unit: killed before the commit, none of it remains; killed between
    two moves after the commit, the rest is rolled forward by the next run."""
    onboard(unmo, "Earlier Customer")  # a customer from before, which must stay untouched
    process = _paused(workspace, ["onboard", "--from", str(PILOTS), "--yes"], point)
    _kill_9(process)
    assert_consistent(workspace)
    committed = point.startswith("move_into_place")
    assert _one("SELECT count(*) FROM customers") == (4 if committed else 1)

    ran = unmo("onboard", "--from", str(PILOTS), "--yes", "--json")
    assert ran.exit_code == (2 if committed else 0), ran.stderr
    assert_settled(unmo, workspace, ["earlier-customer", *PILOT_SLUGS])


# --- feedback import ---------------------------------------------------------------------------


def _survey(path: Path, rows: int) -> Path:
    lines = ["customer,satisfaction,nps,category,comment,received_at,id"]
    for n in range(rows):
        # Every tenth answer is a detractor with a low score: alerts ride in the same
        # transaction as their rows.
        score, nps = (3, 2) if n % 10 == 0 else (9, 10)
        lines.append(f"{PILOT_SLUGS[n % 3]},{score},{nps},support,call {n},"
                     f"2026-11-{10 + n % 10}T10:00:00Z,row-{n}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def pilots(unmo, workspace: Path) -> Path:
    ran = unmo("onboard", "--from", str(PILOTS), "--yes")
    assert ran.exit_code == 0, ran.stderr
    return workspace


@pytest.mark.slow
def test_an_import_killed_before_its_commit_leaves_nothing(unmo, pilots: Path):
    survey = _survey(pilots.parent / "survey.csv", 2000)
    process = _paused(pilots, ["feedback", "import", str(survey)], "import-insert")
    _kill_9(process)
    assert_consistent(pilots)
    assert _one("SELECT count(*) FROM feedback") == 0
    assert _one("SELECT count(*) FROM alerts") == 0

    ran = unmo("feedback", "import", str(survey), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["imported"] == 2000 and ran.json()["duplicates"] == 0
    assert _one("SELECT count(*) FROM feedback") == 2000
    # One low-score and one detractor alert per tenth row (no drop: the scores do not slide).
    assert _one("SELECT count(*) FROM alerts") == 2 * 200
    assert_consistent(pilots)


@pytest.mark.slow
def test_an_import_killed_after_its_commit_keeps_it_whole(unmo, pilots: Path):
    survey = _survey(pilots.parent / "survey.csv", 500)
    process = _paused(pilots, ["feedback", "import", str(survey)], "import-deliver")
    _kill_9(process)
    assert_consistent(pilots)
    assert _one("SELECT count(*) FROM feedback") == 500
    alerts = _one("SELECT count(*) FROM alerts")
    assert alerts == 2 * 50
    assert _one("SELECT count(*) FROM alerts WHERE notified_at IS NULL") == alerts  # pending

    ran = unmo("feedback", "import", str(survey), "--json")  # the retry changes nothing
    assert ran.exit_code == 0, ran.stderr
    assert (ran.json()["imported"], ran.json()["duplicates"]) == (0, 500)
    assert _one("SELECT count(*) FROM feedback") == 500
    assert _one("SELECT count(*) FROM alerts") == alerts
    listed = unmo("alerts", "list", "--open", "--json")
    assert listed.exit_code == 0 and len(listed.json()) == alerts


def test_the_pause_points_are_where_they_claim(unmo, pilots: Path):
    """A guard for the tests above: a pause point that no longer exists would make them pass
    without killing anything mid-way."""
    survey = _survey(pilots.parent / "survey.csv", 10)
    for point, expected in (("import-insert", 0), ("import-deliver", 10)):
        process = _paused(pilots, ["feedback", "import", str(survey)], point)
        try:
            assert _one("SELECT count(*) FROM feedback") == expected
        finally:
            _kill_9(process)
    ran = unmo("feedback", "import", str(survey), "--json")
    assert json.loads(ran.stdout)["duplicates"] == 10
