"""The README's command list stays equal to what `unmo --help` lists, and its test command is
the one CI (`.ci/run`) runs.

Expected format: a `## Commands` section (up to the next `## ` heading) naming every top-level
command in backticks as `unmo <command> …`, in a bullet list, a table or sub-headings, e.g.

    ## Commands

    - `unmo onboard "TechStart Mobile" --integration sdk …` — create a customer …
    - `unmo customer list --json` — …

Any backticked `unmo <word>` in the section counts (options such as `unmo --version` are
skipped); every top-level command must appear at least once and nothing else may."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from unmo_cli.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
CI_RUN = README.parent / ".ci" / "run"
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


def readme_test_commands(text: str) -> list[list[str]]:
    """Each `python -m pytest …` line of the README's bash blocks, as words, settings and
    comments left out (`UNMO_TEST_POSTGRES_URL=… python -m pytest -q` is the same command)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words.pop(0)
            if words[:3] == ["python", "-m", "pytest"]:
                commands.append(words)
    return commands


def ci_test_command(script: str) -> tuple[list[str], int]:
    """.ci/run's PYTEST=(…) array and how many times the script runs it."""
    match = re.search(r"^PYTEST=\((.*)\)$", script, re.MULTILINE)
    assert match, ".ci/run has no PYTEST=(…) line naming its test command"
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert "python -m pytest" not in code.replace(match.group(0), ""), (
        ".ci/run runs pytest other than through PYTEST")
    return shlex.split(match.group(1)), code.count('"${PYTEST[@]}"')


def test_ci_runs_the_readmes_test_command_in_both_passes():
    commands = readme_test_commands(README.read_text(encoding="utf-8"))
    assert commands, "README.md shows no `python -m pytest` command"
    assert all(c == commands[0] for c in commands), f"the README shows different ones: {commands}"
    ci, runs = ci_test_command(CI_RUN.read_text(encoding="utf-8"))
    assert ci == commands[0], f".ci/run runs {shlex.join(ci)}, the README {shlex.join(commands[0])}"
    assert runs == 2, f".ci/run runs it {runs} times; once on SQLite, once on PostgreSQL"


def test_the_command_readers_find_what_they_should():
    text = """```bash
python -m pytest -q -n auto   # the suite
X_URL=postgresql://h/d python -m pytest -q -n auto
```
```python
python -m pytest elsewhere
```
"""
    assert readme_test_commands(text) == [["python", "-m", "pytest", "-q", "-n", "auto"]] * 2
    script = """# python -m pytest in a comment is fine
PYTEST=(python -m pytest -q -n auto)
timeout 9 "${PYTEST[@]}"
"""
    assert ci_test_command(script) == (["python", "-m", "pytest", "-q", "-n", "auto"], 1)
    with pytest.raises(AssertionError, match="other than through PYTEST"):
        ci_test_command(script + "python -m pytest -q\n")
