"""`unmo onboard`: flags, --from files, the folder, the keys and the recorded session."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from conftest import query
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
    assert ran.json()[0]["customer"]["mrr"] == 0


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
