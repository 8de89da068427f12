"""Security review, as tests: keys compared in constant time; secret files and the database
created owner-only whatever the umask; no secret in error text, output or recorded rows, even when
a server echoes the key back; settings shown masked; templates confined to their folders and the
Jinja sandbox holding; and arbitrary text thrown at every free-text input never ending in a
traceback, a multi-line error, an unexpected exit code or a write on refusal."""

from __future__ import annotations

import ast
import hmac
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import query, snapshot_tables, snapshot_tree
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support_onboarding import flags, onboard, secret_keys

from unmo_cli import apikeys
from unmo_cli.text import text_problem

ROOT = Path(__file__).resolve().parents[1]
FULL_SECRET = re.compile(r"unmo_sk_(?:live|test)_[0-9A-Za-z]{28}")


def _texts_of_rows() -> str:
    """Every value of every row of the workspace's database, as one text to search."""
    return repr(snapshot_tables(Path.cwd()))


# --- keys compared in constant time --------------------------------------------------------------


def test_key_checks_go_through_a_constant_time_comparison(monkeypatch):
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = apikeys.generate("secret", "live")
    assert apikeys.parse(key).kind == "secret"
    assert calls, "the checksum was not compared with hmac.compare_digest"
    calls.clear()
    assert apikeys.same_hash(apikeys.hash_key(key), apikeys.hash_key(key))
    assert not apikeys.same_hash(apikeys.hash_key(key), apikeys.hash_key(key + "x"))
    assert len(calls) == 2


def test_no_secret_is_compared_with_equality_in_python():
    """Outside SQL expressions (`ApiKey.key_hash == …` is a lookup the database does by hash),
    nothing that holds a key, hash, digest, checksum or token is compared with == or !=."""
    secretish = re.compile(r"secret|hash|digest|checksum|bearer|token|password", re.I)

    def names(node: ast.AST) -> list[str]:
        return [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
                if isinstance(n, (ast.Name, ast.Attribute))]

    def is_column(node: ast.AST) -> bool:  # Model.column or table.c.column: SQL, not Python
        return isinstance(node, ast.Attribute) and (
            (isinstance(node.value, ast.Name) and node.value.id[:1].isupper())
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "c"))

    found = []
    for path in sorted((ROOT / "unmo_cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare) or not any(
                    isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(is_column(o) for o in operands):
                continue
            if any(secretish.search(name) for o in operands for name in names(o)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "use apikeys.same_hash (hmac.compare_digest):\n" + "\n".join(found)


# --- modes of secret files and the database -------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run_with_umask(args: list[str], umask: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unmo_cli", *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120, umask=umask)


def test_env_files_are_owner_only_whatever_the_umask(workspace: Path):
    ran = _run_with_umask(["onboard", "TechStart Mobile", *flags(), "--yes"], 0o000)
    assert ran.returncode == 0, ran.stderr
    folder = workspace / "customers" / "techstart-mobile"
    assert _mode(folder / ".env") == 0o600
    assert _mode(folder) == 0o700  # the folder that holds it, too
    folder.chmod(0o755)  # say, a checkout that reset it
    ran = _run_with_umask(["keys", "rotate", "techstart-mobile"], 0o000)
    assert ran.returncode == 0, ran.stderr
    assert _mode(folder / ".env") == 0o600
    assert _mode(folder) == 0o700
    leftovers = [p for p in folder.iterdir() if p.name.startswith(".env") and p.name != ".env"]
    assert leftovers == []


@pytest.mark.sqlite_only
def test_the_database_and_its_folder_are_owner_only_whatever_the_umask(workspace: Path):
    ran = _run_with_umask(["onboard", "TechStart Mobile", *flags(), "--yes"], 0o000)
    assert ran.returncode == 0, ran.stderr
    state = workspace / ".unmo"
    assert _mode(state) == 0o700
    files = sorted(p for p in state.iterdir() if p.is_file())
    assert any(p.name == "unmo.db" for p in files)
    for path in files:  # the database, its -wal/-shm, the migration lock
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"


@pytest.mark.sqlite_only
def test_a_database_backup_before_a_migration_is_owner_only(workspace: Path):
    fixture = ROOT / "tests" / "fixtures" / "schema_0001.db"
    state = workspace / ".unmo"
    state.mkdir(mode=0o700)
    (state / "unmo.db").write_bytes(fixture.read_bytes())
    (state / "unmo.db").chmod(0o600)
    ran = _run_with_umask(["db", "upgrade"], 0o000)
    assert ran.returncode == 0, ran.stderr
    backups = list(state.glob("unmo.db.backup-*"))
    assert backups and all(_mode(p) == 0o600 for p in backups)


# --- no secrets in errors, outputs or rows --------------------------------------------------------


@pytest.mark.parametrize("step", ["write_files", "write_secrets", "create_record", "commit",
                                  "move_into_place"])
def test_failed_onboardings_never_show_a_secret(unmo, workspace: Path, step: str):
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes", "--json",
               env={"UNMO_TEST_FAIL_AT": step})
    assert ran.exit_code == 3
    assert not FULL_SECRET.search(ran.stdout + ran.stderr)
    assert not FULL_SECRET.search(_texts_of_rows())


# Terminal escapes: retitle the window, clear the screen, set the clipboard (OSC 52), a raw
# CSI (U+009B), and a line break that would split a CI log line.
ESCAPES_TEXT = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07\x9b31m\nsecond line"
# What JSON can carry but no terminal, log or database should get: a lone surrogate (valid as a
# JSON escape, not encodable as UTF-8), Unicode's line and paragraph separators, a noncharacter.
UNENCODABLE_TEXT = "bad \ud800 half\u2028next line\u2029\ufffe end"


class _EchoingApi(BaseHTTPRequestHandler):
    """A hostile or buggy API that quotes the bearer it was sent in every kind of answer."""

    protocol_version = "HTTP/1.1"
    play = "401"

    def do_GET(self) -> None:  # noqa: N802
        bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
        echoed = {"status": "healthy", "timestamp": "2026-11-25T10:00:00Z", "version": "1",
                  "services": {"database": "healthy", f"kafka-{bearer}": "unhealthy"},
                  "uptime": 1}
        plays = {
            "401": (401, json.dumps({"error": f"key {bearer} is revoked"})),
            "403": (403, json.dumps({"error": bearer, "code": bearer})),
            "500": (500, f"internal error while checking {bearer}"),
            "garbage": (200, f"<html>{bearer}</html>"),
            "bad-status": (200, json.dumps({**echoed, "status": bearer})),
            "services": (200, json.dumps(echoed)),
            "503": (503, json.dumps({**echoed, "status": "degraded"})),
            "302": (302, ""),
            "escapes": (401, json.dumps({"error": f"{ESCAPES_TEXT} key {bearer}"})),
            "escaped-services": (200, json.dumps({**echoed, "services": {
                f"kafka{ESCAPES_TEXT}": f"unhealthy{ESCAPES_TEXT}"}})),
            "unencodable": (401, json.dumps({"error": f"{UNENCODABLE_TEXT} key {bearer}"})),
            "unencodable-services": (200, json.dumps({**echoed, "services": {
                f"kafka{UNENCODABLE_TEXT}": "unhealthy"}})),
        }
        code, body = plays[self.server.play]  # type: ignore[attr-defined]
        if self.path.split("?")[0].endswith("/analytics/attribution"):
            code, body = 500, f"no analytics for {bearer}"
        data = body.encode()
        self.send_response(code)
        if code == 302:
            self.send_header("Location", f"/v1/login?key={bearer}")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture
def echoing_api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingApi)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("play", ["401", "403", "500", "garbage", "bad-status", "services",
                                  "503", "302", "escapes", "escaped-services", "unencodable",
                                  "unencodable-services"])
def test_health_never_repeats_a_key_a_server_echoes(unmo, workspace: Path, echoing_api, play):
    onboard(unmo, "TechStart Mobile")
    onboard(unmo, "Launched Co")
    assert unmo("customer", "phase", "launched-co", "launch").exit_code == 0
    echoing_api.play = play  # type: ignore[attr-defined]
    api = f"http://127.0.0.1:{echoing_api.server_address[1]}/v1"
    env = {"UNMO_API_URL": api}
    secrets = {value for slug in ("techstart-mobile", "launched-co")
               for value in secret_keys(workspace / "customers" / slug).values()
               if value.startswith("unmo_sk_")}
    outputs = []
    for _ in range(3):  # three failing runs raise a health alert, whose text is checked too
        for fmt in ("json", "table"):
            ran = unmo("health", "--format", fmt, "--retries", "0", env=env)
            assert ran.exit_code == 1, ran.stderr
            outputs += [ran.stdout, ran.stderr]
    junit = workspace.parent / "health.xml"
    ran = unmo("health", "--format", "junit", "--output", str(junit), "--retries", "0", env=env)
    outputs += [ran.stdout, ran.stderr, junit.read_text()]
    recorded = _texts_of_rows()
    assert query("SELECT count(*) FROM alerts WHERE rule = 'health_failing'") != [(0,)]
    for secret in secrets:
        body = secret[len("unmo_sk_live_"):-4]  # what a hint never shows
        for text in (*outputs, recorded):
            assert body not in text, f"a secret key leaked with the {play} answer"
    for text in outputs:  # NO_COLOR and no terminal: any ESC or BEL came from the server
        assert not re.search("[\x07\x1b\x9b]", text), f"terminal escapes passed through ({play})"
        assert not re.search("[\ud800-\udfff\u2028\u2029\ufffe]", text), play
    assert not re.search(r"\\x1b|\\x9b|\\x07", recorded), "terminal escapes were recorded"
    assert not re.search(r"\\ud[89a-f]|\u2028|\u2029|\\ufffe", recorded), play


@pytest.mark.parametrize("text", ["\x1b]0;pwned\x07", "\x1b[2J", "a\x00b", "\udcff", "\x9b31m",
                                  "\x08\x08\x08"])
def test_control_characters_are_refused_in_stored_text(unmo, workspace: Path, text: str):
    onboard(unmo, "TechStart Mobile")
    for args in (["feedback", "add", "techstart-mobile", "-s", "9", f"--comment=x {text} y"],
                 ["feedback", "add", "techstart-mobile", "-s", "9", f"--id=x{text}"],
                 ["customer", "churn", "techstart-mobile", f"--reason=gone {text}"]):
        before = _state(workspace)
        ran = unmo(*args)
        assert ran.exit_code == 2, (args, ran.stderr)
        assert ran.stderr.count("\n") == 1 and not re.search("[\x00\x07\x1b\x9b]", ran.stderr)
        _assert_state(workspace, before)


def test_an_import_with_control_characters_names_the_lines(unmo, workspace: Path):
    onboard(unmo, "TechStart Mobile")
    csv_file = workspace.parent / "survey.csv"
    csv_file.write_bytes(b"customer,satisfaction,comment\n"
                         b"techstart-mobile,9,fine\n"
                         b"techstart-mobile,9,\"evil \x1b]0;pwned\x07\"\n"
                         b"techstart-mobile,9,\"nul \x00 here\"\n"
                         b"techstart-mobile,9,\"two\nlines are fine\"\n")
    json_file = workspace.parent / "survey.json"
    json_file.write_text('[{"customer": "techstart-mobile", "satisfaction": 9, '
                         '"comment": "fine"},\n {"customer": "techstart-mobile", '
                         '"satisfaction": 9, "comment": "lone \\ud800 surrogate"},\n'
                         ' {"customer": "techstart-mobile", "satisfaction": 9, '
                         '"comment": "nul \\u0000"}]\n')
    for path, lines in ((csv_file, [3, 4]), (json_file, [2, 3])):
        before = _state(workspace)
        ran = unmo("feedback", "import", str(path), "--json")
        assert ran.exit_code == 2, ran.stderr
        assert [row["line"] for row in ran.json()["invalid"]] == lines
        _assert_state(workspace, before)
        ran = unmo("feedback", "import", str(path), "--skip-invalid", "--json")
        assert ran.exit_code == 0, ran.stderr
    comments = [c for (c,) in query("SELECT comment FROM feedback")]
    assert sorted(comments) == ["fine", "fine", "two\nlines are fine"]


def test_a_webhook_token_never_shows_in_warnings_or_rows(unmo, workspace: Path):
    onboard(unmo, "TechStart Mobile")
    hook = "http://127.0.0.1:9/services/T00000000/B00000000/XXXXsecretwebhooktokenXXXX"
    ran = unmo("feedback", "add", "techstart-mobile", "--satisfaction", "2",
               env={"UNMO_ALERT_WEBHOOK": hook})
    assert ran.exit_code == 0, ran.stderr
    assert "warning" in ran.stderr
    notify = unmo("alerts", "notify", env={"UNMO_ALERT_WEBHOOK": hook})
    for text in (ran.stdout, ran.stderr, notify.stdout, notify.stderr, _texts_of_rows()):
        assert "secretwebhooktoken" not in text


def test_config_show_masks_credentials(unmo, workspace: Path):
    env = {"UNMO_DATABASE_URL": "postgresql+psycopg://unmo:hunter2-db-pass@db.example/unmo",
           "UNMO_ALERT_WEBHOOK": "https://hooks.slack.com/services/T0/B0/hook-token-123"}
    for args in (("config", "show"), ("config", "show", "--json")):
        ran = unmo(*args, env=env)
        assert ran.exit_code == 0, ran.stderr
        shown = ran.stdout + ran.stderr
        assert "hunter2-db-pass" not in shown and "hook-token-123" not in shown
        assert "db.example" in shown and "hooks.slack.com" in shown
    settings_shown = unmo("config", "show", "--json", env=env).json()["settings"]
    assert settings_shown["database_url"] == "postgresql+psycopg://unmo:***@db.example/unmo"


def test_an_unknown_key_is_echoed_only_as_its_hint(unmo, workspace: Path):
    onboard(unmo, "TechStart Mobile")
    stranger = apikeys.generate("secret", "live")
    for args in (("keys", "verify", stranger), ("keys", "verify", stranger, "--json")):
        ran = unmo(*args)
        assert ran.exit_code == 2
        assert stranger not in ran.stdout + ran.stderr
        assert apikeys.hint(stranger) in ran.stdout + ran.stderr


def test_a_key_pasted_into_feedback_is_stored_as_its_hint(unmo, workspace: Path):
    onboard(unmo, "TechStart Mobile")
    live = secret_keys(workspace / "customers" / "techstart-mobile")["UNMO_SECRET_KEY_LIVE"]
    ran = unmo("feedback", "add", "techstart-mobile", "--satisfaction", "3",
               "--comment", f"our key is {live}, please check")
    assert ran.exit_code == 0, ran.stderr
    assert live not in _texts_of_rows()
    assert live not in unmo("feedback", "list", "--json").stdout


# --- templates: confined and sandboxed ------------------------------------------------------------


def _state(workspace: Path):
    """Files and rows. The rows are read with unmo.yaml set aside: the tests below put invalid
    settings there on purpose, and the snapshot must not trip over them."""
    files = snapshot_tree(workspace)
    config = workspace / "unmo.yaml"
    aside = workspace.parent / "unmo.yaml.aside"
    if config.exists():
        config.rename(aside)
    try:
        return files, snapshot_tables(workspace)
    finally:
        if aside.exists():
            aside.rename(config)


def _assert_state(workspace: Path, before) -> None:
    after = _state(workspace)
    assert after[0] == before[0], "files changed"
    assert {k: v for k, v in after[1].items() if v} == {k: v for k, v in before[1].items() if v}, \
        "rows changed"


def _override(workspace: Path, name: str, text: str | None = None, link: str | None = None):
    path = workspace / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if link is not None:
        path.symlink_to(link)
    else:
        path.write_text(text or "")
    return path


ESCAPES = {
    "dot-dot": "{% include '../../etc/passwd' %}",
    "many-dot-dots": "{% include '../../../../../../../../etc/passwd' %}",
    "absolute": "{% include '/etc/passwd' %}",
    "import": "{% import '/etc/hostname' as h %}{{ h }}",
    "extends": "{% extends '../customer.yaml.j2' %}",
}
SANDBOX_TRICKS = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__ }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "self": "{{ self._TemplateReference__context }}",
    "format": "{{ '{0.__class__}'.format('') }}",
    "attr-filter": "{{ ''|attr('__class__') }}",
}


def _refused_cleanly(ran, unchanged) -> None:
    assert ran.exit_code in (2, 3), ran.stdout + ran.stderr
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "root:" not in ran.stdout + ran.stderr and "Traceback" not in ran.stderr
    unchanged()


@pytest.mark.parametrize("trick", [*ESCAPES, *SANDBOX_TRICKS])
def test_a_template_override_cannot_escape(unmo, workspace: Path, trick: str):
    onboard(unmo, "Earlier Customer")
    text = ESCAPES.get(trick) or SANDBOX_TRICKS[trick]
    _override(workspace, "customer/README.md.j2", "# {{ name }}\n" + text + "\n")
    before = _state(workspace)

    def unchanged() -> None:
        _assert_state(workspace, before)

    _refused_cleanly(unmo("onboard", "TechStart Mobile", *flags(), "--yes"), unchanged)
    _refused_cleanly(unmo("customer", "render", "earlier-customer"), unchanged)


def test_a_symlink_out_of_the_templates_folder_is_not_followed(unmo, workspace: Path,
                                                                tmp_path: Path):
    private = tmp_path / "private.txt"
    private.write_text("root:x:0:0:the-secret-file\n")
    _override(workspace, "customer/README.md.j2", link=str(private))
    before = _state(workspace)
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes")
    assert "outside the templates folders" in ran.stderr
    _refused_cleanly(ran, lambda: _assert_state(workspace, before))
    assert not (workspace / "customers").exists() or not any(
        "the-secret-file" in p.read_text(errors="replace")
        for p in (workspace / "customers").rglob("*") if p.is_file())


@pytest.mark.parametrize("trick", ["dot-dot", "absolute", "mro", "lipsum"])
@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_a_report_template_override_cannot_escape(unmo, workspace: Path, trick: str, fmt: str):
    text = ESCAPES.get(trick) or SANDBOX_TRICKS[trick]
    name = "report/weekly.md.j2" if fmt == "markdown" else "report/weekly.html.j2"
    _override(workspace, name, text)
    output = workspace.parent / f"week.{fmt}"
    ran = unmo("report", "weekly", "--format", fmt, "--output", str(output))
    assert ran.exit_code in (2, 3)
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "root:" not in ran.stdout + ran.stderr
    assert not output.exists()


# --- arbitrary text at every free-text input ------------------------------------------------------

# Any text: control characters and NUL, lone surrogates (what a shell hands Python for bytes that
# are not UTF-8), right-to-left marks, emoji, and the occasional very long value.
ANY_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=60),
    st.text(st.characters(exclude_categories=()), min_size=1, max_size=3).map(lambda t: t * 4000),
)
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SPECIALS = ["", " ", "\x00", "a\x00b", "\udcff", "\u202eevil\u202c", "👩‍💻🚀", "\r\n", "x\ny",
            "-x", "--help", "'; DROP TABLE customers; --", "{{ 7*7 }}", "<script>", "ı" * 300,
            "%s%n", "..", "/etc/passwd", "CON"]




def _judged(ran, before, workspace: Path, *, allowed=(0, 1, 2)) -> None:
    """The rules every free-text input must keep."""
    assert ran.exit_code in allowed, (ran.exit_code, ran.stderr[-500:])
    assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
    if ran.exit_code != 0:
        lines = ran.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), ran.stderr[:2000]
    if ran.exit_code == 2:
        _assert_state(workspace, before)  # a refused input writes nothing


def _with_examples(*values: str):
    def decorate(test):
        for value in reversed(values):
            test = example(value)(test)
        return test
    return decorate


@pytest.mark.parametrize("field", ["name", "contact_name", "contact_email", "provider"])
def test_any_text_in_an_onboarding_field(unmo, workspace: Path, field: str):
    @FUZZ
    @_with_examples(*SPECIALS)
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        name = text if field == "name" else "Fuzz Co"
        options = flags("sdk", **{field: None}) if field != "name" else flags("sdk")
        if field != "name":
            options += [f"--{field.replace('_', '-')}={text}"]
        before = _state(workspace)
        ran = unmo("onboard", *options, "--yes", "--json", "--", name)
        _judged(ran, before, workspace)
        if ran.exit_code == 0:
            slug = ran.json()["customer"]["slug"]
            assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug)
            assert (workspace / "customers" / slug / ".env").is_file()

    run()
    check = unmo("customer", "render", "--all", "--check")
    assert check.exit_code == 0, check.stderr


@pytest.fixture
def one_customer(unmo, workspace: Path) -> str:
    onboard(unmo, "TechStart Mobile")
    return "techstart-mobile"


@pytest.mark.parametrize("option", ["--comment", "--category", "--id"])
def test_any_text_in_a_feedback_field(unmo, workspace: Path, one_customer: str, option: str):
    @FUZZ
    @_with_examples(*SPECIALS, "a\rb")
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        before = _state(workspace)
        ran = unmo("feedback", "add", one_customer, "--satisfaction", "8", f"{option}={text}",
                   "--json")
        _judged(ran, before, workspace)
        if ran.exit_code == 0 and option == "--comment":
            stored = ran.json()["feedback"]["comment"] or ""
            # the one rule for stored text: a comment may hold line breaks (CR too), no more
            assert text_problem(stored, allow_newlines=True) is None, stored[:200]

    run()
    listed = unmo("feedback", "list", "--json")
    assert listed.exit_code == 0, listed.stderr


def test_any_text_as_a_churn_reason(unmo, workspace: Path):
    from support_health import make_customer

    counter = iter(range(10_000))
    # A refused reason changes nothing, so the same active customer serves until one is
    # accepted; a new one (made through the data layer: the churn is under test, not the
    # onboarding) only after a churn.
    active: list[str] = []

    @FUZZ
    @_with_examples(*SPECIALS)
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        if not active:
            active.append(f"leaving-{next(counter)}")
            make_customer(active[0], write_env=False)
        before = _state(workspace)
        ran = unmo("customer", "churn", active[0], f"--reason={text}")
        _judged(ran, before, workspace)
        if ran.exit_code == 0:
            active.clear()

    run()
    listed = unmo("customer", "list", "--json")
    assert listed.exit_code == 0, listed.stderr


def test_any_text_as_a_week(unmo, workspace: Path, one_customer: str):
    @FUZZ
    @_with_examples(*SPECIALS, "2026-W47", "2026-W53", "0000-W01", "9999-W52", "2026-W00")
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        before = _state(workspace)
        ran = unmo("report", "weekly", f"--week={text}", "--format", "json",
                   env={"UNMO_NOW": "2026-11-25T12:00:00Z"})
        _judged(ran, before, workspace)

    run()


def test_any_text_as_a_key_to_verify(unmo, workspace: Path, one_customer: str):
    @FUZZ
    @_with_examples(*SPECIALS, "unmo_sk_live_", "unmo_sk_live_" + "A" * 28,
                    "unmo_sk_live_" + "é" * 28, "x" * 30 + "\n" + "abc")
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        before = _state(workspace)
        ran = unmo("keys", "verify", "--", text)
        _judged(ran, before, workspace)
        ran = unmo("keys", "verify", "--json", "--", text)
        assert ran.exit_code in (0, 1, 2) and "Traceback" not in ran.stderr
        json.loads(ran.stdout)

    run()


SETTINGS_KEYS = ["timezone", "templates_dir", "database_url", "api.base_url", "api.timeout_s",
                 "alerts.webhook_url", "alerts.satisfaction_below",
                 "alerts.health_failure_threshold", "targets.nps", "finance.infra_cost_per_week"]
REPORT_KEYS = {"timezone", "templates_dir", "targets.nps", "finance.infra_cost_per_week"}


def _setting_examples(test):
    """Every key with the texts no setting can hold (NUL, a lone surrogate); the other tricky
    texts spread over the keys in turn rather than crossed with all of them, and all of them
    for the two settings that name a place or a zone (18 examples instead of 40: the
    generated ones add the rest)."""
    unstorable = ("\x00", "\udcff")
    tricky = ("ı" * 300, "~nobody-at-all/x", "", "{{ 7*7 }}")
    cases = [(key, text) for key in SETTINGS_KEYS for text in unstorable]
    cases += [(key, tricky[n % len(tricky)]) for n, key in enumerate(SETTINGS_KEYS)]
    cases += [(key, text) for key in ("templates_dir", "timezone") for text in tricky]
    for key, text in reversed(cases):
        test = example(key=key, text=text)(test)
    return test


def test_any_text_as_a_setting_in_unmo_yaml(unmo, workspace: Path):
    """Each setting given arbitrary text (YAML escapes make NUL and lone surrogates possible):
    `config show` and, for the settings it reads, the report."""
    config = workspace / "unmo.yaml"

    @settings(FUZZ, max_examples=15)  # on top of the 38 explicit examples
    @_setting_examples
    @given(key=st.sampled_from(SETTINGS_KEYS), text=ANY_TEXT)
    def run(key: str, text: str) -> None:
        document: dict = {}
        parts = key.split(".")
        node = document
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = text
        config.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8",
                          errors="surrogateescape")
        before = _state(workspace)
        ran = unmo("config", "show", "--json")
        _judged(ran, before, workspace)
        if key in REPORT_KEYS:
            ran = unmo("report", "weekly", "--format", "json",
                       env={"UNMO_NOW": "2026-11-25T12:00:00Z"})
            _judged(ran, before, workspace)

    try:
        run()
    finally:
        config.unlink(missing_ok=True)


def test_any_text_as_the_whole_unmo_yaml(unmo, workspace: Path):
    config = workspace / "unmo.yaml"

    @FUZZ
    @_with_examples(*SPECIALS, "api: [1, 2", "timezone: Mars/Olympus", "\t- x", "a: b: c",
                    "{" * 4000, "a: " + "[" * 4000)
    @given(text=ANY_TEXT)
    def run(text: str) -> None:
        config.write_bytes(text.encode("utf-8", "surrogateescape"))
        before = _state(workspace)
        ran = unmo("config", "show", "--json")
        _judged(ran, before, workspace)

    try:
        run()
    finally:
        config.unlink(missing_ok=True)
