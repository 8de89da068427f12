"""`unmo customer set|churn|reactivate`: an account's record changes with its effective dates,
kept in the MRR ledger and the field history, on the real CLI and database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import query
from support_onboarding import onboard

ONBOARDED = "2026-10-01T09:00:00Z"


@pytest.fixture
def acme(module_workspaces, workspace: Path) -> str:
    """Acme Games, onboarded on 2026-10-01 at $2,500 a month: once for the module, a copy for
    each test."""
    return module_workspaces.copy(_onboard_acme, workspace)


def _onboard_acme(unmo) -> str:
    ran = unmo("onboard", "Acme Games", "--contact-name", "Ann Lee", "--contact-email",
               "ann@acme.example", "--industry", "gaming", "--integration", "s2s",
               "--events-per-day", "1000", "--provider", "adjust", "--mrr", "2500", "--yes",
               env={"UNMO_NOW": ONBOARDED})
    assert ran.exit_code == 0, ran.stderr
    return "acme-games"


def ledger() -> list[tuple]:
    return query("SELECT kind, mrr_cents, effective_at FROM mrr_changes ORDER BY effective_at, id")


def test_onboarding_starts_the_ledger(unmo, workspace):
    doc = onboard(unmo)
    assert doc["customer"]["tier"] == "standard" and doc["customer"]["renewal_date"] is None
    rows = ledger()
    assert [(kind, cents) for kind, cents, _ in rows] == [("start", 250000)]


def test_set_mrr_keeps_each_change_with_its_effective_date(unmo, acme):
    ran = unmo("customer", "set", acme, "--mrr", "3000", "--effective", "2026-11-02",
               "--json", env={"UNMO_NOW": "2026-11-20T12:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["changes"] == [{"field": "mrr", "old": "2500.00", "new": "3000.00",
                               "kind": "expansion", "effective_at": "2026-11-02T00:00:00Z"}]
    assert doc["customer"]["mrr"] == "3000.00"
    # A correction effective earlier, between the start and the expansion: a contraction
    # against what was in effect then; today's MRR stays the later change's.
    ran = unmo("customer", "set", acme, "--mrr", "2000", "--effective", "2026-10-15",
               "--json", env={"UNMO_NOW": "2026-11-21T12:00:00Z"})
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["changes"][0]["kind"] == "contraction"
    assert ran.json()["customer"]["mrr"] == "3000.00"
    assert [(k, c) for k, c, _ in ledger()] == [("start", 250000), ("change", 200000),
                                               ("change", 300000)]


def test_set_record_fields_and_their_history(unmo, acme, workspace):
    ran = unmo("customer", "set", acme, "--contact-name", "Bo Chen", "--contact-email",
               "BO@Acme.Example", "--success-manager", "sam@unmo.example", "--renewal-date",
               "2027-09-30", "--tier", "Enterprise", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert [c["field"] for c in doc["changes"]] == ["contact_name", "contact_email",
                                                    "success_manager", "renewal_date", "tier"]
    customer = doc["customer"]
    assert (customer["contact_email"], customer["tier"], customer["renewal_date"]) == (
        "BO@acme.example", "enterprise", "2027-09-30")
    assert query("SELECT field, old_value, new_value FROM customer_changes WHERE "
                 "field = 'contact_name'") == [("contact_name", "Ann Lee", "Bo Chen")]
    # The folder follows the record: customer.yaml names the new contact, and no drift.
    recorded = yaml.safe_load((workspace / "customers" / acme / "customer.yaml").read_text())
    assert "Bo Chen" in str(recorded)
    assert unmo("customer", "render", "--all", "--check").exit_code == 0
    # Clearing
    ran = unmo("customer", "set", acme, "--success-manager", "none", "--renewal-date", "none",
               "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["customer"]["success_manager"] is None
    assert ran.json()["customer"]["renewal_date"] is None


def test_the_same_value_is_no_change(unmo, acme, unchanged):
    ran = unmo("customer", "set", acme, "--mrr", "2,500.00", "--tier", "standard")
    assert ran.exit_code == 0, ran.stderr
    assert "nothing changed" in ran.stderr
    unchanged()


@pytest.mark.parametrize(("args", "problem"), [
    ((), "nothing to change"),
    (("--mrr", "-5"), "--mrr"),
    (("--mrr", "12.345"), "fractions of a cent"),
    (("--mrr", "100", "--effective", "2026-09-30"), "before acme-games existed"),
    (("--mrr", "100", "--effective", "2099-01-01"), "in the future"),
    (("--mrr", "100", "--effective", "yesterday"), "not a date"),
    (("--contact-email", "not-an-address"), "not an e-mail address"),
    (("--renewal-date", "2027-02-30"), "not a date"),
    (("--tier", "Gold Plus!"), "not a tier name"),
])
def test_bad_input_is_exit_2_and_writes_nothing(unmo, acme, unchanged, args, problem):
    ran = unmo("customer", "set", acme, *args)
    assert ran.exit_code == 2, ran.stderr
    assert problem in ran.stderr and ran.stderr.startswith("error: ")
    assert ran.stderr.count("\n") == 1
    unchanged()


def test_unknown_customer_is_exit_2(unmo, acme, unchanged):
    ran = unmo("customer", "set", "nobody", "--mrr", "1")
    assert ran.exit_code == 2 and "unknown customer 'nobody'" in ran.stderr
    ran = unmo("customer", "reactivate", "nobody")
    assert ran.exit_code == 2
    unchanged()


def test_churn_and_reactivation_enter_the_ledger(unmo, acme):
    ran = unmo("customer", "churn", acme, "--reason", "budget", "--effective", "2026-11-03")
    assert ran.exit_code == 0, ran.stderr
    # Churned: no MRR change while churned, no second churn, no reactivation before it.
    ran = unmo("customer", "set", acme, "--mrr", "9")
    assert ran.exit_code == 2 and "reactivate" in ran.stderr
    assert unmo("customer", "churn", acme, "--reason", "again").exit_code == 2
    ran = unmo("customer", "reactivate", acme, "--effective", "2026-11-02")
    assert ran.exit_code == 2 and "after it" in ran.stderr
    # A change before the churn is still allowed (a correction of history).
    ran = unmo("customer", "set", acme, "--mrr", "2600", "--effective", "2026-10-20")
    assert ran.exit_code == 0, ran.stderr
    ran = unmo("customer", "reactivate", acme, "--effective", "2026-11-10", "--json")
    assert ran.exit_code == 0, ran.stderr
    doc = ran.json()
    assert doc["customer"]["churned_at"] is None and doc["customer"]["mrr"] == "2600.00"
    assert doc["changes"][0]["kind"] == "reactivation"
    assert [(k, c) for k, c, _ in ledger()] == [("start", 250000), ("change", 260000),
                                               ("churn", 0), ("reactivation", 260000)]
    assert query("SELECT reason FROM mrr_changes WHERE kind = 'churn'") == [("budget",)]
    # Reactivating an active customer is exit 2.
    assert unmo("customer", "reactivate", acme).exit_code == 2
    ran = unmo("customer", "reactivate", acme, "--mrr", "10")
    assert ran.exit_code == 2 and "active" in ran.stderr


def test_reactivate_with_a_new_price(unmo, acme):
    assert unmo("customer", "churn", acme, "--reason", "budget").exit_code == 0
    ran = unmo("customer", "reactivate", acme, "--mrr", "1800", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert ran.json()["customer"]["mrr"] == "1800.00"
    assert unmo("customer", "render", "--all", "--check").exit_code == 0
