"""Bounded views of untrusted data: JSON conversion, repr and terminal text with limits.

Agent code chooses the shape of what crosses the sandbox (API arguments, answers,
output), so every host-side consumer that walks it (the CLI, traces, reports) goes
through these functions instead of `dataclasses.asdict`, a bare recursive converter or
`repr`: depth, item counts, string lengths and the total work are capped, and what is
cut is replaced by a marker that says so. Nothing here raises on deep or cyclic input.

This module sits at the bottom layer: it imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import reprlib
from pathlib import PurePath
from typing import Any

#: Deeper than any record or API payload the project itself builds; far below the
#: interpreter's recursion limit, so a consumer that recurses over the result is safe.
MAX_DEPTH = 32
MAX_ITEMS = 10_000
MAX_STR = 1 << 20
MAX_NODES = 200_000

_DEEP = "…[nested deeper than {depth} levels]"
_MORE_ITEMS = "…[{n} more items]"
_MORE_TEXT = "…[{n} more characters]"
_BUDGET = "…[output budget used up]"


@dataclasses.dataclass
class _Budget:
    nodes: int
    truncated: bool = False


def bounded_jsonable(
    obj: Any,
    *,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    max_str: int = MAX_STR,
    max_nodes: int = MAX_NODES,
) -> Any:
    """`obj` as JSON-ready values (dicts with str keys, lists, str, int, float, bool,
    None), cut to the given limits.

    Records (dataclasses, objects with `to_dict()`), enums, datetimes, paths, decimals,
    bytes, sets and tuples are converted the way the CLI prints them; anything else
    becomes its bounded repr. A container nested deeper than `max_depth` becomes a
    marker string, a container's items past `max_items` one marker item, a string
    past `max_str` characters its head and a marker, and once `max_nodes` values have
    been visited the rest are markers.
    """
    return _convert(obj, max_depth, max_items, max_str, _Budget(max_nodes))


def bounded_jsonable_flagged(
    obj: Any,
    *,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    max_str: int = MAX_STR,
    max_nodes: int = MAX_NODES,
) -> tuple[Any, bool]:
    """:func:`bounded_jsonable` and whether anything was cut."""
    budget = _Budget(max_nodes)
    return _convert(obj, max_depth, max_items, max_str, budget), budget.truncated


def _convert(obj: Any, depth: int, max_items: int, max_str: int, budget: _Budget) -> Any:
    budget.nodes -= 1
    if budget.nodes < 0:
        budget.truncated = True
        return _BUDGET
    if obj is None or obj is True or obj is False:
        return obj
    cls = type(obj)
    if cls is int:
        # Past ~4300 digits str() refuses; such a number is agent data, not a quantity.
        return obj if -(10**300) < obj < 10**300 else _cut(f"<int of {obj.bit_length()} bits>", max_str, budget)
    if cls is float:
        return obj
    if cls is str:
        return _cut(obj, max_str, budget)
    if isinstance(obj, enum.Enum):
        return _convert(obj.value, depth, max_items, max_str, budget)
    record = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    if record or isinstance(obj, (dict, list, tuple, set, frozenset)):
        if depth <= 0:
            budget.truncated = True
            return _DEEP.format(depth=0)
        if record:
            items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
            return _mapping(items, len(items), depth, max_items, max_str, budget)
        if isinstance(obj, dict):
            return _mapping(obj.items(), len(obj), depth, max_items, max_str, budget)
        out = []
        for n, value in enumerate(obj):
            if n >= max_items:
                budget.truncated = True
                out.append(_MORE_ITEMS.format(n=len(obj) - n))
                break
            out.append(_convert(value, depth - 1, max_items, max_str, budget))
        return out
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return _convert(int(obj), depth, max_items, max_str, budget)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return _cut(str(obj), max_str, budget)
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, (decimal.Decimal, PurePath)):
        return str(obj)
    if isinstance(obj, (bytes, bytearray)):
        return _cut(bytes(obj[: max_str * 4]).decode("utf-8", "replace"), max_str, budget)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        if depth <= 0:
            budget.truncated = True
            return _DEEP.format(depth=0)
        return _convert(to_dict(), depth, max_items, max_str, budget)
    return bounded_repr(obj, max_chars=min(max_str, 10_000))


def _mapping(items: Any, size: int, depth: int, max_items: int, max_str: int, budget: _Budget) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, (key, value) in enumerate(items):
        if n >= max_items:
            budget.truncated = True
            out["…"] = _MORE_ITEMS.format(n=size - n)
            break
        name = key if type(key) is str else bounded_repr(key, max_chars=200)
        out[_cut(name, max_str, budget)] = _convert(value, depth - 1, max_items, max_str, budget)
    return out


def _cut(text: str, max_str: int, budget: _Budget) -> str:
    if len(text) <= max_str:
        return text
    budget.truncated = True
    return text[:max_str] + _MORE_TEXT.format(n=len(text) - max_str)


class _Repr(reprlib.Repr):
    def __init__(self, max_depth: int, max_items: int):
        super().__init__()
        self.maxlevel = max_depth
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = max_items
        self.maxarray = max_items
        self.maxstring = self.maxother = 10_000
        self.maxlong = 400

    def repr_instance(self, obj: Any, level: int) -> str:
        try:
            text = repr(obj)
        except Exception as exc:  # noqa: BLE001 - a failing __repr__ is the object's problem
            return f"<{type(obj).__name__} object; repr() failed: {type(exc).__name__}>"
        return text if len(text) <= self.maxother else text[: self.maxother] + "…"


def bounded_repr(obj: Any, *, max_chars: int = 2_000, max_depth: int = 6, max_items: int = 50) -> str:
    """`repr(obj)` with nesting, container sizes and the length cut (reprlib's `...`)."""
    try:
        text = _Repr(max_depth, max_items).repr(obj)
    except RecursionError:
        text = f"<{type(obj).__name__} too deeply nested to show>"
    if len(text) > max_chars:
        text = text[:max_chars] + _MORE_TEXT.format(n=len(text) - max_chars)
    return text


# C0 controls except newline and tab, DEL and C1 controls (ESC, CSI, OSC and the rest)
# become visible escapes, so agent output cannot move the cursor, retitle the window or
# plant hyperlinks in a terminal.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"}
_CONTROL[0x0D] = "\\r"
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)})


def terminal_text(text: str, *, max_chars: int | None = None) -> str:
    """`text` safe to write to a terminal: control characters (ESC, CR, BEL, C1, bidi
    overrides) shown as escapes; optionally cut to `max_chars`."""
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars] + _MORE_TEXT.format(n=len(text) - max_chars)
    return text.translate(_CONTROL)
