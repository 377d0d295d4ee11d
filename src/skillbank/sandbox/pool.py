"""SandboxPool and Session: the parent's side of the sandbox.

The pool owns a zygote process and a set of locked-down workers forked from it. A
:class:`Session` holds one worker for one task; every execution is a `run` frame to the
worker, answered by a `done` frame, with one `api` round trip per `apis.*` call in
between. The parent enforces the wall clock (socket deadlines, then SIGKILL through a
pidfd), the API-call budget and the frame-size limit; nothing the worker says is
trusted beyond its shape.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

from skillbank.errors import SkillbankError, ValidationError
from skillbank.sandbox import _protocol
from skillbank.sandbox.config import LAYERS, SandboxConfig
from skillbank.sandbox.types import ApiCallRecord, ApiHost, ExecutionResult, FrameInfo

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READY_TIMEOUT_S = 15.0
_CTL_TIMEOUT_S = 15.0

KILL_ERRORS = {
    "timeout": "TimeoutError",
    "memory": "MemoryError",
    "crash": "WorkerCrashed",
}


class SandboxError(SkillbankError):
    """The sandbox itself failed (the zygote died, a worker never became ready)."""


class SandboxDegradedWarning(RuntimeWarning):
    """An isolation layer is missing on this machine; the sandbox runs without it."""


class _Worker:
    """Parent-side handle of one worker process (mutable bookkeeping, not a record)."""

    __slots__ = ("pid", "pidfd", "sock", "ready", "layers", "tasks_done", "spawned_at")

    def __init__(self, pid: int, pidfd: int, sock: _protocol.Channel):
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.ready = False
        self.layers: dict[str, str] = {}
        self.tasks_done = 0
        self.spawned_at = time.perf_counter()


class SandboxPool:
    """Long-lived, locked-down worker processes that run agent code.

    Use as a context manager or call :meth:`close`; an atexit hook closes pools that
    were left open, and the zygote kills its workers if this process dies.
    """

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config if config is not None else SandboxConfig()
        if not isinstance(self.config, SandboxConfig):
            raise ValidationError(f"config must be a SandboxConfig, not {type(self.config).__name__}")
        self._cond = threading.Condition()
        self._ctl_lock = threading.Lock()
        self._closed = False
        self._idle: list[_Worker] = []
        self._all: dict[int, _Worker] = {}
        self._busy = 0
        self._layers: dict[str, str] | None = None
        self._zygote, self._ctl = self._start_zygote()
        atexit.register(self.close)
        try:
            for _ in range(self.config.worker_count):
                self._idle.append(self._spawn())
            self._await_ready(self._idle[0])
        except BaseException:
            self.close()
            raise

    # -- lifecycle --------------------------------------------------------------------

    def _start_zygote(self) -> tuple[subprocess.Popen, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfg = {
            "allowed_imports": list(self.config.allowed_imports),
            "address_space_bytes": self.config.address_space_bytes,
            "cpu_seconds": self.config.cpu_seconds,
            "open_files": self.config.open_files,
            "stdout_limit_bytes": self.config.stdout_limit_bytes,
            "layers": list(self.config.layers),
        }
        debug = os.environ.get("SKILLBANK_SANDBOX_DEBUG", "") not in ("", "0")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from skillbank.sandbox._zygote import main; main()", json.dumps(cfg), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None if debug else subprocess.DEVNULL,
                start_new_session=True,
                env=_worker_environment(),
            )
        except OSError as exc:
            ours.close()
            raise SandboxError(f"could not start the sandbox zygote: {exc}") from exc
        finally:
            theirs.close()
        ours.settimeout(_CTL_TIMEOUT_S)
        return proc, ours

    def _spawn(self) -> _Worker:
        parent_end, worker_end = socket.socketpair()
        try:
            with self._ctl_lock:
                if self._closed:
                    raise SandboxError("the sandbox pool is closed")
                try:
                    socket.send_fds(self._ctl, [b'{"op":"spawn"}'], [worker_end.fileno()])
                    msg, fds, _flags, _addr = socket.recv_fds(self._ctl, 4096, 1)
                except OSError as exc:
                    raise SandboxError(f"the sandbox zygote is not answering: {exc}") from exc
        finally:
            worker_end.close()
        if not msg or len(fds) != 1:
            parent_end.close()
            raise SandboxError("the sandbox zygote died; create a new SandboxPool")
        worker = _Worker(int(json.loads(msg)["pid"]), fds[0], _protocol.Channel(parent_end))
        with self._cond:
            self._all[worker.pid] = worker
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        if worker.ready:
            return
        try:
            msg = worker.sock.recv(deadline=time.monotonic() + _READY_TIMEOUT_S, max_bytes=1 << 16)
        except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError) as exc:
            self._discard(worker)
            raise SandboxError(f"a sandbox worker failed to start ({type(exc).__name__}); see `skillbank doctor`") from exc
        if not isinstance(msg, dict) or msg.get("op") != "ready":
            self._discard(worker)
            raise SandboxError("a sandbox worker sent an unexpected first message")
        worker.ready = True
        worker.layers = {str(k): str(v) for k, v in dict(msg.get("layers", {})).items()}
        if self._layers is None:
            self._layers = dict(worker.layers)
            self._check_layers(worker.layers)

    def _check_layers(self, layers: Mapping[str, str]) -> None:
        wanted = [name for name in LAYERS if name in self.config.layers or name in ("rlimits", "no_new_privs")]
        missing = {name: layers.get(name, "missing: not reported") for name in wanted if layers.get(name) != "active"}
        required = [name for name in self.config.required_layers if name in missing]
        if required:
            raise SandboxError(
                "required sandbox layer(s) unavailable: "
                + ", ".join(f"{name} ({missing[name]})" for name in required)
            )
        if missing:
            active = [name for name in wanted if name not in missing]
            warnings.warn(
                "sandbox isolation degraded: "
                + ", ".join(f"{name} is {reason}" for name, reason in missing.items())
                + f"; agent code runs with {', '.join(active) or 'no kernel layer'} plus the static check",
                SandboxDegradedWarning,
                stacklevel=3,
            )

    def _discard(self, worker: _Worker) -> None:
        """SIGKILL a worker (via its pidfd: no pid-reuse race) and forget it."""
        try:
            signal.pidfd_send_signal(worker.pidfd, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass
        for closer in (worker.sock.close, lambda: os.close(worker.pidfd)):
            try:
                closer()
            except OSError:
                pass
        with self._cond:
            self._all.pop(worker.pid, None)

    def _exit_status(self, pid: int) -> dict[str, Any]:
        with self._ctl_lock:
            if self._closed:
                return {}
            try:
                self._ctl.send(json.dumps({"op": "status", "pid": pid}).encode())
                reply = self._ctl.recv(4096)
            except OSError:
                return {}
        try:
            return dict(json.loads(reply)) if reply else {}
        except ValueError:
            return {}

    def _replace(self, worker: _Worker) -> tuple[_Worker, dict[str, Any]]:
        """Kill `worker`, learn how it ended, and hand back a ready replacement."""
        self._discard(worker)
        status = self._exit_status(worker.pid)
        fresh = self._spawn()
        self._await_ready(fresh)
        return fresh, status

    def _acquire(self) -> _Worker:
        with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("the sandbox pool is closed")
                if self._idle:
                    worker = self._idle.pop(0)
                    self._busy += 1
                    break
                if self._busy < self.config.worker_count:
                    worker = None
                    self._busy += 1
                    break
                self._cond.wait()
        try:
            if worker is None:
                worker = self._spawn()
            self._await_ready(worker)
            if worker.tasks_done:
                self._roundtrip(worker, {"op": "new_task"})
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise
        return worker

    def _roundtrip(self, worker: _Worker, message: dict[str, Any]) -> dict[str, Any]:
        worker.sock.send(message)
        reply = worker.sock.recv(deadline=time.monotonic() + self.config.timeout_s, max_bytes=1 << 16)
        if not isinstance(reply, dict) or reply.get("op") != "done":
            raise _protocol.ProtocolError("unexpected reply")
        return reply

    def _release(self, worker: _Worker | None, healthy: bool) -> None:
        replacement: _Worker | None = None
        if worker is not None:
            worker.tasks_done += 1
            if not healthy or worker.tasks_done >= self.config.max_tasks_per_worker:
                self._discard(worker)
                worker = None
                if not self._closed:
                    try:
                        replacement = self._spawn()
                    except SandboxError:
                        replacement = None
        with self._cond:
            self._busy -= 1
            for w in (worker, replacement):
                if w is not None:
                    if self._closed:
                        self._discard(w)
                    else:
                        self._idle.append(w)
            self._cond.notify()

    def close(self) -> None:
        """Kill every worker and the zygote. Safe to call twice."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all.values())
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            self._discard(worker)
        with self._ctl_lock:
            try:
                self._ctl.close()
            except OSError:
                pass
        try:
            self._zygote.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._zygote.kill()
            self._zygote.wait()
        atexit.unregister(self.close)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ------------------------------------------------------------------------

    @property
    def layers(self) -> dict[str, str]:
        """Each isolation layer's status as the first worker reported it."""
        return dict(self._layers or {})

    @property
    def zygote_pid(self) -> int:
        return self._zygote.pid

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(self._all)

    def session(self, host: ApiHost, task_id: str | None = None) -> Session:
        """A per-task namespace on one worker (blocks while every worker is busy)."""
        if not callable(getattr(host, "call", None)):
            raise ValidationError(f"host must have a .call(app, api, **kwargs) method; got {type(host).__name__}")
        return Session(self, host, task_id)


class Session:
    """A notebook-like shell for one task: namespace persists across :meth:`run` calls."""

    def __init__(self, pool: SandboxPool, host: ApiHost, task_id: str | None):
        self.pool = pool
        self.host = host
        self.task_id = task_id
        self._config = pool.config
        self._block = 0
        self._seq = 0
        self._skills: dict[str, str] = {}
        self._worker: _Worker | None = pool._acquire()
        self._notice: dict[str, Any] | None = None
        self._closed = False

    # -- public ------------------------------------------------------------------------

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    def run(self, code: str) -> ExecutionResult:
        """Run one code block (filename ``<block-N>``) in the session's namespace."""
        if not isinstance(code, str):
            raise ValidationError(f"code must be a str, not {type(code).__name__}")
        self._block += 1
        return self._execute(code, f"<block-{self._block}>")

    def preload(self, skills: Mapping[str, str]) -> dict[str, ExecutionResult]:
        """Define skills in the namespace (filename ``<skill:NAME>``); one result each.

        Skills that ran cleanly are remembered and defined again if the session moves
        to a new worker or is reset.
        """
        if not isinstance(skills, Mapping):
            raise ValidationError(f"skills must be a mapping of name to source, not {type(skills).__name__}")
        for name, source in skills.items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise ValidationError(f"skill name {name!r} is not a Python identifier")
            if not isinstance(source, str):
                raise ValidationError(f"source of skill {name!r} must be a str, not {type(source).__name__}")
        results: dict[str, ExecutionResult] = {}
        for name, source in skills.items():
            result = self._execute(source, f"<skill:{name}>")
            results[name] = result
            if result.ok:
                self._skills[name] = source
            else:
                self._skills.pop(name, None)
        return results

    def reset(self, keep_skills: bool = True) -> None:
        """Start over with a fresh namespace (preloaded skills defined again unless told not to)."""
        self._check_open()
        if not keep_skills:
            self._skills.clear()
        try:
            self.pool._roundtrip(self._worker, {"op": "reset"})
        except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError):
            self._move_to_new_worker("crash", {})
            return
        self._reload_skills()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        self.pool._release(worker, healthy=worker is not None)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.pool._closed:
            raise SandboxError("the sandbox pool is closed")
        if self._closed:
            raise SandboxError("this sandbox session is closed")
        if self._worker is None:
            raise SandboxError("this sandbox session has no worker (the pool could not replace a killed one)")

    def _reload_skills(self) -> list[str]:
        loaded = []
        pending = list(self._skills.items())
        self._skills.clear()
        for name, source in pending:
            # Re-added only on success, so a skill that kills its worker is not retried
            # by the replacement's own reload.
            if self._worker is None:
                break
            if self._execute(source, f"<skill:{name}>", reloading=True).ok:
                self._skills[name] = source
                loaded.append(name)
        return loaded

    def _move_to_new_worker(self, kind: str, status: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        old, self._worker = self._worker, None
        try:
            self._worker, status = self.pool._replace(old)
        except SandboxError as exc:
            return {"replace_error": str(exc), "exit_status": status}
        replace_s = time.perf_counter() - started
        reloaded = self._reload_skills()
        self._notice = {
            "new_worker": True,
            "namespace_reset": True,
            "reason": f"the previous worker was killed ({kind})",
            "reloaded_skills": reloaded,
        }
        return {"replace_s": replace_s, "exit_status": status}

    def _execute(self, code: str, filename: str, reloading: bool = False) -> ExecutionResult:
        self._check_open()
        cfg = self._config
        worker = self._worker
        started = time.perf_counter()
        deadline = time.monotonic() + cfg.timeout_s
        max_frame = cfg.stdout_limit_bytes * 8 + (1 << 20)
        calls: list[ApiCallRecord] = []
        refused = 0
        killed: str | None = None
        detail = ""
        msg: dict[str, Any] = {}
        try:
            self._seq += 1
            seq = self._seq
            worker.sock.send({"op": "run", "code": code, "filename": filename, "check": cfg.static_check, "seq": seq})
            while True:
                msg = worker.sock.recv(deadline=deadline, max_bytes=max_frame)
                op = msg.get("op") if isinstance(msg, dict) else None
                if op == "done":
                    if msg.get("seq") != seq:
                        raise _protocol.ProtocolError("a result frame for another execution")
                    break
                if op != "api":
                    raise _protocol.ProtocolError(f"unexpected frame {str(op)[:40]!r}")
                if len(calls) >= cfg.api_call_budget:
                    refused += 1
                    reply = {
                        "ok": False,
                        "type": "ApiBudgetExceeded",
                        "error": f"API call budget of {cfg.api_call_budget} calls per execution is used up; "
                        "make fewer calls (e.g. fetch pages in a loop that stops) and try again",
                    }
                    worker.sock.send_raw(_protocol.encode(reply))
                    continue
                record, payload = self._call_host(msg)
                calls.append(record)
                worker.sock.send_raw(payload)
        except _protocol.Timeout:
            killed, detail = "timeout", f"the code ran longer than {cfg.timeout_s:g} s and was stopped"
            msg = {}
        except (_protocol.PeerClosed, ConnectionError, BrokenPipeError):
            killed, detail = "crash", "the worker process died"
            msg = {}
        except _protocol.ProtocolError as exc:
            killed, detail = "crash", f"the worker broke the protocol ({exc})"
            msg = {}  # whatever it sent is not a result
        except BaseException:
            # The host raised something we must not swallow (KeyboardInterrupt…): the
            # worker is mid-execution, so it cannot be reused.
            self._worker = None
            self.pool._discard(worker)
            raise
        duration = time.perf_counter() - started
        extra: dict[str, Any] = {}
        if refused:
            extra["refused_api_calls"] = refused
        if self._notice is not None and not reloading:
            extra.update(self._notice)
            self._notice = None
        if killed is None and msg.get("recycle") == "memory":
            killed, detail = "memory", "the code exceeded the memory limit"
        if killed is not None:
            replacement = self._move_to_new_worker(killed, {})
            status = replacement.get("exit_status") or {}
            if killed == "crash" and status.get("signal") == signal.SIGXCPU:
                killed, detail = "timeout", f"the code used up the CPU-seconds limit ({cfg.cpu_seconds} s)"
            elif killed == "crash" and status.get("signal") == signal.SIGSYS:
                detail += " (the sandbox refuses a system call it made: seccomp, SIGSYS)"
            elif killed == "crash" and status:
                detail += f" ({'signal ' + str(status['signal']) if 'signal' in status else 'exit code ' + str(status.get('exit'))})"
            extra.update({k: v for k, v in replacement.items() if k != "exit_status"})
            extra["exit_status"] = status
            message = (
                f"{detail}; the session continues on a new worker with a fresh namespace "
                "(variables from earlier blocks are gone; preloaded skills are defined again)"
            )
            return ExecutionResult(
                ok=False,
                stdout=_as_str(msg.get("stdout")) if msg.get("op") == "done" else "",
                error_type=KILL_ERRORS[killed],
                error_message=message,
                traceback=_as_str(msg.get("traceback")) or None,
                frames=_frames(msg.get("frames")),
                api_calls=tuple(calls),
                killed=killed,
                duration_s=duration,
                extra=extra,
            )
        return _result_from_done(msg, calls, duration, extra)

    def _call_host(self, msg: dict[str, Any]) -> tuple[ApiCallRecord, bytes]:
        app, api, kwargs = msg.get("app"), msg.get("api"), msg.get("kwargs")
        if not (isinstance(app, str) and _NAME_RE.match(app) and isinstance(api, str) and _NAME_RE.match(api)):
            raise _protocol.ProtocolError("API call with an invalid app or api name")
        if not isinstance(kwargs, dict):
            raise _protocol.ProtocolError("API call whose arguments are not an object")
        started = time.perf_counter()
        try:
            value = self.host.call(app, api, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the host's failures belong to the agent
            error = str(exc) or type(exc).__name__
            return (
                ApiCallRecord(app, api, kwargs, False, error, time.perf_counter() - started),
                _protocol.encode({"ok": False, "type": "ApiError", "error": error}),
            )
        duration = time.perf_counter() - started
        try:
            # Results cross as marshal data: it decodes several times faster than JSON
            # in the worker and refuses the same arbitrary objects (datetimes, classes).
            payload = _protocol.encode_trusted({"ok": True, "result": value})
        except (TypeError, ValueError) as exc:
            error = f"apis.{app}.{api} returned a value that is not JSON-serialisable data ({exc})"
            return (
                ApiCallRecord(app, api, kwargs, False, error, duration),
                _protocol.encode({"ok": False, "type": "ApiError", "error": error}),
            )
        return ApiCallRecord(app, api, kwargs, True, None, duration), payload


#: Environment variables the zygote (and so every worker) keeps; everything else, API keys
#: and tokens included, is dropped so agent code cannot read it and print it into a prompt.
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SKILLBANK_SANDBOX_DEBUG")


def _worker_environment() -> dict[str, str]:
    env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1", HOME="/nonexistent")
    return env


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _frames(raw: Any) -> tuple[FrameInfo, ...]:
    frames = []
    if isinstance(raw, list):
        for item in raw[:200]:
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], int) and isinstance(item[2], str):
                frames.append(FrameInfo(item[0], item[1], item[2]))
    return tuple(frames)


def _str_tuple(raw: Any) -> tuple[str, ...]:
    return tuple(x for x in raw if isinstance(x, str)) if isinstance(raw, list) else ()


def _result_from_done(msg: dict[str, Any], calls: list[ApiCallRecord], duration: float, extra: dict[str, Any]) -> ExecutionResult:
    worker_s = msg.get("duration_s")
    if isinstance(worker_s, (int, float)):
        extra["worker_duration_s"] = float(worker_s)
    return ExecutionResult(
        ok=msg.get("ok") is True,
        stdout=_as_str(msg.get("stdout")),
        stdout_truncated=msg.get("stdout_truncated") is True,
        result_repr=_opt_str(msg.get("result_repr")),
        error_type=_opt_str(msg.get("error_type")),
        error_message=_opt_str(msg.get("error_message")),
        traceback=_opt_str(msg.get("traceback")),
        frames=_frames(msg.get("frames")),
        api_calls=tuple(calls),
        defined_functions=_str_tuple(msg.get("defined_functions")),
        static_errors=_str_tuple(msg.get("static_errors")),
        duration_s=duration,
        extra=extra,
    )
