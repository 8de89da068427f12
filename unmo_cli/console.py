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
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmo_cli.clock import iso
from unmo_cli.errors import InputError

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
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return value.as_posix()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(document: Any) -> str:
    """The document as standard JSON: NaN or an infinity is a ValueError (a bug: every number
    unmo reads is refused unless finite), never the `NaN` that JSON readers reject."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=_json_default,
                      allow_nan=False)


def chosen_format(fmt: str | None, json_flag: bool, *, default: str) -> str:
    """`--json` is `--format json`, on every command that has --format (one output switch for
    scripts whatever the command)."""
    if json_flag and fmt not in (None, "json"):
        raise InputError(f"--json and --format {fmt} ask for two formats; pass only one.")
    return "json" if json_flag else (fmt or default)


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(to_json(document) + "\n")
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


# --- tables ---------------------------------------------------------------------------------

# Two spaces between columns, a rule under the header, no outer frame: every column a terminal
# can spare goes to the data (after gh and kubectl).
GAP = 2
NO_VALUE = "—"


@dataclass(frozen=True)
class Column:
    """One column of a `DataTable`, and how it gives way when the terminal is narrow.

    A `key` column holds what a user types next — a slug, an id, a status, a date, a number, a
    key hint: it is always shown whole, on one line. A `text` column holds free text (a name, a
    comment, a message): it takes the width the key columns leave, cut with an ellipsis or, with
    `wrap`, wrapped at words; when less than `min_width` is left it moves to a detail line under
    its row."""

    header: str
    text: bool = False
    wrap: bool = False
    justify: str = "left"
    min_width: int = 20


def key(header: str, *, justify: str = "left") -> Column:
    return Column(header, justify=justify)


def number(header: str) -> Column:
    return Column(header, justify="right")


def text(header: str, *, wrap: bool = False, min_width: int = 20) -> Column:
    return Column(header, text=True, wrap=wrap, min_width=min_width)


class DataTable:
    """A table that fits the width it is rendered at (a terminal, a pipe's COLUMNS or 80, an
    --output file's width): key columns whole, free text giving way. Cells are plain text (a str
    or a rich Text), never markup; None and "" show as "—"."""

    def __init__(self, title: str | None, columns: list[Column], *,
                 show_header: bool = True) -> None:
        self.title, self.columns, self.show_header = title, columns, show_header
        self.rows: list[list[Any]] = []

    def add_row(self, *cells: Any) -> None:
        from rich.text import Text  # lazy: only the Rich parts this output draws

        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        row = []
        for column, cell in zip(self.columns, cells, strict=True):
            if not isinstance(cell, Text):
                cell = Text(NO_VALUE if cell is None or cell == "" else str(cell))
            if not column.wrap and "\n" in cell.plain:
                # one line per row: a comment's line breaks become spaces
                cell = Text(" ".join(cell.plain.splitlines()), style=cell.style)
            row.append(cell)
        self.rows.append(row)

    def _natural_width(self, index: int) -> int:
        from rich.cells import cell_len  # lazy: only the Rich parts this output draws

        widths = [cell_len(self.columns[index].header) if self.show_header else 0]
        for row in self.rows:
            widths.extend(cell_len(line) for line in row[index].plain.split("\n"))
        return max(widths)

    def layout(self, width: int) -> list[int]:
        """The width of each column at `width` cells; 0 for a column that goes to the detail
        lines under each row instead: every text column when less than its `min_width` is left
        beside the key columns, and, when the key columns alone are wider than `width`, the last
        key columns too (the first column always stays)."""
        natural = [self._natural_width(i) for i in range(len(self.columns))]
        texts = [i for i, c in enumerate(self.columns) if c.text]
        keys = [i for i in range(len(self.columns)) if i not in texts]
        floors = {i: min(natural[i], self.columns[i].min_width) for i in texts}

        def needed(shown: list[int], floor: dict[int, int]) -> int:
            return (sum(natural[i] for i in shown if i in keys) + sum(floor.values())
                    + GAP * (len(shown) - 1))

        if texts and needed(keys + texts, floors) > width:
            texts, floors = [], {}
        while len(keys) > 1 and needed(keys, {}) > width:
            keys = keys[:-1]
        widths = [natural[i] if i in keys else 0 for i in range(len(self.columns))]
        for i in texts:
            widths[i] = floors[i]
        spare = width - needed(keys + texts, floors)
        wanting = [i for i in texts if widths[i] < natural[i]]
        while spare > 0 and wanting:  # share what is left, a fair slice at a time
            share = max(1, spare // len(wanting))
            for i in wanting:
                step = min(share, natural[i] - widths[i], spare)
                widths[i] += step
                spare -= step
            wanting = [i for i in wanting if widths[i] < natural[i]]
        return widths

    def _table(self, widths: list[int], *, with_title: bool) -> Any:
        from rich import box  # lazy: only the Rich parts this output draws
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(self.title) if with_title and self.title else None,
                      title_justify="left", show_header=self.show_header, box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False, collapse_padding=True)
        for column, width in zip(self.columns, widths, strict=True):
            if width == 0:
                continue
            if column.text:
                table.add_column(column.header, width=width, no_wrap=not column.wrap,
                                 overflow="fold" if column.wrap else "ellipsis")
            else:
                table.add_column(column.header, justify=column.justify,  # type: ignore[arg-type]
                                 no_wrap=True, min_width=width)
        for row in self.rows:
            table.add_row(*[cell for cell, width in zip(row, widths, strict=True) if width])
        return table

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.padding import Padding  # lazy: only the Rich parts this output draws
        from rich.segment import Segment
        from rich.text import Text

        widths = self.layout(options.max_width)
        if all(widths):
            yield self._table(widths, with_title=True)
            return
        # The columns that fit as a table, one line per row (key cells never wrap), each row
        # followed by its other columns, one a line, indented: a key value whole on its line,
        # free text wrapped at words.
        if self.title:
            yield Text(self.title, no_wrap=False, overflow="fold")
        shown = [w for w in widths if w]
        lines = console.render_lines(self._table(widths, with_title=False),
                                     options.update(width=sum(shown) + GAP * (len(shown) - 1)),
                                     pad=False)
        header = 2 if self.show_header else 0
        for line in lines[:header]:
            yield from line
            yield Segment.line()
        for row, line in zip(self.rows, lines[header:], strict=True):
            yield from line
            yield Segment.line()
            for column, cell, width in zip(self.columns, row, widths, strict=True):
                if width == 0 and cell.plain not in ("", NO_VALUE):
                    label = Text(f"{column.header}: ") if self.show_header else Text()
                    body = Text.assemble(label, cell, no_wrap=False, overflow="fold")
                    yield Padding(body, (0, 0, 0, 2), expand=False)


def key_value_table(rows: Iterable[tuple[str, Any]], title: str) -> DataTable:
    """Fields and their values, without a header (`customer show`'s sections, the onboarding
    summary). None, "" and an empty list show as "—", a list as its items joined by commas."""
    table = DataTable(title, [key("field"), text("value", wrap=True)], show_header=False)
    for name, value in rows:
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        table.add_row(name, value)
    return table
