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


def to_json(document: Any, *, indent: bool | None = None) -> str:
    """The document as standard JSON: indented for a person when `indent` (by default: when
    stdout is a terminal), else compact on one line, through the json module's C encoder (what a
    pipe, `jq` or a file wants, and several times faster). NaN or an infinity is a ValueError (a
    bug: every number unmo reads is refused unless finite), never the `NaN` that JSON readers
    reject. A top-level value that is an iterator (the weekly report's portfolio) is an array
    made as it is encoded."""
    return "".join(iter_json(document, indent=indent))


_COMPACT = json.JSONEncoder(ensure_ascii=False, default=_json_default, allow_nan=False,
                            separators=(",", ":"))


def iter_json(document: Any, *, indent: bool | None = None) -> Iterator[str]:
    """to_json in pieces: compact, each top-level iterator's items encoded one at a time, so a
    large array is never held whole, as objects or as text."""
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
    for key, value in document.items():
        yield f"{separator}{encode(key)}:"
        separator = ","
        if isinstance(value, Iterator):
            opening = "["
            for item in value:
                yield opening + encode(item)
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
    or a rich Text), never markup; None and "" show as "—".

    Every row is printed, however many (a list is read whole by `grep`, `wc -l` or a person
    scrolling back, as sqlite-utils and kubectl print theirs), so a row costs little: each cell
    is measured once, when it is added, and a cell that fits its column is written as it is;
    only a cell that must be cut, wrapped or styled in parts goes through Rich's own text layout.
    The title, the header and its rule are Rich's table, drawn without rows at the same widths,
    so the output is what a Rich table of these rows draws (a test compares the two)."""

    def __init__(self, title: str | None, columns: list[Column], *,
                 show_header: bool = True) -> None:
        from rich.cells import cell_len  # lazy: only the Rich parts this output draws

        self.title, self.columns, self.show_header = title, columns, show_header
        self.rows: list[list[Any]] = []  # each cell a str, or a rich Text
        # per row, each cell's width when it is one line Rich would draw as it is (printable,
        # unstyled or styled whole, no trailing space in a right-justified column), else -1
        self._sizes: list[list[int]] = []
        # the widest line of each column so far (its header's included): measured once per
        # cell; never 0, which layout() keeps for a column moved to the detail lines
        self._natural = [max(1, cell_len(c.header) if show_header else 0) for c in columns]

    def add_row(self, *cells: Any) -> None:
        from rich.control import strip_control_codes  # lazy: only the Rich parts this output draws
        from rich.text import Text

        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        row: list[Any] = []
        sizes: list[int] = []
        natural = self._natural
        for index, (column, cell) in enumerate(zip(self.columns, cells, strict=True)):
            whole = True  # drawn as it is when it fits
            if isinstance(cell, Text):
                plain = cell.plain
                if not column.wrap and "\n" in plain:
                    # one line per row: a comment's line breaks become spaces
                    cell = Text(" ".join(plain.splitlines()), style=cell.style)
                    plain = cell.plain
                whole = not cell.spans and cell.justify is None
            else:
                # what Text() would hold: the control codes Rich drops, dropped here too
                plain = "" if cell is None else strip_control_codes(str(cell))
                plain = plain or NO_VALUE
                if not column.wrap and "\n" in plain:
                    plain = " ".join(plain.splitlines())
                cell = plain
            if plain.isprintable():
                width = len(plain) if plain.isascii() else _width(plain)
                if column.justify == "right" and plain[-1:] == " ":
                    whole = False  # Rich strips it first
            else:
                whole = False
                width = max(_width(line) for line in plain.split("\n"))
            if width > natural[index]:
                natural[index] = width
            row.append(cell)
            sizes.append(width if whole else -1)
        self.rows.append(row)
        self._sizes.append(sizes)

    def layout(self, width: int) -> list[int]:
        """The width of each column at `width` cells; 0 for a column that goes to the detail
        lines under each row instead: every text column when less than its `min_width` is left
        beside the key columns, and, when the key columns alone are wider than `width`, the last
        key columns too (the first column always stays)."""
        natural = list(self._natural)
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

    def _header(self, widths: list[int]) -> Any:
        """Rich's table of these columns at these widths without rows: the header and the rule
        under it."""
        from rich import box  # lazy: only the Rich parts this output draws
        from rich.table import Table

        table = Table(show_header=True, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      collapse_padding=True)
        for column, width in zip(self.columns, widths, strict=True):
            if width == 0:
                continue
            if column.text:
                table.add_column(column.header, width=width, no_wrap=not column.wrap,
                                 overflow="fold" if column.wrap else "ellipsis")
            else:
                table.add_column(column.header, justify=column.justify,  # type: ignore[arg-type]
                                 no_wrap=True, min_width=width)
        return table

    def _drawn_rows(self, console: Any, options: Any, widths: list[int]
                    ) -> Iterator[str | list[Any]]:
        """Each row's lines as a Rich table draws them: cells padded to their column (right-
        justified ones on the left), two spaces between columns, a row as tall as its tallest
        cell. A row without styles is one str (its line and the line break), any other a list
        of segments."""
        from rich.segment import Segment  # lazy: only the Rich parts this output draws
        from rich.text import Text

        shown = [(i, widths[i], self.columns[i]) for i in range(len(widths)) if widths[i]]
        gap = " " * GAP
        get_style = console.get_style
        for row, sizes in zip(self.rows, self._sizes, strict=True):
            cells: list[list[list[Any]]] = []  # per cell, its lines, each a list of segments
            texts: list[str] | None = []  # while every cell so far is one unstyled line
            for i, width, column in shown:
                cell, size = row[i], sizes[i]
                if 0 <= size <= width:  # fits: padded, as Rich pads it
                    if type(cell) is str:
                        text, style = cell, None
                    else:
                        text, style = cell.plain, get_style(cell.style) if cell.style else None
                    pad = " " * (width - size)
                    text = pad + text if column.justify == "right" else text + pad
                    if style is None and texts is not None:
                        texts.append(text)
                    else:
                        texts = None
                    cells.append([[Segment(text, style)]])
                    continue
                # Cut, wrapped, with tabs or styled in parts: Rich lays the cell out.
                texts = None
                cells.append(console.render_lines(
                    cell if isinstance(cell, Text) else Text(cell),
                    options.update(width=width, justify=column.justify,
                                   no_wrap=not column.wrap,
                                   overflow="fold" if column.wrap else "ellipsis",
                                   height=None, highlight=False)))
            if texts is not None:
                yield gap.join(texts) + "\n"
                continue
            segments: list[Any] = []
            for line_no in range(max(len(lines) for lines in cells)):
                for position, ((_, width, _), lines) in enumerate(zip(shown, cells,
                                                                      strict=True)):
                    if position:
                        segments.append(Segment(gap))
                    if line_no < len(lines):
                        segments.extend(lines[line_no])
                    else:
                        segments.append(Segment(" " * width))
                segments.append(Segment.line())
            yield segments

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.padding import Padding  # lazy: only the Rich parts this output draws
        from rich.segment import Segment
        from rich.text import Text

        widths = self.layout(options.max_width)
        shown = [w for w in widths if w]
        table_options = options.update(width=sum(shown) + GAP * (len(shown) - 1), height=None,
                                       highlight=False)
        if all(widths):
            title = Text(self.title or "")
            if title:  # as Rich draws a table's title: left, padded to the table's width
                yield from console.render(title, table_options.update(justify="left"))
            if self.show_header:
                yield self._header(widths)
            yield from _batched(self._drawn_rows(console, options, widths))
            return
        # The columns that fit as a table, one line per row (key cells never wrap), each row
        # followed by its other columns, one a line, indented: a key value whole on its line,
        # free text wrapped at words.
        if self.title:
            yield Text(self.title, no_wrap=False, overflow="fold")
        if self.show_header:
            for line in console.render_lines(self._header(widths), table_options, pad=False):
                yield from line
                yield Segment.line()
        room = options.max_width - 2
        labels = [f"{column.header}: " if self.show_header else "" for column in self.columns]
        hidden = [i for i, width in enumerate(widths) if not width]

        label_widths = [_width(label) for label in labels]

        def drawn() -> Iterator[Any]:
            for row, sizes, line in zip(self.rows, self._sizes,
                                        self._drawn_rows(console, table_options, widths),
                                        strict=True):
                yield line  # every shown column is a key column: one line
                for i in hidden:
                    cell = row[i]
                    plain = cell if type(cell) is str else cell.plain
                    if plain in ("", NO_VALUE):
                        continue
                    if type(cell) is str and sizes[i] >= 0 and label_widths[i] + sizes[i] <= room:
                        yield f"  {labels[i]}{plain}\n"  # as the Padding below draws it
                        continue
                    body = Text.assemble(Text(labels[i]),
                                         cell if isinstance(cell, Text) else Text(cell),
                                         no_wrap=False, overflow="fold")
                    yield Padding(body, (0, 0, 0, 2), expand=False)

        yield from _batched(drawn())


def _width(text: str) -> int:
    """The cells `text` takes on a terminal (Rich's measure; printable ASCII is one a
    character)."""
    from rich.cells import cell_len  # lazy: only the Rich parts this output draws

    return len(text) if text.isascii() and text.isprintable() else cell_len(text)


def _batched(drawn: Iterable[Any], size: int = 1 << 16) -> Iterator[Any]:
    """Drawn lines as few segments as possible: consecutive unstyled lines (str) joined into one
    segment of about `size` characters (Rich writes a segment's line breaks as they are); lists
    of segments and renderables passed on."""
    from rich.segment import Segment  # lazy: only the Rich parts this output draws

    pending: list[str] = []
    held = 0
    for item in drawn:
        if type(item) is str:
            pending.append(item)
            held += len(item)
            if held < size:
                continue
        if pending:
            yield Segment("".join(pending))
            pending, held = [], 0
        if type(item) is list:
            yield from item
        elif type(item) is not str:
            yield item
    if pending:
        yield Segment("".join(pending))


def key_value_table(rows: Iterable[tuple[str, Any]], title: str) -> DataTable:
    """Fields and their values, without a header (`customer show`'s sections, the onboarding
    summary). None, "" and an empty list show as "—", a list as its items joined by commas."""
    table = DataTable(title, [key("field"), text("value", wrap=True)], show_header=False)
    for name, value in rows:
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(item) for item in value)
        table.add_row(name, value)
    return table
