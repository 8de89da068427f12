"""Tables that fit the width they are printed at (a terminal, a pipe's COLUMNS or 80, an
--output file's width), drawn fast enough for 100,000 rows; unmo_cli.console prints them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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
        self._right = [c.justify == "right" for c in columns]
        # per column, whether each of its str cells is known to take one cell a character (so
        # drawing does not ask again what adding found)
        self._one_cell = [True] * len(columns)

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """add_row for each of `rows`; when every new cell is a non-empty printable str of one cell
        a character (a timeline's rows), measured a column at a time: a few passes in C over
        each column instead of a dozen steps a cell, each width the cell's length."""
        rows = [list(row) for row in rows]
        count = len(self.columns)
        columns = list(zip(*rows, strict=True)) if all(len(row) == count for row in rows) else []
        if not columns or not all(_plain_column(cells, right)
                                  for cells, right in zip(columns, self._right, strict=True)):
            for row in rows:
                self.add_row(*row)  # (and the ValueError of a row of the wrong length)
            return
        widths = [list(map(len, cells)) for cells in columns]
        natural = self._natural
        for index, column_widths in enumerate(widths):
            natural[index] = max(natural[index], max(column_widths))
        self.rows.extend(rows)
        self._sizes.extend(map(list, zip(*widths, strict=True)))

    def add_row(self, *cells: Any) -> None:
        from rich.control import strip_control_codes  # lazy: only the Rich parts this output draws
        from rich.text import Text

        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        row: list[Any] = []
        sizes: list[int] = []
        natural, right = self._natural, self._right
        for index, cell in enumerate(cells):
            if type(cell) is str and cell.isprintable():
                # The common cell, one printable line: no control code for Rich to strip.
                plain = cell or NO_VALUE
                if plain.isascii() or _one_cell_each(plain):
                    width = len(plain)
                else:
                    width = _width(plain)
                    self._one_cell[index] = False
                if width > natural[index]:
                    natural[index] = width
                row.append(plain)
                sizes.append(-1 if right[index] and plain[-1] == " " else width)
                continue
            self._one_cell[index] = False  # measured without asking
            column = self.columns[index]
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
        # per shown column: its index, width, whether right-justified, and whether it wraps:
        # 0 (no), 1 (yes) or 2 (yes, each str cell known to take one cell a character)
        plain_cells = [(i, width, column.justify == "right",
                        (2 if self._one_cell[i] else 1) if column.wrap else 0)
                       for i, width, column in shown]
        gap = " " * GAP
        get_style = console.get_style
        for row, sizes in zip(self.rows, self._sizes, strict=True):
            # Most rows: every shown cell a str that fits, the row one line of text; or plain
            # text of one cell a character wrapped at words (a timeline's summaries), the row
            # its lines of text.
            line: list[str | list[str]] = []
            tall = False
            for i, width, right, wrap in plain_cells:
                cell, size = row[i], sizes[i]
                if type(cell) is not str or size < 0:
                    break
                if size <= width:
                    line.append(" " * (width - size) + cell if right
                                else cell + " " * (width - size))
                elif wrap == 2 or (wrap and _one_cell_each(cell)):
                    line.append(_wrapped(cell, width))
                    tall = True
                else:
                    break
            else:
                if not tall:
                    yield gap.join(line) + "\n"  # type: ignore[arg-type]
                    continue
                cells_lines = [[cell] if type(cell) is str else cell for cell in line]
                height = max(map(len, cells_lines))
                # each cell's lines, blank ones under a shorter cell, then the row's lines
                yield "\n".join(map(gap.join, zip(*[
                    lines if len(lines) == height else lines + [" " * width] * (height - len(lines))
                    for (_, width, _, _), lines in zip(plain_cells, cells_lines, strict=True)],
                    strict=True))) + "\n"
                continue
            cells: list[list[list[Any]]] = []  # per cell, its lines, each a list of segments
            texts: list[str] | None = []  # while every cell so far is one unstyled line
            # while every cell so far is unstyled lines of its column's width (a wrapped one too)
            plain: list[list[str]] | None = []
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
                    if style is None and plain is not None:
                        plain.append([text])
                    else:
                        plain = None
                    cells.append([[Segment(text, style)]])
                    continue
                texts = None
                if column.wrap and size >= 0 and type(cell) is str and (
                        self._one_cell[i] or _one_cell_each(cell)):
                    # Plain printable text wrapped at words, one cell a character: Rich's own
                    # line breaks, without its per-cell layout (a timeline's summaries are most
                    # of its rows).
                    wrapped = _wrapped(cell, width)
                    if plain is not None:
                        plain.append(wrapped)
                    cells.append([[Segment(line)] for line in wrapped])
                    continue
                plain = None
                # Cut, wrapped, with tabs or styled in parts: Rich lays the cell out.
                cells.append(console.render_lines(
                    cell if isinstance(cell, Text) else Text(cell),
                    options.update(width=width, justify=column.justify,
                                   no_wrap=not column.wrap,
                                   overflow="fold" if column.wrap else "ellipsis",
                                   height=None, highlight=False)))
            if texts is not None:
                yield gap.join(texts) + "\n"
                continue
            if plain is not None:  # unstyled lines: text, as the segments below would write
                yield "".join(gap.join(lines[line_no] if line_no < len(lines) else " " * width
                                       for (_, width, _), lines in zip(shown, plain,
                                                                       strict=True)) + "\n"
                              for line_no in range(max(len(lines) for lines in plain)))
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


# The characters found to take one cell: printable ASCII, and each other one the first time
# Rich's table says so (a timeline's →, “ and ” are asked once, not once a summary).
_ONE_CELL = {chr(code) for code in range(0x20, 0x7F)}
_ONE_CELL_BYTES = bytes(range(0x20, 0x7F))  # their UTF-8, as bytes.translate deletes it


def _plain_column(cells: Sequence[Any], right: bool) -> bool:
    """Whether add_row would keep each of `cells` as it is, its width its length: non-empty
    printable str of one cell a character (no trailing space in a right-justified column,
    which add_row leaves unmeasured), asked of the column's text joined."""
    if not all(type(cell) is str for cell in cells) or not all(cells):
        return False
    joined = "".join(cells)
    if not joined.isprintable() or not (joined.isascii() or _one_cell_each(joined)):
        return False
    return not right or not any(cell[-1] == " " for cell in cells)


def _one_cell_each(text: str) -> bool:
    """Whether every character of printable `text` takes one cell (ASCII, →, “, é …; not 漢
    or a combining accent)."""
    if text.isascii():
        return True
    # Its characters other than printable ASCII alone (its UTF-8 without those bytes): a set of
    # them is much quicker to make than one of every character (a timeline's 600,000).
    others = text.encode("utf-8", "surrogatepass").translate(None, _ONE_CELL_BYTES).decode(
        "utf-8", "surrogatepass")
    unknown = set(others).difference(_ONE_CELL)
    if not unknown:
        return True
    from rich.cells import get_character_cell_size  # lazy: only the Rich parts this output draws

    for char in unknown:
        if get_character_cell_size(char) != 1:
            return False
        _ONE_CELL.add(char)
    return True


def _wrapped(text: str, width: int) -> list[str]:
    """Printable `text` of one cell a character wrapped at words into lines of `width` cells,
    as Rich draws a left-justified Text that folds: its divide_line breaks (_breaks), each
    line's spaces beyond the width dropped (Text.rstrip_end), cut and padded to the width
    (Lines.justify "left")."""
    bounds = [0, *_breaks(text, width), len(text)]
    lines = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        line = text[start:end]
        if len(line) > width:
            line = line[:len(line) - min(len(line) - len(line.rstrip()), len(line) - width)]
        lines.append(line[:width].ljust(width))
    return lines


# rich._wrap's words: a word and the spaces after it (and, for the first, those before it).
_WORD = re.compile(r"\s*\S+\s*")


def _breaks(text: str, width: int) -> list[int]:
    """rich._wrap.divide_line(text, width, fold=True) for printable text of one cell a
    character, found a line at a time: a line from `start` holds every word whose last
    character is within `width` of it, so the next line starts at the word over (or, on a
    space, after) the cell `start + width`; a word longer than `width` is folded every `width`
    characters from its start (its spaces after it included), as Rich chops it. The only
    white space printable text holds is " ". A text with a leading space (Rich's first word
    holds it) goes word by word (_word_breaks)."""
    if text[:1] == " ":
        return _word_breaks(text, width)
    breaks: list[int] = []
    end = len(text.rstrip(" "))
    start = 0
    while end - start > width:
        over = start + width  # the first cell past this line
        if text[over] == " ":  # the words before it fit; the next one starts the next line
            word = len(text) - len(text[over:].lstrip(" "))
        else:
            word = text.rfind(" ", start, over) + 1
            if word <= start:  # no space on this line: the word starts it and is too long
                word = start
        stop = text.find(" ", word)
        stop = len(text) if stop < 0 else stop
        if stop - word > width:  # folded, from its own start, with the spaces after it
            after = len(text) - len(text[stop:].lstrip(" "))
            chunks = range(word, after, width)
            breaks.extend(chunk for chunk in chunks if chunk)
            start = chunks[-1]
        else:
            breaks.append(word)
            start = word
    return breaks


def _word_breaks(text: str, width: int) -> list[int]:
    """rich._wrap.divide_line(text, width, fold=True) for text of one cell a character, step
    for step, with a word's cells counted as its characters (Rich measures each word with
    cell_len, and chop_cells cuts such text every `width` characters)."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):  # as words(): each match starts where the last ended
        start, end = match.span()
        length = len(match.group().rstrip())
        if width - offset >= length:
            offset += end - start
        elif length > width:  # folded across lines of `width` characters
            for chunk in range(start, end, width):
                if chunk:
                    breaks.append(chunk)
            offset = (end - start) % width or width
        elif offset and start:
            breaks.append(start)
            offset = end - start
    return breaks


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
