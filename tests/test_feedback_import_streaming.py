"""`feedback import` streams CSV and JSON Lines (read line by line, written in batches) and is
still all or nothing: a bad row at the very end of a large file, a file cut off at its end, or a
failure after several batches were written leaves the database as it was. The streamed records
are the records of the file read whole, line numbers included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support_feedback import feedback_rows, onboard

from unmo_cli.services.feedback_files import (
    iter_csv,
    iter_json_lines,
    line_pieces,
    read_csv,
    read_json_lines,
    read_text,
    scan_text,
)
from unmo_cli.services.feedback_import import WRITE_BATCH

HEADER = "customer,satisfaction,nps,category,comment,received_at,id"
ROWS = 20_000
assert ROWS > 2 * WRITE_BATCH, "the file must span several write batches"


@pytest.fixture
def customer(unmo) -> str:
    return onboard(unmo, "TechStart Mobile")


def _csv_lines(count: int) -> list[str]:
    return [f"techstart-mobile,{1 + n % 10},{n % 11},support,row {n},"
            f"2026-11-{1 + n % 28:02d}T10:00:00Z,r{n}" for n in range(count)]


def _jsonl_lines(count: int) -> list[str]:
    return [json.dumps({"customer": "techstart-mobile", "satisfaction": 1 + n % 10,
                        "nps": n % 11, "id": f"r{n}"}) for n in range(count)]


@pytest.mark.parametrize("last", ["techstart-mobile,11,,,,,bad", "nobody,5,,,,,bad"])
def test_a_bad_last_row_of_a_large_csv_writes_nothing(unmo, customer, tmp_path, unchanged,
                                                      last):
    path = tmp_path / "big.csv"
    path.write_text("\n".join([HEADER, *_csv_lines(ROWS), last]) + "\n", encoding="utf-8")
    ran = unmo("feedback", "import", str(path), "--json")
    assert ran.exit_code == 2, ran.stderr
    assert [row["line"] for row in ran.json()["invalid"]] == [ROWS + 2]
    assert ran.json()["rows"] == ROWS + 1 and ran.json()["imported"] == 0
    unchanged()


def test_a_bad_last_line_of_a_large_jsonl_writes_nothing(unmo, customer, tmp_path, unchanged):
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join([*_jsonl_lines(ROWS), '{"customer": "techstart-mobile"']) + "\n",
                    encoding="utf-8")
    ran = unmo("feedback", "import", str(path), "--json")
    assert ran.exit_code == 2, ran.stderr
    assert [row["line"] for row in ran.json()["invalid"]] == [ROWS + 1]
    unchanged()


def test_a_large_csv_cut_off_at_its_end_writes_nothing(unmo, customer, tmp_path, unchanged):
    path = tmp_path / "cut.csv"
    path.write_text("\n".join([HEADER, *_csv_lines(ROWS), 'techstart-mobile,5,,,"never closed'])
                    + "\n", encoding="utf-8")
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2
    assert ran.stderr == (f"error: cut.csv: line {ROWS + 2}: not valid CSV (unexpected end of "
                          "data); is the file truncated?\n")
    unchanged()


def test_not_utf8_at_the_end_is_refused_before_any_row(unmo, customer, tmp_path, unchanged):
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join([HEADER, *_csv_lines(ROWS)]) + "\n").encode()
                     + "techstart-mobile,5,,,caf\u00e9,,x\n".encode("latin-1"))
    ran = unmo("feedback", "import", str(path))
    assert ran.exit_code == 2
    assert ran.stderr == (f"error: latin1.csv: line {ROWS + 2} is not UTF-8 text (byte 0xE9); "
                          "save the file as UTF-8.\n")
    unchanged()


def test_a_failure_after_several_batches_writes_nothing(unmo, customer, tmp_path, unchanged):
    """The batches go into one transaction: a failure once all are written (before the commit)
    rolls every one of them back."""
    path = tmp_path / "big.csv"
    path.write_text("\n".join([HEADER, *_csv_lines(ROWS)]) + "\n", encoding="utf-8")
    ran = unmo("feedback", "import", str(path), env={"UNMO_TEST_FAIL_AT": "import-insert"})
    assert ran.exit_code == 3, ran.stderr
    unchanged()
    done = unmo("feedback", "import", str(path), "--json", "--no-alerts")
    assert done.exit_code == 0, done.stderr
    assert done.json()["imported"] == ROWS and len(feedback_rows()) == ROWS
    again = unmo("feedback", "import", str(path), "--json", "--no-alerts")
    assert again.json()["duplicates"] == ROWS and len(feedback_rows()) == ROWS


TRICKY = ("\ufeffcustomer,satisfaction,comment,id\r\n"
          'acme,5,"two\r\nlines",a\r\n'
          "acme,6,line\u2028separator,b\n"
          "\n"
          'acme,7,"quoted ""x""\rcr",c\n'
          "acme,8,last,d")


@pytest.mark.parametrize("text", [TRICKY, TRICKY + "\n", "customer,satisfaction\n\n\n"])
def test_streamed_records_are_the_records_of_the_whole_file(tmp_path: Path, text: str):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode("utf-8"))
    assert scan_text(path) == text.count("\n") + 1
    whole = read_text(path)
    assert list(iter_csv("f.csv", line_pieces(path, keepends=True))) == read_csv("f.csv", whole)
    assert list(iter_json_lines("f.csv", line_pieces(path, keepends=False))) == \
        read_json_lines("f.csv", whole)
