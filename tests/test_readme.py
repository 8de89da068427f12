"""The README's command list stays equal to what `unmo --help` lists.

Expected format: a `## Commands` section (up to the next `## ` heading) naming every top-level
command in backticks as `unmo <command> …`, in a bullet list, a table or sub-headings, e.g.

    ## Commands

    - `unmo onboard "TechStart Mobile" --integration sdk …` — create a customer …
    - `unmo customer list --json` — …

Any backticked `unmo <word>` in the section counts (options such as `unmo --version` are
skipped); every top-level command must appear at least once and nothing else may."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from unmo_cli.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
_ENTRY = re.compile(r"`unmo\s+([a-z][a-z0-9-]*)")


def _commands_section(text: str) -> str:
    match = re.search(r"^## Commands[ \t]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, ("README.md has no '## Commands' section; add one that names every top-level "
                   "command in backticks, e.g. - `unmo onboard NAME …` — what it does")
    return match.group(1)


def readme_commands(text: str) -> set[str]:
    return set(_ENTRY.findall(_commands_section(text)))


def app_commands() -> set[str]:
    root = typer.main.get_command(app)
    return {name for name in root.list_commands(None) if not root.commands[name].hidden}


def test_readme_lists_exactly_the_apps_commands():
    listed = readme_commands(README.read_text(encoding="utf-8"))
    registered = app_commands()
    missing, unknown = sorted(registered - listed), sorted(listed - registered)
    assert not missing and not unknown, (
        f"README.md '## Commands' does not match `unmo --help`: missing {missing}, "
        f"not a command {unknown}. List each as a backticked `unmo <command> …` entry.")


def test_the_parser_reads_bullets_tables_and_stops_at_the_next_section():
    text = """# unmo
`unmo outside` is ignored here.

## Commands

- `unmo onboard "Acme" --yes` — create a customer
| `unmo customer list` | customers |
### `unmo report weekly [--week YYYY-Www]`
`unmo --version` prints the version.

## Configuration
`unmo later` is another section.
"""
    assert readme_commands(text) == {"onboard", "customer", "report"}
