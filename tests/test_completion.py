"""Shell completion: Typer's script installs, and SLUG arguments complete the workspace's customer
slugs — in a real subprocess speaking the shells' completion protocol, and in a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support_onboarding import onboard

SLUGS = ["acme-games", "ecomgrowth-labs", "techstart-mobile"]
# Every command whose SLUG argument completes, with the words typed before it.
SLUG_COMMANDS = [
    ["customer", "show"], ["customer", "phase"], ["customer", "churn"], ["customer", "render"],
    ["keys", "list"], ["keys", "rotate"], ["feedback", "add"], ["feedback", "list"], ["health"],
]


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_UNMO", "COMP_"))}
    # Typer otherwise guesses the shell from the parent processes and ignores the `bash` we
    # pass: under cron, an IDE or a detached CI runner there is no shell to find.
    env["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    env.update(extra)
    return env


# A fresh interpreter that plays Typer's bash script once per case: the completion protocol's
# variables set, the real entry point run, what it printed collected. One interpreter for many
# Tab presses keeps the suite fast; each case still goes through the whole protocol.
_PROBE = """
import contextlib, io, json, os, sys
from unmo_cli.cli import main
answers = []
for words in json.loads(sys.argv[1]):
    os.environ["COMP_WORDS"] = " ".join(["unmo", *words])
    os.environ["COMP_CWORD"] = str(len(words))
    sys.argv = ["unmo"]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code or 0
    answers.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(answers))
"""


def _complete_all(cases: list[list[str]], *, cwd: Path | None = None,
                  **extra: str) -> list[list[str]]:
    """What bash would be offered for the last word (possibly "") of each case, through the
    completion protocol Typer's bash script uses."""
    import json

    env = _environment(_UNMO_COMPLETE="complete_bash", **extra)
    ran = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(cases)], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    offered = []
    for words, answer in zip(cases, json.loads(ran.stdout), strict=True):
        assert answer["code"] == 0, (words, answer)
        assert answer["stderr"] == "", (words, answer["stderr"])
        offered.append([item for item in answer["stdout"].splitlines() if item])
    return offered


def _complete(words: list[str], *, cwd: Path | None = None, **extra: str) -> list[str]:
    return _complete_all([words], cwd=cwd, **extra)[0]


@pytest.fixture
def customers(module_workspaces, workspace: Path) -> Path:
    """Three onboarded customers: onboarded once for the module, a copy for each test."""
    module_workspaces.copy(_onboard_three, workspace)
    return workspace


def _onboard_three(unmo) -> None:
    for name in ("TechStart Mobile", "Acme Games", "EcomGrowth Labs"):
        onboard(unmo, name)


def test_every_slug_argument_completes_the_customers(customers: Path):
    offered = _complete_all([[*words, ""] for words in SLUG_COMMANDS])
    for words, got in zip(SLUG_COMMANDS, offered, strict=True):
        assert got == SLUGS, f"unmo {' '.join(words)} <Tab> offered {got}"


PREFIXES = [("tech", ["techstart-mobile"]), ("ec", ["ecomgrowth-labs"]), ("a", ["acme-games"]),
            ("zzz", []), ("%", []), ("_", []), ("'; DROP TABLE customers; --", [])]


def test_only_slugs_starting_with_what_was_typed(customers: Path):
    offered = _complete_all([["customer", "show", typed] for typed, _expected in PREFIXES])
    for (typed, expected), got in zip(PREFIXES, offered, strict=True):
        assert got == expected, f"{typed!r} <Tab> offered {got}"


@pytest.mark.sqlite_only  # the folder decides which database only while it is SQLite's
def test_the_global_workspace_option_is_honoured(customers: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"UNMO_WORKSPACE": str(elsewhere)}
    assert _complete(["keys", "list", ""], **env) == []
    assert _complete(["--workspace", str(customers), "keys", "list", "t"], **env) == \
        ["techstart-mobile"]
    assert _complete(["-w", str(customers), "health", "a"], **env) == ["acme-games"]


def test_other_arguments_are_not_offered_slugs(customers: Path):
    sub, import_file, verify_key = _complete_all([["customer", ""], ["feedback", "import", ""],
                                                  ["keys", "verify", ""]])
    assert "show" in sub
    assert not set(import_file) & set(SLUGS)
    assert not set(verify_key) & set(SLUGS)


def test_no_database_means_no_suggestions_and_nothing_created(tmp_path: Path):
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {k: "" for k in os.environ if k.startswith("UNMO_")}
    env["UNMO_WORKSPACE"] = str(folder)
    assert _complete(["customer", "show", ""], cwd=folder, **env) == []
    assert _complete(["--workspace", str(tmp_path / "missing"), "health", ""], cwd=folder,
                     **env) == []
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "missing").exists()


def test_failures_are_silent(tmp_path: Path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "unmo.yaml").write_text("api: [not, a, mapping\n")
    assert _complete(["customer", "show", ""], UNMO_WORKSPACE=str(folder)) == []
    # A server that refuses connections: nothing offered, quickly, no error text.
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    (folder / "unmo.yaml").write_text("")
    assert _complete(["health", ""], UNMO_WORKSPACE=str(folder),
                     UNMO_DATABASE_URL=unreachable) == []
    # A file that is not a database.
    (folder / ".unmo").mkdir()
    (folder / ".unmo" / "unmo.db").write_bytes(b"not a database at all" * 100)
    assert _complete(["health", ""], UNMO_WORKSPACE=str(folder), UNMO_DATABASE_URL="") == []


def test_show_completion_prints_the_bash_script(tmp_path: Path):
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "--show-completion", "bash"],
                         env=_environment(), capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "_UNMO_COMPLETE=complete_bash" in ran.stdout
    assert "complete -o default -F _unmo_completion unmo" in ran.stdout


def test_install_completion_writes_only_to_the_home_folder(tmp_path: Path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    ran = subprocess.run([sys.executable, "-m", "unmo_cli", "--install-completion", "bash"],
                         env=_environment(HOME=str(home), SHELL="/bin/bash"), cwd=cwd,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    script = home / ".bash_completions" / "unmo.sh"
    assert script.is_file() and "_UNMO_COMPLETE=complete_bash" in script.read_text()
    assert str(script) in (home / ".bashrc").read_text()
    assert list(cwd.iterdir()) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_a_real_bash_completes_slugs_with_the_installed_script(customers: Path, tmp_path: Path):
    """The script Typer installs, sourced in bash, with `unmo` on PATH: COMPREPLY holds the
    slugs."""
    script = subprocess.run([sys.executable, "-m", "unmo_cli", "--show-completion", "bash"],
                            env=_environment(), capture_output=True, text=True, timeout=60).stdout
    (tmp_path / "unmo.sh").write_text(script)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "unmo").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m unmo_cli "$@"\n')
    (shim / "unmo").chmod(0o755)
    probe = (f"source {tmp_path / 'unmo.sh'}\n"
             "COMP_WORDS=(unmo feedback add ec); COMP_CWORD=3\n"
             "_unmo_completion unmo\n"
             'printf "%s\\n" "${COMPREPLY[@]}"\n')
    ran = subprocess.run(["bash", "--norc", "--noprofile", "-c", probe],
                         env=_environment(PATH=f"{shim}{os.pathsep}{os.environ['PATH']}"),
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["ecomgrowth-labs"]
