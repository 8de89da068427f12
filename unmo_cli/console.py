"""Owns stdout/stderr: terminal detection, colour (NO_COLOR), JSON output (and --json as
--format json), tables that fit the width they are printed at, progress and prompts'
preconditions, decided once here for every command (after gh's IOStreams)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from unmo_cli.errors import InputError
from unmo_cli.json_output import COMPACT as _COMPACT
from unmo_cli.json_output import JsonRows
from unmo_cli.json_output import default as _json_default

# The tables every command prints (unmo_cli.tables), under the names the commands use.
from unmo_cli.tables import (
    GAP,
    NO_VALUE,
    Column,
    DataTable,
    key,
    key_value_table,
    number,
    text,
)

if TYPE_CHECKING:  # rich is imported lazily: `unmo --help` should not pay for it twice
    from rich.console import Console
    from rich.progress import Progress


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()


def stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


def can_prompt() -> bool:
    """Prompts need a person: both stdin and stdout on a terminal, and not in CI."""
    return stdin_is_terminal() and stdout_is_terminal() and not os.environ.get("CI")


def _make_console(stream: Any) -> Console:
    from rich.console import Console  # lazy: only the Rich parts this output draws

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1 here; raise instead so the CLI's one handler exits like SIGPIPE.
            raise BrokenPipeError

    return _Console(
        file=stream,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
        # Values are shown as they are: a customer named "Go :rocket: Apps" keeps its colons
        # (and Rich's table of emoji codes is never loaded).
        emoji=False,
        soft_wrap=not stream.isatty(),
    )


def out() -> Console:
    """A Rich console on the current stdout (looked up per call so test runners can swap it)."""
    return _console_for(sys.stdout)


def err() -> Console:
    return _console_for(sys.stderr)


_consoles: dict[int, Console] = {}


def _console_for(stream: Any) -> Console:
    """One console per live stream; test runners swap sys.stdout per invocation, so a cached
    console is reused only while it still writes to the very same stream object."""
    cached = _consoles.get(id(stream))
    if cached is None or cached.file is not stream:
        cached = _consoles[id(stream)] = _make_console(stream)
    return cached


def to_json(document: Any, *, indent: bool | None = None) -> str:
    """The document as standard JSON: indented for a person when `indent` (by default: when
    stdout is a terminal), else compact on one line, through the json module's C encoder (what a
    pipe, `jq` or a file wants, and several times faster). NaN or an infinity is a ValueError (a
    bug: every number unmo reads is refused unless finite), never the `NaN` that JSON readers
    reject. A top-level value that is an iterator (the weekly report's portfolio) is an array
    made as it is encoded."""
    return "".join(iter_json(document, indent=indent))


def iter_json(document: Any, *, indent: bool | None = None) -> Iterator[str]:
    """to_json in pieces: compact, each top-level iterator's items encoded one at a time, so a
    large array is never held whole, as objects or as text. A JsonRows array is written from its
    rows' own text, the same bytes as their dicts' (indented, it is read as the dicts)."""
    if indent is None:
        indent = stdout_is_terminal()
    streamed = isinstance(document, dict) and all(type(key) is str for key in document) and any(
        isinstance(value, Iterator) for value in document.values())
    if indent:
        if streamed:
            document = {key: list(value) if isinstance(value, Iterator) else value
                        for key, value in document.items()}
        yield json.dumps(document, indent=2, ensure_ascii=False, default=_json_default,
                         allow_nan=False)
        return
    encode = _COMPACT.encode
    if not streamed:
        yield encode(document)
        return
    separator = "{"
    for name, value in document.items():
        yield f"{separator}{encode(name)}:"
        separator = ","
        if isinstance(value, Iterator):
            opening = "["
            # Rows that write their own text (unmo_cli.json_output) skip a dict each.
            for item in value.texts() if isinstance(value, JsonRows) else map(encode, value):
                yield opening + item
                opening = ","
            yield "[]" if opening == "[" else "]"
        else:
            yield encode(value)
    yield "}" if separator == "," else "{}"


def chosen_format(fmt: str | None, json_flag: bool, *, default: str) -> str:
    """`--json` is `--format json`, on every command that has --format (one output switch for
    scripts whatever the command)."""
    if json_flag and fmt not in (None, "json"):
        raise InputError(f"--json and --format {fmt} ask for two formats; pass only one.")
    return "json" if json_flag else (fmt or default)


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there (see to_json: indented on a
    terminal, compact in a pipe), written as it is encoded."""
    pending: list[str] = []
    held = 0
    for piece in iter_json(document):
        pending.append(piece)
        held += len(piece)
        if held >= 1 << 16:
            sys.stdout.write("".join(pending))
            pending, held = [], 0
    pending.append("\n")
    sys.stdout.write("".join(pending))
    sys.stdout.flush()


def print_out(*renderables: Any) -> None:
    # Never crop: a line wider than the terminal (a key column wider than the whole screen)
    # is better wrapped by the terminal than cut.
    out().print(*renderables, crop=False)


def render_text(renderable: Any, width: int = 140) -> str:
    """A Rich renderable (a table, a group) as plain text `width` columns wide: no colour, no
    escape sequences, whatever the terminal — for an --output file that holds the table."""

    from rich.console import Console  # lazy: only the Rich parts this output draws

    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, color_system=None, force_terminal=False,
            highlight=False).print(renderable)
    return buffer.getvalue()


def warn(message: str) -> None:
    """A warning sentence on stderr (plain text: never markup-interpreted)."""
    err().print(f"warning: {message}", markup=False, highlight=False)


def info(message: str) -> None:
    """A progress note on stderr, so stdout stays clean for data."""
    err().print(message, markup=False, highlight=False)


def info_lines(messages: Iterable[str], *, batch: int = 100) -> None:
    """Many notes on stderr, one a line, as info() would print each: handed to Rich a hundred
    lines at a time (it wraps and expands each line of a text on its own, so the bytes are the
    same), since its fixed cost per print was most of listing 200,000 bad rows of an import."""
    pending: list[str] = []
    for message in messages:
        pending.append(message)
        if len(pending) == batch:
            err().print("\n".join(pending), markup=False, highlight=False)
            pending = []
    if pending:
        err().print("\n".join(pending), markup=False, highlight=False)


@contextmanager
def progress(total: int, description: str, *, threshold: int = 2) -> Iterator[Any]:
    """A Rich progress bar on stderr when it is a terminal and there are `threshold` or more
    items; otherwise a no-op advancer with the same interface."""
    if total < threshold or not stderr_is_terminal():
        yield _NullAdvance()
        return
    # lazy: only the Rich parts this output draws
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar: Progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err(),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield _RichAdvance(bar, task)


class _NullAdvance:
    def __call__(self, step: int = 1) -> None:
        return None


class _RichAdvance:
    def __init__(self, bar: Progress, task: Any) -> None:
        self._bar, self._task = bar, task

    def __call__(self, step: int = 1) -> None:
        self._bar.advance(self._task, step)


__all__ = ["GAP", "NO_VALUE", "Column", "DataTable", "key", "key_value_table", "number", "text"]
