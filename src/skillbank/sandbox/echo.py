"""EchoHost: the built-in host for `skillbank sandbox exec`, tests and benchmarks."""

from __future__ import annotations

from typing import Any


class EchoHostError(Exception):
    """What `apis.echo.fail(message=...)` raises in the host."""


class EchoHost:
    """One app, `echo`: `echo(**kw)` returns kw; `fail(message=...)` raises."""

    def call(self, app: str, api: str, **kwargs: Any) -> Any:
        if app != "echo":
            raise EchoHostError(f"unknown app {app!r}; this host has one app: echo (apis: echo, fail)")
        if api == "echo":
            return kwargs
        if api == "fail":
            raise EchoHostError(str(kwargs.get("message", "apis.echo.fail was called")))
        raise EchoHostError(f"unknown api echo.{api}; available: echo, fail")
