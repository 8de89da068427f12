"""The templates adapter: sandboxed, strict, HTML-only autoescape, override-then-packaged lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from support_onboarding import onboard

from unmo_cli.errors import InputError
from unmo_cli.templates import render
from unmo_cli.workspace import load_workspace


def _override(workspace: Path, name: str, text: str) -> None:
    path = workspace / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_render_for_other_areas(workspace: Path):
    _override(workspace, "report/hello.md.j2", "Hello {{ who }}\n")
    _override(workspace, "report/hello.html.j2", "<p>{{ who }}</p>\n")
    ws = load_workspace()
    assert render(ws, "report/hello.md.j2", {"who": "<b>team</b>"}) == "Hello <b>team</b>\n"
    assert render(ws, "report/hello.html.j2", {"who": "<b>team</b>"}) == \
        "<p>&lt;b&gt;team&lt;/b&gt;</p>\n"


def test_undefined_variables_and_unsafe_access_are_refused(workspace: Path):
    _override(workspace, "report/typo.md.j2", "{{ whoo }}")
    _override(workspace, "report/escape.md.j2", "{{ who.__class__.__mro__ }}")
    ws = load_workspace()
    with pytest.raises(InputError, match="report/typo.md.j2.*whoo"):
        render(ws, "report/typo.md.j2", {"who": "x"})
    with pytest.raises(InputError, match="report/escape.md.j2"):
        render(ws, "report/escape.md.j2", {"who": "x"})
    with pytest.raises(InputError, match="missing"):
        render(ws, "report/none.md.j2", {})


def test_an_override_needs_only_the_files_it_changes(unmo, workspace: Path):
    _override(workspace, "customer/support/SUPPORT_TEMPLATE.md.j2",
              "Write to us, {{ customer.name }}.\n")
    _override(workspace, "customer/docs/extra.txt", "{{ not a template }}\n")
    doc = onboard(unmo, "Override Co")
    folder = workspace / doc["directory"]
    assert (folder / "support/SUPPORT_TEMPLATE.md").read_text() == "Write to us, Override Co.\n"
    assert (folder / "docs/extra.txt").read_text() == "{{ not a template }}\n"  # copied as is
    assert "Override Co" in (folder / "README.md").read_text()  # from the packaged set


def test_a_broken_override_refuses_onboarding_and_writes_nothing(unmo, workspace: Path):
    _override(workspace, "customer/sdk/server/README.md.j2", "{% if %}")
    from conftest import snapshot_tables, snapshot_tree
    from support_onboarding import flags

    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", "Broken", *flags("sdk"))  # no server folder: the template is unused
    assert ran.exit_code == 0, ran.stderr
    before = snapshot_tree(workspace), snapshot_tables(workspace)
    ran = unmo("onboard", "Broken Server", *flags("s2s"))
    assert ran.exit_code == 2
    assert "customer/sdk/server/README.md.j2" in ran.stderr and "syntax error" in ran.stderr
    assert (snapshot_tree(workspace), snapshot_tables(workspace)) == before


# --- the per-format filters ---------------------------------------------------------------------


def test_each_filter_quotes_for_its_format():
    import ast
    import subprocess

    from unmo_cli import templates

    nasty = "a'b\"c$(id)`x`\\d\n{{e}}"
    assert ast.literal_eval(templates.python_literal(nasty)) == nasty
    shell = subprocess.run(["sh", "-c", f"printf %s {templates.shell_word(nasty)}"],
                           capture_output=True, text=True)
    assert shell.stdout == nasty
    assert templates.kotlin_string('a"$b\\é') == '"a\\"\\$b\\\\\\u00e9"'
    assert templates.swift_string('\\(x)"é') == '"\\\\(x)\\"\\u{e9}"'
    assert templates.properties_value(" #é\\😀") == "\\ #\\u00e9\\\\\\ud83d\\ude00"
    assert templates.xml_text("<a & 'b'>") == "&lt;a &amp; &apos;b&apos;&gt;"
    assert templates.comment_text("one\ntwo\r\u2028three\x1b") == "one two three"
    assert templates.dotenv_value("https://api.example/v1") == "'https://api.example/v1'"
    for refused in ("it's", "back\\slash", "new\nline"):
        with pytest.raises(InputError):
            templates.dotenv_value(refused)
    with pytest.raises(InputError):
        templates.xml_text("nul\x00")


@pytest.mark.parametrize(("text", "escaped"), [
    ("1. First", "1\\. First"), ("- item", "\\- item"), ("+ item", "\\+ item"),
    ("=== rule", "\\=== rule"), ("> quote", "\\> quote"), ("# heading", "\\# heading"),
    ("<b>bold</b>", "\\<b\\>bold\\</b\\>"), ("[x](https://e.example)", "\\[x\\](https\\://e.example)"),
    ("www.e.example", "www\\.e.example"), ("a | b", "a \\| b"), ("&amp;", "\\&amp;"),
    ("TechStart Mobile", "TechStart Mobile"), ("two\nlines", "two lines"),
])
def test_markdown_filter_escapes_what_could_start_markup(text: str, escaped: str):
    from unmo_cli.templates import markdown_text

    assert markdown_text(text) == escaped
