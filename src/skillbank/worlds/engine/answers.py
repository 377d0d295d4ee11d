"""The one answer normalisation of every world: how an answer, or a text field the grader
checks, is compared with what the task wants.

Both sides go through the same function (the rules are symmetric), so a correct answer
written differently passes and nothing else does:

- **Strings** lose surrounding whitespace, runs of inner whitespace become one space, and
  case is ignored: ``" Lentil Soup\\n"`` equals ``"lentil soup"``.
- **Numbers** compare by value (``3``, ``3.0``, ``"3"``, ``"1,250"``); non-integers to the
  cent (``461.43`` equals ``461.4300001``). A number written as a currency amount is that
  number: ``"$461.43"``, ``"-$5"``, ``"461.43 USD"``, ``"461.43 dollars"``.
- **Booleans are not numbers**: ``True`` never equals ``1``, and neither equals ``"1"``.
  ``None`` equals only ``None``.
- **Lists** compare as multisets unless the task says order matters; a one-element list
  equals its element (``["Alice"]`` and ``"Alice"``).
- **Dicts** compare key by key after normalising keys and values.

Exact-content text fields (a note's or a file's content, an email's subject and body, a
text, a title, a payment note: `grading.TEXT_FIELDS` lists them) compare with
:func:`texts_equal`: surrounding whitespace (a trailing newline) is ignored, everything
else (case, inner spacing, line breaks) must match.

Answers come from agent code: :func:`canonical` refuses one nested deeper than
:data:`MAX_DEPTH`, with more than :data:`MAX_NODES` values or a string longer than
:data:`MAX_TEXT` (:class:`AnswerRefused`), so grading such an answer is a failed test,
never a crash.
"""

from __future__ import annotations

import re
import reprlib
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DEPTH = 32
MAX_NODES = 10_000
MAX_TEXT = 100_000

_CENT = Decimal("0.01")
_NUMBER = re.compile(
    r"^(?P<sign1>[-+])?\s*(?:\$|usd\s*)?\s*(?P<sign2>[-+])?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s*(?:usd|dollars?)?$"
)


class AnswerRefused(ValueError):
    """An answer too deep, too large or of a type an answer cannot have."""


def _number(d: Decimal) -> Decimal:
    if not d.is_finite():
        return d
    return d.normalize() if d == d.to_integral_value() else d.quantize(_CENT).normalize()


def parse_number(s: str) -> Decimal | None:
    """The number a (normalised, lower-case) string spells, currency marks allowed; else None."""
    m = _NUMBER.match(s)
    if m is None or (m.group("sign1") and m.group("sign2")):
        return None
    try:
        d = Decimal(m.group("num").replace(",", ""))
    except InvalidOperation:
        return None
    return -d if "-" in (m.group("sign1"), m.group("sign2")) else d


def canonical(value: Any) -> Any:
    """The normal form of an answer: tagged tuples, so a bool never meets a number."""
    budget = [MAX_NODES]

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise AnswerRefused(f"the answer is nested deeper than {MAX_DEPTH} levels")
        budget[0] -= 1
        if budget[0] < 0:
            raise AnswerRefused(f"the answer has more than {MAX_NODES} values")
        if v is None:
            return ("none",)
        if isinstance(v, bool):
            return ("bool", v)
        if isinstance(v, (int, float, Decimal)):
            try:
                return ("num", _number(Decimal(str(v)) if not isinstance(v, Decimal) else v))
            except (ValueError, InvalidOperation):
                raise AnswerRefused("the answer has a number too large to compare") from None
        if isinstance(v, str):
            if len(v) > MAX_TEXT:
                raise AnswerRefused(f"the answer has a string longer than {MAX_TEXT} characters")
            s = " ".join(v.split()).lower()
            d = parse_number(s)
            return ("num", _number(d)) if d is not None else ("str", s)
        if isinstance(v, (list, tuple)):
            return ("list", tuple(walk(x, depth + 1) for x in v))
        if isinstance(v, dict):
            items = [(walk(k, depth + 1), walk(x, depth + 1)) for k, x in v.items()]
            return ("dict", tuple(sorted(items, key=repr)))
        raise AnswerRefused(f"an answer cannot be of type {type(v).__name__}")

    return walk(value, 0)


def _equal(g: Any, w: Any, order_matters: bool) -> bool:
    if g == w:
        return True
    g_list, w_list = g[0] == "list", w[0] == "list"
    if g_list and w_list:
        if order_matters or len(g[1]) != len(w[1]):
            return False
        return sorted(map(repr, g[1])) == sorted(map(repr, w[1]))
    if w_list and len(w[1]) == 1:
        return _equal(g, w[1][0], order_matters)
    if g_list and len(g[1]) == 1:
        return _equal(g[1][0], w, order_matters)
    return False


def answers_equal(got: Any, want: Any, *, order_matters: bool = False) -> bool:
    """Whether `got` is `want` under the normalisation above. Raises AnswerRefused for an
    answer too deep, too large or of a non-answer type."""
    return _equal(canonical(got), canonical(want), order_matters)


def normalise_text(value: str) -> str:
    """An exact-content text field without its surrounding whitespace (and CRLF as LF)."""
    return value.replace("\r\n", "\n").strip()


def texts_equal(got: Any, want: str) -> bool:
    return isinstance(got, str) and normalise_text(got) == normalise_text(want)


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8


def describe(value: Any) -> str:
    """A short, bounded repr of an untrusted answer (safe for any depth or size)."""
    try:
        return _REPR.repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int too long to print
        return f"<{type(value).__name__}>"
