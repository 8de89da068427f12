"""Start-up budget: `unmo --help`, `unmo --version` and every `… --help` import none of the heavy
libraries (the database stack, HTTP, templates, prompts). Measured in fresh interpreters, through
sys.modules and `python -X importtime`; the time itself is a figure that
benchmarks/bench_startup.py prints, not something a test asserts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click.formatting import HelpFormatter
from typer.core import TyperGroup

from unmo_cli.cli import COMMANDS, app, load_command

# Typer itself imports none of these (checked below), so any of them at start-up is ours.
# (Not pydantic: Typer 0.29 imports it to coerce any non-flag option value, so `unmo config
# --help` loads it through the global --workspace option whatever unmo does.)
HEAVY = ("sqlmodel", "sqlalchemy", "alembic", "psycopg", "httpx", "jinja2", "questionary",
         "prompt_toolkit")

# One fresh interpreter runs the real entry point with each ARGS in turn and, after each,
# notes which heavy packages are loaded. A loaded module stays loaded, so the first invocation
# that imports one is the one named — and any of them importing one fails the test.
_PROBE = """
import contextlib, io, json, sys
heavy, runs = set(json.loads(sys.argv[1])), json.loads(sys.argv[2])
from unmo_cli.cli import main
report = []
for args in runs:
    sys.argv = ["unmo", *args]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
    loaded = {name.split(".")[0] for name in sys.modules}
    report.append({"code": code, "typer": "typer" in loaded,
                   "heavy": sorted(loaded & heavy), "output": out.getvalue() + err.getvalue()})
print(json.dumps(report))
"""


def _clean_env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env["UNMO_WORKSPACE"] = str(workspace)
    return env


def _invocations() -> list[list[str]]:
    """--help, --version, and --help of every command and sub-command the app registers."""
    runs = [["--help"], ["--version"]]
    root = typer.main.get_command(app)
    for name in root.list_commands(None):
        command = root.commands[name]
        runs.append([name, "--help"])
        for sub in getattr(command, "commands", {}):
            runs.append([name, sub, "--help"])
    return runs


def test_typer_itself_imports_none_of_the_heavy_modules(tmp_path: Path):
    ran = subprocess.run(
        [sys.executable, "-c", "import sys, typer; print(' '.join(sys.modules))"],
        capture_output=True, text=True, timeout=60, env=_clean_env(tmp_path))
    loaded = {name.split(".")[0] for name in ran.stdout.split()}
    assert "typer" in loaded
    assert loaded.isdisjoint(HEAVY), "typer imports these itself; drop them from HEAVY"


def test_help_version_and_every_command_help_stay_light(tmp_path: Path):
    runs = _invocations()
    assert len(runs) > 2 + 5, "the app registered fewer commands than expected"
    ran = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(HEAVY), json.dumps(runs)],
                         env=_clean_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)
    heavy_imports = {}
    for args, result in zip(runs, results, strict=True):
        shown = "unmo " + " ".join(args)
        assert result["code"] == 0, f"{shown} exited {result['code']}: {result['output']}"
        assert result["typer"], f"the probe did not run {shown}"
        assert ("Usage: unmo" in result["output"]) == ("--help" in args), (shown,
                                                                            result["output"])
        if result["heavy"]:
            heavy_imports[shown] = result["heavy"]
    assert heavy_imports == {}, "start-up imports that belong inside the command functions"
    assert list(tmp_path.iterdir()) == [], "a --help or --version wrote into the workspace"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_importtime_of_the_entry_point(tmp_path: Path, flag: str):
    """The same, as `python -X importtime -m unmo_cli` sees it: every module ever imported."""
    ran = subprocess.run([sys.executable, "-X", "importtime", "-m", "unmo_cli", flag],
                         env=_clean_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    imported = set()
    for line in ran.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            imported.add(name.split(".")[0])
    assert "unmo_cli" in imported
    assert imported.isdisjoint(HEAVY), sorted(imported.intersection(HEAVY))


# --- the lazy command table (cli.COMMANDS) against the modules it stands for -----------------

_LOADED_BY_LISTING = """
import json, sys
import typer
from unmo_cli.cli import app
root = typer.main.get_command(app)
ctx = root.make_context("unmo", ["--help"], resilient_parsing=True)
completions = [(item.value, item.help) for item in root.shell_complete(ctx, "")]
help_text = root.get_help(ctx)
print(json.dumps({"modules": sorted(m for m in sys.modules if m.startswith("unmo_cli.commands.")),
                  "completions": completions, "help": help_text}))
"""


def test_the_command_table_matches_what_each_command_module_declares():
    """Every command module under unmo_cli/commands/ with a command in it is in cli.COMMANDS
    under its own name, with the short help its command declares: the listing of `unmo --help`
    cannot drift from the commands it stands for."""
    package = Path(__file__).resolve().parents[1] / "unmo_cli" / "commands"
    declaring = {path.stem for path in package.glob("*.py")
                 if "def register(" in (text := path.read_text(encoding="utf-8"))
                 or "\napp = typer.Typer(" in text}
    assert {entry.name for entry in COMMANDS} == declaring
    for entry in COMMANDS:
        assert load_command(entry.name).get_short_help_str(limit=10**6) == entry.help, entry.name


@pytest.mark.parametrize("width", [80, 40])
def test_the_lazy_listing_reads_like_the_eager_one(width: int):
    """`unmo --help` from the table equals click's own listing, which loads every command and
    asks each for its short help (what the root did before it was lazy)."""
    root = typer.main.get_command(app)
    ctx = root.make_context("unmo", ["--help"], resilient_parsing=True)
    lazy, eager = HelpFormatter(width=width), HelpFormatter(width=width)
    root.format_commands(ctx, lazy)
    TyperGroup.format_commands(root, ctx, eager)
    assert lazy.getvalue() == eager.getvalue()
    assert "onboard" in lazy.getvalue()


def test_help_and_completing_a_command_name_load_no_command_module(tmp_path: Path):
    """`unmo --help` and `unmo <Tab>` come from the table alone; the completions carry the
    same names and help as the loaded commands would give."""
    ran = subprocess.run([sys.executable, "-c", _LOADED_BY_LISTING], env=_clean_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    assert found["modules"] == []
    root = typer.main.get_command(app)
    expected = [[name, root.commands[name].get_short_help_str()]
                for name in root.list_commands(None)]
    assert found["completions"][:len(expected)] == expected
    assert all(name in found["help"] for name, _help in expected)
