"""unmo_cli/db/tables.py (the Core table clauses of the fast paths) against db/models.py: the
same tables, the same columns in the same order, each of the same type, so a column added to,
renamed in or retyped in a model shows up here before a fast path writes a row without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from support_health import PlayServer, make_customer
from support_onboarding import flags, onboard

from tests.conftest import query
from unmo_cli.db import models, tables


@pytest.mark.parametrize("clause", tables.TABLES, ids=lambda t: t.name)
def test_each_table_clause_matches_its_model_table(clause):
    model = models.metadata.tables[clause.name]
    assert [c.name for c in clause.columns] == [c.name for c in model.columns]
    for ours in clause.columns:
        theirs = model.columns[ours.name].type
        # SQLModel's AutoString decorates a String; DateTime, Integer and Float are themselves.
        theirs = getattr(theirs, "impl_instance", theirs)
        assert isinstance(theirs, type(ours.type)), (clause.name, ours.name, theirs)


# What a probe reports: the model classes, and the stack they need (SQLModel, pydantic,
# SQLAlchemy's ORM: a third of the import floor the speed goals are measured against).
_HEAVY = ("sqlmodel", "pydantic", "sqlalchemy.orm")

# One interpreter per test imports the entry point and the light modules every command here
# loads anyway (not the model classes, nor their stack: it checks), then forks a child per
# probe. Each child is a process as fresh as `python -m unmo_cli` would be but for those light
# imports: it runs the real entry point with the test's environment and says whether the model
# classes were built and which of the stack was imported. A probe used to start an interpreter
# of its own, about 0.5 s of CPU each for start-up and these imports, forty times a pass.
_PROBE_SERVER = """
import importlib, json, os, sys
for name in ("unmo_cli.cli", "unmo_cli.db", "unmo_cli.db.tables", "unmo_cli.console",
             "unmo_cli.workspace", "unmo_cli.services.reports", "jinja2", "httpx", "yaml"):
    importlib.import_module(name)
preloaded = sorted(m for m in (*HEAVY, "unmo_cli.db.models") if m in sys.modules)
assert not preloaded, f"a preloaded module imports {preloaded}: take it out of the preload"
from unmo_cli.cli import main
devnull = os.open(os.devnull, os.O_RDWR)
for request in sys.stdin:
    args, env = json.loads(request)
    read, write = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["unmo", *args]
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
        found = {"code": code, "models": "unmo_cli.db.models" in sys.modules,
                 "heavy": sorted(m for m in HEAVY if m in sys.modules)}
        os.write(write, json.dumps(found).encode())
        sys.exit(0)  # the child ends as the interpreter would after main(), atexit and all
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        found = answer.read()
    _pid, status = os.waitpid(pid, 0)
    sys.stdout.write((found.decode() or json.dumps({"died": status})) + "\\n")
    sys.stdout.flush()
""".replace("HEAVY", repr(_HEAVY))


@pytest.fixture
def probe(workspace: Path):
    """probe(*args, light=True, env=None): the command's exit code and whether it built the
    model classes; and, where it did not, asserts it imported none of the stack they need."""
    server = subprocess.Popen([sys.executable, "-c", _PROBE_SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def probe(*args: str, light: bool = True, env: dict[str, str] | None = None) -> dict:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(json.dumps([args, {**os.environ, "NO_COLOR": "1", **(env or {})}])
                           + "\n")
        server.stdin.flush()
        found = json.loads(server.stdout.readline() or "{}")
        assert "code" in found, (args, found, "the probe server or its child died")
        heavy = found.pop("heavy")
        if light and not found["models"]:
            assert heavy == [], (args, heavy)
        else:
            assert "sqlmodel" in heavy, heavy  # the probe sees them when they are imported
        return found

    try:
        yield probe
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=60)


def test_onboarding_and_alerts_list_build_no_model_classes(unmo, workspace: Path, probe):
    onboard(unmo, "Already There")  # the database is there (creating it runs the migrations)
    # Onboarding states its reads and writes on Core clauses: none of the stack is imported.
    assert probe("onboard", "Second Games", *flags("hybrid"), "--yes") == {
        "code": 0, "models": False}
    assert probe("onboard", "Third Games", *flags("sdk"), "--yes", "--dry-run") == {
        "code": 0, "models": False}
    assert probe("onboard", "second games", *flags("sdk"), "--yes") == {  # taken: refused
        "code": 2, "models": False}
    assert probe("alerts", "list") == {"code": 0, "models": False}
    assert probe("alerts", "list", "--json") == {"code": 0, "models": False}
    # and the probe sees them when a command does build them
    assert probe("customer", "phase", "second-games", "launch") == {"code": 0, "models": True}


def test_task_list_and_timeline_build_no_model_classes(unmo, workspace: Path, probe):
    onboard(unmo, "Second Games")
    unmo("task", "add", "second-games", "Call about the renewal", "--due", "2030-01-01",
         "--owner", "ana@team.example")
    unmo("customer", "note", "second-games", "Spoke to the CTO.")
    for args in (["task", "list"], ["task", "list", "--json"], ["task", "list", "--all"],
                 ["task", "list", "second-games", "--overdue"],
                 ["task", "list", "--owner", "ana@team.example", "--json"],
                 ["customer", "timeline", "second-games"],
                 ["customer", "timeline", "Second Games", "--json", "--limit", "5"],
                 ["customer", "timeline", "second-games", "--since", "2020-01-01",
                  "--kind", "task"]):
        assert probe(*args) == {"code": 0, "models": False}, args
    # an unknown customer is still refused (exit 2), without them
    assert probe("customer", "timeline", "nobody") == {"code": 2, "models": False}
    assert probe("task", "list", "nobody") == {"code": 2, "models": False}


def test_customer_list_and_show_build_no_model_classes(unmo, workspace: Path, probe):
    onboard(unmo, "Second Games")
    unmo("keys", "rotate", "second-games", "--kind", "publishable", "--env", "test")
    for args in (["customer", "show", "second-games"], ["customer", "show", "Second Games",
                                                          "--json"]):
        assert probe(*args) == {"code": 0, "models": False}, args
    assert probe("customer", "show", "nobody") == {"code": 2, "models": False}
    for args in (["customer", "list"], ["customer", "list", "--json"],
                 ["customer", "list", "--phase", "setup", "--industry", "gaming",
                  "--integration", "hybrid", "--provider", "adjust", "--tier", "standard",
                  "--manager", "none", "--mrr-min", "0", "--mrr-max", "100000",
                  "--renewal-before", "2030-01-01", "--sort", "mrr", "--json"]):
        assert probe(*args) == {"code": 0, "models": False}, args
    # a bad filter is still refused (exit 2), without them
    assert probe("customer", "list", "--mrr-min", "lots") == {"code": 2, "models": False}
    # the health score is the weekly report's, on Core clauses too
    for args in (["customer", "list", "--health", "red"],
                 ["customer", "list", "--sort", "health", "--json"]):
        assert probe(*args) == {"code": 0, "models": False}, args
    # and the probe sees the stack when a command does build the models (a note is an ORM write)
    assert probe("customer", "note", "second-games", "Called.", light=False) == {
        "code": 0, "models": True}


@pytest.fixture
def webhook():
    """A receiver on 127.0.0.1 that answers every POST with 200 and counts them."""
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.received = received
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()
    server.server_close()


def test_health_builds_no_model_classes(unmo, workspace: Path, webhook, probe):
    """A health run — none to check, one customer, --all, --junit, a maintenance window, the
    alerts it raises, the playbook they fire and their delivery — on Core clauses alone."""
    assert probe("health", "--all") == {"code": 0, "models": False}  # no database yet
    (workspace / "unmo.yaml").write_text(yaml.safe_dump({
        "alerts": {"health_failure_threshold": 1, "health_success_threshold": 1},
        "playbooks": [{"on": "health_failing", "task": "Fix the integration",
                       "owner": "ana@team.example", "due_business_days": 1}]}))
    api = PlayServer()
    try:
        failing, resting = make_customer("failing"), make_customer("resting")
        api.plays[failing.live] = "500"
        api.plays[resting.live] = "healthy"
        env = {"UNMO_API_URL": api.url, "UNMO_ALERT_WEBHOOK": webhook.url}
        assert probe("health", "failing", "--retries", "0", env=env) == {
            "code": 1, "models": False}
        assert query("SELECT rule, notified_at IS NOT NULL FROM alerts") == [
            ("health_failing", True)]
        assert len(webhook.received) == 1
        assert query("SELECT title, owner, fired FROM tasks") == [
            ("Fix the integration", "ana@team.example", 1)]
        assert unmo("maintenance", "add", "resting", "--start", "2020-01-01", "--end",
                    "2099-01-01", "--reason", "Planned migration").exit_code == 0
        assert probe("maintenance", "list") == {"code": 0, "models": False}
        api.plays[failing.live] = "healthy"
        assert probe("health", "--all", "--format", "junit", "--retries", "0",
                      env=env) == {"code": 0, "models": False}
        assert query("SELECT rule FROM alerts ORDER BY id") == [
            ("health_failing",), ("health_resolved",)]
        assert query("SELECT status FROM health_checks ORDER BY id") == [
            ("down",), ("healthy",), ("maintenance",)]
        assert len(webhook.received) == 2
        # an unknown customer is still refused (exit 2), without them
        assert probe("health", "nobody", env=env) == {"code": 2, "models": False}
    finally:
        api.stop()


# `unmo sandbox` through the real entry point, bound and ready: instead of serving, it looks one
# key up (reading the workspace's keys) and stops; then says what it imported.
_SANDBOX_PROBE = """
import json, sys
from unmo_cli.services import sandbox
found = []
key = sys.argv[1]
def serve_once(self, *args, **kwargs):
    found.append(self.keyring.owner(key).slug)
sandbox.SandboxServer.serve_forever = serve_once
from unmo_cli.cli import main
sys.argv = ["unmo", "sandbox", "--port", "0", "--quiet", "--scenario", "acme=degraded"]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("sqlmodel", "pydantic", "sqlalchemy.orm") if m in sys.modules)
sys.stderr.write("\\n" + json.dumps({"found": found, "heavy": heavy}))
"""


def test_sandbox_builds_no_model_classes(unmo, workspace: Path):
    keys = make_customer("acme")
    ran = subprocess.run([sys.executable, "-c", _SANDBOX_PROBE, keys.live], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert json.loads(ran.stderr.rsplit("\n", 1)[-1]) == {"found": ["acme"], "heavy": []}


def test_reports_build_no_model_classes(unmo, workspace: Path, probe):
    onboard(unmo, "Second Games")
    unmo("feedback", "add", "second-games", "--satisfaction", "8", "--nps", "9")
    unmo("task", "add", "second-games", "Call about the renewal", "--due", "2030-01-01")
    for args in (["report", "weekly"], ["report", "weekly", "--json"],
                 ["report", "weekly", "--format", "csv"], ["report", "weekly", "-f", "markdown"],
                 ["report", "weekly", "--format", "html"], ["report", "monthly"],
                 ["report", "monthly", "--json"], ["report", "sla"],
                 ["report", "sla", "--json"]):
        assert probe(*args) == {"code": 0, "models": False}, args
    # a bad week is still refused (exit 2), without them
    assert probe("report", "weekly", "--week", "2020-W60") == {"code": 2, "models": False}
