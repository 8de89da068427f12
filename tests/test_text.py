"""unmo_cli/text.py: the one rule for storable text, against a reference written with
unicodedata, and its use by every place that stores free text."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from conftest import snapshot_tables, snapshot_tree
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support_onboarding import flags, onboard

from unmo_cli.text import one_line, text_problem

BREAKS = {"\n", "\r", "\u2028", "\u2029"}
# Unicode's bidirectional formatting characters (UAX #9): embeddings, overrides, isolates and
# the implicit marks, named by their Bidi_Class.
BIDI_CLASSES = {"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"}
BIDI_MARKS = {"\u200e", "\u200f", "\u061c"}  # LRM, RLM, ALM


def refused(char: str, *, allow_newlines: bool) -> bool:
    """The reference: control characters but tab (and, with allow_newlines, LF and CR), lone
    surrogates, noncharacters, and, without allow_newlines, every line break."""
    code = ord(char)
    if char in BREAKS:
        return not allow_newlines
    if char == "\t":
        return False
    if unicodedata.bidirectional(char) in BIDI_CLASSES or char in BIDI_MARKS:
        return True
    if unicodedata.category(char) in ("Cc", "Cs"):
        return True
    return 0xFDD0 <= code <= 0xFDEF or code % 0x10000 in (0xFFFE, 0xFFFF)


# Any code point, lone surrogates included, weighted towards the interesting ones.
texts = st.text(st.one_of(st.characters(exclude_categories=()),
                          st.sampled_from(["\t", "\n", "\r", "\x1b", "\x00", "\x7f", "\x85",
                                           "\x9b", "\u2028", "\ufffe", "\U0010ffff", "\ud800",
                                           "é", "💻", "\u200d", "\u202e", "\ue000", "\u2066",
                                           "\u200f", "\u061c", "\u202a"])),
                max_size=40)


@settings(max_examples=50, deadline=None)
@given(text=texts, allow_newlines=st.booleans())
@example(text="tab\there", allow_newlines=False)
@example(text="two\nlines", allow_newlines=True)
@example(text="\U0001fffe", allow_newlines=True)
@example(text="Acme\u202etxt.exe", allow_newlines=True)
@example(text="a\u2069", allow_newlines=False)
def test_text_problem_matches_the_reference(text: str, allow_newlines: bool):
    bad = [i for i, c in enumerate(text) if refused(c, allow_newlines=allow_newlines)]
    problem = text_problem(text, allow_newlines=allow_newlines)
    if not bad:
        assert problem is None
        return
    assert problem is not None and problem.endswith(f" at position {bad[0] + 1}")
    code = ord(text[bad[0]])
    assert (f"U+{code:04X}" in problem) != (0xD800 <= code <= 0xDFFF)  # surrogates: no number
    # the words read after "contains", name no raw character and stay on one line
    assert problem.isprintable() and problem.isascii()


@settings(max_examples=50, deadline=None)
@given(texts)
def test_one_line_is_stricter_than_several(text: str):
    if text_problem(text, allow_newlines=True):
        assert text_problem(text)
    cleaned = "".join(c for c in text if not refused(c, allow_newlines=False))
    assert text_problem(cleaned) is None and text_problem(cleaned, allow_newlines=True) is None


@settings(max_examples=50, deadline=None)
@given(texts)
@example("server \x1b[2J said\r\n\x07no")
def test_one_line_keeps_everything_storable(text: str):
    shown = one_line(text)
    assert text_problem(shown) is None
    assert shown.replace(" ", "") == "".join(
        c for c in text if not refused(c, allow_newlines=False)).replace(" ", "")
    assert one_line(shown) == shown
    if text_problem(text) is None:
        assert shown == text


@pytest.mark.parametrize("text,words", [
    ("a\x1bb", "a control character (U+001B) at position 2"),
    ("\udcff", "bytes that are not UTF-8 at position 1"),
    ("x\u2028", "a line break (U+2028) at position 2"),
    ("ok\ufffe", "a noncharacter (U+FFFE) at position 3"),
])
def test_the_words_name_the_character_and_where(text: str, words: str):
    assert text_problem(text) == words


# --- every free-text input uses it ----------------------------------------------------------

UNSTORABLE = "\x1b]0;pwned\x07"


def test_names_comments_ids_reasons_and_settings_share_the_rule(unmo, workspace):
    onboard(unmo, "TechStart Mobile")
    before = snapshot_tree(workspace), snapshot_tables(workspace)
    runs = {
        "name": unmo("onboard", f"Evil{UNSTORABLE}", *flags(), "--yes"),
        "contact": unmo("onboard", "Fine Name", *flags(contact_name=f"Dana{UNSTORABLE}"),
                        "--yes"),
        "comment": unmo("feedback", "add", "techstart-mobile", "-s", "9",
                        f"--comment={UNSTORABLE}"),
        "id": unmo("feedback", "add", "techstart-mobile", "-s", "9", "--id=a\nb"),
        "reason": unmo("customer", "churn", "techstart-mobile", f"--reason={UNSTORABLE}"),
        "setting": unmo("config", "show", env={"UNMO_TIMEZONE": f"UTC{UNSTORABLE}"}),
    }
    for what, ran in runs.items():
        assert ran.exit_code == 2, (what, ran.stderr)
        expected = "a line break (U+000A) at position 2" if what == "id" else \
            "a control character (U+001B) at position"
        assert expected in ran.stderr, (what, ran.stderr)
        assert "\x1b" not in ran.stderr and ran.stderr.count("\n") == 1
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Acme\u202etxt.exe" displays as "Acmeexe.txt"


def test_bidi_controls_are_refused_wherever_text_is_stored(unmo, workspace, tmp_path):
    onboard(unmo, "TechStart Mobile")
    before = snapshot_tree(workspace), snapshot_tables(workspace)
    survey = tmp_path / "survey.csv"
    survey.write_text("customer,satisfaction,comment\ntechstart-mobile,9,ok\u2066x\n",
                      encoding="utf-8")
    runs = {
        "name": unmo("onboard", f"Evil{BIDI}gnp.exe", *flags(), "--yes"),
        "comment": unmo("feedback", "add", "techstart-mobile", "-s", "9",
                        f"--comment=fine {BIDI}tpircs"),
        "id": unmo("feedback", "add", "techstart-mobile", "-s", "9", "--id=a\u200fb"),
        "reason": unmo("customer", "churn", "techstart-mobile", f"--reason=x{BIDI}"),
        "setting": unmo("config", "show", env={"UNMO_TIMEZONE": f"UTC{BIDI}"}),
        "import": unmo("feedback", "import", str(survey)),
    }
    for what, ran in runs.items():
        assert ran.exit_code == 2, (what, ran.stderr)
        assert "a bidirectional control (U+" in ran.stderr, (what, ran.stderr)
        assert not set(ran.stderr) & {BIDI, "\u2066", "\u200f"}
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


@pytest.mark.parametrize("option, limit", [("--reason", 1_000), ("--comment", 10_000)])
def test_free_text_has_a_documented_maximum_length(unmo, workspace, option: str, limit: int):
    """README, "Limits": the limit itself is accepted, one character more is refused."""
    onboard(unmo, "TechStart Mobile")
    command = (["customer", "churn", "techstart-mobile"] if option == "--reason" else
               ["feedback", "add", "techstart-mobile", "-s", "9"])
    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo(*command, f"{option}={'x' * (limit + 1)}")
    assert ran.exit_code == 2 and f"at most {limit:,} are accepted" in ran.stderr, ran.stderr
    assert len(ran.stderr) < 300
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before
    ran = unmo(*command, f"{option}={'x' * limit}")
    assert ran.exit_code == 0, ran.stderr
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{limit:,}" in readme.split("### Limits", 1)[1].split("\n## ", 1)[0]
