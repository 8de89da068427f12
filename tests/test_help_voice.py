"""One voice: every --help names values by what they are (SLUG, FILE, N, DATE…) and lists the
choices of every option that has them; every usage error is one sentence on stderr, with the
same `error: ` prefix as unmo's own errors, exit 2; `--json` wherever `--format json` is and on
every command that reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from unmo_cli import apikeys
from unmo_cli.cli import app, choices_of, value_label

ROOT = typer.main.get_command(app)
# A Python type where a metavariable belongs: <str>, <int>, <list[str]>, <path>, <a|b>…
TYPE_LABEL = re.compile(r"<(?:str|int|float|bool|path|file|dir|datetime|text|list\[[^>]*\]"
                        r"|[a-z_]+(?:\|[a-z_]+)+)>")


def every_command() -> list[tuple[list[str], object]]:
    found = [([], ROOT)]
    for name in ROOT.list_commands(None):
        command = ROOT.commands[name]
        found.append(([name], command))
        for sub in getattr(command, "commands", {}):
            found.append(([name, sub], command.commands[sub]))
    return found


COMMANDS = every_command()


def help_of(unmo, path: list[str]) -> str:
    ran = unmo(*path, "--help")
    assert ran.exit_code == 0, ran.stderr
    return ran.stdout


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) or "unmo" for p, _ in COMMANDS])
def test_help_names_values_never_python_types(unmo, path, command):
    shown = help_of(unmo, path)
    assert not TYPE_LABEL.search(shown), f"unmo {' '.join(path)} --help:\n{shown}"
    usage = shown.splitlines()[0]
    assert "{" not in usage and "<" not in usage, usage  # SLUG, [SLUG], SLUG...
    for param in command.params:
        if param.hidden or getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        if param.param_type_name == "argument":
            assert param.metavar and param.metavar.isupper(), (path, param.name)
        else:  # an explicit metavariable (SLUG, FILE, N…) or the choices, never the field name
            assert param.metavar or choices_of(param), (path, param.opts)
        assert value_label(param) in shown, (path, value_label(param))


def _vocabularies() -> list[tuple[list[str], str, tuple[str, ...]]]:
    from unmo_cli.services import customers, feedback, health, onboarding, reports, timeline

    return [
        (["onboard"], "--industry", onboarding.INDUSTRIES),
        (["onboard"], "--integration", onboarding.INTEGRATIONS),
        (["onboard"], "--provider", onboarding.PROVIDERS),
        (["customer", "list"], "--phase", customers.PHASES),
        (["customer", "phase"], "PHASE", customers.PHASES),
        (["keys", "rotate"], "--kind", tuple(apikeys.KINDS)),
        (["keys", "rotate"], "--env", apikeys.ENVIRONMENTS),
        (["feedback", "add"], "--category", feedback.CATEGORIES),
        (["feedback", "import"], "--format", feedback.FORMATS),
        (["report", "weekly"], "--format", reports.FORMATS),
        (["health"], "--format", ("table", "json", "junit")),
        (["health"], "--fail-on", health.FAIL_ON),
        (["customer", "timeline"], "--kind", timeline.KINDS),
    ]


def test_every_choice_option_shows_the_choices_the_service_accepts(unmo):
    for path, name, accepted in _vocabularies():
        shown = help_of(unmo, path)
        listed = "|".join(accepted)
        line = next((line for line in shown.splitlines() if line.strip().startswith(
            (name, f"-f, {name}", f"{name} {{"))), None)
        assert line is not None and listed in line, f"unmo {' '.join(path)}: {name}\n{shown}"


def test_the_enums_of_the_command_line_are_the_services_vocabularies():
    from unmo_cli.commands import choices
    from unmo_cli.services import (
        customers,
        feedback,
        onboarding,
        reports,
        review,
        segments,
        timeline,
    )

    pairs = [(choices.Industry, onboarding.INDUSTRIES), (choices.Integration,
             onboarding.INTEGRATIONS), (choices.Provider, onboarding.PROVIDERS),
             (choices.Phase, customers.PHASES), (choices.KeyKind, tuple(apikeys.KINDS)),
             (choices.KeyEnvironment, apikeys.ENVIRONMENTS),
             (choices.Category, feedback.CATEGORIES), (choices.FeedbackFormat, feedback.FORMATS),
             (choices.ReportFormat, reports.FORMATS),
             (choices.HealthColor, segments.HEALTH_COLORS), (choices.ListSort, segments.SORTS),
             (choices.ReviewFormat, review.FORMATS), (choices.TimelineKind, timeline.KINDS)]
    for enum, accepted in pairs:
        assert tuple(member.value for member in enum) == tuple(accepted), enum


# --- one error style ----------------------------------------------------------------------------

USAGE_ERRORS = [
    (["--bogus"], "there is no option --bogus; see 'unmo --help'"),
    (["bogus"], "no such command 'bogus'"),
    (["customer", "bogus"], "no such command 'bogus'; see 'unmo customer --help'"),
    (["health", "--jsn"], "there is no option --jsn (did you mean --json?)"),
    (["health", "--concurrency", "many"], "--concurrency 'many' is not a whole number"),
    (["health", "--timeout", "soon"], "--timeout 'soon' is not a number"),
    (["health", "--format", "xml"], "--format 'xml' is not one of table, json, junit"),
    (["report", "weekly", "--format", "pdf"],
     "--format 'pdf' is not one of table, markdown, json, csv, html"),
    (["keys", "rotate", "acme", "--kind", "private"],
     "--kind 'private' is not one of publishable, secret"),
    (["customer", "churn"], "missing argument SLUG; see 'unmo customer churn --help'"),
    (["customer", "churn", "acme"], "missing option --reason"),
    (["customer", "phase", "acme", "orbit"], "PHASE 'orbit' is not one of discovery, setup"),
    (["alerts", "ack", "first"], "ID 'first' is not a whole number"),
    (["alerts", "list", "extra"], "unexpected argument extra"),
    (["report", "weekly", "--week"], "--week needs a value"),
    (["feedback", "list", "--limit", "ten"], "--limit 'ten' is not a whole number"),
]


def assert_one_sentence(ran, expected: str) -> None:
    assert ran.exit_code == 2, ran.stderr
    assert ran.stdout == ""
    assert ran.stderr.startswith("error: ") and ran.stderr.endswith(".\n"), ran.stderr
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert "Usage:" not in ran.stderr and "Error:" not in ran.stderr
    assert "Traceback" not in ran.stderr
    assert expected in ran.stderr, ran.stderr


@pytest.mark.parametrize("args,expected", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_one_sentence_like_every_other_error(unmo, unchanged, args, expected):
    assert_one_sentence(unmo(*args), expected)
    unchanged()


def test_unmos_own_errors_have_the_same_shape(unmo, unchanged):
    """An error found by unmo itself (an unknown customer) reads like one found by the parser."""
    assert_one_sentence(unmo("customer", "show", "nobody"), "nobody")
    assert_one_sentence(unmo("onboard", "Acme", "--industry", "toys", "--yes"),
                        "missing required fields")
    unchanged()


def test_usage_errors_of_the_installed_program(workspace: Path):
    """The same through the real entry point in a fresh interpreter (not only the test runner)."""
    for args, expected in (USAGE_ERRORS[0], USAGE_ERRORS[6]):
        ran = subprocess.run([sys.executable, "-m", "unmo_cli", *args], capture_output=True,
                             text=True, timeout=60)
        assert ran.returncode == 2
        assert ran.stderr.startswith("error: ") and ran.stderr.count("\n") == 1, ran.stderr
        assert expected in ran.stderr


def test_a_bare_group_still_shows_its_help(unmo):
    ran = unmo("customer")
    assert ran.exit_code == 2 and "Commands:" in ran.stdout + ran.stderr


# --- --json ---------------------------------------------------------------------------------------

READS = [["customer", "list"], ["customer", "show"], ["keys", "list"], ["keys", "verify"],
         ["feedback", "list"], ["alerts", "list"], ["config", "show"], ["report", "weekly"],
         ["health"], ["demo"], ["onboard"], ["feedback", "import"], ["alerts", "notify"],
         ["keys", "rotate"], ["customer", "timeline"], ["customer", "note"]]


def test_every_read_and_every_format_json_takes_json():
    by_path = {tuple(path): command for path, command in COMMANDS}
    for path in READS:
        assert "--json" in {o for p in by_path[tuple(path)].params for o in p.opts}, path
    for path, command in COMMANDS:
        formats = [p for p in command.params if "--format" in p.opts]
        if formats and "json" in (choices_of(formats[0]) or []):
            assert any("--json" in p.opts for p in command.params), path


def test_report_weekly_json_is_format_json(unmo, workspace: Path):
    env = {"UNMO_NOW": "2026-11-30T12:00:00Z"}
    by_flag = unmo("report", "weekly", "--json", env=env)
    by_format = unmo("report", "weekly", "--format", "json", env=env)
    assert by_flag.exit_code == 0, by_flag.stderr
    assert by_flag.json() == by_format.json()
    assert by_flag.json()["week"] == "2026-W48"


def test_json_with_another_format_is_refused(unmo, unchanged):
    for args in (["report", "weekly", "--json", "--format", "csv"],
                 ["health", "--json", "--format", "junit"]):
        assert_one_sentence(unmo(*args), "--json and --format")
    unchanged()


def test_health_json_is_format_json(unmo, workspace: Path):
    from support_health import PlayServer, make_customer

    server = PlayServer()
    try:
        server.plays[make_customer("techstart-mobile").live] = "healthy"
        env = {"UNMO_API_URL": server.url}
        by_flag = unmo("health", "--json", "--no-record", env=env)
        by_format = unmo("health", "--format", "json", "--no-record", env=env)
    finally:
        server.stop()
    assert by_flag.exit_code == 0, by_flag.stderr
    assert [r["status"] for r in by_flag.json()["results"]] == ["healthy"]
    assert by_flag.json().keys() == by_format.json().keys()
