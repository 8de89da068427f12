"""docs/cli.md, the command-line contract, stays equal to the real `unmo --help` tree.

Read from the real `--help` of `unmo` and of every command and sub-command (run through the
CLI, as a user sees it): the command tree and each command's flags. docs/cli.md's `## Commands`
section must have one heading per command and sub-command, in backticks and starting with its
full name, e.g.

    ### `unmo health [SLUG ...] [--all] …`
    #### `unmo customer list [--phase P] [--json]`
    ### `unmo` (global options)

and that heading's section (up to the next heading) must name every flag that command's `--help`
shows, short aliases included (`--yes` / `-y`). No heading may name a command that does not
exist, no heading may show a flag its command does not take, and no `--flag` anywhere on the page
may be one that no command takes. A new command, sub-command or flag without its line in
docs/cli.md fails here, and so does a page that documents one the code dropped.

The JSON too: every field name the commands print, over real data, is named in the command's
section, and every setting `unmo config show` lists is a row of the settings table."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from unmo_cli.cli import app

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HELP_FLAGS = {"-h", "--help"}
_HEADING = re.compile(r"^(#{3,4}) `unmo((?: [a-z][a-z0-9-]*)*)(?=[` ])([^\n]*)$", re.MULTILINE)
_FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")
_LONG_FLAG = re.compile(r"(?<![\w`-])`?(--[a-z][a-z0-9-]*)")


def _help(path: tuple[str, ...]) -> str:
    ran = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert ran.exit_code == 0, (path, ran.output)
    return ran.output


def _block(text: str, title: str) -> list[str]:
    """The lines of a `Title:` block of click's help, up to the next blank line."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.strip() == f"{title}:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            lines.append(line)
    return lines


def help_flags(text: str) -> set[str]:
    """Every flag in the Options block of a --help text, -h/--help aside."""
    flags: set[str] = set()
    for line in _block(text, "Options"):
        match = re.match(r"^ {2}(-\S.*?)(?: {2,}|$)", line)
        if match:  # the left column: "-o, --output <path>"
            flags |= set(_FLAG.findall(match.group(1)))
    return flags - HELP_FLAGS


def help_subcommands(text: str) -> list[str]:
    return [
        line.split()[0]
        for line in _block(text, "Commands")
        if line.startswith("  ") and not line.startswith("   ")
    ]


def real_tree() -> dict[tuple[str, ...], set[str]]:
    """Command path (() for `unmo` itself) → the flags its --help shows."""
    tree: dict[tuple[str, ...], set[str]] = {}
    queue: list[tuple[str, ...]] = [()]
    while queue:
        path = queue.pop(0)
        text = _help(path)
        tree[path] = help_flags(text)
        queue += [(*path, name) for name in help_subcommands(text)]
    return tree


def documented_tree(doc: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """Command path → (its heading line, its section: heading to the next heading)."""
    commands = re.search(r"^## Commands\n(.*?)(?=^## |\Z)", doc, re.MULTILINE | re.DOTALL)
    assert commands, "docs/cli.md has no '## Commands' section"
    body = commands.group(1)
    headings = list(_HEADING.finditer(body))
    starts = [m.start() for m in re.finditer(r"^#{1,6} ", body, re.MULTILINE)] + [len(body)]
    sections: dict[tuple[str, ...], tuple[str, str]] = {}
    for match in headings:
        path = tuple(match.group(2).split())
        assert path not in sections, f"docs/cli.md documents `unmo {' '.join(path)}` twice"
        end = next(start for start in starts if start > match.start())
        sections[path] = (match.group(0), body[match.start() : end])
    return sections


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("unmo", *path))


def test_the_help_parser_reads_what_click_registers():
    """The --help parsing above against Click's own tree, so the drift test reads it right."""
    root = typer.main.get_command(app)

    # Typer carries its own copy of click, so no isinstance against the click package.
    def walk(command, path: tuple[str, ...]):
        options = {
            name
            for param in command.params
            if param.param_type_name == "option" and not param.hidden
            for name in (*param.opts, *param.secondary_opts)
        }
        yield path, options - HELP_FLAGS
        if hasattr(command, "commands"):
            for name in command.list_commands(None):
                sub = command.commands[name]
                if not sub.hidden:
                    yield from walk(sub, (*path, name))

    assert real_tree() == dict(walk(root, ()))


def test_every_command_and_subcommand_has_its_section():
    real = real_tree()
    documented = documented_tree(DOC.read_text(encoding="utf-8"))
    missing = sorted(_name(path) for path in real.keys() - documented.keys())
    unknown = sorted(_name(path) for path in documented.keys() - real.keys())
    assert not missing and not unknown, (
        f"docs/cli.md '## Commands' does not match `unmo --help`: no section for {missing}; "
        f"sections for commands that do not exist: {unknown}. Give each its heading, e.g. "
        "#### `unmo customer list [--json]`"
    )


def test_every_flag_in_help_is_in_its_commands_section():
    real = real_tree()
    documented = documented_tree(DOC.read_text(encoding="utf-8"))
    undocumented = {}
    for path, flags in real.items():
        if path not in documented:
            continue  # reported by the test above
        section = documented[path][1]
        named = set(_FLAG.findall(section))
        if flags - named:
            undocumented[_name(path)] = sorted(flags - named)
    assert undocumented == {}, (
        "flags that `--help` shows but the command's section of docs/cli.md does not name"
    )


def test_no_heading_shows_a_flag_its_command_does_not_take():
    real = real_tree()
    documented = documented_tree(DOC.read_text(encoding="utf-8"))
    wrong = {}
    for path, (heading, _) in documented.items():
        shown = set(_FLAG.findall(heading.split("`", 2)[1])) - HELP_FLAGS
        if path in real and shown - real[path]:
            wrong[_name(path)] = sorted(shown - real[path])
    assert wrong == {}


def test_no_flag_on_the_page_is_one_that_no_command_takes():
    every_flag = set().union(*real_tree().values()) | HELP_FLAGS
    named = set(_LONG_FLAG.findall(DOC.read_text(encoding="utf-8")))
    assert named - every_flag == set(), "docs/cli.md names flags that no command has"


def test_the_parsers_catch_a_missing_section_and_flag():
    doc = """# unmo
## Commands
### `unmo` (global options)
`--workspace`
### `unmo keys …`
#### `unmo keys list SLUG [--json]`
The keys.
#### `unmo keys rotate SLUG`
### `unmo health [SLUG ...] [--all]`
## Metric definitions
#### `unmo later` is not a command section
"""
    sections = documented_tree(doc)
    assert set(sections) == {(), ("keys",), ("keys", "list"), ("keys", "rotate"), ("health",)}
    assert _FLAG.findall(sections[("keys", "list")][1]) == ["--json"]
    assert "rotate" not in sections[("keys", "list")][1]
    assert help_flags(
        "Usage: x\n\nOptions:\n  -o, --output <path>  Write --json here.\n"
        "  --no-record          Record nothing.\n  -h, --help  Help.\n"
    ) == {"-o", "--output", "--no-record"}


# --- JSON field names --------------------------------------------------------------------------

NOW = "2026-11-18T10:00:00Z"  # Wednesday of 2026-W47; the report reads that week a week later
# Maps whose keys are data, not field names: a health check's services, the settings in force
# (those are checked against the settings table instead).
DATA_KEYS = {("health", "results", "services"), ("config", "show", "settings")}


def _keys(document, path: tuple[str, ...], skip: tuple[str, ...]) -> set[str]:
    if isinstance(document, list):
        return set().union(set(), *(_keys(item, path, skip) for item in document))
    if not isinstance(document, dict) or (*skip, *path) in DATA_KEYS:
        return set()
    found = set(document)
    for key, value in document.items():
        found |= _keys(value, (*path, key), skip)
    return found


def _real_json_documents(unmo, workspace: Path) -> dict[tuple[str, ...], list]:
    """Command path → the JSON documents it printed, from real runs over real data."""
    from support_onboarding import onboard, secret_keys

    from unmo_cli.services.sandbox import SandboxOptions, start_in_thread

    env = {"UNMO_NOW": NOW}
    out: dict[tuple[str, ...], list] = {}

    def run(
        path: tuple[str, ...],
        *args: str,
        input: str | None = None,
        extra_env: dict | None = None,
        codes=(0,),
    ) -> None:
        ran = unmo(*path, *args, env=env | (extra_env or {}), input=input)
        assert ran.exit_code in codes, (path, args, ran.stderr)
        out.setdefault(path, []).append(ran.json())

    out[("onboard",)] = [onboard(unmo, "TechStart Mobile", "sdk", "--show-secrets")]
    (workspace / "more.yaml").write_text(
        "- {name: Ecom Labs, industry: ecommerce, integration: s2s, events_per_day: 10,"
        " provider: adjust, mrr: 100, contact_name: Data, contact_email: d@ecom.example}\n"
    )
    run(("onboard",), "--from", "more.yaml", "--yes", "--json")
    slug = "techstart-mobile"
    run(("customer", "list"), "--json")
    run(("customer", "show"), slug, "--json")
    run(("keys", "list"), slug, "--json")
    live = secret_keys(workspace / "customers" / slug)["UNMO_SECRET_KEY_LIVE"]
    run(("keys", "verify"), "-", "--json", input=live + "\n")
    run(("keys", "rotate"), slug, "--env", "test", "--json")
    run(
        ("feedback", "add"),
        slug,
        "--satisfaction",
        "3",
        "--nps",
        "2",
        "--comment",
        "slow",
        "--json",
    )
    (workspace / "survey.csv").write_text(
        f"customer,satisfaction,nps,id\n{slug},9,10,s-1\n{slug},11,10,s-2\n"
    )
    run(("feedback", "import"), "survey.csv", "--json", codes=(2,))  # refused: same keys
    run(("feedback", "import"), "survey.csv", "--skip-invalid", "--json")
    run(("feedback", "list"), "--json")
    run(("alerts", "list"), "--json")
    run(("alerts", "notify"), "--json", codes=(3,))  # no webhook: alerts stay pending
    run(("task", "add"), slug, "Call about the detractor", "--due", "2026-11-20", "--json")
    run(("task", "assign"), "1", "ana@team.example", "--json")
    run(("task", "list"), "--json")
    run(("task", "done"), "1", "--note", "called", "--json")
    run(("task", "sweep"), "--json")
    assert unmo("customer", "phase", slug, "launch", env=env).exit_code == 0  # installs too
    url, stop = start_in_thread(SandboxOptions(port=0, key_refresh_s=0))
    try:
        run(("health",), "--format", "json", extra_env={"UNMO_API_URL": url}, codes=(0, 1))
    finally:
        stop()
    run(("customer", "show"), slug, "--json")  # now with a health check
    run(("report", "weekly"), "--format", "json", extra_env={"UNMO_NOW": "2026-11-25T10:00:00Z"})
    run(("config", "show"), "--json")
    return out


def test_every_json_field_a_command_prints_is_in_its_section(unmo, workspace: Path):
    """Real JSON from real runs: each field name any document of a command carries, at any
    depth, is named in that command's section of docs/cli.md (the `health` section for health,
    `report weekly` for the report …), its group's, or one it points at with "as in `unmo X`";
    so a field added or renamed without its line fails."""
    doc = DOC.read_text(encoding="utf-8")
    documented = documented_tree(doc)
    undocumented = {}
    for path, documents in _real_json_documents(unmo, workspace).items():
        section = documented[path][1]
        # a group's shared field list (e.g. "Customer JSON fields") sits in the group's section,
        # and a section may point at another's objects: "(alert objects, as in `unmo alerts …`)"
        section += "".join(documented[path[:i]][1] for i in range(1, len(path)))
        for other in re.findall(r"as in\s+`unmo((?: [a-z][a-z0-9-]*)+)", section):
            section += documented[tuple(other.split())][1]
        names = set(re.findall(r"[a-z][a-z0-9_]*", section))
        missing = sorted(_keys(documents, (), path) - names)
        if missing:
            undocumented[_name(path)] = missing
    assert undocumented == {}, (
        f"JSON fields the commands print that docs/cli.md does not name: {undocumented}"
    )


def test_every_setting_in_force_is_in_the_settings_table(unmo):
    """`unmo config show --json` lists every setting; each is a row of docs/cli.md's table
    (`targets.mrr`, or `health_score.green_at` written `health_score.green_at`, `.yellow_at`)."""
    ran = unmo("config", "show", "--json")
    assert ran.exit_code == 0, ran.stderr
    workspace = re.search(
        r"^## Workspace\n(.*?)(?=^## )", DOC.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL
    )
    assert workspace, "docs/cli.md has no '## Workspace' section"
    named: set[str] = set()
    for row in re.findall(r"^\|(.*)$", workspace.group(1), re.MULTILINE):
        last = ""
        for token in re.findall(r"`([a-z0-9_.]+)`", row.split("|")[0]):
            if token.startswith(".") and last:  # `.yellow_at` after `health_score.green_at`
                token = last.rsplit(".", 1)[0] + token
            named.add(token)
            last = token
    missing = sorted(set(ran.json()["settings"]) - named)
    assert missing == [], "settings `unmo config show` has that docs/cli.md's table lacks"
