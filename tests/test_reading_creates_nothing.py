"""Reading commands in a workspace without a database answer from an empty one and create no
file, folder or database (the contract: the first command that *writes* creates what it needs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from support_ci import skip_or_fail

READERS = [
    ("report", "weekly", "--format", "json"),
    ("report", "weekly"),
    ("report", "monthly", "--format", "json"),
    ("report", "monthly"),
    ("customer", "list", "--json"),
    ("customer", "list", "--health", "red", "--sort", "health", "--json"),
    ("customer", "list", "--tier", "enterprise", "--mrr-min", "100", "--sort", "name"),
    ("feedback", "list", "--json"),
    ("alerts", "list", "--json"),
    ("health", "--format", "json"),
    ("task", "list", "--json"),
    ("task", "list", "--overdue"),
    ("task", "sweep", "--dry-run", "--json"),
    ("report", "sla", "--format", "json"),
    ("report", "sla"),
    ("maintenance", "list", "--json"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("args", READERS, ids=[" ".join(a) for a in READERS])
def test_a_reading_command_leaves_an_empty_workspace_empty(unmo, workspace: Path, args):
    ran = unmo(*args)
    assert ran.exit_code == 0, ran.stderr
    assert list(workspace.iterdir()) == []


@pytest.mark.sqlite_only
@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_the_review_of_an_unknown_customer_creates_nothing(unmo, workspace: Path, fmt):
    ran = unmo("report", "customer", "acme", "--format", fmt)
    assert ran.exit_code == 2 and "unknown customer 'acme'" in ran.stderr
    assert list(workspace.iterdir()) == []


def test_the_report_of_an_empty_workspace_is_nulls_not_zeros(unmo):
    report = unmo("report", "weekly", "--format", "json").json()
    assert report["customers"] == {"total": 0, "active": 0, "new": 0, "churned": 0}
    assert report["satisfaction"]["pct"] is None and report["satisfaction"]["nps"] is None
    assert report["onboarding"]["mean_s"] is None
    assert report["health"]["availability_pct"] is None
    assert report["finance"]["gross_margin_pct"] is None


# --- a read-only workspace ---------------------------------------------------------------------

READ_ONLY_READERS = [
    ("customer", "list"), ("customer", "list", "--json"), ("customer", "show", "acme"),
    ("customer", "show", "acme", "--json"), ("report", "weekly"),
    ("report", "weekly", "--format", "json"), ("feedback", "list"), ("feedback", "list", "acme"),
    ("alerts", "list", "--json"), ("keys", "list", "acme"), ("config", "show", "--json"),
    ("customer", "list", "--health", "red", "--sort", "health"),
    ("report", "customer", "acme", "--quarter", "{this quarter}"),
    ("report", "customer", "acme", "--quarter", "{this quarter}", "--format", "html"),
    ("customer", "timeline", "acme"), ("customer", "timeline", "acme", "--json"),
    ("task", "list", "--all"), ("task", "list", "acme", "--json"),
    ("report", "sla", "--json"), ("maintenance", "list", "--json"),
]


def _this_quarter() -> str:
    from datetime import UTC, datetime

    today = datetime.now(UTC)
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


# Runs each command of argv[1] (a JSON list of argument lists) in a process of its own, forked
# from this one once it has imported unmo's commands, services and database models: each command
# still runs alone, on the read-only workspace, with its own exit code, stdout and stderr, but
# twenty of them do not each pay the interpreter's start and the imports (about 0.7 s of CPU a
# command, most of this test). Prints their outcomes as one JSON list.
_FORKING_RUNNER = """
import importlib, json, os, pkgutil, sys, tempfile
import unmo_cli.commands, unmo_cli.services, unmo_cli.db.models
for package in (unmo_cli.commands, unmo_cli.services):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from unmo_cli.cli import main
outcomes = []
for args in json.loads(sys.argv[1]):
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        sys.argv = ["unmo", *args]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    texts = []
    for stream in (out, err):
        stream.seek(0)
        texts.append(stream.read().decode("utf-8", "replace"))
    outcomes.append({"args": args, "returncode": os.waitstatus_to_exitcode(status),
                     "stdout": texts[0], "stderr": texts[1]})
sys.stdout.write(json.dumps(outcomes))
"""


@dataclass
class Outcome:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def _read_only_runner(root: Path):
    """A way to run unmo on `root` made read-only for real: `chmod -R a-w` for a normal user;
    as root (CI), who ignores permissions, `chmod -R a-w` plus a read-only bind mount of the
    workspace in a private mount namespace (unshare -m), where every write fails with EROFS.
    Returns run(list of argument tuples) -> list of Outcome (_FORKING_RUNNER), or skips (fails
    in CI) when neither is possible."""
    import os
    import shutil
    import subprocess
    import sys

    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    prefix: list[str] = []
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        if unshare is None:
            skip_or_fail("cannot make a read-only workspace as root here (no unshare)")
        script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" || exit 97; '
                  'if touch "$0/.probe" 2>/dev/null; then exit 98; fi; exec "$@"')
        prefix = [unshare, "-m", "sh", "-c", script, str(root)]

    def run(commands: list[tuple[str, ...]]) -> list[Outcome]:
        ran = subprocess.run([*prefix, sys.executable, "-c", _FORKING_RUNNER,
                              json.dumps(commands)], capture_output=True, text=True, timeout=300)
        if prefix and ran.returncode in (97, 98):
            skip_or_fail("cannot make a read-only workspace as root here (unshare/mount exited "
                         f"{ran.returncode}: {ran.stderr.strip()[:200]})")
        assert ran.returncode == 0, ran.stderr[-2000:]
        return [Outcome(**outcome) for outcome in json.loads(ran.stdout)]

    return run


@pytest.fixture
def read_only_workspace(unmo, workspace: Path):
    from support_onboarding import onboard

    onboard(unmo, "Acme")
    assert unmo("feedback", "add", "acme", "--satisfaction", "3", "--nps", "2").exit_code == 0
    try:
        yield _read_only_runner(workspace)
    finally:
        import subprocess

        subprocess.run(["chmod", "-R", "u+w", str(workspace)], check=True)


def test_reading_commands_work_on_a_read_only_workspace(read_only_workspace, workspace: Path):
    from conftest import postgres_server_url, snapshot_tree

    before = snapshot_tree(workspace)
    readers = [tuple(_this_quarter() if a == "{this quarter}" else a for a in args)
               for args in READ_ONLY_READERS]
    # and it really is read-only: a command that writes to the SQLite file fails cleanly, as
    # the environment (in the PostgreSQL pass the database is on the server, and writable)
    *read, writer = read_only_workspace([*readers, ("customer", "phase", "acme", "launch")])
    assert [tuple(ran.args) for ran in read] == readers
    for ran in read:
        assert ran.returncode == 0, (ran.args, ran.stderr)
        assert "Traceback" not in ran.stderr
        assert ran.stdout.strip(), (ran.args, "printed nothing")
    if postgres_server_url() is None:
        assert writer.returncode == 3, writer.stderr
        assert len(writer.stderr.strip().splitlines()) == 1 and "Traceback" not in writer.stderr
    assert snapshot_tree(workspace) == before
