"""Owns stdout/stderr: terminal detection, colour (NO_COLOR), JSON output, progress and prompts'
preconditions, decided once here for every command (after gh's IOStreams)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1 here; raise instead so the CLI's one handler exits like SIGPIPE.
            raise BrokenPipeError

    return _Console(
        file=stream,
        no_color="NO_COLOR" in os.environ,
        highlight=False,
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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        from unmo_cli.clock import iso

        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(document: Any) -> str:
    """The document as standard JSON: NaN or an infinity is a ValueError (a bug: every number
    unmo reads is refused unless finite), never the `NaN` that JSON readers reject."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=_json_default,
                      allow_nan=False)


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(to_json(document) + "\n")
    sys.stdout.flush()


def print_out(*renderables: Any) -> None:
    out().print(*renderables)


def render_text(renderable: Any, width: int = 140) -> str:
    """A Rich renderable (a table, a group) as plain text `width` columns wide: no colour, no
    escape sequences, whatever the terminal — for an --output file that holds the table."""
    import io

    from rich.console import Console

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


@contextmanager
def progress(total: int, description: str, *, threshold: int = 2) -> Iterator[Any]:
    """A Rich progress bar on stderr when it is a terminal and there are `threshold` or more
    items; otherwise a no-op advancer with the same interface."""
    if total < threshold or not stderr_is_terminal():
        yield _NullAdvance()
        return
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


def key_value_table(rows: Iterable[tuple[str, Any]], title: str) -> Any:
    """A Rich table of fields and their values, without a header (`customer show`'s sections,
    the onboarding summary). Titles and values are plain text, never markup; None, "" and an
    empty list show as "—", a list as its items joined by commas."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in rows:
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        table.add_row(key, Text("—" if value is None or value == "" else str(value)))
    return table
