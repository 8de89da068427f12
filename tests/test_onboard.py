"""`unmo onboard`: flags, --from files, the folder, the keys and the recorded session."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from conftest import query
from support_ci import skip_or_fail
from support_onboarding import FLAGS, KEY_RE, flags, onboard, secret_keys

PILOTS = Path("/work/shared/data/pilot-customers.yaml")
PILOTS = PILOTS if PILOTS.exists() else Path(__file__).resolve().parents[1] / \
    "unmo_cli" / "data" / "pilot-customers.yaml"


@pytest.mark.parametrize("integration,sections", [
    ("sdk", {"ios", "android"}), ("s2s", {"server"}), ("hybrid", {"ios", "server"}),
])
def test_happy_path_per_integration(unmo, workspace: Path, integration, sections):
    doc = onboard(unmo, "TechStart Mobile", integration)
    folder = workspace / "customers" / "techstart-mobile"
    assert doc["directory"] == "customers/techstart-mobile"
    assert doc["customer"]["slug"] == "techstart-mobile"
    assert doc["customer"]["integration"] == integration
    assert {k["kind"] + "/" + k["environment"] for k in doc["keys"]} == {
        "publishable/live", "publishable/test", "secret/live", "secret/test"}
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(doc["files"])
    got = {p.split("/")[1] for p in doc["files"] if p.startswith("sdk/")}
    assert got == sections
    for name in ("README.md", "customer.yaml", ".env", ".gitignore",
                 "docs/integration-checklist.md", "support/SUPPORT_TEMPLATE.md",
                 "email/welcome.md", "email/welcome.html", "email/welcome.eml"):
        assert (folder / name).is_file(), name
    env = secret_keys(folder)
    assert set(env) == {"UNMO_API_URL", "UNMO_SECRET_KEY_LIVE", "UNMO_SECRET_KEY_TEST",
                        "UNMO_PUBLISHABLE_KEY_LIVE", "UNMO_PUBLISHABLE_KEY_TEST"}
    assert stat.S_IMODE((folder / ".env").stat().st_mode) == 0o600
    assert query("SELECT count(*) FROM customers") == [(1,)]
    assert query("SELECT count(*) FROM api_keys") == [(4,)]
    steps = [name for name, in query("SELECT name FROM onboarding_steps ORDER BY position")]
    assert steps == [s["name"] for s in doc["onboarding"]["steps"]]
    assert {"validate", "create_record", "generate_keys", "render_files", "write_secrets",
            "commit", "move_into_place"} <= set(steps)
    assert query("SELECT mode, outcome FROM onboarding_sessions") == [("flags", "success")]
    assert ".env" in (workspace / ".gitignore").read_text()


def test_from_yaml_onboards_the_pilots(unmo, workspace: Path):
    ran = unmo("onboard", "--from", str(PILOTS), "--json")
    assert ran.exit_code == 0, ran.stderr
    docs = ran.json()
    assert [d["customer"]["slug"] for d in docs] == [
        "techstart-mobile", "ecomgrowth-labs", "financetrack-pro"]
    assert query("SELECT mode, outcome FROM onboarding_sessions") == [("batch", "success")] * 3
    for doc in docs:
        assert (workspace / doc["directory"] / ".env").is_file()


def test_from_json_single_record(unmo, workspace: Path):
    record = {"name": "Solo Apps", "contact_name": "Ann", "contact-email": "ann@solo.example",
              "industry": "other", "integration": "s2s", "events_per_day": 10,
              "provider": "none", "mrr": 0}
    path = workspace / "one.json"
    path.write_text(json.dumps(record))
    ran = unmo("onboard", "--from", str(path), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()[0]["customer"]["mrr"] == "0.00"


def test_secret_keys_only_in_env(unmo, workspace: Path):
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--yes")
    assert ran.exit_code == 0, ran.stderr
    folder = workspace / "customers" / "techstart-mobile"
    env = secret_keys(folder)
    secrets = [env["UNMO_SECRET_KEY_LIVE"], env["UNMO_SECRET_KEY_TEST"]]
    assert all(KEY_RE.fullmatch(s) for s in secrets)
    assert not any(s in ran.stdout + ran.stderr for s in secrets)
    for path in workspace.rglob("*"):
        if path.is_file() and path.name != ".env":
            data = path.read_bytes()
            assert not any(s.encode() in data for s in secrets), path
    assert FLAGS  # the support module is shared with the other onboarding tests


def test_json_shape_follows_the_contract(unmo, workspace: Path):
    doc = onboard(unmo)
    assert set(doc) == {"customer", "directory", "files", "keys", "onboarding"}
    assert set(doc["customer"]) == {
        "slug", "name", "industry", "integration", "platforms", "provider", "events_per_day",
        "mrr", "contact_name", "contact_email", "success_manager", "phase", "created_at",
        "churned_at", "churn_reason", "tier", "renewal_date"}
    assert doc["customer"]["platforms"] == ["ios", "android"]
    assert doc["customer"]["mrr"] == "2500.00"
    assert all(set(k) == {"kind", "environment", "hint"} for k in doc["keys"])
    assert set(doc["onboarding"]) == {"duration_s", "steps"}
    assert all(set(s) == {"name", "duration_s"} for s in doc["onboarding"]["steps"])
    assert doc["onboarding"]["duration_s"] > 0


def test_mrr_is_kept_in_cents(unmo, workspace: Path):
    doc = onboard(unmo, "Cents", "hybrid")
    assert doc["customer"]["mrr"] == "99.99"
    assert query("SELECT mrr_cents FROM customers") == [(9999,)]


def test_a_name_with_colons_is_printed_as_typed(unmo, workspace: Path):
    # Rich would turn :rocket: into an emoji; a customer's name is shown as it is.
    ran = unmo("onboard", "Go :rocket: Apps", *flags(), "--yes")
    assert ran.exit_code == 0, ran.stderr
    assert "Onboarded Go :rocket: Apps into customers/go-rocket-apps/" in ran.stdout


def test_unmo_now_pins_the_timestamps(unmo, workspace: Path):
    ran = unmo("onboard", "Pinned", *flags(), "--json", env={"UNMO_NOW": "2026-03-02T10:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["customer"]["created_at"] == "2026-03-02T10:00:00Z"
    assert "created_at: \"2026-03-02T10:00:00Z\"" in (
        workspace / "customers" / "pinned" / "customer.yaml").read_text()


def test_dry_run_writes_nothing_in_a_fresh_workspace(unmo, workspace: Path, unchanged):
    ran = unmo("onboard", "TechStart Mobile", *flags(), "--dry-run", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["dry_run"] is True and doc["onboarding"] is None
    assert doc["directory"] == "customers/techstart-mobile"
    assert ".env" in doc["files"] and "sdk/ios/UnmoConfig.plist" in doc["files"]
    assert not KEY_RE.search(ran.stdout)
    unchanged()
    assert list(workspace.iterdir()) == []


def test_dry_run_writes_nothing_in_a_used_workspace(unmo, workspace: Path):
    onboard(unmo, "First")
    from conftest import snapshot_tables, snapshot_tree

    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", "--from", str(PILOTS), "--dry-run")
    assert ran.exit_code == 0, ran.stderr
    assert "Would onboard 3 customers" in ran.stdout
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


def test_dry_run_still_refuses_a_taken_name(unmo, workspace: Path):
    onboard(unmo, "TechStart Mobile")
    ran = unmo("onboard", "techstart mobile!", *flags(), "--dry-run")
    assert ran.exit_code == 2
    assert "already onboarded" in ran.stderr


def test_show_secrets_prints_the_full_keys_once(unmo, workspace: Path):
    ran = unmo("onboard", "Shown", *flags(), "--show-secrets", "--json")
    assert ran.exit_code == 0, ran.stderr
    env = secret_keys(workspace / "customers" / "shown")
    keys = {f"{k['kind']}_{k['environment']}": k["key"] for k in ran.json()["keys"]}
    assert keys["secret_live"] == env["UNMO_SECRET_KEY_LIVE"]
    assert keys["publishable_test"] == env["UNMO_PUBLISHABLE_KEY_TEST"]


@pytest.mark.sqlite_only  # reads the SQLite file's bytes
def test_secrets_absent_from_the_database_file(unmo, workspace: Path):
    onboard(unmo)
    env = secret_keys(workspace / "customers" / "techstart-mobile")
    raw = b"".join(p.read_bytes() for p in (workspace / ".unmo").iterdir() if p.is_file())
    assert env["UNMO_SECRET_KEY_LIVE"].encode() not in raw
    assert env["UNMO_SECRET_KEY_TEST"].encode() not in raw
    # the publishable key may be stored (it ships inside the app)
    assert query("SELECT count(*) FROM api_keys WHERE publishable_value IS NOT NULL") == [(2,)]


def test_env_is_private_and_ignored_by_git(unmo, workspace: Path):
    import shutil
    import subprocess

    if shutil.which("git") is None:
        skip_or_fail("git is not installed")
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    onboard(unmo)
    env = workspace / "customers" / "techstart-mobile" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    ignored = subprocess.run(["git", "check-ignore", "-q", str(env)], cwd=workspace)
    assert ignored.returncode == 0
    # and the rest of the folder is not ignored: it is meant to be committed
    readme = env.parent / "README.md"
    assert subprocess.run(["git", "check-ignore", "-q", str(readme)], cwd=workspace
                          ).returncode == 1
    # the per-customer .gitignore keeps .env out even if the folder is copied elsewhere
    assert ".env" in (env.parent / ".gitignore").read_text().splitlines()


def test_workspace_gitignore_is_extended_not_replaced(unmo, workspace: Path):
    (workspace / ".gitignore").write_text("node_modules/")
    onboard(unmo)
    lines = (workspace / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/" and "customers/*/.env" in lines


def test_html_in_a_name_is_escaped_in_welcome_html(unmo, workspace: Path):
    doc = onboard(unmo, "<script>alert(1)</script> & Sons")
    folder = workspace / doc["directory"]
    html = (folder / "email" / "welcome.html").read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" in html
    # YAML keeps the name as typed; Markdown shows it as text, never as raw HTML
    from support_files import markdown_html

    rendered = markdown_html((folder / "README.md").read_text())
    assert "<script>" not in rendered and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons" \
        in rendered
    import yaml

    assert yaml.safe_load((folder / "customer.yaml").read_text())["name"] == doc["customer"]["name"]


def test_template_syntax_in_a_name_stays_text(unmo, workspace: Path):
    name = "{{ 7*7 }} Games {% if true %}x{% endif %}"
    doc = onboard(unmo, name, contact_name="{{ config }}")
    folder = workspace / doc["directory"]
    assert doc["customer"]["name"] == name
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".md", ".yaml"):
            text = path.read_text()
            assert "49 Games" not in text, path
    from support_files import markdown_html

    assert name in markdown_html((folder / "README.md").read_text())
    assert "{{ config }}" in markdown_html((folder / "email" / "welcome.md").read_text())


def test_welcome_eml_is_a_multipart_message_to_the_contact(unmo, workspace: Path):
    import email
    import email.policy

    doc = onboard(unmo, "Mail Test", success_manager="kim@unmogrowp.example",
                  contact_name="Zoë Ångström")
    data = (workspace / doc["directory"] / "email" / "welcome.eml").read_bytes()
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "growth@techstart.example"
    assert message["To"].addresses[0].display_name == "Zoë Ångström"
    assert message["From"].addresses[0].addr_spec == "kim@unmogrowp.example"
    assert "Mail Test" in message["Subject"]
    assert message.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "Zoë Ångström" in parts["text/plain"] and "<html" in parts["text/html"]


def test_sdk_configs_hold_publishable_keys_and_server_examples_read_the_environment(
        unmo, workspace: Path):
    doc = onboard(unmo, "Both", "hybrid", platforms="ios,android")
    folder = workspace / doc["directory"]
    env = secret_keys(folder)
    plist = (folder / "sdk" / "ios" / "UnmoConfig.plist").read_text()
    assert env["UNMO_PUBLISHABLE_KEY_LIVE"] in plist
    props = (folder / "sdk" / "android" / "unmo.properties").read_text()
    assert env["UNMO_PUBLISHABLE_KEY_TEST"] in props
    python = (folder / "sdk" / "server" / "unmo_example.py").read_text()
    assert "KEY_NAME = 'UNMO_SECRET_KEY_TEST'" in python and "/health" in python
    assert "/analytics/attribution" in python
    compile(python, "unmo_example.py", "exec")
    curl = (folder / "sdk" / "server" / "curl-examples.sh").read_text()
    assert "Authorization: Bearer $KEY" in curl and "https://api.unmogrowp.com/v1" in curl
    assert not KEY_RE.search(python + curl)


def test_public_url_setting_reaches_env_and_examples_and_base_url_does_not(
        unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text("api:\n  public_url: https://api.example.test/v2/\n"
                                         "  base_url: http://127.0.0.1:9/v1\n")
    doc = onboard(unmo, "Remote", "s2s")
    folder = workspace / doc["directory"]
    assert secret_keys(folder)["UNMO_API_URL"] == "https://api.example.test/v2"
    assert "https://api.example.test/v2" in (folder / "sdk/server/curl-examples.sh").read_text()
    assert not [p for p in folder.rglob("*") if p.is_file() and b"127.0.0.1" in p.read_bytes()]


def test_from_file_records_are_validated_together(unmo, workspace: Path, unchanged):
    path = workspace / "bad.yaml"
    path.write_text(PILOTS.read_text() + """
- name: Broken One
  contact_email: not-an-address
  industry: toys
- name: techstart  MOBILE
  contact_name: Dup
  contact_email: dup@x.example
  industry: gaming
  integration: s2s
  events_per_day: 1
  provider: none
  mrr: 1
""")
    before_unchanged = unchanged
    ran = unmo("onboard", "--from", str(path))
    assert ran.exit_code == 2
    message = ran.stderr
    assert "2 of 5 records are invalid" in message
    assert "record 4 (Broken One)" in message and "not-an-address" in message
    assert "'toys' is not one of" in message and "missing contact_name" in message
    assert "record 5 (techstart  MOBILE): the same customer as record 1" in message
    assert message.count("\n") == 1
    path.unlink()
    before_unchanged()


@pytest.mark.parametrize("content,expected", [
    ("- name: [unclosed\n", "line"),
    ("42\n", "holds no customers"),
    ("[]\n", "holds no customers"),
    ("- just a string\n", "record 1 is not a mapping"),
    ("name: A\ncolour: red\n", "unknown field colour"),
])
def test_from_file_malformed(unmo, workspace: Path, content, expected):
    path = workspace.parent / "input.yaml"
    path.write_text(content)
    from conftest import snapshot_tree

    before = snapshot_tree(workspace)
    ran = unmo("onboard", "--from", str(path))
    assert ran.exit_code == 2, ran.stderr
    assert expected in ran.stderr and "Traceback" not in ran.stderr
    assert snapshot_tree(workspace) == before


def test_from_file_json_list_and_name_clash_with_flags(unmo, workspace: Path, unchanged):
    path = workspace.parent / "many.json"
    path.write_text("[{\"name\": \"A\"}")
    ran = unmo("onboard", "--from", str(path))
    assert ran.exit_code == 2 and "line 1" in ran.stderr
    ran = unmo("onboard", "X", "--from", str(PILOTS))
    assert ran.exit_code == 2 and "drop NAME" in ran.stderr
    ran = unmo("onboard", "--from", str(workspace.parent / "nope.yaml"))
    assert ran.exit_code == 2 and "no such file" in ran.stderr
    unchanged()


def test_from_file_with_many_records(unmo, workspace: Path):
    import yaml

    records = [{"name": f"Customer {n:03d}", "contact_name": "Ops",
                "contact_email": f"ops{n}@c.example", "industry": "other", "integration": "s2s",
                "events_per_day": 1000 + n, "provider": "none", "mrr": "10.5"}
               for n in range(25)]
    path = workspace.parent / "many.yaml"
    path.write_text(yaml.safe_dump(records))
    ran = unmo("onboard", "--from", str(path), "--json")
    assert ran.exit_code == 0, ran.stderr
    assert len(ran.json()) == 25
    assert query("SELECT count(*), sum(mrr_cents) FROM customers") == [(25, 25 * 1050)]
    assert query("SELECT count(*) FROM api_keys") == [(100,)]
    assert len(list((workspace / "customers").iterdir())) == 25


def test_names_with_rich_markup_are_printed_as_typed(unmo, workspace: Path):
    import yaml

    records = [{"name": name, "contact_name": "[red]Ops[/red]", "contact_email": f"o{n}@x.example",
                "industry": "other", "integration": "s2s", "events_per_day": 1,
                "provider": "none", "mrr": 1} for n, name in enumerate(["[bold]Loud[/bold]",
                                                                         "Quiet [x]"])]
    path = workspace.parent / "markup.yaml"
    path.write_text(yaml.safe_dump(records))
    ran = unmo("onboard", "--from", str(path))
    assert ran.exit_code == 0, ran.stderr
    assert "[bold]Loud[/bold]" in ran.stdout and "Quiet [x]" in ran.stdout
    ran = unmo("customer", "show", "bold-loud-bold")
    assert "[red]Ops[/red]" in ran.stdout and "[bold]Loud[/bold]" in ran.stdout
