"""The repository stands alone: what its documents point at, a clone has.

- Markdown links in README.md, CHANGELOG.md and docs/ resolve to files of the repository.
- A `../…` path in those, in the package (code and packaged data), pyproject.toml, benchmarks/
  and .ci/ stays inside the repository and names a file or folder it has. (The customer
  templates and the generated customers/ are left out: their `../../.env` is relative to a
  customer folder, where it holds.)
- A backticked path into the code, templates, tests, benchmarks or CI (`unmo_cli/metrics.py`,
  `templates/report/weekly.md.j2`, …) in README.md, CHANGELOG.md or docs/ exists. (Not docs/ or
  customers/: the documents also name the files of a customer folder, `docs/…` included.)
- Nothing tracked names the shared spec folder or the seed documents a clone does not have.

"Has" means tracked by git when this is a git checkout (a file left untracked is not in a
clone), else present on disk (an unpacked sdist)."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "CHANGELOG.md", "docs")
WITH_PATHS = (*DOCUMENTS, "unmo_cli", "pyproject.toml", "benchmarks", ".ci")
TEXT = {".md", ".py", ".yaml", ".yml", ".toml", ".txt", ".j2", ".sh", ".cfg", ".ini", ""}
_MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_UP_PATH = re.compile(r"(?<![\w./~-])((?:\.\./)+[\w.-]+(?:/[\w.-]+)*/?)")
_BACKTICKED = re.compile(r"`([\w.-]+(?:/[\w.-]+)+/?)`")
_OUTSIDE = ("shared/spec", "seed/WEEK", "../seed", "../shared")


@cache
def repository_files() -> frozenset[str]:
    """Paths (posix, relative to ROOT) of every file and folder a clone has."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        files = {name for name in listed.stdout.decode().split("\0") if name}
    else:
        files = {
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts
        }
    folders = {
        "/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)
    }
    return frozenset(files | folders)


def _files_under(names: tuple[str, ...]) -> list[Path]:
    found = []
    for name in sorted(repository_files()):
        if any(name == top or name.startswith(top + "/") for top in names):
            path = ROOT / name
            if path.is_file() and path.suffix in TEXT:
                found.append(path)
    return found


def _exists(source: Path, target: str) -> str | None:
    """None if target (relative to source's folder) is in the repository, else why not."""
    resolved = (source.parent / target.split("#", 1)[0]).resolve()
    if not resolved.is_relative_to(ROOT):
        return "outside the repository"
    relative = resolved.relative_to(ROOT).as_posix()
    if relative != "." and relative not in repository_files():
        return "not in the repository"
    return None


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def test_markdown_links_resolve_inside_the_repository():
    broken = []
    for path in _files_under(DOCUMENTS):
        if path.suffix != ".md":
            continue
        text = path.read_text(encoding="utf-8")
        for match in _MD_LINK.finditer(text):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, mailto: or an anchor on the same page
            problem = _exists(path, target)
            if problem:
                broken.append(
                    f"{path.relative_to(ROOT)}:{_line(text, match.start())}: {target} is {problem}"
                )
    assert not broken, "\n".join(broken)


def test_up_paths_stay_inside_the_repository():
    broken = []
    for path in _files_under(WITH_PATHS):
        text = path.read_text(encoding="utf-8")
        for match in _UP_PATH.finditer(text):
            problem = _exists(path, match.group(1))
            if problem:
                broken.append(
                    f"{path.relative_to(ROOT)}:{_line(text, match.start())}: "
                    f"{match.group(1)} is {problem}"
                )
    assert not broken, "\n".join(broken)


def test_backticked_repository_paths_exist():
    tops = {"unmo_cli", "templates", "tests", "benchmarks", ".ci"}
    missing = []
    for path in _files_under(DOCUMENTS):
        text = path.read_text(encoding="utf-8")
        for match in _BACKTICKED.finditer(text):
            name = match.group(1).rstrip("/")
            if name.split("/")[0] in tops and name not in repository_files():
                missing.append(f"{path.relative_to(ROOT)}:{_line(text, match.start())}: {name}")
    assert not missing, "\n".join(missing)


def test_nothing_tracked_names_documents_a_clone_does_not_have():
    this = Path(__file__).resolve()
    found = []
    for name in sorted(repository_files()):
        path = ROOT / name
        if not path.is_file() or path.resolve() == this or path.suffix not in TEXT:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for needle in _OUTSIDE:
            if needle in text:
                found.append(f"{name}:{_line(text, text.index(needle))}: {needle}")
    assert not found, "\n".join(found)


def test_the_checks_see_a_broken_link(tmp_path: Path):
    page = ROOT / "docs" / "cli.md"
    assert _exists(page, "attribution-api.yaml") is None
    assert _exists(page, "../CHANGELOG.md#unreleased") is None
    assert _exists(page, "../../shared/spec/cli.md") == "outside the repository"
    assert _exists(page, "nope.md") == "not in the repository"
    assert _MD_LINK.findall("see [the spec](../shared/spec/cli.md) and [x](#anchor)") == [
        "../shared/spec/cli.md",
        "#anchor",
    ]
    assert _UP_PATH.findall("(see ../seed/WEEK_2.md), not https://x/../y") == ["../seed/WEEK_2.md"]
