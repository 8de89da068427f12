"""All or nothing: a failure at any step, or a process killed mid-way, leaves no record, key or
folder that blocks a retry."""

from __future__ import annotations

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
STEPS = ["validate", "generate_keys", "render_files", "prepare_workspace", "write_files",
         "write_secrets", "create_record", "record_session", "commit", "move_into_place"]


def _nothing_left(workspace: Path) -> None:
    assert query("SELECT count(*) FROM customers") in ([], [(0,)])
    assert query("SELECT count(*) FROM api_keys") in ([], [(0,)])
    customers = workspace / "customers"
    assert not customers.exists() or list(customers.iterdir()) == []


@pytest.mark.parametrize("step", STEPS)
def test_failure_at_each_step_leaves_nothing_and_retry_succeeds(unmo, workspace: Path, step):
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--json",
               env={"UNMO_TEST_FAIL_AT": step})
    assert ran.exit_code == 3, ran.stderr
    assert f"injected failure at step '{step}'" in ran.stderr
    assert ran.stdout == ""
    _nothing_left(workspace)
    if STEPS.index(step) > STEPS.index("prepare_workspace"):
        sessions = query("SELECT customer_id, outcome, error FROM onboarding_sessions")
        assert [(s[0], s[1]) for s in sessions] == [(None, "failed")]
        failed = query("SELECT name FROM onboarding_steps WHERE outcome = 'failed'")
        assert failed == [(step,)]
    doc = onboard(unmo, "TechStart Mobile")
    assert (workspace / doc["directory"] / ".env").is_file()
    assert query("SELECT count(*) FROM api_keys") == [(4,)]


@pytest.mark.parametrize("step", ["write_files@2", "create_record", "move_into_place@2",
                                  "commit"])
def test_failure_in_a_batch_leaves_none_of_it(unmo, workspace: Path, step):
    ran = unmo("onboard", "--from", str(PILOTS), env={"UNMO_TEST_FAIL_AT": step})
    assert ran.exit_code == 3, ran.stderr
    _nothing_left(workspace)
    assert {o for o, in query("SELECT outcome FROM onboarding_sessions")} == {"failed"}
    ran = unmo("onboard", "--from", str(PILOTS))
    assert ran.exit_code == 0, ran.stderr
    assert len(list((workspace / "customers").iterdir())) == 3


def test_stale_temporary_folders_are_removed_next_time(unmo, workspace: Path):
    stale = workspace / "customers" / ".tmp-ghost-0badcafe"
    stale.mkdir(parents=True)
    (stale / ".env").write_text("UNMO_SECRET_KEY_LIVE=whatever\n")
    onboard(unmo, "Real One")
    assert sorted(p.name for p in (workspace / "customers").iterdir()) == ["real-one"]


def _start_paused(workspace: Path, step: str, name: str = "TechStart Mobile"):
    marker = workspace.parent / "paused"
    env = {k: v for k, v in os.environ.items()}
    env.update(UNMO_WORKSPACE=str(workspace), UNMO_TEST_PAUSE_AT=step,
               UNMO_TEST_PAUSE_FILE=str(marker), UNMO_TEST_PAUSE_S="60")
    process = UnmoProcess([sys.executable, "-m", "unmo_cli", "onboard", name, *flags()],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the onboarding never paused"
        time.sleep(0.05)
    return process


def _kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()


def test_killed_before_the_commit_leaves_nothing_that_blocks_a_retry(unmo, workspace: Path):
    process = _start_paused(workspace, "write_secrets")
    temporaries = list((workspace / "customers").glob(".tmp-techstart-mobile-*"))
    assert len(temporaries) == 1
    _kill(process)
    assert query("SELECT count(*) FROM customers") == [(0,)]
    doc = onboard(unmo, "TechStart Mobile")  # the retry succeeds and sweeps the leftover
    assert sorted(p.name for p in (workspace / "customers").iterdir()) == ["techstart-mobile"]
    assert doc["customer"]["slug"] == "techstart-mobile"


def test_killed_after_the_commit_is_rolled_forward(unmo, workspace: Path):
    process = _start_paused(workspace, "move_into_place")
    _kill(process)
    assert query("SELECT count(*) FROM customers") == [(1,)]
    assert not (workspace / "customers" / "techstart-mobile").exists()
    onboard(unmo, "Next Customer")
    folder = workspace / "customers" / "techstart-mobile"
    assert folder.is_dir(), "the committed onboarding was not completed"
    assert not list((workspace / "customers").glob(".tmp-*"))
    ran = unmo("keys", "verify", secret_keys(folder)["UNMO_SECRET_KEY_LIVE"])
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 0, ran.stderr


def test_a_running_onboarding_keeps_its_temporary_folder(unmo, workspace: Path):
    """Another onboarding meanwhile must not sweep a folder that is still being written."""
    process = _start_paused(workspace, "write_secrets")
    try:
        onboard(unmo, "Someone Else")
        assert list((workspace / "customers").glob(".tmp-techstart-mobile-*"))
    finally:
        _kill(process)
