"""The conftest fixtures that make the suite fast keep each test's data its own: a workspace
built once per module is copied, files and database, and what a test writes to its copy never
reaches the next one."""

from __future__ import annotations

from pathlib import Path

from conftest import query
from support_health import make_customer

BUILDS: list[str] = []


def _build_shared(unmo) -> str:
    BUILDS.append("shared")
    make_customer("shared-co")
    assert unmo("feedback", "add", "shared-co", "-s", "4", "--nps", "9").exit_code == 0
    return "built"


def test_a_module_workspace_is_built_once_and_each_copy_is_the_tests_own(module_workspaces,
                                                                         workspace: Path):
    assert module_workspaces.copy(_build_shared, workspace) == "built"
    env_file = workspace / "customers" / "shared-co" / ".env"
    assert query("SELECT slug FROM customers") == [("shared-co",)]
    assert query("SELECT satisfaction FROM feedback") == [(4,)]
    assert env_file.stat().st_mode & 0o777 == 0o600  # modes travel with the copy
    original = env_file.read_text()

    make_customer("only-this-copy")  # the test changes its copy, files and rows
    env_file.write_text("changed\n")

    assert module_workspaces.copy(_build_shared, workspace) == "built"
    assert BUILDS == ["shared"]  # not built again
    assert query("SELECT slug FROM customers") == [("shared-co",)]
    assert env_file.read_text() == original
