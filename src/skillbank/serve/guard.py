"""What bounds the server (issue 27): the refused-request log, the access log, request
body caps, and the checks the routes share (integers, payloads, whose run a run is).

- `AccessAudit`: every refused request (401, 403) is counted per client and a few are
  sampled, in memory, and written to the library's own ``access_denials`` and
  ``access_samples`` tables at most once per `flush_interval_s` in one transaction (and
  when the server stops). Nothing goes to a namespace's event log, so no number of
  anonymous requests can push real events out of it; every text is bounded.
- `ServeGuard`: ASGI middleware that refuses a body over `max_body_bytes` with 413
  (before reading it when Content-Length says so, while reading it otherwise) and writes
  one access-log line per request: method, path, status, the token's *id* (never the
  token), client, duration.
- `run_namespace`, `namespaced_runs`, `load_namespaced_run`: a run belongs to the
  namespace it read and wrote (``namespace`` in its config.json; runs recorded before
  that key existed belong to ``default``); tokens see only their namespace's runs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from skillbank.errors import NotFoundError
from skillbank.redact import redact
from skillbank.store.base import DEFAULT_NAMESPACE

ACCESS_LOG = logging.getLogger("skillbank.serve.access")
MAX_BODY_BYTES = 2 * 1024 * 1024
_MAX_PATH = 200
_MAX_REASON = 300
_MAX_CLIENT = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def printable(text: str, limit: int) -> str:
    """`text` on one line (control characters escaped) and at most `limit` characters:
    what a log line or an audit row may hold of a client's input."""
    out = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit])
    return out[:limit] + ("…" if len(text) > limit or len(out) > limit else "")


class AccessAudit:
    """Refused requests, counted and sampled per client (see the module docstring)."""

    def __init__(self, store: Any, *, flush_interval_s: float = 5.0, samples_per_window: int = 20,
                 window_s: float = 3600.0, max_clients: int = 10_000, keep_samples: int = 10_000) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.samples_per_window, self.window_s = samples_per_window, window_s
        self.max_clients, self.keep_samples = max_clients, keep_samples
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._counts: dict[tuple[str, int], list[Any]] = {}
        self._samples: list[dict[str, Any]] = []
        self._sampled: dict[str, int] = {}
        self._window_started = time.monotonic()
        self._timer: threading.Timer | None = None
        self.refused = 0  # since the server started, for tests and the bench

    def record(self, *, client: str, method: str, path: str, status: int, reason: str,
               namespace: str | None = None, token_id: str | None = None) -> None:
        now = dt.datetime.now(dt.UTC)
        client = printable(client or "unknown", _MAX_CLIENT)
        with self._lock:
            self.refused += 1
            if time.monotonic() - self._window_started > self.window_s:
                self._sampled.clear()
                self._window_started = time.monotonic()
            key = (client, int(status))
            if key not in self._counts and len(self._counts) >= self.max_clients:
                key = ("(other clients)", int(status))
            tally = self._counts.get(key)
            if tally is None:
                self._counts[key] = [1, now, now]
            else:
                tally[0] += 1
                tally[2] = now
            taken = self._sampled.get(client, 0)
            if taken < self.samples_per_window and len(self._sampled) < self.max_clients:
                self._sampled[client] = taken + 1
                self._samples.append({
                    "at": now, "client": client, "method": printable(method, 10), "path": printable(path, _MAX_PATH),
                    "status": int(status), "namespace": namespace, "token_id": token_id,
                    "reason": printable(reason, _MAX_REASON),
                })
            due = self.flush_interval_s <= 0
            if not due and self._timer is None:
                self._timer = threading.Timer(self.flush_interval_s, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (one transaction); failures keep nothing and never
        reach the refused request."""
        with self._flush_lock:
            with self._lock:
                counts, samples = self._counts, self._samples
                self._counts, self._samples = {}, []
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = None
            if not counts and not samples:
                return
            rows = [(client, status, n, first, last) for (client, status), (n, first, last) in counts.items()]
            try:
                self.store.record_access_denials(rows, samples, keep_samples=self.keep_samples)
            except Exception:  # pragma: no cover - the audit must never break serving
                logging.getLogger("skillbank.serve").exception("could not write the refused-request log")

    def close(self) -> None:
        self.flush()


class ServeGuard:
    """ASGI middleware: body caps (413) and the access log."""

    def __init__(self, app: Any, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        st = {"status": 0, "started": False, "over": False, "replaced": False}
        too_large = f"the request body is over the limit of {self.max_body_bytes} bytes"

        async def refuse(status: int, error: str, detail: str) -> None:
            st["status"], st["started"] = status, True
            await _refuse(send, status, error, detail)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                if st["over"]:
                    # The app turned the cut-off body into an error of its own (FastAPI:
                    # 400); the client is told the real reason instead.
                    st["replaced"] = True
                    await refuse(413, "too_large", too_large)
                    return
                st["status"], st["started"] = int(message["status"]), True
            elif st["replaced"]:
                return
            await send(message)

        try:
            length = _content_length(scope)
            if length == -1:
                await refuse(400, "invalid", "malformed Content-Length")
                return
            if length is not None and length > self.max_body_bytes:
                await refuse(413, "too_large", f"the request body is {length} bytes; the limit is {self.max_body_bytes}")
                return
            received = [0]

            async def bounded_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    received[0] += len(message.get("body", b""))
                    if received[0] > self.max_body_bytes:
                        st["over"] = True
                        raise _BodyTooLarge
                return message

            try:
                await self.app(scope, bounded_receive, send_logged)
            except _BodyTooLarge:
                if not st["started"]:
                    await refuse(413, "too_large", too_large)
        finally:
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                _log_access(scope, st["status"], started)


def _log_access(scope: Scope, status: Any, started: float) -> None:
    """One line: method, path, status, the token's id (never the token), client, time."""
    token = (scope.get("state") or {}).get("token")
    client = scope.get("client") or ("-", 0)
    ACCESS_LOG.info(
        "%s %s %d token=%s client=%s %.1fms", printable(str(scope.get("method", "-")), 10),
        printable(str(scope.get("path", "")), _MAX_PATH), status,
        getattr(token, "id", None) or "-", printable(str(client[0]), _MAX_CLIENT),
        (time.perf_counter() - started) * 1000,
    )


class _BodyTooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers") or ():
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
    return None


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# -- runs of a namespace ------------------------------------------------------------------


def run_namespace(config: dict[str, Any] | None) -> str:
    """The namespace a run belongs to: the one it read and wrote."""
    ns = (config or {}).get("namespace")
    return ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE


def namespaced_runs(runs_dir: str | Path | None, namespace: str) -> list[Any]:
    """`namespace`'s runs (`RunRecord`s), newest first."""
    from skillbank.agent.trace import list_runs

    if not runs_dir:
        return []
    return [r for r in list_runs(runs_dir) if run_namespace(r.config) == namespace]


def find_namespaced_run(runs_dir: str | Path | None, namespace: str, run_id: str) -> Any:
    """The `RunRecord` of `run_id` (exact id, ``latest``, or a prefix unique among the
    namespace's runs). Another namespace's run is "not found", exactly like one that
    does not exist, and no other namespace's run id is ever named."""
    if not runs_dir:
        raise NotFoundError("this server has no runs directory")
    if not isinstance(run_id, str) or not run_id or len(run_id) > 200:
        raise NotFoundError(f"no run {printable(str(run_id), 80)!r}")
    from skillbank.agent.trace import pick_run

    return pick_run(namespaced_runs(runs_dir, namespace), run_id, where=f"namespace {namespace!r}")


def load_namespaced_run(runs_dir: str | Path | None, namespace: str, run_id: str) -> tuple[Any, list[dict[str, Any]]]:
    """`find_namespaced_run` plus its episodes, loaded by the run's exact id."""
    from skillbank.agent.trace import load_run

    record = find_namespaced_run(runs_dir, namespace, run_id)
    return load_run(runs_dir, record.run_id)  # type: ignore[arg-type]


def public_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """A run's config as served: credentials masked even in runs recorded before
    config.json was redacted at write."""
    out = redact(config or {})
    return out if isinstance(out, dict) else {}
