"""`unmo customer list|show|phase|churn|render`."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import query
from support_onboarding import flags, onboard, secret_keys

CUSTOMER_FIELDS = ["slug", "name", "industry", "integration", "platforms", "provider",
                   "events_per_day", "mrr", "contact_name", "contact_email", "success_manager",
                   "phase", "created_at", "churned_at", "churn_reason", "tier",
                   "renewal_date"]


@pytest.fixture
def three(module_workspaces, workspace: Path):
    """Three onboarded customers: onboarded once for the module, a copy for each test."""
    module_workspaces.copy(_onboard_three, workspace)


def _onboard_three(unmo) -> None:
    onboard(unmo, "Alpha Apps", "sdk")
    onboard(unmo, "Beta Shop", "s2s")
    onboard(unmo, "Gamma Pay", "hybrid")


def test_list_json_has_exactly_the_contract_fields(unmo, three):
    ran = unmo("customer", "list", "--json")
    assert ran.exit_code == 0, ran.stderr
    customers = ran.json()
    assert [c["slug"] for c in customers] == ["alpha-apps", "beta-shop", "gamma-pay"]
    assert all(list(c) == CUSTOMER_FIELDS for c in customers)
    assert customers[1]["platforms"] == [] and customers[2]["mrr"] == "99.99"


def test_list_filters_by_phase_and_renders_a_table(unmo, three):
    assert unmo("customer", "phase", "beta-shop", "launch").exit_code == 0
    ran = unmo("customer", "list", "--phase", "launch", "--json")
    assert [c["slug"] for c in ran.json()] == ["beta-shop"]
    ran = unmo("customer", "list")
    assert ran.exit_code == 0 and "Gamma Pay" in ran.stdout and "$2,500.00" in ran.stdout
    ran = unmo("customer", "list", "--phase", "orbit")
    assert ran.exit_code == 2 and "'orbit' is not one of discovery, setup, launch" in ran.stderr


def test_list_in_an_empty_workspace_creates_nothing(unmo, workspace: Path, unchanged):
    ran = unmo("customer", "list", "--json")
    assert ran.exit_code == 0 and ran.json() == []
    unchanged()


def test_show_json(unmo, three):
    ran = unmo("customer", "show", "Gamma Pay", "--json")  # the name works as well as the slug
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert set(doc) >= {"customer", "directory", "keys", "onboarding", "feedback", "health"}
    assert doc["customer"]["slug"] == "gamma-pay"
    assert doc["directory"] == "customers/gamma-pay"
    assert {k["hint"][:13] for k in doc["keys"]} == {"unmo_pk_live_", "unmo_pk_test_",
                                                     "unmo_sk_live_", "unmo_sk_test_"}
    assert all(k["status"] == "active" for k in doc["keys"])
    assert doc["onboarding"]["mode"] == "flags" and doc["onboarding"]["steps"]
    ran = unmo("customer", "show", "gamma-pay")
    assert ran.exit_code == 0 and "Gamma Pay (gamma-pay)" in ran.stdout
    assert "unmo_sk_live_…" in ran.stdout and "Onboarding (flags)" in ran.stdout


def test_show_renders_sections_other_areas_fill_in(workspace: Path, unmo, three):
    """The feedback and health areas add their dicts to CustomerDetail; the command shows them."""
    from unmo_cli.commands.customer import _render_detail
    from unmo_cli.services.customers import customer_detail
    from unmo_cli.workspace import load_workspace

    detail = customer_detail(load_workspace(), "alpha-apps")
    detail.feedback = {"satisfaction_pct": 84.0, "nps": 40}
    detail.extra["renewal"] = {"due": "2026-12-01"}
    import io
    import sys

    buffer, sys.stdout = io.StringIO(), io.StringIO()
    try:
        _render_detail(detail)
        shown = sys.stdout.getvalue()
    finally:
        sys.stdout = sys.__stdout__
    assert "satisfaction_pct" in shown and "84.0" in shown and buffer.getvalue() == ""
    assert "Renewal" in shown and "2026-12-01" in shown


@pytest.mark.parametrize("args", [("show", "nobody"), ("phase", "nobody", "launch"),
                                  ("churn", "nobody", "--reason", "x"), ("render", "nobody")])
def test_unknown_customer_is_exit_2(unmo, workspace: Path, unchanged, args):
    ran = unmo("customer", *args)
    assert ran.exit_code == 2
    assert "unknown customer 'nobody'; run unmo customer list to see the slugs." in ran.stderr
    unchanged()


UNKNOWN = "error: unknown customer 'nobody'; run unmo customer list to see the slugs.\n"


@pytest.mark.parametrize("args", [
    ("customer", "show", "nobody"), ("customer", "phase", "nobody", "launch"),
    ("customer", "churn", "nobody", "--reason", "x"), ("customer", "render", "nobody"),
    ("keys", "list", "nobody"), ("keys", "rotate", "nobody"),
    ("feedback", "add", "nobody", "-s", "9"), ("feedback", "list", "nobody"),
])
def test_one_sentence_for_an_unknown_customer_everywhere(unmo, three, args):
    ran = unmo(*args)
    assert (ran.exit_code, ran.stderr) == (2, UNKNOWN)


def test_render_names_every_unknown_customer_at_once(unmo, three, workspace: Path):
    from conftest import snapshot_tree

    before = snapshot_tree(workspace)
    ran = unmo("customer", "render", "alpha-apps", "nobody", "Beta Shop", "ghost")
    assert ran.exit_code == 2
    assert ran.stderr == ("error: unknown customers 'nobody', 'ghost'; run unmo customer list "
                          "to see the slugs.\n")
    assert snapshot_tree(workspace) == before


def test_render_keeps_the_api_url_each_customer_was_given(unmo, workspace: Path, three):
    """The operator's UNMO_API_PUBLIC_URL is for onboarding new customers (and UNMO_API_URL, what
    unmo calls, reaches no customer file); re-rendering keeps the URL recorded in customer.yaml,
    so --check does not depend on the caller's environment."""
    folder = workspace / "customers" / "alpha-apps"
    given = secret_keys(folder)["UNMO_API_URL"]
    elsewhere = {"UNMO_API_URL": "http://127.0.0.1:1/v1",
                 "UNMO_API_PUBLIC_URL": "https://api.unmo.example/v2"}
    assert unmo("customer", "render", "--all", "--check", env=elsewhere).exit_code == 0
    ran = unmo("customer", "render", "--all", env=elsewhere)
    assert ran.exit_code == 0 and "rewrote" not in ran.stderr, ran.stderr
    assert secret_keys(folder)["UNMO_API_URL"] == given
    ran = unmo("onboard", "Delta Games", *flags(), "--yes", env=elsewhere)
    assert ran.exit_code == 0, ran.stderr
    delta = workspace / "customers" / "delta-games"
    assert secret_keys(delta)["UNMO_API_URL"] == "https://api.unmo.example/v2"
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


def test_editing_the_recorded_api_url_moves_a_customer(unmo, workspace: Path, three):
    folder = workspace / "customers" / "beta-shop"
    record = folder / "customer.yaml"
    record.write_text(record.read_text().replace('api_base_url: "https://api.unmogrowp.com/v1"',
                                                 'api_base_url: "https://eu.unmo.example/v1"'))
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 1 and "customers/beta-shop/.env" in ran.stderr
    assert unmo("customer", "render", "beta-shop").exit_code == 0
    assert secret_keys(folder)["UNMO_API_URL"] == "https://eu.unmo.example/v1"
    assert "https://eu.unmo.example/v1" in (folder / "sdk/server/curl-examples.sh").read_text()
    # a record without the URL (an older template, a hand edit): the .env still knows
    record.write_text("\n".join(line for line in record.read_text().splitlines()
                                if not line.startswith("api_base_url")) + "\n")
    ran = unmo("customer", "render", "--all", "--check",
               env={"UNMO_API_PUBLIC_URL": "https://elsewhere.example/v1"})
    assert ran.exit_code == 1 and ran.stderr.count("differ") == 1
    assert "customers/beta-shop/customer.yaml" in ran.stderr and ".env" not in ran.stderr


def test_phase_and_churn(unmo, three):
    ran = unmo("customer", "phase", "alpha-apps", "LAUNCH")
    assert ran.exit_code == 0 and "launch phase" in ran.stderr
    ran = unmo("customer", "churn", "alpha-apps", "--reason", "moved back to AppsFlyer",
               env={"UNMO_NOW": "2027-02-03T04:05:06Z"})
    assert ran.exit_code == 0, ran.stderr
    doc = unmo("customer", "show", "alpha-apps", "--json").json()["customer"]
    assert doc["churned_at"] == "2027-02-03T04:05:06Z"
    assert doc["churn_reason"] == "moved back to AppsFlyer" and doc["phase"] == "launch"
    again = unmo("customer", "churn", "alpha-apps", "--reason", "twice")
    assert again.exit_code == 2 and "already churned" in again.stderr
    assert unmo("customer", "phase", "alpha-apps", "setup").exit_code == 2
    assert unmo("customer", "churn", "beta-shop", "--reason", "  ").exit_code == 2
    assert query("SELECT count(*) FROM customers WHERE churned_at IS NOT NULL") == [(1,)]


def test_render_check_passes_after_onboarding(unmo, three):
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 0, ran.stderr


def test_render_check_detects_drift_after_a_template_override(unmo, workspace: Path, three):
    import shutil

    from unmo_cli.workspace import packaged_templates_dir

    shutil.copytree(packaged_templates_dir(), workspace / "templates")
    readme = workspace / "templates" / "customer" / "README.md.j2"
    readme.write_text(readme.read_text() + "\nSupport hours: 9-17 CET.\n")
    before = {p: p.read_bytes() for p in (workspace / "customers").rglob("*") if p.is_file()}
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 1
    for slug in ("alpha-apps", "beta-shop", "gamma-pay"):
        assert f"customers/{slug}/README.md" in ran.stderr
    assert "3 generated files differ" in ran.stderr
    assert {p: p.read_bytes() for p in before} == before  # --check wrote nothing

    keys_before = secret_keys(workspace / "customers" / "beta-shop")
    ran = unmo("customer", "render", "beta-shop")
    assert ran.exit_code == 0 and "rewrote README.md" in ran.stderr
    assert "Support hours" in (workspace / "customers/beta-shop/README.md").read_text()
    assert secret_keys(workspace / "customers" / "beta-shop") == keys_before  # keys kept
    ran = unmo("customer", "render", "--all", "--check")
    assert ran.exit_code == 1 and "beta-shop" not in ran.stderr
    assert unmo("customer", "render", "--all").exit_code == 0
    assert unmo("customer", "render", "--all", "--check").exit_code == 0


def test_render_brings_back_a_deleted_file_and_keeps_extra_ones(unmo, workspace: Path, three):
    folder = workspace / "customers" / "alpha-apps"
    (folder / "docs" / "integration-checklist.md").unlink()
    (folder / "notes.md").write_text("our own notes")
    ran = unmo("customer", "render", "alpha-apps", "--check")
    assert ran.exit_code == 1 and "docs/integration-checklist.md" in ran.stderr
    assert unmo("customer", "render", "alpha-apps").exit_code == 0
    assert (folder / "docs" / "integration-checklist.md").is_file()
    assert (folder / "notes.md").read_text() == "our own notes"


def test_render_without_env_leaves_secrets_alone_and_says_so(unmo, workspace: Path, three):
    folder = workspace / "customers" / "beta-shop"
    (folder / ".env").unlink()
    ran = unmo("customer", "render", "beta-shop")
    assert ran.exit_code == 0
    assert "keys rotate beta-shop --kind secret" in ran.stderr
    assert not (folder / ".env").exists()


def test_render_needs_slugs_or_all(unmo, three):
    assert unmo("customer", "render").exit_code == 2
    assert unmo("customer", "render", "alpha-apps", "--all").exit_code == 2


def test_a_template_typo_fails_loudly(unmo, workspace: Path, three):
    import shutil

    from unmo_cli.workspace import packaged_templates_dir

    shutil.copytree(packaged_templates_dir(), workspace / "templates")
    page = workspace / "templates" / "customer" / "email" / "welcome.md.j2"
    page.write_text(page.read_text().replace("customer.contact_name", "customer.contact_nmae"))
    ran = unmo("customer", "render", "alpha-apps", "--check")
    assert ran.exit_code == 2
    assert "customer/email/welcome.md.j2" in ran.stderr and "contact_nmae" in ran.stderr
