"""The files unmo generates for a customer pass the tools their readers use: shellcheck, bash and
sh (run against a real `unmo sandbox`), python, python-dotenv, a POSIX shell sourcing `.env`,
plistlib, yamllint, a real SMTP server (aiosmtpd) and GitHub's Markdown renderer."""

from __future__ import annotations

import email
import email.policy
import os
import plistlib
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support_files import markdown_html, need_tool, shellcheck, yamllint
from support_onboarding import flags, onboard, secret_keys

ROOT = Path(__file__).resolve().parents[1]
PILOTS = sorted(p.parent for p in (ROOT / "customers").glob("*/customer.yaml"))
ENV_KEYS = {"UNMO_API_URL", "UNMO_SECRET_KEY_LIVE", "UNMO_SECRET_KEY_TEST",
            "UNMO_PUBLISHABLE_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"}
HOSTILE_NAME = '<img src=x onerror=alert(1)> [click](https://evil.example) www.evil.example & $(id)'


def _hybrid(unmo, workspace: Path, name: str = "FinanceTrack Pro", **overrides: str) -> Path:
    doc = onboard(unmo, name, "hybrid", platforms="ios,android", **overrides)
    return workspace / doc["directory"]


@pytest.fixture
def sandbox_url(workspace: Path) -> Iterator[str]:
    """A real `unmo sandbox` process on 127.0.0.1 serving this workspace's keys."""
    process = subprocess.Popen(
        [sys.executable, "-m", "unmo_cli", "sandbox", "--port", "0", "--quiet"],
        env=dict(os.environ, UNMO_WORKSPACE=str(workspace)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        assert " at http://127.0.0.1:" in line, line
        yield line.split(" at ", 1)[1].split(" ", 1)[0]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the shell example --------------------------------------------------------------------------


def test_curl_examples_are_shellcheck_clean_and_executable(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace, HOSTILE_NAME)
    script = folder / "sdk/server/curl-examples.sh"
    checked = shellcheck(script)
    assert checked.returncode == 0, checked.stdout
    for shell in ("bash", "sh"):
        assert subprocess.run([need_tool(shell), "-n", str(script)]).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert script.stat().st_mode & 0o777 == 0o777 & ~umask  # 0755 under the usual 022
    assert os.access(script, os.X_OK)


@pytest.mark.parametrize("folder", [p for p in PILOTS if (p / "sdk/server").is_dir()],
                         ids=lambda p: p.name)
def test_committed_shell_files_are_shellcheck_clean(folder: Path):
    for script in folder.rglob("*.sh"):
        checked = shellcheck(script)
        assert checked.returncode == 0, checked.stdout
        assert os.access(script, os.X_OK), f"{script} is not executable in the repository"


def _customer_shell(folder: Path, sandbox: str, command: str,
                    *, source_env: bool = True) -> subprocess.CompletedProcess[str]:
    """`command` in sdk/server/, after the README's `set -a; . ../../.env; set +a`, with the
    sandbox standing in for the platform (UNMO_API_URL overridden, as the script allows)."""
    prefix = "set -a; . ../../.env; set +a; " if source_env else ""
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [need_tool("sh"), "-c", f"{prefix}UNMO_API_URL={sandbox}; export UNMO_API_URL; {command}"],
        cwd=folder / "sdk/server", env=environment, capture_output=True, text=True, timeout=60)


def test_the_examples_run_against_the_sandbox(unmo, workspace: Path, sandbox_url: str):
    need_tool("curl")
    folder = _hybrid(unmo, workspace)
    for command in ("bash ./curl-examples.sh", "sh ./curl-examples.sh", "./curl-examples.sh",
                    f"{sys.executable} unmo_example.py"):
        ran = _customer_shell(folder, sandbox_url, command)
        assert ran.returncode == 0, (command, ran.stderr)
        assert '"status": "healthy"' in ran.stdout.replace('":"', '": "'), ran.stdout
        assert '"attribution_model"' in ran.stdout, ran.stdout


def test_the_examples_say_what_is_missing_without_the_environment(unmo, workspace: Path,
                                                                    sandbox_url: str):
    folder = _hybrid(unmo, workspace)
    for command in ("sh ./curl-examples.sh", f"{sys.executable} unmo_example.py"):
        ran = _customer_shell(folder, sandbox_url, command, source_env=False)
        assert ran.returncode == 2, (command, ran.stderr)
        assert "UNMO_SECRET_KEY_TEST is not set" in ran.stderr
        assert "Traceback" not in ran.stderr and len(ran.stderr.strip().splitlines()) == 1


def test_the_python_example_reports_a_refused_key_without_a_traceback(
        unmo, workspace: Path, sandbox_url: str):
    folder = _hybrid(unmo, workspace)
    ran = subprocess.run([sys.executable, "unmo_example.py"], cwd=folder / "sdk/server",
                         env={"PATH": os.environ["PATH"], "UNMO_API_URL": sandbox_url,
                              "UNMO_SECRET_KEY_TEST": "unmo_sk_test_" + "0" * 28},
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1 and "HTTP 401" in ran.stderr and "Traceback" not in ran.stderr


def test_examples_use_the_test_key_and_the_readme_says_so(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace)
    server = folder / "sdk/server"
    for name in ("curl-examples.sh", "unmo_example.py"):
        text = (server / name).read_text()
        assert "UNMO_SECRET_KEY_TEST" in text and "UNMO_SECRET_KEY_LIVE" not in text, name
    readme = (server / "README.md").read_text()
    assert "**test** secret key" in readme and "`UNMO_SECRET_KEY_TEST`" in readme
    assert "In production your service sends the **live** secret key" in readme


# --- .env ---------------------------------------------------------------------------------------


def test_env_parses_to_the_five_keys_for_dotenv_and_a_posix_shell(unmo, workspace: Path):
    from dotenv import dotenv_values

    folder = _hybrid(unmo, workspace)
    parsed = dotenv_values(folder / ".env")
    assert set(parsed) == ENV_KEYS
    assert parsed["UNMO_API_URL"] == "https://api.unmogrowp.com/v1"
    script = "set -a; . ./.env; set +a; " + "; ".join(
        f'printf "%s=%s\\n" {name} "${name}"' for name in sorted(ENV_KEYS))
    sourced = subprocess.run([need_tool("sh"), "-c", script], cwd=folder,
                             env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    assert sourced.returncode == 0, sourced.stderr
    assert dict(line.split("=", 1) for line in sourced.stdout.splitlines()) == parsed


# --- plists, Java properties --------------------------------------------------------------------


def test_plist_loads_with_plistlib(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace, HOSTILE_NAME)
    config = plistlib.loads((folder / "sdk/ios/UnmoConfig.plist").read_bytes())
    keys = secret_keys(folder)
    assert config == {"UnmoApiBaseURL": "https://api.unmogrowp.com/v1",
                      "UnmoPublishableKeyLive": keys["UNMO_PUBLISHABLE_KEY_LIVE"],
                      "UnmoPublishableKeyTest": keys["UNMO_PUBLISHABLE_KEY_TEST"],
                      "UnmoEnvironment": "test"}
    for path in PILOTS:
        for plist in path.rglob("*.plist"):
            assert plistlib.loads(plist.read_bytes())["UnmoApiBaseURL"].startswith("https://")


# --- customer.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["TechStart Mobile", HOSTILE_NAME,
                                  "Ünïcödé Ÿ " + "very long name " * 12,
                                  "x" * 200, "yes", "1: {a} - b", "  #hash  "])
def test_customer_yaml_passes_yamllint_defaults(unmo, workspace: Path, name: str):
    import yaml

    folder = _hybrid(unmo, workspace, name, contact_name=name if name.strip() else "A")
    linted = yamllint(folder / "customer.yaml")
    assert linted.returncode == 0, linted.stdout
    record = yaml.safe_load((folder / "customer.yaml").read_text())
    assert record["name"] == " ".join(name.split())
    assert record["contact_name"] == " ".join(name.split())


@pytest.mark.parametrize("folder", PILOTS, ids=lambda p: p.name)
def test_committed_customer_yaml_passes_yamllint_defaults(folder: Path):
    linted = yamllint(folder / "customer.yaml")
    assert linted.returncode == 0, linted.stdout


# --- welcome.eml --------------------------------------------------------------------------------


def test_welcome_eml_is_accepted_byte_for_byte_by_an_smtp_server(unmo, workspace: Path):
    import smtplib

    from aiosmtpd.controller import Controller

    folder = _hybrid(unmo, workspace, "Zoë's Café & Co", contact_name="Zoë Ångström",
                     success_manager="kim@unmogrowp.example")
    data = (folder / "email/welcome.eml").read_bytes()
    assert b"\n" not in data.replace(b"\r\n", b"") and data.endswith(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    message = email.message_from_bytes(data, policy=email.policy.SMTP)
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(
        "@unmogrowp.example>")
    assert message["Date"].datetime is not None
    assert message["Subject"] == "Welcome to UnMoGrowP, Zoë's Café & Co"

    class Keep:
        received: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            self.received.append(envelope.original_content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            refused = client.sendmail("kim@unmogrowp.example", ["growth@fintrack.example"], data)
    finally:
        controller.stop()
    assert refused == {}
    assert handler.received == [data]


def test_welcome_eml_is_the_same_bytes_when_rendered_again(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace)
    before = (folder / "email/welcome.eml").read_bytes()
    assert unmo("customer", "render", "--all", "--check").exit_code == 0
    assert (folder / "email/welcome.eml").read_bytes() == before


# --- Markdown -----------------------------------------------------------------------------------


def test_markdown_files_show_customer_text_as_text(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace, HOSTILE_NAME, contact_name="<b>Bold</b> | pipe",
                     contact_email="x@evil.example")
    for path in folder.rglob("*.md"):
        html = markdown_html(path.read_text())
        assert "<img" not in html and "<b>" not in html, path
        # cmark-gfm turns any text shaped like an e-mail address into a mailto: link (Markdown
        # has no escape for that); every other link is unmo's own
        links = [h for h in re.findall(r'href="([^"]*)"', html) if not h.startswith("mailto:")]
        assert not [h for h in links if "evil" in h], (path, links)
        assert HOSTILE_NAME.replace("&", "&amp;").replace("<", "&lt;").replace(
            ">", "&gt;") in html, path
    table = markdown_html((folder / "README.md").read_text())
    assert "<td>&lt;b&gt;Bold&lt;/b&gt; | pipe (" in table  # one cell: the pipe is text


# --- values that enter: the API URL and settings ------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://api.example/v1$(touch pwned)", "https://api.example/v1`id`",
    "https://api.example/v1'", 'https://api.example/v1"', "https://api.example/v1 x",
    "https://api.example/v1\\", "ftp://api.example/v1", "https://user:pw@api.example/v1",
    "https://api.example/v1?x=1", "https://api.example/v1\x1b[2J", "https://api.exämple/v1",
])
def test_a_public_url_that_could_not_be_written_safely_is_refused(unmo, workspace: Path, url):
    from conftest import snapshot_tree

    before = snapshot_tree(workspace)
    ran = unmo("onboard", "Acme", *flags(), "--yes", env={"UNMO_API_PUBLIC_URL": url})
    assert ran.exit_code == 2, ran.stderr
    assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
    assert "UNMO_API_PUBLIC_URL" in ran.stderr and "Traceback" not in ran.stderr
    assert snapshot_tree(workspace) == before
    assert not (workspace / "pwned").exists()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787/v1", "http://localhost:8787/v1",
                                 "https://localhost/v1", "http://[::1]:8787/v1",
                                 "https://0.0.0.0/v1", "http://api.unmogrowp.com/v1",
                                 "https://dev.localhost/v1"])
def test_onboarding_refuses_a_public_url_no_customer_can_use(unmo, workspace: Path, url: str):
    (workspace / "unmo.yaml").write_text(f"api:\n  public_url: {url}\n")
    for args in (("--yes",), ("--yes", "--dry-run")):
        ran = unmo("onboard", "Acme", *flags(), *args)
        assert ran.exit_code == 2, ran.stderr
        assert "api.public_url in" in ran.stderr and url in ran.stderr
        assert ran.stderr.count("\n") == 1
    assert not (workspace / "customers").exists()


def test_default_settings_give_customers_the_production_url(unmo, workspace: Path):
    folder = _hybrid(unmo, workspace)
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"127.0.0.1" not in data and b"localhost" not in data, path
    record = (folder / "customer.yaml").read_text()
    assert 'api_base_url: "https://api.unmogrowp.com/v1"' in record
    shown = unmo("config", "show", "--json").json()
    flat = shown.get("settings", shown)
    assert "https://api.unmogrowp.com/v1" in str(flat)


@pytest.mark.parametrize("recorded", ['https://eu.example/v1"; import os; os.system("id")  #',
                                      "https://eu.example/v1$(id)", 42])
def test_a_recorded_url_that_could_not_be_written_safely_stops_the_render(
        unmo, workspace: Path, recorded):
    import json

    folder = _hybrid(unmo, workspace)
    record = folder / "customer.yaml"
    record.write_text(record.read_text().replace('"https://api.unmogrowp.com/v1"',
                                                 json.dumps(recorded)))
    from conftest import snapshot_tree

    before = snapshot_tree(workspace)
    for args in (("customer", "render", "--all"), ("keys", "rotate", "financetrack-pro")):
        ran = unmo(*args)
        assert ran.exit_code == 2, ran.stderr
        assert "customer.yaml: api_base_url" in ran.stderr and "Traceback" not in ran.stderr
    assert snapshot_tree(workspace) == before


@pytest.mark.parametrize("key", ["api.public_url", "api.base_url", "timezone", "templates_dir"])
def test_settings_refuse_line_breaks(unmo, workspace: Path, key: str):
    section, _, name = key.rpartition(".")
    value = '"https://api.example/v1\\nUNMO_SECRET_KEY_LIVE=stolen"'
    text = f"{section}:\n  {name}: {value}\n" if section else f"{name}: {value}\n"
    (workspace / "unmo.yaml").write_text(text)
    ran = unmo("onboard", "Acme", *flags(), "--yes")
    assert ran.exit_code == 2 and "line break" in ran.stderr, ran.stderr
    assert not (workspace / "customers").exists()


def test_render_warns_about_a_customer_whose_record_points_at_this_machine(
        unmo, workspace: Path):
    """A customer onboarded when the sandbox was the default keeps its record, and is told."""
    folder = _hybrid(unmo, workspace)
    record = folder / "customer.yaml"
    record.write_text(record.read_text().replace('"https://api.unmogrowp.com/v1"',
                                                 '"http://127.0.0.1:8787/v1"'))
    ran = unmo("customer", "render", "financetrack-pro")
    assert ran.exit_code == 0, ran.stderr
    assert "customers/financetrack-pro gives its customer http://127.0.0.1:8787/v1, an address " \
        "on this machine" in ran.stderr
    assert secret_keys(folder)["UNMO_API_URL"] == "http://127.0.0.1:8787/v1"  # the record holds
