"""The architecture the notes ask for, checked on the source of the onboarding, customer, keys,
feedback and alerts areas: thin commands, one way to open a customer, no test hooks or stderr
in services."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unmo_cli"
COMMANDS = [PACKAGE / "commands" / f"{name}.py"
            for name in ("onboard", "customer", "keys", "feedback", "alerts")]
SERVICES = [PACKAGE / "services" / f"{name}.py"
            for name in ("onboarding", "customers", "keys", "feedback", "alerts",
                         "customer_folder")]
MAX_BODY = 25


def _functions(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            func = call.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.stem)
def test_command_functions_stay_short(path: Path):
    """Commands parse, call a service and render: at most 25 lines of body each, docstring
    included; anything longer belongs in a service or a small render function."""
    long = {f.name: f.end_lineno - f.body[0].lineno + 1 for f in _functions(path)
            if f.end_lineno - f.body[0].lineno + 1 > MAX_BODY}
    assert long == {}, f"longer than {MAX_BODY} lines: {long}"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.stem)
def test_services_open_a_customer_one_way(path: Path):
    """Finding a customer for a unit of work is customers.customer_session; no service repeats
    the open, look up, dispose steps by hand."""
    for function in _functions(path):
        if function.name in ("customer_session", "open_existing"):
            continue
        assert not {"open_existing", "get_customer"} <= _calls(function), function.name


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.stem)
def test_services_leave_stderr_and_test_hooks_alone(path: Path):
    source = path.read_text(encoding="utf-8")
    assert "sys.stderr" not in source and "UNMO_TEST_" not in source
