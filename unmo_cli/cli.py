"""The Typer application: global options, the command nouns (known from a static table and
loaded only when used: the one seam that keeps start-up light), the one place where the
project's errors — and the command line parser's usage errors — become a sentence on stderr and
an exit code, and the one way every --help names values (choices and metavariables).

Typer vendors click as `typer._click`; its exception classes are imported from there because
Typer re-exports only BadParameter."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer._click import core as click_core
from typer._click import exceptions as click_errors
from typer._click.formatting import join_options
from typer._click.shell_completion import CompletionItem
from typer._click.utils import make_default_short_help
from typer.core import TyperCommand, TyperGroup

from unmo_cli import __version__, origin, typer_values
from unmo_cli.errors import UnmoError


def report_error(exc: BaseException) -> int:
    """Print one sentence for `exc` on stderr and return the exit code it maps to."""
    if isinstance(exc, UnmoError):
        message, code = str(exc), exc.exit_code
    elif isinstance(exc, KeyboardInterrupt):
        message, code = "interrupted.", 130
    else:
        message = (f"unexpected {type(exc).__name__}; this is a bug in unmo, run again with "
                   "UNMO_DEBUG=1 to see the traceback.")
        code = 3
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return code


# What a shell reports for a process killed by SIGPIPE (128 + 13), as `git log | head` does.
EXIT_BROKEN_PIPE = 141


def reader_went_away() -> int:
    """stdout's reader closed the pipe (`unmo … --json | head`): not an error of ours. Point
    stdout at /dev/null so the interpreter's final flush stays quiet, and exit like SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's buffer)
        pass
    return EXIT_BROKEN_PIPE


# --- one voice: help records and usage errors -----------------------------------------------


def choices_of(param: Any) -> list[str] | None:
    """A parameter's accepted values as typed on the command line, or None if it takes any."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or not descriptor.is_choice:
        return None
    return [str(getattr(choice, "value", choice)) for choice in descriptor.choices or ()]


def value_label(param: Any) -> str:
    """What `--help` shows for a parameter's value: its choices (table|json), else its
    metavariable (SLUG, DATE, N, FILE…), never a Python type such as <str> or <list[str]>."""
    choices = choices_of(param)
    if param.param_type_name == "argument":
        label = param.metavar or param.name.upper()
        if param.nargs != 1:
            label += "..."
        return f"{label} {{{'|'.join(choices)}}}" if choices else label
    if choices:
        return "|".join(choices)
    return param.metavar or param.name.upper()


def help_records(command: Any, ctx: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    arguments, options = [], []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            arguments.append((value_label(param), record[1]))
            continue
        names = join_options(param.opts)[0]
        if param.secondary_opts:
            names += " / " + join_options(param.secondary_opts)[0]
        if not (param.is_flag or param.count):
            names += " " + value_label(param)
        options.append((names, record[1]))
    return arguments, options


def format_options(command: Any, ctx: Any, formatter: Any) -> None:
    arguments, options = help_records(command, ctx)
    for title, rows in (("Arguments", arguments), ("Options", options)):
        if rows:
            with formatter.section(title):
                formatter.write_dl(rows)


def _value_of(exc: BaseException) -> Any:
    """The value a user typed, from the validation error behind a BadParameter, if any."""
    errors = getattr(exc.__cause__, "errors", None)
    if callable(errors):
        found = errors()
        if found and "input" in found[0]:
            return found[0]["input"]
    return None


def _name_of(param: Any) -> str:
    if param.param_type_name == "argument":
        return param.metavar or param.name.upper()
    return max(param.opts, key=len)


_KINDS = {"int_parsing": "a whole number", "int_type": "a whole number",
          "float_parsing": "a number", "float_type": "a number"}


def usage_sentence(exc: click_errors.UsageError) -> str:
    """Click's usage error as one sentence in unmo's words, naming the value and what would be
    accepted, like every other error unmo reports."""
    param = getattr(exc, "param", None)
    if isinstance(exc, click_errors.NoSuchOption):
        hint = f" (did you mean {' or '.join(sorted(exc.possibilities))}?)" \
            if exc.possibilities else ""
        return f"there is no option {exc.option_name}{hint}"
    if isinstance(exc, click_errors.MissingParameter) and param is not None:
        what = "argument" if param.param_type_name == "argument" else "option"
        return f"missing {what} {_name_of(param)}"
    if isinstance(exc, click_errors.BadParameter) and param is not None:
        value, choices = _value_of(exc), choices_of(param)
        typed = "" if value is None else f" {value!r}"
        if choices:
            return f"{_name_of(param)}{typed} is not one of {', '.join(choices)}"
        kind = None
        cause_errors = getattr(exc.__cause__, "errors", None)
        if callable(cause_errors) and cause_errors():
            kind = _KINDS.get(cause_errors()[0].get("type"))
        if kind is not None:
            return f"{_name_of(param)}{typed} is not {kind}"
        detail = exc.message.rstrip(".")
        return f"{_name_of(param)}: {detail[:1].lower()}{detail[1:]}"
    if isinstance(exc, click_errors.BadOptionUsage) and exc.message.endswith(
            "requires an argument."):
        return f"{exc.option_name} needs a value"
    message = exc.message.rstrip(".")
    if message.startswith("Got unexpected extra argument"):
        extra = message[message.rindex("(") + 1:-1] if "(" in message else ""
        return f"unexpected argument {extra}".rstrip()
    return message[:1].lower() + message[1:]


def report_usage_error(exc: click_errors.UsageError) -> int:
    """One line on stderr, like every other error: the sentence, then where help is."""
    where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
    sys.stderr.write(f"error: {usage_sentence(exc)}{where}.\n")
    sys.stderr.flush()
    return exc.exit_code


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """The usage line after the command's name, the way man pages write it: SLUG required,
    [SLUG] optional, SLUG... repeatable."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        name = param.metavar or param.name.upper()
        name = name if param.required else f"[{name}]"
        pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


class UnmoCommand(TyperCommand):
    """Every command's help shows choices and metavariables (see `value_label`)."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_options(self, ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        typer_values.install(self.get_params(ctx))  # plain values without pydantic (typer_values)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        # What the audit trail records as the command: rebuilt from what was parsed, so that
        # personal and secret values can be redacted by name (origin.command_line).
        origin.set_origin(origin.command_line(ctx.command_path, [
            (param.name, None if param.param_type_name == "argument" else
             max(param.opts, key=len), ctx.params.get(param.name))
            for param in self.get_params(ctx) if param.name in ctx.params]))
        return super().invoke(ctx)


class UnmoGroup(TyperGroup):
    """Every command runs inside this invoke: our errors become exit codes here, once, and so do
    the usage errors the command line parser raises."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            if parent is not None:
                raise
            raise typer.Exit(report_usage_error(exc)) from None

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        typer_values.install(self.get_params(ctx))  # plain values without pydantic (typer_values)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            raise typer.Exit(report_usage_error(exc)) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:
            raise typer.Exit(reader_went_away()) from None
        except Exception as exc:
            if os.environ.get("UNMO_DEBUG") == "1":
                raise
            raise typer.Exit(report_error(exc)) from None

    def list_commands(self, ctx: Any) -> list[str]:
        # Keep the order we registered in (the user's journey), not alphabetical.
        return list(self.commands)

    def format_options(self, ctx: Any, formatter: Any) -> None:
        format_options(self, ctx, formatter)
        self.format_commands(ctx, formatter)


# --- the command boundary: every command is known by name and help, loaded when used -------


@dataclass(frozen=True)
class CommandEntry:
    """A command as `unmo --help` lists it, known without importing its module."""

    name: str  # also its module: unmo_cli.commands.<name>
    help: str  # its short help, exactly as the loaded command declares it


# In the order `unmo --help` lists them. tests/test_startup.py checks this table against what
# the loaded modules declare, so the two cannot drift.
COMMANDS: tuple[CommandEntry, ...] = (
    CommandEntry("onboard", "Create a customer: record, keys, and customers/<slug>/ rendered "
                 "from the templates."),
    CommandEntry("health", "Check each customer's integration against the attribution API; "
                 "exit 1 if any fails."),
    CommandEntry("sandbox", "Serve the attribution API on loopback for demos and tests, with "
                 "the workspace's keys."),
    CommandEntry("demo", "A guided tour in a throwaway workspace: pilots, feedback, sandbox, "
                 "health, report."),
    CommandEntry("init", "Write a commented unmo.yaml, customers/ and a .gitignore that keeps "
                 "secrets out of git."),
    CommandEntry("customer", "List, inspect, change and re-render customers; their phase, churn "
                 "and return."),
    CommandEntry("keys", "List, rotate and verify customers' API keys."),
    CommandEntry("feedback", "Record, import and list customer feedback (satisfaction and "
                 "NPS)."),
    CommandEntry("alerts", "List, acknowledge and send alerts (low satisfaction, satisfaction "
                 "drops, NPS detractors, failing integrations)."),
    CommandEntry("task", "Tasks on customers: add, list, complete and assign them; playbooks "
                 "open them when a trigger fires."),
    CommandEntry("email", "Send customers their e-mails over SMTP (each request once)."),
    CommandEntry("survey", "E-mail survey links to customers and serve the page they answer "
                 "on."),
    CommandEntry("maintenance", "Plan maintenance windows: checks inside one are recorded as "
                 "maintenance and left out of availability, p95 and the SLA."),
    CommandEntry("report", "Reports: the team lead's weekly (or monthly) executive summary, one "
                 "customer's quarterly review, and the monthly SLA."),
    CommandEntry("audit", "Check, list and export the audit trail of every change "
                 "(hash-chained)."),
    CommandEntry("config", "Show the resolved settings."),
    CommandEntry("db", "Manage the database schema."),
)


def load_command(name: str) -> click_core.Command:
    """Import unmo_cli.commands.<name> and build its click command the way the root would
    have built it eagerly: a module with `register(app)` adds one command, a module with `app`
    is a group of that name; both in the one voice (UnmoCommand/UnmoGroup)."""
    module = importlib.import_module(f"unmo_cli.commands.{name}")
    holder = typer.Typer(rich_markup_mode=app.rich_markup_mode,
                         pretty_exceptions_short=app.pretty_exceptions_short)
    if hasattr(module, "register"):
        module.register(holder)
    else:
        holder.add_typer(module.app, name=name)
    _one_voice(holder)
    return typer.main.get_group(holder).commands[name]


class LazyCommands(MutableMapping[str, click_core.Command]):
    """The root's commands: every name is known from COMMANDS; a command's module is imported
    the first time the command itself is looked up (to run it, or for its --help or the
    completion of its arguments), never for `unmo --help`, `--version` or `unmo <Tab>`."""

    def __init__(self, entries: tuple[CommandEntry, ...]) -> None:
        self._names = [entry.name for entry in entries]
        self._loaded: dict[str, click_core.Command] = {}

    def __getitem__(self, name: str) -> click_core.Command:
        if name not in self._loaded:
            if name not in self._names:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click_core.Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names


class RootGroup(UnmoGroup):
    """`unmo` itself: Click's lazy-loading group pattern. Its listing and the completion of a
    command name come from COMMANDS; everything else is UnmoGroup's."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(COMMANDS)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        limit = formatter.width - 6 - max(len(entry.name) for entry in COMMANDS)
        with formatter.section("Commands"):
            formatter.write_dl([(entry.name, make_default_short_help(entry.help, limit))
                                for entry in COMMANDS])

    def shell_complete(self, ctx: Any, incomplete: str) -> list[CompletionItem]:
        results = [CompletionItem(entry.name, help=make_default_short_help(entry.help))
                   for entry in COMMANDS if entry.name.startswith(incomplete)]
        results.extend(click_core.Command.shell_complete(self, ctx, incomplete))
        return results


app = typer.Typer(
    cls=RootGroup,
    name="unmo",
    help="Operate the UnMoGrowP attribution platform: onboard customers, collect feedback, "
    "report the week and check every integration.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"unmo {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_callback(
    workspace: Path | None = typer.Option(
        None, "--workspace", "-w", metavar="DIR", help="Workspace folder (default: "
        "$UNMO_WORKSPACE, the nearest folder with unmo.yaml, or the current folder).",
        file_okay=False,
    ),
    version: bool = typer.Option(
        False, "--version", "-V", help="Show the version and exit.", callback=_version,
        is_eager=True,
    ),
) -> None:
    from unmo_cli.workspace import set_workspace_override

    set_workspace_override(workspace)


def _one_voice(typer_app: typer.Typer) -> None:
    """Every command and group of the tree is built with the classes above."""
    for command in typer_app.registered_commands:
        if command.cls is None or command.cls is TyperCommand:  # Typer's default
            command.cls = UnmoCommand
    for group in typer_app.registered_groups:
        group.typer_instance.info.cls = group.typer_instance.info.cls or UnmoGroup
        _one_voice(group.typer_instance)



def _tolerant_stdout() -> None:
    """A file name that is not valid UTF-8 reaches Python as lone surrogates (\\udcff); stderr
    writes them escaped, but a stdout whose encoding is strict (PYTHONIOENCODING=utf-8:strict, an
    ASCII locale) would fail on them after the command's work is done. Escape them on stdout as
    on stderr: the same `\\udcff` in a message, and a valid JSON escape in a document."""
    stream = sys.stdout
    if stream is not None and getattr(stream, "errors", None) == "strict" \
            and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _tolerant_stdout()
    try:
        # One name however it was started (`unmo` or `python -m unmo_cli`): usage lines, and the
        # shell-completion protocol (_UNMO_COMPLETE), which is derived from it.
        app(prog_name="unmo")
    except BrokenPipeError:
        sys.exit(reader_went_away())
    except KeyboardInterrupt:
        sys.exit(report_error(KeyboardInterrupt()))
