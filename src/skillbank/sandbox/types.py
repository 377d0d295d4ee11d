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


@dataclass(frozen=True)
class FrameInfo:
    """One traceback frame in agent code (a code block or a preloaded skill)."""

    filename: str
    lineno: int
    function: str


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
    defined_functions: tuple[str, ...] = ()
    static_errors: tuple[str, ...] = ()
    killed: str | None = None  # "timeout", "memory", "crash" or None
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failing_functions(self) -> tuple[str, ...]:
        """Names of agent-defined functions on the traceback (innermost last)."""
        return tuple(f.function for f in self.frames if f.function != "<module>")
