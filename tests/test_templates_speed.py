"""templates.xml_text escapes as xml.sax.saxutils.escape (with both quotes) did, without
importing it (saxutils pulls urllib.request and http.client into every onboarding)."""

from __future__ import annotations

import subprocess
import sys
from xml.sax.saxutils import escape

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
