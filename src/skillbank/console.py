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
from rich.console import Console
from rich.markup import escape
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


def table(*columns: str, title: str | None = None, keep: tuple[str, ...] = (), flex: tuple[str, ...] = (),
          **kwargs: Any) -> Table:
    """A compact table whose cells wrap and fold instead of being cut: nothing a user
    copies from a table is truncated with an ellipsis.

    `keep` names the columns of ids and names, which stay on one line (the other
    columns fold first); `flex` names the columns of free text (instructions,
    signatures) that share the room left once the others have their natural width.
    """
    kwargs.setdefault("box", box.SIMPLE_HEAD)
    kwargs.setdefault("show_edge", False)
    kwargs.setdefault("pad_edge", False)
    kwargs.setdefault("collapse_padding", True)
    t = Table(title=title, **kwargs)
    for col in columns:
        t.add_column(col, overflow="fold", no_wrap=col in keep, ratio=1 if col in flex else None)
    return t


def add_column(t: Table, header: str, **kwargs: Any) -> None:
    """`Table.add_column` with folding as the default overflow."""
    kwargs.setdefault("overflow", "fold")
    kwargs.setdefault("no_wrap", False)
    t.add_column(header, **kwargs)


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
