"""Start-up budget: `unmo --help`, `unmo --version` and every `… --help` import none of the heavy
libraries (the database stack, HTTP, templates, prompts). Measured in a fresh interpreter per
command, through sys.modules and `python -X importtime`; the time itself is a figure that
benchmarks/bench_startup.py prints, not something a test asserts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer

from unmo_cli.cli import app

# Typer itself imports none of these (checked below), so any of them at start-up is ours.
# (Not pydantic: Typer 0.29 imports it to coerce any non-flag option value, so `unmo config
# --help` loads it through the global --workspace option whatever unmo does.)
HEAVY = ("sqlmodel", "sqlalchemy", "alembic", "psycopg", "httpx", "jinja2", "questionary",
         "prompt_toolkit")

# Runs the real entry point with ARGS, then writes the top-level packages it imported.
_PROBE = """
import json, sys
args, out = sys.argv[1:-1], sys.argv[-1]
sys.argv = ["unmo", *args]
from unmo_cli.cli import main
try:
    main()
except SystemExit:
    pass
with open(out, "w") as handle:
    json.dump(sorted({name.split(".")[0] for name in sys.modules}), handle)
"""


def _clean_env(workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env["UNMO_WORKSPACE"] = str(workspace)
    return env


def _imported_by(args: list[str], workspace: Path, out: Path) -> tuple[int, set[str], str]:
    ran = subprocess.run([sys.executable, "-c", _PROBE, *args, str(out)],
                         env=_clean_env(workspace), capture_output=True, text=True, timeout=60)
    modules = set(json.loads(out.read_text())) if out.exists() else set()
    return ran.returncode, modules, ran.stdout + ran.stderr


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
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda item: _imported_by(item[1], tmp_path, tmp_path / f"modules-{item[0]}.json"),
            enumerate(runs)))
    heavy_imports = {}
    for args, (code, modules, output) in zip(runs, results, strict=True):
        assert code == 0, f"unmo {' '.join(args)} exited {code}: {output}"
        assert "typer" in modules, f"the probe did not run unmo {' '.join(args)}"
        found = sorted(modules.intersection(HEAVY))
        if found:
            heavy_imports["unmo " + " ".join(args)] = found
    assert heavy_imports == {}, "start-up imports that belong inside the command functions"


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
