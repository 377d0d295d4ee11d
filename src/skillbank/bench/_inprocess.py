"""`apis` for the project's own trusted code run in-process: benchmark baselines, expert
throughput, world tests. Agent code never gets this; it always runs in the sandbox."""

from __future__ import annotations

from typing import Any


class InProcessApis:
    """`apis.<app>.<api>(**kw)` as a plain method call: ``host.call(app, api, **kw)``."""

    __slots__ = ("_host",)

    def __init__(self, host: Any):
        self._host = host

    def __getattr__(self, app: str) -> _InProcessApp:
        return _InProcessApp(self._host, app)


class _InProcessApp:
    __slots__ = ("_app", "_host")

    def __init__(self, host: Any, app: str):
        self._host, self._app = host, app

    def __getattr__(self, api: str) -> Any:
        host, app = self._host, self._app
        return lambda **kwargs: host.call(app, api, **kwargs)
