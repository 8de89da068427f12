"""Modules a reader can hold: none of unmo_cli/ runs past about 500 lines unless its docstring
says why it is one module ("Over 500 lines as one module: …")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "unmo_cli"
LIMIT = 520  # "about 500": a few lines of slack, not a second module's worth


def test_long_modules_say_why_they_are_one_module():
    unexplained = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        length = source.count("\n")
        if length <= LIMIT:
            continue
        docstring = ast.get_docstring(ast.parse(source)) or ""
        if "Over 500 lines as one module:" not in docstring:
            unexplained[str(path.relative_to(PACKAGE.parent))] = length
    assert unexplained == {}
