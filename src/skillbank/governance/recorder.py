"""The call recorder: the arguments and JSON result of each call of a preloaded skill.

The sandbox runs every preloaded skill in a worker of its own, so each call of one
passes through the parent, which keeps a bounded record of it
(:class:`skillbank.sandbox.types.SkillCallRecord`). The recorder is a view of those
records: nothing of it runs in a worker, so no code there can see that it is being
recorded, read the records or write them. :func:`calls_of` keeps the first
:data:`MAX_CALLS` successful calls of a session; a result is kept as JSON when it
serialised within the sandbox's limit, else marked ``too_large``. A skill the agent
redefines in a block is its own code, not the preloaded version, and is not recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MAX_CALLS = 64
UNSERIALISABLE = "unserialisable"
TOO_LARGE = "too_large"


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


def calls_of(session: Any) -> list[RecordedCall]:
    """The successful skill calls `session` saw (its host-side records), oldest first."""
    records = getattr(session, "skill_calls", ())
    calls: list[RecordedCall] = []
    for r in records:
        if len(calls) >= MAX_CALLS:
            break
        if not r.ok:
            continue
        kind = r.result_kind if r.result_kind in ("json", TOO_LARGE) else UNSERIALISABLE
        calls.append(RecordedCall(r.name, r.args, r.kwargs, kind, r.result if kind == "json" else None))
    return calls


def recording_sessions(factory: Callable[[Any, str], Any], sink: Callable[[str, list[RecordedCall]], None]
                       ) -> Callable[[Any, str], Any]:
    """Wrap a session factory (``(host, task_id) -> context manager``): every session hands
    its preloaded skills' calls to ``sink(task_id, calls)`` on exit."""

    @contextmanager
    def open_session(host: Any, task_id: str) -> Iterator[Any]:
        with factory(host, task_id) as inner:
            try:
                yield inner
            finally:
                sink(task_id, calls_of(inner))

    return open_session
