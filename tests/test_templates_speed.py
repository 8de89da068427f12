"""templates.xml_text escapes as xml.sax.saxutils.escape (with both quotes) did, without
importing it (saxutils pulls urllib.request and http.client into every onboarding)."""

from __future__ import annotations

import re
import subprocess
import sys
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unmo_cli import templates

XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=40).filter(lambda t: not templates._XML_INVALID.search(t))


@given(st.one_of(XML_TEXT, st.text("&<>\"'a;#x", max_size=20)))
def test_xml_text_is_saxutils_escape_with_both_quotes(text: str):
    assert templates.xml_text(text) == escape(text, {'"': "&quot;", "'": "&apos;"})


def test_rendering_xml_does_not_import_saxutils():
    ran = subprocess.run([sys.executable, "-c", (
        "import sys; from unmo_cli import templates; templates.xml_text('<a & b>'); "
        "print('xml.sax.saxutils' in sys.modules, 'urllib.request' in sys.modules)")],
        capture_output=True, text=True, timeout=60)
    assert ran.stdout.split() == ["False", "False"], ran.stderr


# The character classes as first written (the allowed characters), which the re module takes
# ~57 M instructions each to compile; templates.py keeps their short complements instead.
YAML_PLAIN = ("[\u0020-\u007e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
              "\U00010000-\U0010ffff]")
XML_VALID = "[\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


@pytest.mark.parametrize(("short", "allowed"), [
    ("_YAML_NOT_PLAIN", YAML_PLAIN), ("_XML_INVALID", XML_VALID)])
def test_short_character_classes_refuse_exactly_what_the_long_ones_do_not_allow(short, allowed):
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    not_allowed = re.sub(allowed, "", every)
    assert 0 < len(not_allowed) < 70_000  # the surrogates and a few controls, not nothing
    assert "".join(getattr(templates, short).findall(every)) == not_allowed

