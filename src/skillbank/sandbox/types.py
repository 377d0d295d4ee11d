"""Records the sandbox returns, and the host protocol its `apis` broker calls.

These are the seam between the sandbox and its users (the agent turns an
:class:`ExecutionResult` into an observation and a failure log), so they are kept
complete and plain: frozen dataclasses of JSON-ready values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ApiHost(Protocol):
    """What the parent process exposes to agent code as `apis.<app>.<api>(**kwargs)`.

    `call` returns a JSON-serialisable value or raises; the exception's message is
    sent back and re-raised inside the worker.
    """

    def call(self, app: str, api: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class ApiCallRecord:
    """One `apis.<app>.<api>(...)` call as the parent saw it.

    `arguments` is what the agent passed, or, when the call's frame was larger than
    a few KiB, a bounded copy (nesting, items and strings cut, with markers;
    `arguments_truncated` says so). Results are not kept; `request_bytes` and
    `response_bytes` give the traffic either way.
    """

    app: str
    api: str
    arguments: dict[str, Any]
    ok: bool
    error: str | None = None
    duration_s: float = 0.0
    arguments_truncated: bool = False
    request_bytes: int = 0
    response_bytes: int = 0
    #: The preloaded skill whose worker made the call (None: the task's own code). The
    #: parent knows it from the socket the call arrived on, not from anything the code said.
    skill: str | None = None


@dataclass(frozen=True)
class SkillCallRecord:
    """One call of a preloaded skill, as the parent saw it pass through.

    Every preloaded skill runs in a worker of its own, so a call from the task's code
    (or from another skill: `caller`) is a frame to the parent, which hands it to the
    skill's worker and the result back. `args`/`kwargs` are bounded copies of what was
    passed; `result` the returned JSON value (None when `result_kind` is not ``json``:
    ``too_large``, or ``none`` for a failed call). `ok` is False when the skill raised,
    whether or not the caller caught it. `api_calls` counts the calls its own worker made
    (`api_failed` of them failed); nested skill calls are records of their own.
    """

    name: str
    ref: str | None
    caller: str | None
    args: list[Any] | None
    kwargs: dict[str, Any] | None
    ok: bool
    result_kind: str = "none"
    result: Any = None
    error_type: str | None = None
    error: str | None = None
    api_calls: int = 0
    api_failed: int = 0
    duration_s: float = 0.0
    killed: str | None = None


@dataclass(frozen=True)
class FrameInfo:
    """One traceback frame in agent code (a code block or a preloaded skill)."""

    filename: str
    lineno: int
    function: str
    line: str = ""


@dataclass(frozen=True)
class ExecutionResult:
    ok: bool
    stdout: str = ""
    stdout_truncated: bool = False
    result_repr: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    frames: tuple[FrameInfo, ...] = ()
    api_calls: tuple[ApiCallRecord, ...] = ()
    skill_calls: tuple[SkillCallRecord, ...] = ()
    defined_functions: tuple[str, ...] = ()
    static_errors: tuple[str, ...] = ()
    killed: str | None = None  # "timeout", "memory", "crash" or None
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failing_functions(self) -> tuple[str, ...]:
        """Names of agent-defined functions on the traceback (innermost last)."""
        return tuple(f.function for f in self.frames if f.function != "<module>")
