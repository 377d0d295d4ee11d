"""SandboxPool and Session: the parent's side of the sandbox.

The pool owns a zygote process and a set of locked-down workers forked from it. A
:class:`Session` holds one worker for one task; every execution is a `run` frame to the
worker, answered by a `done` frame, with one `api` round trip per `apis.*` call in
between. Everything a worker sends is hostile input, and the parent keeps its own
accounting:

- every send and receive has the execution's deadline (then SIGKILL through a pidfd);
- frames are bounded in size and nesting before they are decoded, and any decoding
  failure replaces the worker (the session goes on with a fresh one);
- API calls are counted and their traffic measured against per-execution budgets;
  the records keep bounded copies of large arguments, never the results;
- stdout, tracebacks and the other texts are capped here, whatever the worker claims;
- an execution ends only on a `done` frame carrying its sequence number and a random
  token the parent chose for it; the worker's harness keeps the token away from the
  agent's namespace, so a forged frame without it ends the worker, not the block.
  Code running in the same process could still dig the token out (with the static
  check off), so between executions the worker is also stopped (SIGSTOP): code that
  ran on after a forged result gets no time outside a timed execution, and a late
  frame from an earlier execution is dropped instead of ending the next one;
- a worker serves one task: it is killed when its session closes, so nothing a
  tenant does to the worker's process reaches a later tenant.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any, Self

from skillbank.bounded import bounded_jsonable_flagged
from skillbank.errors import SkillbankError, ValidationError
from skillbank.sandbox import _protocol
from skillbank.sandbox.config import LAYERS, SandboxConfig
from skillbank.sandbox.types import ApiCallRecord, ApiHost, ExecutionResult, FrameInfo

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READY_TIMEOUT_S = 15.0
_CTL_TIMEOUT_S = 15.0

#: API arguments larger than this (as a frame) are kept in the record as a bounded copy.
RECORD_ARGUMENTS_BYTES = 4096
_RECORD_LIMITS = {"max_depth": 6, "max_items": 50, "max_str": 1000, "max_nodes": 1000}
_NAME_CHARS = 200  # function and file names in frames, defined function names
_HOST_ERROR_CHARS = 2000

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

    __slots__ = ("layers", "pid", "pidfd", "ready", "sock", "spawned_at", "stopped")

    def __init__(self, pid: int, pidfd: int, sock: _protocol.Channel):
        self.pid = pid
        self.pidfd = pidfd
        self.sock = sock
        self.ready = False
        self.layers: dict[str, str] = {}
        self.stopped = False
        self.spawned_at = time.perf_counter()

    def stop(self) -> None:
        """Freeze the worker between executions (agent code gets no time of its own)."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGSTOP)
            self.stopped = True
        except OSError:
            pass  # it died; the next frame exchange says so

    def resume(self) -> None:
        if self.stopped:
            self.stopped = False
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGCONT)
            except OSError:
                pass


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
        worker = _Worker(int(json.loads(msg)["pid"]), fds[0], _protocol.Channel(parent_end, nonblocking=True))
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
        worker: _Worker | None
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
        except BaseException:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
            raise
        return worker

    def _release(self, worker: _Worker | None) -> None:
        # A worker serves one task: whatever its tenant did to the process (patched
        # harness code, planted threads, changed modules) dies with it.
        replacement: _Worker | None = None
        if worker is not None:
            self._discard(worker)
            if not self._closed:
                try:
                    replacement = self._spawn()
                except SandboxError:
                    replacement = None
        with self._cond:
            self._busy -= 1
            if replacement is not None:
                if self._closed:
                    self._discard(replacement)
                else:
                    self._idle.append(replacement)
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

    def __enter__(self) -> Self:
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
        worker = self._check_open()
        if not keep_skills:
            self._skills.clear()
        worker.resume()
        try:
            self._seq += 1
            token = _TOKENS.getrandbits(63)
            deadline = time.monotonic() + self._config.timeout_s
            worker.sock.send({"op": "reset", "seq": self._seq, "token": token}, deadline=deadline)
            self._await_done(worker, self._seq, token, deadline, 1 << 16)
        except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError):
            self._move_to_new_worker(worker, "crash", {})
            return
        worker.stop()
        self._reload_skills()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        worker, self._worker = self._worker, None
        self.pool._release(worker)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> _Worker:
        """The session's worker, if the session can still run code."""
        if self.pool._closed:
            raise SandboxError("the sandbox pool is closed")
        if self._closed:
            raise SandboxError("this sandbox session is closed")
        if self._worker is None:
            raise SandboxError("this sandbox session has no worker (the pool could not replace a killed one)")
        return self._worker

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

    def _move_to_new_worker(self, old: _Worker, kind: str, status: dict[str, Any]) -> dict[str, Any]:
        """Replace `old`, the session's worker, which was killed."""
        started = time.perf_counter()
        self._worker = None
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

    def _await_done(self, worker: _Worker, seq: int, token: int, deadline: float, max_bytes: int) -> dict[str, Any]:
        """The `done` frame of execution `seq`; earlier executions' late frames are dropped."""
        while True:
            msg = worker.sock.recv(deadline=deadline, max_bytes=max_bytes)
            if not isinstance(msg, dict) or msg.get("op") != "done":
                raise _protocol.ProtocolError("unexpected reply")
            if _is_stale(msg, seq):
                continue
            _check_done(msg, seq, token)
            return msg

    def _execute(self, code: str, filename: str, reloading: bool = False) -> ExecutionResult:
        worker = self._check_open()
        cfg = self._config
        started = time.perf_counter()
        deadline = time.monotonic() + cfg.timeout_s
        max_frame = cfg.stdout_limit_bytes * 8 + (1 << 20)
        calls: list[ApiCallRecord] = []
        refused = 0
        stale = 0
        traffic = 0
        killed: str | None = None
        detail = ""
        msg: dict[str, Any] = {}
        sock = worker.sock
        try:
            self._seq += 1
            seq = self._seq
            token = _TOKENS.getrandbits(63)
            worker.resume()
            sock.send(
                {"op": "run", "code": code, "filename": filename, "check": cfg.static_check, "seq": seq, "token": token},
                deadline=deadline,
            )
            while True:
                msg = sock.recv(deadline=deadline, max_bytes=max_frame)
                op = msg.get("op") if isinstance(msg, dict) else None
                if op == "done":
                    if _is_stale(msg, seq):
                        # A late frame of an earlier execution (whose code forged that
                        # one's result and ran on): not this execution's result.
                        stale += 1
                        continue
                    _check_done(msg, seq, token)
                    break
                if op != "api":
                    raise _protocol.ProtocolError(f"unexpected frame {str(op)[:40]!r}")
                traffic += sock.last_size
                if len(calls) >= cfg.api_call_budget or traffic > cfg.api_bytes_budget:
                    refused += 1
                    sock.send_raw(_protocol.encode(_budget_reply(cfg, traffic)), deadline=deadline)
                    continue
                record, payload = self._call_host(msg, sock.last_size, cfg.api_bytes_budget - traffic)
                calls.append(record)
                traffic += len(payload)
                sock.send_raw(payload, deadline=deadline)
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
        if calls or refused:
            extra["api_traffic_bytes"] = traffic
        if refused:
            extra["refused_api_calls"] = refused
        if stale:
            extra["stale_frames_dropped"] = stale
        if self._notice is not None and not reloading:
            extra.update(self._notice)
            self._notice = None
        if killed is None and msg.get("recycle") == "memory":
            killed, detail = "memory", "the code exceeded the memory limit"
        if killed is not None:
            replacement = self._move_to_new_worker(worker, killed, {})
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
            limit = cfg.stdout_limit_bytes
            stdout, truncated = _cap_output(_as_str(msg.get("stdout")), limit) if msg.get("op") == "done" else ("", False)
            return ExecutionResult(
                ok=False,
                stdout=stdout,
                stdout_truncated=truncated,
                error_type=KILL_ERRORS[killed],
                error_message=message,
                traceback=_cap(_opt_str(msg.get("traceback")), limit),
                frames=_frames(msg.get("frames")),
                api_calls=tuple(calls),
                killed=killed,
                duration_s=duration,
                extra=extra,
            )
        worker.stop()
        return _result_from_done(msg, calls, duration, extra, cfg.stdout_limit_bytes)

    def _call_host(self, msg: dict[str, Any], request_bytes: int, room: int) -> tuple[ApiCallRecord, bytes]:
        app, api, kwargs = msg.get("app"), msg.get("api"), msg.get("kwargs")
        if not (isinstance(app, str) and _NAME_RE.match(app) and isinstance(api, str) and _NAME_RE.match(api)):
            raise _protocol.ProtocolError("API call with an invalid app or api name")
        if not isinstance(kwargs, dict):
            raise _protocol.ProtocolError("API call whose arguments are not an object")
        arguments, cut = kwargs, False
        if request_bytes > RECORD_ARGUMENTS_BYTES:
            arguments, cut = bounded_jsonable_flagged(kwargs, **_RECORD_LIMITS)

        def record(ok: bool, error: str | None, duration: float, response: bytes) -> ApiCallRecord:
            return ApiCallRecord(app, api, arguments, ok, error, duration, cut, request_bytes, len(response))

        started = time.perf_counter()
        try:
            value = self.host.call(app, api, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the host's failures belong to the agent
            error = _host_error(exc)
            payload = _protocol.encode({"ok": False, "type": "ApiError", "error": error})
            return record(False, error, time.perf_counter() - started, payload), payload
        duration = time.perf_counter() - started
        try:
            # Results cross as marshal data: it decodes several times faster than JSON
            # in the worker and refuses the same arbitrary objects (datetimes, classes).
            payload = _protocol.encode_trusted({"ok": True, "result": value})
        except (TypeError, ValueError) as exc:
            error = f"apis.{app}.{api} returned a value that is not JSON-serialisable data ({str(exc)[:200]})"
            payload = _protocol.encode({"ok": False, "type": "ApiError", "error": error})
            return record(False, error, duration, payload), payload
        if len(payload) > room:
            error = (
                f"apis.{app}.{api} returned {len(payload)} bytes, more than the {max(room, 0)} left of this "
                "execution's API traffic budget; ask for less (smaller pages, fewer fields)"
            )
            payload = _protocol.encode({"ok": False, "type": "ApiBudgetExceeded", "error": error})
            return record(False, error, duration, payload), payload
        return record(True, None, duration, payload), payload


#: Tokens for `done` frames: unpredictable from inside a worker (it cannot see this
#: process's generator state), cheap to draw.
_TOKENS = random.SystemRandom()


def _is_stale(msg: dict[str, Any], seq: int) -> bool:
    got = msg.get("seq")
    return type(got) is int and got < seq


def _check_done(msg: dict[str, Any], seq: int, token: int) -> None:
    if msg.get("seq") != seq:
        raise _protocol.ProtocolError("a result frame for another execution")
    if msg.get("token") != token:
        raise _protocol.ProtocolError("a result frame without this execution's token (forged)")


def _budget_reply(cfg: SandboxConfig, traffic: int) -> dict[str, Any]:
    if traffic > cfg.api_bytes_budget:
        error = (
            f"API traffic budget of {cfg.api_bytes_budget} bytes per execution is used up; "
            "pass and fetch less data per execution"
        )
    else:
        error = (
            f"API call budget of {cfg.api_call_budget} calls per execution is used up; "
            "make fewer calls (e.g. fetch pages in a loop that stops) and try again"
        )
    return {"ok": False, "type": "ApiBudgetExceeded", "error": error}


def _host_error(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001
        text = ""
    text = text or type(exc).__name__
    return text if len(text) <= _HOST_ERROR_CHARS else text[:_HOST_ERROR_CHARS] + "…[error message truncated]"


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


_CUT_MARKER = "\n…[output truncated: more than {limit} bytes]\n"


def _cap_output(text: str, limit: int) -> tuple[str, bool]:
    """Captured output cut to `limit` bytes of UTF-8 by the parent, whatever the worker
    capped (the worker's own marker is allowed on top)."""
    if len(text) * 4 <= limit:  # cannot be over: the usual case costs one len()
        return text, False
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit + len(_CUT_MARKER) + 20:
        return text, False
    return data[:limit].decode("utf-8", "ignore") + _CUT_MARKER.format(limit=limit), True


def _cap(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…[truncated]"


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _cut_name(value)


def _cut_name(value: str) -> str:
    return value if len(value) <= _NAME_CHARS else value[:_NAME_CHARS] + "…"


def _frames(raw: Any) -> tuple[FrameInfo, ...]:
    frames = []
    if isinstance(raw, list):
        for item in raw[:200]:
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and type(item[1]) is int and isinstance(item[2], str):
                frames.append(FrameInfo(_cut_name(item[0]), item[1], _cut_name(item[2])))
    return tuple(frames)


def _str_tuple(raw: Any, limit: int, max_items: int = 1000) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(x if len(x) <= limit else x[:limit] + "…" for x in raw[:max_items] if isinstance(x, str))


def _result_from_done(
    msg: dict[str, Any], calls: list[ApiCallRecord], duration: float, extra: dict[str, Any], limit: int
) -> ExecutionResult:
    worker_s = msg.get("duration_s")
    if type(worker_s) is float or type(worker_s) is int:
        extra["worker_duration_s"] = float(worker_s)
    stdout, cut = _cap_output(_as_str(msg.get("stdout")), limit)
    error_type = _opt_str(msg.get("error_type"))
    return ExecutionResult(
        ok=msg.get("ok") is True,
        stdout=stdout,
        stdout_truncated=cut or msg.get("stdout_truncated") is True,
        result_repr=_cap(_opt_str(msg.get("result_repr")), limit),
        error_type=_name(error_type),
        error_message=_cap(_opt_str(msg.get("error_message")), limit),
        traceback=_cap(_opt_str(msg.get("traceback")), limit),
        frames=_frames(msg.get("frames")),
        api_calls=tuple(calls),
        defined_functions=_str_tuple(msg.get("defined_functions"), _NAME_CHARS),
        static_errors=_str_tuple(msg.get("static_errors"), 1000, 200),
        duration_s=duration,
        extra=extra,
    )
