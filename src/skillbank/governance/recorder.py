"""The call recorder: the arguments and JSON result of each call of a preloaded skill.

It needs nothing from the sandbox's internals. After the skills are preloaded, one more
preloaded block (``_sb_recorder``) rebinds each skill's name in the session's namespace
to a thin wrapper that appends ``(name, args, kwargs, result)`` to a list in the same
namespace, then returns the result unchanged. The wrapper keeps the first
:data:`MAX_CALLS` calls and stores a result as JSON text when it serialises within
:data:`MAX_RESULT_CHARS`, else the marker ``"unserialisable"`` or ``"too_large"``: what
does not serialise is recorded as such, never guessed. At the end of the task the host
reads the list back with one bounded ``session.run`` and parses it as untrusted input
(:func:`parse_records`: size, depth and shape checked).

Because the block is preloaded, the session defines it again whenever it moves to a new
worker, and the wrapper refuses to wrap twice. A skill the agent redefines in a later
block replaces the wrapper: that is a new function, not the recorded version.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from skillbank.sandbox.types import ExecutionResult

RECORDER_NAME = "_sb_recorder"
MAX_CALLS = 64
MAX_RESULT_CHARS = 8_000
MAX_READBACK_CHARS = 48_000
MAX_DEPTH = 24
UNSERIALISABLE = "unserialisable"
TOO_LARGE = "too_large"

_WRAPPER = '''
import functools as _sb_functools
import json as _sb_json

try:
    _sb_calls
except NameError:
    _sb_calls = []


def _sb_wrap(_sb_fn, _sb_name):
    if getattr(_sb_fn, "skillbank_recorded", False):
        return _sb_fn

    @_sb_functools.wraps(_sb_fn)
    def _sb_recorded_call(*args, **kwargs):
        result = _sb_fn(*args, **kwargs)
        if len(_sb_calls) < {max_calls}:
            try:
                text = _sb_json.dumps(result, sort_keys=True)
                if len(text) > {max_result}:
                    text = None
                    kind = "{too_large}"
                else:
                    kind = "json"
            except (TypeError, ValueError, RecursionError):
                text = None
                kind = "{unserialisable}"
            try:
                shown = _sb_json.dumps([list(args), kwargs], sort_keys=True)
                if len(shown) > {max_result}:
                    shown = None
            except (TypeError, ValueError, RecursionError):
                shown = None
            _sb_calls.append([_sb_name, shown, kind, text])
        return result

    # Public attribute names: the sandbox's static check refuses private attributes of
    # other objects, and the recorder runs under the same check as agent code.
    _sb_recorded_call.skillbank_recorded = True
    _sb_recorded_call.skillbank_inner = _sb_fn
    return _sb_recorded_call
'''

_READBACK = '''
def _sb_readback():
    out, size = [], 0
    for item in _sb_calls:
        size += sum(len(x) for x in item if isinstance(x, str))
        if size > {limit}:
            break
        out.append(item)
    return _sb_json.dumps(out)


_sb_readback()
'''


def recorder_source(names: list[str]) -> str:
    """The preload block that wraps `names` (each a Python identifier)."""
    body = _WRAPPER.format(max_calls=MAX_CALLS, max_result=MAX_RESULT_CHARS, too_large=TOO_LARGE,
                           unserialisable=UNSERIALISABLE)
    lines = [body]
    for name in names:
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not an identifier")
        lines.append(f"try:\n    {name} = _sb_wrap({name}, {name!r})\nexcept NameError:\n    pass\n")
    return "\n".join(lines)


READBACK_SOURCE = _READBACK.format(limit=MAX_READBACK_CHARS)


@dataclass(frozen=True)
class RecordedCall:
    """One call of a skill as the recorder saw it. `result_kind` is ``json`` (then
    `result` holds the value), ``unserialisable`` or ``too_large``; `args` None: the
    arguments did not serialise."""

    name: str
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    result_kind: str
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": self.args, "kwargs": self.kwargs, "result_kind": self.result_kind,
                "result": self.result}


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def load_bounded_json(text: Any, *, max_chars: int = MAX_RESULT_CHARS) -> tuple[bool, Any]:
    """Parse JSON text that came from the sandbox: (ok, value). Too long, too deep or
    malformed is (False, None)."""
    if not isinstance(text, str) or len(text) > max_chars:
        return False, None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False, None
    if _depth(value) > MAX_DEPTH:
        return False, None
    return True, value


def parse_records(result_repr: str | None) -> list[RecordedCall]:
    """The recorder's list from the read-back block's `result_repr` (a str's repr)."""
    if not isinstance(result_repr, str) or len(result_repr) > 2 * MAX_READBACK_CHARS + 4096:
        return []
    try:
        text = ast.literal_eval(result_repr)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    ok, items = load_bounded_json(text, max_chars=2 * MAX_READBACK_CHARS)
    if not ok or not isinstance(items, list):
        return []
    calls: list[RecordedCall] = []
    for item in items[:MAX_CALLS]:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str) and item[0].isidentifier()):
            continue
        name, shown, kind, text = item
        args = kwargs = None
        if isinstance(shown, str):
            good, pair = load_bounded_json(shown)
            if good and isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], list) and isinstance(pair[1], dict):
                args, kwargs = pair
        if kind == "json":
            good, value = load_bounded_json(text)
            calls.append(RecordedCall(name, args, kwargs, "json", value) if good
                         else RecordedCall(name, args, kwargs, UNSERIALISABLE))
        elif kind in (UNSERIALISABLE, TOO_LARGE):
            calls.append(RecordedCall(name, args, kwargs, kind))
    return calls


def read_back(session: Any) -> list[RecordedCall]:
    """Run the read-back block in `session`; nothing on any failure."""
    try:
        result: ExecutionResult = session.run(READBACK_SOURCE)
    except Exception:  # noqa: BLE001 - a broken session has nothing to give back
        return []
    return parse_records(result.result_repr) if result.ok else []


class RecordingSession:
    """A session that wraps every skill it preloads with the recorder; `calls` holds
    what was read back when it closed."""

    def __init__(self, inner: Any, sink: Callable[[list[RecordedCall]], None]):
        self._inner = inner
        self._sink = sink

    def preload(self, skills: Mapping[str, str]) -> dict[str, ExecutionResult]:
        results = self._inner.preload(skills)
        names = [n for n, r in results.items() if r.ok and n.isidentifier()]
        if names:
            check_loaded(self._inner.preload({RECORDER_NAME: recorder_source(names)}))
        return results

    def run(self, code: str) -> ExecutionResult:
        return self._inner.run(code)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._inner, item)


def recording_sessions(factory: Callable[[Any, str], Any], sink: Callable[[str, list[RecordedCall]], None]
                       ) -> Callable[[Any, str], Any]:
    """Wrap a session factory (``(host, task_id) -> context manager``): every session
    records its preloaded skills' calls and hands them to ``sink(task_id, calls)`` on
    exit."""

    @contextmanager
    def open_session(host: Any, task_id: str) -> Iterator[RecordingSession]:
        with factory(host, task_id) as inner:
            box: list[list[RecordedCall]] = []
            session = RecordingSession(inner, box.append)
            try:
                yield session
            finally:
                sink(task_id, read_back(inner))

    return open_session


def check_loaded(results: Mapping[str, ExecutionResult]) -> None:
    """The recorder is our own code: if the sandbox refuses it, that is a bug to see at
    once, not a silent loss of every call case."""
    r = results.get(RECORDER_NAME)
    if r is not None and not r.ok:
        detail = "; ".join(r.static_errors) if r.static_errors else f"{r.error_type}: {r.error_message}"
        raise RuntimeError(f"the call recorder did not load in the sandbox: {detail}"[:500])
