"""`unmo keys list|rotate|verify`."""

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
from support_onboarding import KEY_RE, onboard, secret_keys

from unmo_cli import apikeys


@pytest.fixture
def folder(module_workspaces, workspace: Path) -> Path:
    """Key Holder onboarded (hybrid: every kind of file holding a key): once for the module, a
    copy for each test."""
    module_workspaces.copy(_onboard_key_holder, workspace)
    return workspace / "customers" / "key-holder"


def _onboard_key_holder(unmo) -> None:
    onboard(unmo, "Key Holder", "hybrid", platforms="ios,android")


def test_list_shows_hints_only(unmo, folder: Path):
    ran = unmo("keys", "list", "key-holder", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["customer"] == "key-holder" and len(doc["keys"]) == 4
    assert not KEY_RE.search(ran.stdout)
    env = secret_keys(folder)
    assert {k["hint"] for k in doc["keys"]} == {apikeys.hint(v) for n, v in env.items()
                                                if n.startswith("UNMO_") and "KEY" in n}
    human = unmo("keys", "list", "Key Holder")
    assert human.exit_code == 0 and "unmo_pk_live_…" in human.stdout


@pytest.mark.parametrize("which", ["UNMO_SECRET_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"])
def test_verify_an_active_key(unmo, folder: Path, which):
    key = secret_keys(folder)[which]
    ran = unmo("keys", "verify", key, "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["status"] == "active" and doc["valid"] is True
    assert doc["customer"] == "key-holder"
    assert (doc["kind"], doc["environment"]) == (
        ("secret", "live") if "SECRET" in which else ("publishable", "test"))
    assert key not in ran.stdout
    human = unmo("keys", "verify", key)
    assert "active" in human.stdout and "Key Holder (key-holder)" in human.stdout


def test_verify_reads_stdin_with_a_dash(unmo, folder: Path):
    key = secret_keys(folder)["UNMO_SECRET_KEY_TEST"]
    ran = unmo("keys", "verify", "-", input=key + "\n")
    assert ran.exit_code == 0 and "secret test key" in ran.stdout


def test_verify_malformed_and_unknown_keys(unmo, folder: Path):
    key = secret_keys(folder)["UNMO_SECRET_KEY_LIVE"]
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad, status in ((typo, "malformed"), (key[:-3], "malformed"), ("hello", "malformed"),
                        (apikeys.generate("secret", "live"), "unknown")):
        ran = unmo("keys", "verify", bad, "--json")
        assert ran.exit_code == 2, bad
        assert ran.json()["status"] == status
        ran = unmo("keys", "verify", bad)
        assert ran.exit_code == 2 and status in ran.stderr and bad not in ran.stderr


def test_verify_in_an_empty_workspace_writes_nothing(unmo, workspace: Path, unchanged):
    ran = unmo("keys", "verify", apikeys.generate("publishable", "live"))
    assert ran.exit_code == 2 and "unknown" in ran.stderr
    unchanged()


def test_rotate_the_live_secret_key(unmo, folder: Path):
    before = secret_keys(folder)
    ran = unmo("keys", "rotate", "key-holder", "--env", "live", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert [(r["kind"], r["environment"]) for r in doc["rotated"]] == [("secret", "live")]
    after = secret_keys(folder)
    assert after["UNMO_SECRET_KEY_LIVE"] != before["UNMO_SECRET_KEY_LIVE"]
    assert after["UNMO_SECRET_KEY_TEST"] == before["UNMO_SECRET_KEY_TEST"]
    assert doc["rotated"][0]["new_hint"] == apikeys.hint(after["UNMO_SECRET_KEY_LIVE"])
    assert after["UNMO_SECRET_KEY_LIVE"] not in ran.stdout
    old = unmo("keys", "verify", before["UNMO_SECRET_KEY_LIVE"], "--json")
    assert old.exit_code == 1 and old.json()["status"] == "revoked"
    assert unmo("keys", "verify", after["UNMO_SECRET_KEY_LIVE"]).exit_code == 0
    assert query("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL") == [(1,)]
    assert query("SELECT count(*) FROM api_keys") == [(5,)]
    import stat

    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    assert unmo("customer", "render", "key-holder", "--check").exit_code == 0
    # the secret key never reaches the database or any other file
    state = folder.parent.parent.joinpath(".unmo")  # the SQLite file (absent on PostgreSQL)
    raw = b"".join(p.read_bytes() for p in state.iterdir() if p.is_file()) \
        if state.is_dir() else b""
    assert after["UNMO_SECRET_KEY_LIVE"].encode() not in raw
    assert after["UNMO_SECRET_KEY_LIVE"] not in repr(query("SELECT * FROM api_keys"))
    for path in folder.rglob("*"):
        if path.is_file() and path.name != ".env":
            assert after["UNMO_SECRET_KEY_LIVE"].encode() not in path.read_bytes(), path
    assert not list(folder.rglob("*.unmo-new"))


def test_rotate_publishable_keys_rerenders_the_sdk_configs(unmo, folder: Path):
    before = secret_keys(folder)
    ran = unmo("keys", "rotate", "key-holder", "--kind", "publishable", "--show-secrets",
               "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    new_live = next(r["key"] for r in doc["rotated"] if r["environment"] == "live")
    assert "sdk/ios/UnmoConfig.plist" in doc["files"] and ".env" in doc["files"]
    assert new_live in (folder / "sdk/ios/UnmoConfig.plist").read_text()
    assert new_live in (folder / "sdk/android/unmo.properties").read_text()
    assert before["UNMO_PUBLISHABLE_KEY_LIVE"] not in (folder / "README.md").read_text()
    after = secret_keys(folder)
    assert after["UNMO_PUBLISHABLE_KEY_LIVE"] == new_live
    assert after["UNMO_SECRET_KEY_LIVE"] == before["UNMO_SECRET_KEY_LIVE"]
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


def test_rotate_without_env_needs_both_secret_keys(unmo, folder: Path):
    (folder / ".env").unlink()
    ran = unmo("keys", "rotate", "key-holder", "--env", "live")
    assert ran.exit_code == 2 and "rotate both" in ran.stderr
    ran = unmo("keys", "rotate", "key-holder")
    assert ran.exit_code == 0, ran.stderr
    env = secret_keys(folder)
    assert unmo("keys", "verify", env["UNMO_SECRET_KEY_TEST"]).exit_code == 0
    assert unmo("keys", "verify", env["UNMO_PUBLISHABLE_KEY_LIVE"]).exit_code == 0


@pytest.mark.parametrize("args,message", [
    (("--kind", "private"), "--kind 'private' is not one of publishable, secret"),
    (("--env", "prod"), "--env 'prod' is not one of live, test"),
])
def test_rotate_bad_options(unmo, folder: Path, args, message):
    from conftest import snapshot_tables, snapshot_tree

    root = folder.parent.parent
    before = snapshot_tree(root), snapshot_tables(root)
    ran = unmo("keys", "rotate", "key-holder", *args)
    assert ran.exit_code == 2 and message in ran.stderr
    assert (snapshot_tree(root), snapshot_tables(root)) == before


def _paused_rotation(workspace: Path, *args: str) -> subprocess.Popen:
    """`unmo keys rotate key-holder ARGS…` in its own process, paused before its second file
    replacement (after its commit)."""
    marker = workspace.parent / "rotation-paused"
    env = {**os.environ, "UNMO_TEST_PAUSE_AT": "rotate-replace@2",
           "UNMO_TEST_PAUSE_FILE": str(marker), "UNMO_TEST_PAUSE_S": "120"}
    process = UnmoProcess([sys.executable, "-m", "unmo_cli", "keys", "rotate", "key-holder",
                                *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the rotation never paused"
        time.sleep(0.02)
    return process


def test_rotate_killed_after_its_commit_is_finished_later(unmo, folder: Path, workspace):
    """A rotation killed between its commit and its last rename: the pending files hold the
    committed keys, `.env` (replaced last) still the old ones; the next render completes it."""
    before = secret_keys(folder)
    process = _paused_rotation(workspace, "--env", "test")
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert len(list(folder.glob(".env.*.unmo-new"))) == 1
    assert secret_keys(folder) == before, ".env was replaced before the other files"
    ran = unmo("keys", "verify", before["UNMO_SECRET_KEY_TEST"])
    assert ran.exit_code == 1  # the database already revoked it
    assert unmo("customer", "render", "key-holder").exit_code == 0
    assert not list(folder.rglob("*.unmo-new"))
    assert unmo("keys", "verify", secret_keys(folder)["UNMO_SECRET_KEY_TEST"]).exit_code == 0
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


@pytest.mark.parametrize("failing", ["rotate-replace@2", "rotate-replace@3"])
@pytest.mark.parametrize("kind", ["secret", "publishable"])
def test_a_rotation_whose_files_cannot_all_be_replaced_changes_nothing(unmo, folder: Path,
                                                                      unchanged, failing, kind):
    """A replacement failing after others succeeded: the replaced files get their old bytes
    back and the database its old keys, so the customer is not locked out."""
    before = secret_keys(folder)
    ran = unmo("keys", "rotate", "key-holder", "--kind", kind,
               env={"UNMO_TEST_FAIL_AT": failing})
    assert ran.exit_code == 3, ran.stderr
    assert "cannot rewrite the files of key-holder" in ran.stderr
    assert "the old keys stay active" in ran.stderr
    unchanged(audited=True)
    for name in ("UNMO_SECRET_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"):
        assert unmo("keys", "verify", before[name]).exit_code == 0
    ran = unmo("keys", "rotate", "key-holder", "--kind", kind)  # and a retry goes through
    assert ran.exit_code == 0, ran.stderr
    assert unmo("keys", "verify", before["UNMO_SECRET_KEY_LIVE"]).exit_code == (
        1 if kind == "secret" else 0)
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


def test_rotation_keeps_the_api_url_the_customer_was_given(unmo, folder: Path):
    """The operator's own UNMO_API_URL (a sandbox, say) never reaches a customer's files."""
    given = secret_keys(folder)["UNMO_API_URL"]
    sandbox = {"UNMO_API_URL": "http://127.0.0.1:9999/v1"}
    ran = unmo("keys", "rotate", "key-holder", "--kind", "publishable", env=sandbox)
    assert ran.exit_code == 0, ran.stderr
    assert secret_keys(folder)["UNMO_API_URL"] == given
    for path in folder.rglob("*"):
        if path.is_file():
            assert "9999" not in path.read_text(), path
    assert unmo("customer", "render", "--all", "--check", env=sandbox).exit_code == 0
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


def test_list_at_80_columns_shows_whole_hints_and_dates(unmo, folder: Path):
    assert unmo("keys", "rotate", "key-holder", "--env", "live").exit_code == 0
    keys = unmo("keys", "list", "key-holder", "--json").json()["keys"]
    ran = unmo("keys", "list", "key-holder", env={"COLUMNS": "80"})
    assert ran.exit_code == 0, ran.stderr
    assert max(len(line) for line in ran.stdout.splitlines()) <= 80
    for key in keys:
        assert key["hint"] in ran.stdout
        assert key["created_at"][:10] in ran.stdout and key["created_at"] not in ran.stdout
