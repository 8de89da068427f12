"""A full file system, for real: the workspace on a small tmpfs (mounted by the test, which needs
root: CI runs as root; elsewhere these skip) that is filled up at the worst moment, plus the same
failures injected with UNMO_TEST_FAIL_ERRNO=ENOSPC where no mount is possible. What must hold: a
command never contradicts what it did (onboarded is onboarded, with a warning for what could not
be recorded), and a rotation that cannot write leaves no pending file and the old keys working."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import query, snapshot_tables, snapshot_tree
from support_onboarding import flags, onboard, secret_keys

SIZE = "8m"


@pytest.fixture
def small_tmpfs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], Path]]:
    """mount(folder): an empty `folder` becomes a tmpfs of SIZE; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(folder: Path) -> Path:
        folder.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs",
                        str(folder)], check=True)
        mounted.append(folder)
        return folder

    try:
        yield mount
    finally:
        monkeypatch.chdir("/")
        for folder in reversed(mounted):
            if subprocess.run(["umount", str(folder)]).returncode != 0:
                subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def small_disk(workspace: Path, small_tmpfs, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The whole (empty) workspace on a small tmpfs: SQLite's database fills up with it."""
    small_tmpfs(workspace)
    monkeypatch.chdir(workspace)  # the mount, not the folder underneath it
    return workspace


@pytest.fixture
def small_customers(workspace: Path, small_tmpfs) -> Path:
    """Only `customers/` on a small tmpfs: the database (SQLite beside it, or PostgreSQL) keeps
    room, the customer folders do not."""
    return small_tmpfs(workspace / "customers")


def _fill(disk: Path) -> Path:
    """Write a file until the file system has not one byte left; returns it (delete it to free
    the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def _spawn(*args: str, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", **extra}
    return subprocess.Popen([sys.executable, "-m", "unmo_cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _paused(workspace: Path, args: list[str], point: str) -> tuple[subprocess.Popen, Path]:
    marker = workspace.parent / f"paused-{time.monotonic_ns()}"
    process = _spawn(*args, UNMO_TEST_PAUSE_AT=point, UNMO_TEST_PAUSE_FILE=str(marker),
                     UNMO_TEST_PAUSE_S="120")
    deadline = time.monotonic() + 60
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode} before pausing: "
                                 f"{process.communicate()[1]}")
        assert time.monotonic() < deadline, f"never paused at {point}"
        time.sleep(0.02)
    return process, marker


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("unmo: paused at")]


# --- onboarding: the disk fills after the commit ----------------------------------------------


@pytest.mark.parametrize("batch", [False, True])
def test_an_onboarding_whose_disk_fills_after_its_commit_says_it_onboarded(
        unmo, small_disk: Path, batch: bool, tmp_path: Path):
    """The reported case: the customer, its keys and its folder were complete, yet the command
    said "database … failed: disk is full" (exit 3) and the retry "already onboarded"."""
    onboard(unmo, "Before The Flood", "s2s")  # the database exists, with room to spare
    if batch:
        records = tmp_path / "two.json"
        records.write_text(json.dumps([
            {"name": n, "contact_name": "Ops", "contact_email": "ops@x.example",
             "industry": "gaming", "integration": "s2s", "events_per_day": 10,
             "provider": "adjust", "mrr": 1} for n in ("Flood One", "Flood Two")]))
        args = ["onboard", "--from", str(records), "--yes", "--json"]
        slugs = ["flood-one", "flood-two"]
    else:
        args = ["onboard", "Flood One", *flags("s2s"), "--yes", "--json"]
        slugs = ["flood-one"]
    process, marker = _paused(small_disk, args, "move_into_place")  # committed
    filler = _fill(small_disk)
    marker.unlink()
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    documents = json.loads(out)
    documents = documents if batch else [documents]
    assert [d["customer"]["slug"] for d in documents] == slugs
    lines = _stderr_lines(err)
    assert all(line.startswith("warning: ") for line in lines), lines
    assert "Traceback" not in err
    if lines:  # the database is on the full disk too (SQLite): its timing could not be written
        assert len(lines) == 1 and "onboarded, but" in lines[0], lines
    filler.unlink()
    for slug in slugs:
        folder = small_disk / "customers" / slug
        live = secret_keys(folder)["UNMO_SECRET_KEY_LIVE"]
        ran = unmo("keys", "verify", live, "--json")
        assert ran.exit_code == 0 and ran.json()["customer"] == slug
        assert unmo("customer", "show", slug, "--json").exit_code == 0
    assert unmo("customer", "render", "--all", "--check").exit_code == 0
    again = unmo(*args)
    assert again.exit_code == 2 and "already onboarded" in again.stderr


def test_an_onboarding_on_a_full_disk_onboards_nothing_and_the_retry_works(unmo,
                                                                          small_disk: Path):
    onboard(unmo, "Before The Flood", "s2s")
    filler = _fill(small_disk)
    ran = unmo("onboard", "Flood One", *flags("s2s"), "--yes")
    assert ran.exit_code == 3, ran.stderr
    # Whichever write meets the full disk first (the folder's, or SQLite's own) says so.
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "onboarded" not in ran.stderr.replace("nothing was onboarded", "")
    assert sorted(p.name for p in (small_disk / "customers").iterdir()) == ["before-the-flood"]
    filler.unlink()  # (SQLite cannot even be opened for reading on a full disk)
    assert query("SELECT slug FROM customers") == [("before-the-flood",)]
    ran = unmo("onboard", "Flood One", *flags("s2s"), "--yes")
    assert ran.exit_code == 0, ran.stderr


# --- rotation on a full disk ------------------------------------------------------------------


def _pending(folder: Path) -> list[Path]:
    return list(folder.rglob("*.unmo-new"))


@pytest.mark.parametrize("kind", ["secret", "publishable"])
def test_a_rotation_on_a_full_disk_changes_nothing(unmo, workspace: Path, small_customers: Path,
                                                   kind: str):
    onboard(unmo, "Full Keys", "hybrid", platforms="ios")
    folder = small_customers / "full-keys"
    before = secret_keys(folder)
    state = snapshot_tree(small_customers), snapshot_tables(workspace)
    filler = _fill(small_customers)
    ran = unmo("keys", "rotate", "full-keys", "--kind", kind)
    assert ran.exit_code == 3, ran.stderr
    assert ran.stderr.count("\n") == 1 and "No space left on device" in ran.stderr, ran.stderr
    assert "the old keys stay active" in ran.stderr
    assert not _pending(folder), "a pending file was left behind"
    filler.unlink()
    assert (snapshot_tree(small_customers), snapshot_tables(workspace)) == state
    for name in ("UNMO_SECRET_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"):
        assert unmo("keys", "verify", before[name]).exit_code == 0
    ran = unmo("keys", "rotate", "full-keys", "--kind", kind)
    assert ran.exit_code == 0, ran.stderr
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


@pytest.mark.parametrize("failing", ["folder-write", "folder-write@2", "folder-write@3"])
def test_a_rotation_whose_pending_write_hits_enospc_leaves_nothing(unmo, workspace: Path,
                                                                  unchanged, failing: str):
    """The same without a mount: the n-th file written into the folder fails with ENOSPC after
    it was created, as a write on a full disk does."""
    onboard(unmo, "Full Keys", "hybrid", platforms="ios")
    folder = workspace / "customers" / "full-keys"
    before = secret_keys(folder)
    unchanged_now = (snapshot_tree(workspace), snapshot_tables(workspace))
    ran = unmo("keys", "rotate", "full-keys", "--kind", "publishable",
               env={"UNMO_TEST_FAIL_AT": failing, "UNMO_TEST_FAIL_ERRNO": "ENOSPC"})
    assert ran.exit_code == 3, ran.stderr
    assert "No space left on device" in ran.stderr and "the old keys stay active" in ran.stderr
    assert not _pending(folder)
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == unchanged_now
    assert unmo("keys", "verify", before["UNMO_PUBLISHABLE_KEY_LIVE"]).exit_code == 0


def test_an_onboarding_whose_timings_cannot_be_recorded_warns(unmo, workspace: Path):
    ran = unmo("onboard", "Flood One", *flags("s2s"), "--yes", "--json",
               env={"UNMO_TEST_FAIL_AT": "finish_sessions"})
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["customer"]["slug"] == "flood-one"
    assert ran.stderr.startswith("warning: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "flood-one is onboarded, but" in ran.stderr
    assert query("SELECT outcome FROM onboarding_sessions") == [("success",)]


def test_a_move_that_fails_on_a_full_disk_whose_undo_fails_too_says_so(unmo, small_disk: Path,
                                                                        tmp_path: Path):
    """A batch committed, the disk full, the second folder's move failing (ENOSPC injected) and,
    with SQLite on the same disk, the undo failing too: the message must not say "nothing was
    onboarded"; it names what stays and the next onboarding finishes it."""
    records = tmp_path / "two.json"
    records.write_text(json.dumps([
        {"name": n, "contact_name": "Ops", "contact_email": "ops@x.example",
         "industry": "gaming", "integration": "s2s", "events_per_day": 10,
         "provider": "adjust", "mrr": 1} for n in ("Flood One", "Flood Two")]))
    onboard(unmo, "Before The Flood", "s2s")
    marker = small_disk.parent / "paused"
    process = _spawn("onboard", "--from", str(records), "--yes",
                     UNMO_TEST_PAUSE_AT="move_into_place", UNMO_TEST_PAUSE_FILE=str(marker),
                     UNMO_TEST_FAIL_AT="move_into_place@2", UNMO_TEST_FAIL_ERRNO="ENOSPC")
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    filler = _fill(small_disk)
    marker.unlink()
    _out, err = process.communicate(timeout=120)
    lines = _stderr_lines(err)
    assert process.returncode == 3 and len(lines) == 1, err
    filler.unlink()
    slugs = sorted(s for (s,) in query("SELECT slug FROM customers"))
    if "UNMO_DATABASE_URL" in os.environ:  # PostgreSQL, with room: the undo went through
        assert "nothing was onboarded" in lines[0], lines[0]
        assert slugs == ["before-the-flood"]
        return
    assert "stay onboarded" in lines[0] and "flood-one, flood-two" in lines[0], lines[0]
    assert slugs == ["before-the-flood", "flood-one", "flood-two"]
    again = unmo("onboard", "--from", str(records), "--yes")
    assert again.exit_code == 2 and "already onboarded" in again.stderr
    for slug in ("flood-one", "flood-two"):
        live = secret_keys(small_disk / "customers" / slug)["UNMO_SECRET_KEY_LIVE"]
        assert unmo("keys", "verify", live).exit_code == 0
