"""Output helpers shared by every face (CLI commands, benchmarks): JSON for machines, Rich for people.

Text that is not ours (skill names and sources, task instructions, error messages,
paths) must reach the terminal exactly as it is. So the consoles here have Rich markup
**off**: a plain string prints verbatim, table cells included. Our own styling is built
with :func:`markup`, which escapes every value it interpolates, so data can never be
read as markup by construction.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.segment import Segment
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text


class Interrupted(BaseException):
    """Ctrl-C, as the CLI raises it. Not a KeyboardInterrupt, which Typer swallows into
    a silent exit code; commands may catch it to record what was cut short and re-raise
    it with a message for the one line the CLI prints."""


console = Console(markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)


def markup(template: str, *args: Any, **kwargs: Any) -> Text:
    """Our own Rich markup with data in it: ``markup("[green]{}[/] added", name)``.

    Every value is turned into text and escaped before it is placed in the template,
    so ``[local]`` in a value stays ``[local]``.
    """
    safe_args = [escape(str(a)) for a in args]
    safe_kwargs = {k: escape(str(v)) for k, v in kwargs.items()}
    return Text.from_markup(template.format(*safe_args, **safe_kwargs))


# A free-text column narrower than this reads as a column of single words: below it,
# the rows are printed one block each instead (a table may ask for more).
FLEX_MIN = 20
# A cell this short (a date, a number, a range, a status) is never wrapped, even at a space.
SHORT = 20


class FitTable(Table):
    """A table that never breaks a word: it gives each column at least its longest word
    (`keep` columns and cells of up to SHORT characters stay on one line), gives the
    free-text (`flex`) columns the room left, and when even that does not fit the
    terminal prints each row as a block of ``header: value`` lines (Rich alone would
    cut words into slices). Lines carry no trailing spaces (pipes get clean text)."""

    def __init__(self, *args: Any, flex: tuple[str, ...] = (), flex_min: int = FLEX_MIN, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flex = flex
        self.flex_min = flex_min

    def _cells(self, index: int) -> list[RenderableType]:
        column = self.columns[index]
        return [column.header, *column.cells] if self.show_header else list(column.cells)

    def _fit(self, console: Console, options: ConsoleOptions) -> list[int] | None:
        """Column widths for `options.max_width`, or None when the rows must be blocks."""
        for column in self.columns:
            column.width = None
        wide = options.update_width(1_000_000)
        mins, maxs = [], []
        for i, column in enumerate(self.columns):
            sizes = [Measurement.get(console, wide, cell) for cell in self._cells(i)]
            top = max((m.maximum for m in sizes), default=1)
            maxs.append(top)
            whole = [m.maximum if m.maximum <= SHORT else m.minimum for m in sizes]
            mins.append(top if column.no_wrap else max(whole, default=1))
        overhead = Measurement.get(console, wide, _Plain(self)).maximum - sum(maxs)
        room = options.max_width - overhead
        if sum(maxs) <= room:
            return maxs
        flex = [str(c.header) in self.flex for c in self.columns]
        need = [min(hi, max(lo, self.flex_min)) if f else lo for lo, hi, f in zip(mins, maxs, flex)]
        if sum(need) > room:
            return None
        spare = room - sum(need)
        for wanted in (False, True):  # short columns whole first, then the free text
            for i, f in enumerate(flex):
                if f == wanted and spare > 0:
                    more = min(spare, maxs[i] - need[i])
                    need[i] += more
                    spare -= more
        return need

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._fit(console, options)
        if widths is None:
            lines = console.render_lines(_Blocks(self), options, pad=False, new_lines=False)
        else:
            for column, width in zip(self.columns, widths):
                column.width = width
            lines = console.render_lines(_Plain(self), options, pad=False, new_lines=False)
        for line in lines:
            yield from _rstrip(line)
            yield Segment.line()


class _Plain:
    """The table drawn by Rich itself (FitTable only chooses the widths)."""

    def __init__(self, table: FitTable) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from Table.__rich_console__(self.table, console, options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Table.__rich_measure__(self.table, console, options)


class _Blocks:
    """A table too wide for the terminal, one row per block: the first column on its own
    line, then the other non-empty cells as ``header: value``, short ones side by side."""

    def __init__(self, table: FitTable) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        t = self.table
        if t.title:
            yield _as_text(t.title)
        headers = [str(c.header) for c in t.columns]
        rows = list(zip(*(list(c.cells) for c in t.columns)))
        indent = options.update_width(max(1, options.max_width - 2))
        for row in rows:
            yield _as_text(row[0])
            short: list[Text] = []
            long: list[Text] = []
            for header, cell in zip(headers[1:], row[1:]):
                value = _as_text(cell)
                if value.plain:
                    field = Text.assemble((f"{header}: ", "dim"), value) if t.show_header else value
                    wide = header in t.flex or "\n" in value.plain or field.cell_len > indent.max_width
                    (long if wide else short).append(field)
            line = Text()
            for field in short:  # side by side while they fit on one line
                if line and line.cell_len + 3 + field.cell_len > indent.max_width:
                    yield Padding(line, (0, 0, 0, 2), expand=False)
                    line = Text()
                line = line + Text(" · ") + field if line else field
            for text in ([line] if line else []) + long:
                yield Padding(text, (0, 0, 0, 2), expand=False)


def _as_text(cell: Any) -> Text:
    return cell.copy() if isinstance(cell, Text) else Text(str(cell))


def _rstrip(line: list[Segment]) -> list[Segment]:
    """`line` without the spaces Rich pads it with on the right (kept where they are
    coloured, e.g. a background)."""
    line = list(line)
    while line and not line[-1].control and (line[-1].style is None or not line[-1].style.bgcolor):
        text = line[-1].text.rstrip(" ")
        if text:
            line[-1] = Segment(text, line[-1].style, line[-1].control)
            break
        line.pop()
    return line


def table(*columns: str, title: str | Text | None = None, keep: tuple[str, ...] = (), flex: tuple[str, ...] = (),
          flex_min: int = FLEX_MIN, **kwargs: Any) -> FitTable:
    """The one table style of the CLI: compact, no ellipsis, no word ever cut (see
    :class:`FitTable`).

    `keep` names the columns of ids, names, dates and numbers, which stay on one line;
    `flex` names the columns of free text (instructions, signatures, messages) that
    share the room left once the others are whole, each at least `flex_min` wide.
    """
    kwargs.setdefault("box", box.SIMPLE_HEAD)
    kwargs.setdefault("show_edge", False)
    kwargs.setdefault("pad_edge", False)
    kwargs.setdefault("collapse_padding", True)
    t = FitTable(title=title, flex=flex, flex_min=flex_min, **kwargs)
    for col in columns:
        t.add_column(col, overflow="fold", no_wrap=col in keep)
    return t


def add_column(t: Table, header: str, **kwargs: Any) -> None:
    """`Table.add_column` with folding as the default overflow."""
    kwargs.setdefault("overflow", "fold")
    kwargs.setdefault("no_wrap", False)
    t.add_column(header, **kwargs)


def print_code(code: str, lexer: str = "python", out: Console | None = None) -> None:
    """Print source code whole: highlighted, never wrapped, cropped or padded (a long
    line runs on as the terminal wraps it; a pipe gets the exact lines)."""
    text = Syntax(code, lexer, theme="ansi_dark", background_color="default").highlight(code)
    text.rstrip()
    (out or console).print(text, soft_wrap=True, crop=False)


def write_plain(text: str) -> None:
    """Write `text` to stdout exactly (no wrapping, no cropping, no markup)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def to_jsonable(obj: Any) -> Any:
    """Turn records (dataclasses, enums, datetimes, paths) into JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    return obj


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print `data` as JSON when asked, else through the human renderer."""
    if as_json:
        print_json(data)
    else:
        render(data)
