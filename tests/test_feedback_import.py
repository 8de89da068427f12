"""`unmo feedback import`: CSV, JSON and JSON Lines; whole-file validation with line numbers,
--skip-invalid, idempotent re-imports, malformed files refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support_feedback import (
    alert_rows,
    feedback_rows,
    onboard,
    webhook_receiver,
    write_csv,
    write_json,
    write_jsonl,
)

HEADER = "customer,satisfaction,nps,category,comment,received_at,id"


@pytest.fixture
def customers(module_workspaces, workspace) -> list[str]:
    """Two onboarded customers: onboarded once for the module, a copy for each test."""
    return module_workspaces.copy(_onboard_two, workspace)


def _onboard_two(unmo) -> list[str]:
    return [onboard(unmo, "TechStart Mobile"), onboard(unmo, "Acme Games")]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """Where the survey exports are written: outside the workspace, so `unchanged` sees only
    what the command did."""
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def imported(unmo, path: Path, *args: str, env: dict | None = None):
    ran = unmo("feedback", "import", str(path), *args, "--json", env=env)
    assert ran.exit_code == 0, ran.stderr
    return ran.json()


def test_csv_import(unmo, customers, inbox):
    path = inbox / "survey.csv"
    write_csv(path, HEADER,
              "techstart-mobile,9,10,support,live in 4 hours,2026-11-20T10:00:00Z,r1",
              "Acme Games,8,,technical,,2026-11-21T10:00:00+01:00,r2",
              "acme-games,10,9,,,,")
    result = imported(unmo, path, env={"UNMO_NOW": "2026-11-23T12:00:00Z"})
    assert result == {"file": "survey.csv", "format": "csv", "rows": 3, "imported": 3,
                      "duplicates": 0, "invalid": [], "alerts": 0, "delivery": None}
    rows = feedback_rows()
    assert [r[1:7] for r in rows] == [
        (9, 10, "support", "live in 4 hours", "import", "r1"),
        (8, None, "technical", None, "import", "r2"),
        (10, 9, "other", None, "import", None),
    ]
    assert str(rows[1][7]).startswith("2026-11-21 09:00:00")  # the offset applied, stored UTC
    assert str(rows[2][7]).startswith("2026-11-23 12:00:00")  # no received_at: now


def test_header_in_any_order_and_case_with_bom(unmo, customers, inbox):
    path = inbox / "survey.csv"
    path.write_bytes("\ufeffID, Satisfaction ,CUSTOMER\r\nx1,7,techstart-mobile\r\n".encode())
    assert imported(unmo, path)["imported"] == 1


def test_mixed_rows_report_exact_lines_and_write_nothing(unmo, customers, inbox, unchanged):
    path = inbox / "survey.csv"
    write_csv(path, HEADER,                                                    # line 1
              "techstart-mobile,9,10,support,great,2026-11-20T10:00:00Z,a1",   # 2 good
              "techstart-mobile,11,,,,2026-11-20T10:00:00Z,a2",                # 3 bad
              'Acme Games,8,,,"two',                                           # 4 good,
              'lines",2026-11-21T10:00:00Z,a3',                                # 5 (same record)
              "nobody,5,,,,,a4",                                               # 6 bad
              "",                                                              # 7 blank
              "acme-games,7,12,billing,,not-a-date,a5",                        # 8 bad ×3
              "acme-games,7,3",                                                # 9 bad width
              "acme-games,,5,other,,,a6")                                      # 10 bad
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2
    lines = ran.stderr.splitlines()
    assert lines[:-1] == [
        "survey.csv:3: satisfaction 11 is out of range; use a whole number from 1 to 10",
        "survey.csv:6: unknown customer 'nobody'",
        "survey.csv:8: nps 12 is out of range; use a whole number from 0 to 10; category "
        "'billing' is not one of technical, business, support, other; received_at 'not-a-date' "
        "is not an ISO 8601 date or time (e.g. 2026-11-23T10:00:00+01:00)",
        "survey.csv:9: the record has 3 fields, the header has 7",
        "survey.csv:10: satisfaction is required (a whole number from 1 to 10)",
    ]
    assert lines[-1] == ("error: survey.csv has 5 invalid rows (first at line 3); nothing was "
                         "imported. Fix them, or pass --skip-invalid to import the 2 valid rows.")
    unchanged()

    refused = unmo("feedback", "import", str(path), "--json")
    assert refused.exit_code == 2
    assert [i["line"] for i in refused.json()["invalid"]] == [3, 6, 8, 9, 10]
    assert refused.json()["imported"] == 0
    unchanged()

    skipped = unmo("feedback", "import", str(path), "--skip-invalid", "--json")
    assert skipped.exit_code == 0, skipped.stderr
    result = skipped.json()
    # A refusal reads like a success that imported nothing: the same keys, the same file facts.
    assert list(refused.json()) == list(result)
    assert refused.json() == {**result, "imported": 0, "duplicates": 0, "alerts": 0,
                              "delivery": None}
    assert result["imported"] == 2 and result["rows"] == 7
    assert [i["line"] for i in result["invalid"]] == [3, 6, 8, 9, 10]
    assert "survey.csv:6: unknown customer 'nobody'" in skipped.stderr
    assert "skipped 5 invalid rows" in skipped.stderr
    assert [r[4] for r in feedback_rows()] == ["great", "two\nlines"]


def test_reimport_is_idempotent(unmo, customers, inbox):
    path = inbox / "survey.csv"
    write_csv(path, HEADER, "techstart-mobile,4,2,,slow,2026-11-20T10:00:00Z,r1",
              "acme-games,9,9,,,2026-11-20T11:00:00Z,r2")
    first = imported(unmo, path)
    assert (first["imported"], first["duplicates"], first["alerts"]) == (2, 0, 2)
    rows, alerts = feedback_rows(), alert_rows()
    again = imported(unmo, path)
    assert (again["imported"], again["duplicates"], again["alerts"]) == (0, 2, 0)
    assert feedback_rows() == rows and alert_rows() == alerts
    # one new row among the old: only it is added
    write_csv(path, HEADER, "techstart-mobile,4,2,,slow,2026-11-20T10:00:00Z,r1",
              "acme-games,9,9,,,2026-11-20T11:00:00Z,r2",
              "acme-games,8,8,,,2026-11-21T11:00:00Z,r3")
    third = imported(unmo, path)
    assert (third["imported"], third["duplicates"]) == (1, 2)
    assert len(feedback_rows()) == 3


def test_duplicate_ids_inside_the_file_and_per_customer(unmo, customers, inbox):
    path = inbox / "survey.jsonl"
    write_jsonl(path, [
        {"customer": "techstart-mobile", "satisfaction": 9, "id": "s-1"},
        {"customer": "TechStart Mobile", "satisfaction": 9, "id": "s-1"},  # the same row: dup
        {"customer": "acme-games", "satisfaction": 8, "id": "s-1"},        # other customer: new
        {"customer": "acme-games", "satisfaction": 8, "id": 17},           # numbers are ids too
        {"customer": "acme-games", "satisfaction": 8, "id": "17"},
    ])
    result = imported(unmo, path)
    assert (result["imported"], result["duplicates"]) == (3, 2)
    assert sorted(r[6] for r in feedback_rows()) == ["17", "s-1", "s-1"]


def test_one_id_with_different_values_in_one_file_names_both_lines(unmo, customers, inbox,
                                                                    unchanged):
    """Two responses under one id: one of the two lines is wrong and unmo cannot tell which, so
    the import is refused (not the second silently dropped), naming both lines."""
    path = inbox / "survey.csv"
    write_csv(path, HEADER,
              "techstart-mobile,9,10,support,great,2026-11-20T10:00:00Z,s-1",
              "acme-games,8,,,,,s-1",  # another customer's s-1: fine
              "techstart-mobile,9,10,support,great,2026-11-20T10:00:00Z,s-1",  # identical: a dup
              "TechStart Mobile,3,10,support,great,2026-11-20T10:00:00Z,s-1")  # different
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2, ran.stderr
    assert "survey.csv:5: id 's-1' is also on line 2 for techstart-mobile with different " \
        "values" in ran.stderr
    assert ran.stderr.splitlines()[-1].startswith("error: survey.csv has 1 invalid row")
    unchanged()
    result = imported(unmo, path, "--skip-invalid")
    assert (result["imported"], result["duplicates"]) == (2, 1)
    assert [row["line"] for row in result["invalid"]] == [5]


def test_a_comment_longer_than_the_limit_is_refused(unmo, customers, inbox, unchanged):
    path = inbox / "survey.jsonl"
    write_jsonl(path, [{"customer": "acme-games", "satisfaction": 8, "comment": "x" * 10_000},
                       {"customer": "acme-games", "satisfaction": 8, "comment": "y" * 10_001}])
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2
    assert "survey.jsonl:2: comment is 10,001 characters long; at most 10,000 are accepted" \
        in ran.stderr
    unchanged()
    ran = unmo("feedback", "add", "acme-games", "-s", "8", "--comment", "z" * 10_001)
    assert ran.exit_code == 2 and "at most 10,000" in ran.stderr
    unchanged()
    assert imported(unmo, path, "--skip-invalid")["imported"] == 1


def test_rows_without_id_are_added_again_on_reimport(unmo, customers, inbox):
    path = inbox / "survey.csv"
    write_csv(path, "customer,satisfaction", "techstart-mobile,9")
    imported(unmo, path)
    imported(unmo, path)
    assert len(feedback_rows()) == 2


def test_json_list_reports_the_line_each_object_starts_on(unmo, customers, inbox,
                                                          unchanged):
    path = inbox / "survey.json"
    write_json(path, [
        {"customer": "techstart-mobile", "satisfaction": 9, "nps": 10, "id": "j1"},  # line 2
        {"customer": "techstart-mobile", "satisfaction": 0, "id": "j2"},              # line 8
        {"customer": "acme-games", "satisfaction": "8", "nps": None, "id": "j3"},    # line 13
        "not an object",                                                              # line 19
        {"customer": "acme-games", "satisfaction": True, "score": 3},                 # line 20
    ])
    ran = unmo("feedback", "import", str(path), "--json")
    assert ran.exit_code == 2
    assert ran.json()["invalid"] == [
        {"line": 8, "error": "satisfaction 0 is out of range; use a whole number from 1 to 10"},
        {"line": 19, "error": "the record is a JSON string, not an object"},
        {"line": 20, "error": "unknown field 'score' (the fields are customer, satisfaction, "
                              "nps, category, comment, received_at, id); satisfaction True is "
                              "not a whole number from 1 to 10"},
    ]
    unchanged()
    result = imported(unmo, path, "--skip-invalid")
    assert (result["imported"], result["format"]) == (2, "json")


def test_jsonl_lines_and_format_option(unmo, customers, inbox):
    path = inbox / "export.txt"
    path.write_text('{"customer": "techstart-mobile", "satisfaction": 9}\n'
                    "\n"
                    '{"customer": "techstart-mobile", "satisfaction": "x"}\n'
                    '{"customer": "acme-games", "satisfaction": 7, "category": "Business"}\n'
                    '{"customer": "acme-games", "satis\n')
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2 and "cannot tell the format from the extension '.txt'" in ran.stderr
    ran = unmo("feedback", "import", str(path), "--format", "jsonl", "--json")
    assert ran.exit_code == 2
    assert [(i["line"], i["error"][:25]) for i in ran.json()["invalid"]] == [
        (3, "satisfaction 'x' is not a"), (5, "the record is not valid J")]
    result = imported(unmo, path, "--format", "jsonl", "--skip-invalid")
    assert result["imported"] == 2
    assert sorted(r[3] for r in feedback_rows()) == ["business", "other"]


def test_customer_matched_by_slug_or_name_in_one_lookup(unmo, customers, inbox):
    path = inbox / "s.csv"
    write_csv(path, "customer,satisfaction", "techstart-mobile,9", "TechStart Mobile,9",
              "techstart mobile,9", "Acme Games,9", "acme,9")
    ran = unmo("feedback", "import", str(path), "--json")
    assert [(i["line"], i["error"]) for i in ran.json()["invalid"]] == [
        (6, "unknown customer 'acme'")]


MALFORMED = [
    ("wrong.csv", b"name,score\nTechStart,9\n",
     "wrong.csv: line 1: unknown columns 'name', 'score'; the columns are customer, "
     "satisfaction, nps, category, comment, received_at, id."),
    ("missing.csv", b"customer,nps\ntechstart-mobile,9\n",
     "missing.csv: line 1: missing required column satisfaction"),
    ("twice.csv", b"customer,satisfaction,customer\n", "column customer appears more than once"),
    ("cut.csv", b'customer,satisfaction,comment\ntechstart-mobile,9,"it was', "cut.csv: line 2: "
     "not valid CSV (unexpected end of data); is the file truncated?"),
    ("latin1.csv", "customer,satisfaction,comment\ntechstart-mobile,9,très bien\n".encode(
        "latin-1"), "latin1.csv: line 2 is not UTF-8 text (byte 0xE8); save the file as UTF-8."),
    ("empty.csv", b"", "empty.csv is empty"),
    ("blank.jsonl", b"\n  \n", "blank.jsonl is empty"),
    ("cut.json", b'[\n  {"customer": "techstart-mobile", "satisfaction": 9},\n  {"customer": "a',
     "cut.json: line 3: the JSON ends before the list is closed; is the file truncated?"),
    ("open.json", b'[{"customer": "techstart-mobile", "satisfaction": 9}',
     "the JSON ends before the list is closed"),
    ("object.json", b'{"customer": "techstart-mobile", "satisfaction": 9}',
     "object.json: line 1: expected a JSON list of objects"),
    ("broken.json", b'[\n {"customer": "x" "satisfaction": 9}\n]',
     "broken.json: line 2 column 19: not valid JSON (Expecting ',' delimiter)."),
    ("extra.json", b'[]\n[]', "extra.json: line 2 column 1: not valid JSON (extra data after"),
]


@pytest.mark.parametrize("name,content,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_exit_2_naming_file_and_problem(unmo, customers, inbox, unchanged,
                                                       name, content, message):
    path = inbox / name
    path.write_bytes(content)
    for extra in ([], ["--skip-invalid"]):
        ran = unmo("feedback", "import", str(path), *extra)
        assert ran.exit_code == 2, ran.stderr
        assert message in ran.stderr
        assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    unchanged()


def test_missing_file_and_bad_format_option(unmo, customers, inbox, unchanged):
    ran = unmo("feedback", "import", str(inbox / "nope.csv"))
    assert ran.exit_code == 2 and "nope.csv: no such file" in ran.stderr
    (inbox / "a.csv").write_text("customer,satisfaction\n")
    ran = unmo("feedback", "import", str(inbox / "a.csv"), "--format", "xml")
    assert ran.exit_code == 2 and "--format 'xml' is not one of csv, json, jsonl" in ran.stderr
    unchanged()


def test_header_only_and_empty_list_import_nothing(unmo, customers, inbox):
    write_csv(inbox / "none.csv", HEADER)
    assert imported(unmo, inbox / "none.csv")["imported"] == 0
    (inbox / "none.json").write_text("[ ]")
    assert imported(unmo, inbox / "none.json")["imported"] == 0


def test_import_raises_alerts_and_delivers_them(unmo, customers, inbox):
    path = inbox / "survey.csv"
    write_csv(path, HEADER,
              "techstart-mobile,5,8,support,slow <!channel> & co,2026-11-20T10:00:00Z,r1",
              "techstart-mobile,9,3,,,2026-11-20T11:00:00Z,r2",
              "acme-games,9,9,,,2026-11-20T11:00:00Z,r3")
    with webhook_receiver() as hook:
        result = imported(unmo, path, env={"UNMO_ALERT_WEBHOOK": hook.url})
        assert result["alerts"] == 2
        assert result["delivery"] == {"webhook": True, "delivered": 2, "failed": 0,
                                      "pending": 0, "in_flight": 0, "error": None}
        assert sorted(hook.rules()) == ["detractor", "low_satisfaction"]
        low = next(t for t in hook.texts if "low_satisfaction" in t)
        assert "TechStart Mobile" in low and "5/10" in low
        assert "slow &lt;!channel&gt; &amp; co" in low  # Slack-escaped: no channel ping
    alerts = alert_rows()
    feedback_ids = {r[6]: n + 1 for n, r in enumerate(feedback_rows())}
    assert {(a[1], a[7]) for a in alerts} == {("low_satisfaction", feedback_ids["r1"]),
                                             ("detractor", feedback_ids["r2"])}
    assert all(a[3] is not None for a in alerts)  # notified


def test_no_alerts_option_for_backfills(unmo, customers, inbox):
    path = inbox / "old.csv"
    write_csv(path, HEADER, "techstart-mobile,2,0,,,2025-01-20T10:00:00Z,old-1")
    result = imported(unmo, path, "--no-alerts")
    assert (result["imported"], result["alerts"]) == (1, 0)
    assert alert_rows() == []


def test_import_many_rows_in_one_go(unmo, customers, inbox):
    """Enough rows to cross the insert and lookup chunk sizes; re-import finds every id."""
    path = inbox / "big.csv"
    lines = [f"{'techstart-mobile' if n % 3 else 'Acme Games'},{n % 10 + 1},{n % 11},,,"
             f"2026-11-{n % 28 + 1:02d}T10:00:00Z,big-{n}" for n in range(12_345)]
    write_csv(path, HEADER, *lines)
    first = imported(unmo, path, "--no-alerts")
    assert first["imported"] == 12_345
    again = imported(unmo, path)
    assert (again["imported"], again["duplicates"], again["alerts"]) == (0, 12_345, 0)
    from tests.conftest import query

    assert query("SELECT count(*), sum(satisfaction) FROM feedback") == [
        (12_345, sum(n % 10 + 1 for n in range(12_345)))]


def test_json_output_is_one_document(unmo, customers, inbox):
    path = inbox / "s.json"
    write_json(path, [{"customer": "techstart-mobile", "satisfaction": 9}])
    ran = unmo("feedback", "import", str(path), "--json")
    assert json.loads(ran.stdout)["imported"] == 1
