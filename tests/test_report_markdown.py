"""The report's Markdown, rendered by GitHub's own renderer (cmarkgfm, GitHub Flavored Markdown
with its autolinks): text unmo did not write — a customer's name, a comment quoted in an alert —
shows as typed, never as HTML, a link or an image (issue 9, point 9)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from support_report import NOW, ZONE, build_dataset

HOSTILE_NAME = ("<img src=x onerror=alert(1)> [click](https://evil.example) ![i](http://e/x.png) "
                "www.evil.example ops@evil.example **bold** _it_ `code` ~~gone~~ $x$ a|b \\*")
HOSTILE_COMMENT = "see <script>alert(2)</script> and <https://evil.example/login> &amp; [x][1]"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None
        self.items: list[str] = []
        self._item: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "td":
            self._cell = []
        if tag == "li":
            self._item = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None
        if tag == "li" and self._item is not None:
            self.items.append("".join(self._item))
            self._item = None

    def handle_data(self, data):
        for part in (self._cell, self._item):
            if part is not None:
                part.append(data)


def _render_github(markdown: str) -> Page:
    cmarkgfm = pytest.importorskip("cmarkgfm")  # in the `test` extra
    from cmarkgfm.cmark import Options

    # UNSAFE: let raw HTML through as GitHub's renderer would before its sanitiser, so any HTML
    # that unmo failed to escape shows up here as a tag.
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    page = Page()
    page.feed(html)
    return page


def test_customer_text_renders_as_typed_on_github(unmo, workspace: Path):
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Alert, Customer
    from unmo_cli.workspace import load_workspace

    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(Customer).where(Customer.slug == "gamma-pay")
                        .values(name=HOSTILE_NAME))
        session.execute(update(Alert).where(Alert.rule == "detractor")
                        .values(text=HOSTILE_COMMENT))
    db.dispose()
    ran = unmo("report", "weekly", "--format", "markdown", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    page = _render_github(ran.stdout)
    assert not {"a", "img", "script", "em", "del"} & set(page.tags), page.tags
    assert page.tags.count("code") == 2  # `unmo customer show` and the footer: unmo wrote both
    shown = [cell.replace("\u2060", "") for cell in page.cells]
    assert HOSTILE_NAME + " (new)" in shown  # the portfolio's customer cell
    assert HOSTILE_COMMENT in shown          # the alerts table
    # The new customers' line lists the name too, as typed.
    assert any(HOSTILE_NAME in item.replace("\u2060", "") for item in page.items)


def test_the_report_still_reads_the_same_for_ordinary_names(unmo, workspace: Path):
    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    ran = unmo("report", "weekly", "--format", "markdown", env={"UNMO_NOW": NOW})
    page = _render_github(ran.stdout)
    assert "Gamma Pay (new)" in page.cells and "echo-travel" in page.cells
    assert "strong" in page.tags and "table" in page.tags  # unmo's own markup still renders


def test_html_autoescapes_the_same_text(unmo, workspace: Path):
    """The HTML page (Jinja autoescape) with the same hostile name and comment: text, no tag."""
    from sqlalchemy import update

    from unmo_cli.db import open_database
    from unmo_cli.db.models import Alert, Customer
    from unmo_cli.workspace import load_workspace

    (workspace / "unmo.yaml").write_text(f"timezone: {ZONE}\n")
    build_dataset()
    db = open_database(load_workspace())
    with db.session() as session:
        session.execute(update(Customer).where(Customer.slug == "gamma-pay")
                        .values(name=HOSTILE_NAME))
        session.execute(update(Alert).where(Alert.rule == "detractor")
                        .values(text=HOSTILE_COMMENT))
    db.dispose()
    ran = unmo("report", "weekly", "--format", "html", env={"UNMO_NOW": NOW})
    assert ran.exit_code == 0, ran.stderr
    page = Page()
    page.feed(ran.stdout)
    assert not {"a", "img", "script"} & set(page.tags)
    assert any(HOSTILE_NAME in cell for cell in page.cells)
    assert HOSTILE_COMMENT in page.cells
