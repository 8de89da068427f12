"""The README's quick start works as written, in a clone and in an empty folder.

The commands are read from the README's `## Quick start` code block (not copied here) of a
`git archive` of HEAD — what a clone gets — unpacked into a temporary folder. Its `pip install .`
runs there with a fresh virtual environment's pip (offline: `--no-deps --no-build-isolation`, the
build backend and the dependencies coming from the environment running the tests through a .pth
file), so the `unmo` it puts on the PATH is the non-editable install of that archive. Then the
quick start's `unmo` commands run in the clone, where customers/ already holds the pilots'
folders, and again in an empty folder, with no UNMO_* settings: each exits 0 and creates the
customer folder it says. The same install serves its packaged API spec from `unmo sandbox`."""

from __future__ import annotations

import io
import os
import re
import shlex
import site
import subprocess
import sys
import sysconfig
import tarfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Read at import: the autouse fixture in conftest.py removes CI from the tests' environment.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# With default settings the quick start's database is the SQLite file it checks for; the
# PostgreSQL pass has nothing to add to it.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]


def quick_start_commands(readme: str) -> list[str]:
    """The lines of the first code block under `## Quick start`."""
    section = re.search(
        r"^## Quick start[ \t]*\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL
    )
    assert section, "README.md has no '## Quick start' section"
    block = re.search(r"^```[a-z]*\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    assert block, "the README's quick start has no code block"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _archive_of_head(target: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, timeout=120
    )
    if archive.returncode != 0:
        reason = f"not a git checkout, no HEAD to archive: {archive.stderr.decode()[:200]}"
        if IN_CI:  # CI runs in a clone: this must not pass by skipping there
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")


def _fresh_venv(folder: Path) -> tuple[Path, Path]:
    """(bin folder, site-packages) of a new venv that also sees this environment's packages
    (after its own), for pip, hatchling and unmo's dependencies without an index."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    purelib = Path(
        sysconfig.get_path("purelib", vars={"base": str(folder), "platbase": str(folder)})
    )
    purelib.mkdir(parents=True, exist_ok=True)
    parents = [p for p in (*site.getsitepackages(), sysconfig.get_path("purelib")) if p]
    (purelib / "zz_parent_environment.pth").write_text(
        "\n".join(dict.fromkeys(parents)) + "\n", encoding="utf-8"
    )
    return folder / "bin", purelib


def _run(words: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_quick_start_works_in_a_clone_and_in_an_empty_folder(tmp_path: Path):
    clone, empty, home = tmp_path / "clone", tmp_path / "empty", tmp_path / "home"
    for folder in (clone, empty, home):
        folder.mkdir()
    _archive_of_head(clone)
    pilots = sorted(p.name for p in (clone / "customers").iterdir())
    assert pilots, "the clone ships the pilots' folders in customers/"
    commands = quick_start_commands((clone / "README.md").read_text(encoding="utf-8"))
    assert commands[0] == "pip install .", commands
    unmo_commands = commands[1:]
    assert unmo_commands and all(c.startswith("unmo ") for c in unmo_commands), commands

    bin_dir, purelib = _fresh_venv(tmp_path / "venv")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UNMO_", "PYTHON", "VIRTUAL_ENV", "PIP_"))
    }
    env.update(
        HOME=str(home),
        NO_COLOR="1",
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PATH=os.pathsep.join([str(bin_dir), env.get("PATH", "")]),
    )
    install = _run(
        [
            str(bin_dir / "python"),
            "-m",
            *shlex.split(commands[0]),
            "--no-deps",
            "--no-build-isolation",
            "-q",
        ],
        cwd=clone,
        env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    where = _run(
        [str(bin_dir / "python"), "-c", "import unmo_cli; print(unmo_cli.__file__)"],
        cwd=empty,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(purelib), where.stdout + where.stderr
    assert (bin_dir / "unmo").is_file()

    for folder in (clone, empty):
        for command in unmo_commands:
            ran = _run(shlex.split(command), cwd=folder, env=env)
            assert ran.returncode == 0, f"in {folder.name}: {command}\n{ran.stderr}"
        created = sorted(p.name for p in (folder / "customers").iterdir())
        expected = {"clone": pilots, "empty": []}[folder.name]
        new = [name for name in created if name not in expected]
        assert len(new) == 1 and (folder / "customers" / new[0] / "customer.yaml").is_file(), (
            folder.name,
            created,
        )
        assert (folder / ".unmo" / "unmo.db").is_file()

    _installed_sandbox_serves_the_spec(bin_dir, purelib, empty, env)


def _installed_sandbox_serves_the_spec(
    bin_dir: Path, purelib: Path, cwd: Path, env: dict[str, str]
) -> None:
    """The wheel ships docs/attribution-api.yaml and `unmo sandbox` serves it."""
    spec = (ROOT / "docs" / "attribution-api.yaml").read_bytes()
    assert (purelib / "unmo_cli" / "data" / "attribution-api.yaml").read_bytes() == spec
    process = subprocess.Popen(
        [str(bin_dir / "unmo"), "sandbox", "--port", "0", "--quiet"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(url + "/openapi.yaml", timeout=10) as response:
            assert response.status == 200 and response.read() == spec
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_quick_start_parser_reads_the_first_code_block():
    readme = """# unmo
## Quick start

In a clone:

```bash
pip install .
# a comment
unmo onboard "Acme" --yes
```

```bash
python -m pytest -q
```

## Commands
"""
    assert quick_start_commands(readme) == ["pip install .", 'unmo onboard "Acme" --yes']
