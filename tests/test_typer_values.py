"""unmo_cli.typer_values: the plain values of unmo's parameters without Typer's pydantic adapters.

Two promises: (1) the answer is Typer's own, value for value and error for error, for every
parameter of the real command tree (a property test against Typer's coercion); (2) the commands
do not load Typer's adapters (nor pydantic, where nothing else needs it), which cost ~100 ms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param

from unmo_cli import typer_values
from unmo_cli.cli import app


def _all_params() -> list[tuple[Any, Any]]:
    """(command, parameter) for every parameter of the app's tree that takes the quick path."""
    found = []

    def walk(command: Any) -> None:
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and typer_values._quick_enough(descriptor):
                found.append((command, param))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


PARAMS = _all_params()


def _outcome(runtime: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except BadParameter as exc:
        return "error", exc.format_message()
    # By repr as well as by value: NaN ("nan", "NAN") is a float equal to nothing, itself included.
    return "value", (type(result), repr(result))


def _kinds() -> set[str]:
    return {repr(param.type_descriptor.annotation) for _, param in PARAMS}


def test_the_tree_has_every_kind_the_quick_path_knows():
    kinds = _kinds()
    for expected in ("<class 'str'>", "<class 'int'>", "<class 'float'>", "<class 'bool'>",
                     "<class 'pathlib.Path'>", "list[str]", "list[int]"):
        assert expected in kinds
    assert any("enum" in kind for kind in kinds)


# No NUL: a command line cannot carry one (argv entries are C strings), and Typer's own Path
# check then raises ValueError("embedded null byte") instead of a usage error.
WORDS = st.one_of(
    st.text(st.characters(blacklist_characters="\x00"), max_size=12),
    st.from_regex(r"\A-?[0-9]{1,22}(\.[0-9]{0,17})?\Z"),
    st.sampled_from(["", " 5", "+5", "1_000", "1e3", ".5", "5.", "-0", "007", "nan", "inf",
                     "setup", "SETUP", "json", "Table", "-", ".", "/", "/etc/passwd",
                     "/nonexistent/x", "true", "no", "1", "٣"]),
)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(PARAMS) - 1), words=st.lists(WORDS, min_size=1, max_size=3))
def test_quick_path_answers_as_typer_does(index: int, words: list[str]):
    command, param = PARAMS[index]
    descriptor = param.type_descriptor
    ctx = command.make_context(command.name, [], resilient_parsing=True)
    multi = param.multiple or param.nargs == -1
    value: Any = tuple(words) if multi else words[0]
    quick = typer_values.QuickRuntimeParam(parameter_info=descriptor.parameter_info,
                                           annotation=descriptor.annotation,
                                           descriptor=descriptor)
    assert _outcome(quick, value, param, ctx) == \
        _outcome(build_runtime_param(descriptor), value, param, ctx)


@pytest.mark.parametrize("value", [True, False, 32, 2500, 2.5, Path("x"), None])
def test_defaults_pass_as_typer_passes_them(value: Any):
    for command, param in PARAMS:
        descriptor = param.type_descriptor
        ctx = command.make_context(command.name, [], resilient_parsing=True)
        quick = typer_values.QuickRuntimeParam(parameter_info=descriptor.parameter_info,
                                               annotation=descriptor.annotation,
                                               descriptor=descriptor)
        assert _outcome(quick, value, param, ctx) == \
            _outcome(build_runtime_param(descriptor), value, param, ctx)


_PROBE = """
import contextlib, io, json, sys
from unmo_cli.cli import main
sys.argv = ["unmo", *json.loads(sys.argv[1])]
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
print(json.dumps({"code": code, "adapters": "typer._adapters" in sys.modules,
                  "pydantic": "pydantic" in sys.modules, "err": err.getvalue()}))
"""


def _probe(tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNMO_")}
    env["UNMO_WORKSPACE"] = str(tmp_path)
    ran = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_help_of_a_command_with_options_loads_neither_pydantic_nor_the_adapters(tmp_path):
    seen = _probe(tmp_path, "--workspace", str(tmp_path), "customer", "list", "--help")
    assert seen["code"] == 0
    assert not seen["adapters"] and not seen["pydantic"]


def test_a_command_with_many_options_never_loads_the_adapters(tmp_path):
    seen = _probe(tmp_path, "onboard", "Quick Values", "--contact-name", "Ops",
                  "--contact-email", "ops@quick.example", "--industry", "gaming",
                  "--integration", "sdk", "--platforms", "ios", "--events-per-day", "5000",
                  "--provider", "none", "--mrr", "99.5", "--yes")
    assert seen["code"] == 0, seen["err"]
    assert not seen["adapters"]


def test_a_bad_value_still_gets_typers_check_and_unmos_sentence(tmp_path):
    seen = _probe(tmp_path, "health", "--all", "--concurrency", "x")
    assert seen["code"] == 2
    assert seen["err"] == ("error: --concurrency 'x' is not a whole number; see "
                           "'unmo health --help'.\n")
