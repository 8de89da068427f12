"""`unmo feedback add` and `unmo feedback list`, and the feedback part of `customer show`."""

from __future__ import annotations

import pytest
from support_feedback import alert_rows, feedback_rows, onboard

from unmo_cli import apikeys

NOW = "2026-11-23T12:00:00Z"


@pytest.fixture
def techstart(module_workspaces, workspace) -> str:
    """One onboarded customer: onboarded once for the module, a copy for each test."""
    return module_workspaces.copy(_onboard_techstart, workspace)


def _onboard_techstart(unmo) -> str:
    return onboard(unmo, "TechStart Mobile")


def test_add_records_one_response(unmo, techstart):
    ran = unmo("feedback", "add", techstart, "--satisfaction", "9", "--nps", "10", "--category",
               "support", "--comment", "live in 4 hours", "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    feedback = ran.json()["feedback"]
    assert feedback["customer"] == "techstart-mobile"
    assert feedback["received_at"] == "2026-11-23T12:00:00Z"  # UNMO_NOW is "now"
    assert (feedback["satisfaction"], feedback["nps"], feedback["category"]) == (9, 10, "support")
    assert feedback["source"] == "cli"
    assert ran.json()["alerts"] == []
    [row] = feedback_rows()
    assert row[1:7] == (9, 10, "support", "live in 4 hours", "cli", None)


def test_add_by_exact_name_with_offset_time_and_defaults(unmo, techstart):
    ran = unmo("feedback", "add", "TechStart Mobile", "-s", "8", "--received-at",
               "2026-11-20T10:00:00+02:00", "--json")
    assert ran.exit_code == 0, ran.stderr
    feedback = ran.json()["feedback"]
    assert feedback["received_at"] == "2026-11-20T08:00:00Z"  # stored in UTC
    assert feedback["nps"] is None and feedback["category"] == "other"
    assert str(feedback_rows()[0][7]).startswith("2026-11-20 08:00:00")  # naive UTC in the DB


def test_human_output(unmo, techstart):
    ran = unmo("feedback", "add", techstart, "-s", "9", "--nps", "9")
    assert ran.exit_code == 0, ran.stderr
    assert "Recorded feedback #1 for TechStart Mobile: satisfaction 9/10, NPS 9" in ran.stdout


BAD = [
    (["--satisfaction", "0"], "satisfaction 0 is out of range"),
    (["--satisfaction", "11"], "satisfaction 11 is out of range"),
    (["--satisfaction", "great"], "satisfaction 'great' is not a whole number from 1 to 10"),
    (["--satisfaction", "7.5"], "satisfaction '7.5' is not a whole number"),
    (["--satisfaction", ""], "satisfaction is required"),
    (["-s", "8", "--nps", "-1"], "nps -1 is out of range; use a whole number from 0 to 10"),
    (["-s", "8", "--nps", "11"], "nps 11 is out of range"),
    (["-s", "8", "--nps", "ten"], "nps 'ten' is not a whole number"),
    (["-s", "8", "--category", "billing"],
     "category 'billing' is not one of technical, business, support, other"),
    (["-s", "8", "--received-at", "yesterday"], "received_at 'yesterday' is not an ISO 8601"),
    (["-s", "8", "--received-at", "2026-13-01T10:00:00Z"], "received_at '2026-13-01T10:00:00Z'"),
    (["-s", "8", "--id", "x" * 201], "at most 200 are accepted"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_value_exit_2_and_nothing_written(unmo, techstart, unchanged, args, message):
    ran = unmo("feedback", "add", techstart, *args)
    assert ran.exit_code == 2, ran.stdout + ran.stderr
    assert message in ran.stderr
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    unchanged()


def test_every_bad_value_named_at_once(unmo, techstart, unchanged):
    ran = unmo("feedback", "add", techstart, "-s", "12", "--nps", "-3", "--category", "x")
    assert ran.exit_code == 2
    assert "satisfaction 12" in ran.stderr and "nps -3" in ran.stderr
    assert "category 'x'" in ran.stderr
    unchanged()


def test_unknown_customer(unmo, techstart, unchanged):
    ran = unmo("feedback", "add", "nobody-inc", "-s", "3", "--nps", "0")
    assert ran.exit_code == 2
    assert "unknown customer 'nobody-inc'" in ran.stderr
    unchanged()


def test_missing_satisfaction_is_a_usage_error(unmo, techstart, unchanged):
    ran = unmo("feedback", "add", techstart)
    assert ran.exit_code == 2
    unchanged()


def test_external_id_unique_per_customer(unmo, techstart):
    other = onboard(unmo, "Acme Games")
    assert unmo("feedback", "add", techstart, "-s", "9", "--id", "survey-1").exit_code == 0
    assert unmo("feedback", "add", other, "-s", "9", "--id", "survey-1").exit_code == 0
    ran = unmo("feedback", "add", techstart, "-s", "2", "--id", "survey-1")
    assert ran.exit_code == 2
    assert "feedback id 'survey-1' is already recorded for techstart-mobile" in ran.stderr
    assert len(feedback_rows()) == 2 and alert_rows() == []


def test_secret_key_in_a_comment_is_stored_and_sent_as_its_hint(unmo, techstart):
    secret = apikeys.generate("secret", "live")
    ran = unmo("feedback", "add", techstart, "-s", "3", "--comment",
               f"our key {secret} returns 401", "--json")
    assert ran.exit_code == 0, ran.stderr
    assert secret not in ran.stdout
    stored = feedback_rows()[0][4]
    assert secret not in stored and apikeys.hint(secret) in stored
    assert all(secret not in str(row) for row in alert_rows())


def test_list_newest_first_filtered_by_customer_and_since(unmo, techstart):
    other = onboard(unmo, "Acme Games")
    for slug, score, at in [(techstart, "9", "2026-11-01T10:00:00Z"),
                            (other, "8", "2026-11-10T10:00:00Z"),
                            (techstart, "7", "2026-11-20T10:00:00Z")]:
        assert unmo("feedback", "add", slug, "-s", score, "--received-at", at).exit_code == 0
    everything = unmo("feedback", "list", "--json").json()
    assert [f["satisfaction"] for f in everything] == [7, 8, 9]
    mine = unmo("feedback", "list", "TechStart Mobile", "--json").json()
    assert [f["satisfaction"] for f in mine] == [7, 9]
    recent = unmo("feedback", "list", "--since", "2026-11-10", "--json").json()
    assert [f["satisfaction"] for f in recent] == [7, 8]
    instant = unmo("feedback", "list", techstart, "--since", "2026-11-20T11:00:00+02:00",
                   "--json").json()
    assert [f["satisfaction"] for f in instant] == [7]
    table = unmo("feedback", "list")
    assert table.exit_code == 0 and "techstart-mobile" in table.stdout


def test_list_since_uses_the_workspace_timezone(unmo, techstart, workspace):
    (workspace / "unmo.yaml").write_text("timezone: Asia/Tokyo\n")
    assert unmo("feedback", "add", techstart, "-s", "9", "--received-at",
                "2026-11-09T16:00:00Z").exit_code == 0  # 2026-11-10 01:00 in Tokyo
    assert len(unmo("feedback", "list", "--since", "2026-11-10", "--json").json()) == 1
    assert unmo("feedback", "list", "--since", "2026-11-11", "--json").json() == []


def test_list_refuses_bad_since_and_unknown_customer(unmo, techstart):
    ran = unmo("feedback", "list", "--since", "last week")
    assert ran.exit_code == 2 and "--since 'last week' is not a date" in ran.stderr
    ran = unmo("feedback", "list", "nobody")
    assert ran.exit_code == 2 and "unknown customer 'nobody'" in ran.stderr


def test_customer_show_has_30_day_satisfaction_nps_and_latest(unmo, techstart):
    # (received, satisfaction, nps): the first is 31 days before now, outside the window
    for at, score, nps in [("2026-10-23T11:00:00Z", "2", "0"), ("2026-11-01T10:00:00Z", "9", "10"),
                           ("2026-11-10T10:00:00Z", "8", "7"), ("2026-11-20T10:00:00Z", "10", "4")]:
        ran = unmo("feedback", "add", techstart, "-s", score, "--nps", nps, "--received-at", at,
                   "--comment", f"at {at}")
        assert ran.exit_code == 0, ran.stderr
    shown = unmo("customer", "show", techstart, "--json", env={"UNMO_NOW": NOW})
    assert shown.exit_code == 0, shown.stderr
    feedback = shown.json()["feedback"]
    assert feedback["responses"] == 3
    assert feedback["satisfaction_pct"] == 90.0  # (9 + 8 + 10) / 3 × 10
    assert feedback["nps"] == 0  # 1 promoter, 1 passive, 1 detractor of 3
    assert (feedback["promoters"], feedback["passives"], feedback["detractors"]) == (1, 1, 1)
    assert feedback["latest_received_at"] == "2026-11-20T10:00:00Z"
    assert feedback["latest_satisfaction"] == 10
    assert feedback["latest_comment"] == "at 2026-11-20T10:00:00Z"


def test_customer_show_without_feedback(unmo, techstart):
    feedback = unmo("customer", "show", techstart, "--json").json()["feedback"]
    assert feedback["responses"] == 0
    assert feedback["satisfaction_pct"] is None and feedback["nps"] is None
    assert feedback["latest_received_at"] is None


def test_customer_list_json_has_lifecycle_fields(unmo, techstart):
    [customer] = unmo("customer", "list", "--json").json()
    assert {"phase", "churned_at", "churn_reason"} <= customer.keys()


def test_a_fresh_workspace_stays_empty(unmo, workspace, tmp_path, unchanged):
    """Reading, or refusing, creates no database: there is nothing to write yet."""
    export = tmp_path / "first.csv"
    export.write_text("customer,satisfaction\nacme,9\n")
    assert unmo("feedback", "add", "acme", "-s", "3").exit_code == 2
    assert unmo("feedback", "import", str(export)).exit_code == 2
    assert unmo("feedback", "import", str(export), "--skip-invalid").exit_code == 0
    assert unmo("feedback", "list", "--json").stdout.strip() == "[]"
    assert unmo("alerts", "list", "--json").stdout.strip() == "[]"
    assert unmo("alerts", "ack", "1").exit_code == 2
    assert unmo("alerts", "notify").exit_code == 0
    unchanged()
    assert not (workspace / ".unmo").exists()
