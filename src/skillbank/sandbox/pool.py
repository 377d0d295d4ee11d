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

import ast
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
from skillbank.sandbox import _protocol, static
from skillbank.sandbox.config import LAYERS, SandboxConfig
from skillbank.sandbox.types import ApiCallRecord, ApiHost, ExecutionResult, FrameInfo, SkillCallRecord

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READY_TIMEOUT_S = 15.0
_CTL_TIMEOUT_S = 15.0

#: API arguments larger than this (as a frame) are kept in the record as a bounded copy.
RECORD_ARGUMENTS_BYTES = 4096
_RECORD_LIMITS = {"max_depth": 6, "max_items": 50, "max_str": 1000, "max_nodes": 1000}
_NAME_CHARS = 200  # function and file names in frames, defined function names
_HOST_ERROR_CHARS = 2000

#: Skill calls kept per execution and per session (the session's log feeds governance's
#: call cases); a skill's result is kept when its JSON is at most this many characters.
MAX_SKILL_RECORDS = 256
MAX_SKILL_RESULT_CHARS = 8_000
#: Skills calling skills: deeper chains are refused (a cycle is refused at once).
MAX_SKILL_DEPTH = 8
#: Skill workers alive at once in one session; the least recently called is stopped for good
#: (and started again if called again) beyond this.
MAX_LIVE_SKILL_WORKERS = 8

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
        self._spare: _Worker | None = None  # forked ahead for replacements and skill units
        self._layers: dict[str, str] | None = None
        self._zygote, self._ctl = self._start_zygote()
        atexit.register(self.close)
        try:
            for _ in range(self.config.worker_count):
                self._idle.append(self._spawn())
            self._await_ready(self._idle[0])
            self._refill_spare()
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
            "max_tasks": self.config.max_tasks,
            "pending_signals": self.config.pending_signals,
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
        return self._take_spare(), status

    def _take_spare(self) -> _Worker:
        """A ready worker outside the pool's count: the spare forked ahead (then another
        is forked in the background), or a new one when there is none yet."""
        with self._cond:
            spare, self._spare = self._spare, None
        worker = spare if spare is not None else self._spawn()
        self._await_ready(worker)
        self._refill_spare()
        return worker

    def _refill_spare(self) -> None:
        def fill() -> None:
            try:
                worker = self._spawn()
            except SandboxError:
                return
            with self._cond:
                keep = not self._closed and self._spare is None
                if keep:
                    self._spare = worker
            if not keep:
                self._discard(worker)

        with self._cond:
            if self._closed or self._spare is not None:
                return
        threading.Thread(target=fill, name="skillbank-spare-worker", daemon=True).start()

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
            self._spare = None
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


class _Exchange:
    """One execution's accounting, shared by the task's worker and the skill workers it
    calls into: API calls (attributed), skill calls, budgets, the chain of skills now
    running (for cycles and depth)."""

    __slots__ = ("calls", "refused", "skills", "stack", "traffic")

    def __init__(self) -> None:
        self.calls: list[ApiCallRecord] = []
        self.skills: list[SkillCallRecord] = []
        self.refused = 0
        self.traffic = 0
        self.stack: list[str] = []


class _SkillUnit:
    """Parent-side state of one preloaded skill in a session."""

    __slots__ = ("doc", "last_used", "name", "ref", "source", "worker")

    def __init__(self, name: str, source: str, ref: str | None, doc: str | None):
        self.name = name
        self.source = source
        self.ref = ref
        self.doc = doc
        self.worker: _Worker | None = None
        self.last_used = 0.0


class _SkillFailed(Exception):
    """A skill call that ends in an error reply to its caller (not in the caller's death)."""

    def __init__(self, error_type: str, message: str, killed: str | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.killed = killed


class Session:
    """A notebook-like shell for one task: namespace persists across :meth:`run` calls.

    Preloaded skills are units of their own: each runs in a worker of its own, started
    when the skill is first called, that holds nothing but that skill (and stubs for the
    other preloaded skills). The task's code calls a skill through a stub: a `skill`
    frame to this process, which hands the call to the skill's worker and the result
    back. So this process sees every skill call and knows, from the socket a call arrives
    on, which skill made which API call (`ExecutionResult.skill_calls`,
    `ApiCallRecord.skill`); none of that is reachable from the code that runs.
    """

    def __init__(self, pool: SandboxPool, host: ApiHost, task_id: str | None):
        self.pool = pool
        self.host = host
        self.task_id = task_id
        self._config = pool.config
        self._block = 0
        self._seq = 0
        self._units: dict[str, _SkillUnit] = {}
        self._skill_log: list[SkillCallRecord] = []
        self._cpu_retired = 0.0  # CPU seconds of this task's workers that are gone
        self._worker: _Worker | None = pool._acquire()
        self._notice: dict[str, Any] | None = None
        self._closed = False

    # -- public ------------------------------------------------------------------------

    @property
    def worker_pid(self) -> int | None:
        return self._worker.pid if self._worker is not None else None

    @property
    def skill_calls(self) -> tuple[SkillCallRecord, ...]:
        """Every preloaded skill's calls in this session so far, as this process saw them
        (the first :data:`MAX_SKILL_RECORDS` x 4)."""
        return tuple(self._skill_log)

    def skill_worker_pids(self) -> dict[str, int]:
        """The live skill workers of this session, by skill name."""
        return {u.name: u.worker.pid for u in self._units.values() if u.worker is not None}

    def run(self, code: str) -> ExecutionResult:
        """Run one code block (filename ``<block-N>``) in the session's namespace."""
        if not isinstance(code, str):
            raise ValidationError(f"code must be a str, not {type(code).__name__}")
        self._block += 1
        return self._execute(code, f"<block-{self._block}>")

    def preload(self, skills: Mapping[str, str], refs: Mapping[str, str] | None = None) -> dict[str, ExecutionResult]:
        """Make skills callable from the session's code (each a unit of its own); one
        result each. `refs` (name -> ``name@N``) labels the skill call records.

        Nothing of a skill runs here: its source is checked (it must define `name`, and
        defining it must run no code of its own: :func:`skillbank.skill.load_time_problems`;
        with the static check on, that check too), then the task's worker gets a stub.
        The skill is defined in its own worker when first called; skill workers that
        already ran are stopped, so every skill starts from its definition again.
        """
        if not isinstance(skills, Mapping):
            raise ValidationError(f"skills must be a mapping of name to source, not {type(skills).__name__}")
        for name, source in skills.items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise ValidationError(f"skill name {name!r} is not a Python identifier")
            if not isinstance(source, str):
                raise ValidationError(f"source of skill {name!r} must be a str, not {type(source).__name__}")
        self._check_open()
        results: dict[str, ExecutionResult] = {}
        for name, source in skills.items():
            started = time.perf_counter()
            tree, defined, doc, problems = _skill_shape(name, source)  # parsed once for every check
            if tree is not None and not problems:
                problems = load_time_problems(tree)  # defining it must run no code of its own
            if tree is not None and not problems and self._config.static_check:
                problems = list(static.check_tree(tree, self._config.allowed_imports))
            if problems:
                results[name] = ExecutionResult(
                    ok=False, error_type="StaticCheckError",
                    error_message=f"skill {name} was refused before loading: " + "; ".join(problems),
                    static_errors=tuple(problems), duration_s=time.perf_counter() - started,
                )
                old = self._units.pop(name, None)
                if old is not None and old.worker is not None:
                    self.pool._discard(old.worker)
                continue
            ref = refs.get(name) if refs is not None else None
            self._units[name] = _SkillUnit(name, source, ref if isinstance(ref, str) else None, doc)
            results[name] = ExecutionResult(ok=True, defined_functions=defined, duration_s=time.perf_counter() - started)
        self._stop_skill_workers()
        if self._worker is not None and any(r.ok for r in results.values()):
            self._bind(self._worker, {n: self._units[n].doc for n, r in results.items() if r.ok})
        return results

    def reset(self, keep_skills: bool = True) -> None:
        """Start over with a fresh namespace (preloaded skills stay callable unless told
        not to; their workers start from their definitions again)."""
        worker = self._check_open()
        self._stop_skill_workers()
        if not keep_skills:
            # The worker's stubs go with its process: a fresh one has none.
            self._units.clear()
            self._move_to_new_worker(worker, "reset", {})
            self._notice = None
            return
        try:
            self._control(worker, {"op": "reset"})
        except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError):
            self._move_to_new_worker(worker, "crash", {})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_skill_workers()
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

    def _stop_skill_workers(self) -> None:
        for unit in self._units.values():
            if unit.worker is not None:
                self._retire(unit.worker)
                unit.worker = None

    def _retire(self, worker: _Worker) -> None:
        """Kill one of this task's workers, keeping the CPU it used on the task's account."""
        self._cpu_retired += _cpu_seconds(worker.pid)
        self.pool._discard(worker)

    @property
    def cpu_seconds(self) -> float:
        """CPU this task's workers used so far (all of them: replaced and skill workers
        too), from the kernel's accounting."""
        live = [self._worker] if self._worker is not None else []
        live += [u.worker for u in self._units.values() if u.worker is not None]
        return self._cpu_retired + sum(_cpu_seconds(w.pid) for w in live)

    def _control(self, worker: _Worker, message: dict[str, Any]) -> None:
        """A harness frame (bind, reset) answered by `done`; raises the protocol's errors."""
        worker.resume()
        self._seq += 1
        token = _TOKENS.getrandbits(63)
        deadline = time.monotonic() + self._config.timeout_s
        worker.sock.send({**message, "seq": self._seq, "token": token}, deadline=deadline)
        self._await_done(worker, self._seq, token, deadline, 1 << 16)
        worker.stop()

    def _bind(self, worker: _Worker, names: Mapping[str, str | None]) -> list[str]:
        """Stubs for `names` in the task's worker; the names bound."""
        try:
            self._control(worker, {"op": "bind", "names": dict(names)})
        except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError):
            self._move_to_new_worker(worker, "crash", {})
            return []
        return list(names)

    def _move_to_new_worker(self, old: _Worker, kind: str, status: dict[str, Any]) -> dict[str, Any]:
        """Replace `old`, the session's worker, which was killed."""
        started = time.perf_counter()
        self._worker = None
        cpu_before = _cpu_seconds(old.pid)
        try:
            self._worker, status = self.pool._replace(old)
        except SandboxError as exc:
            return {"replace_error": str(exc), "exit_status": status}
        spent = status.get("cpu_s")
        self._cpu_retired += float(spent) if isinstance(spent, (int, float)) else cpu_before
        replace_s = time.perf_counter() - started
        reloaded: list[str] = []
        if self._units:
            try:
                self._control(self._worker, {"op": "bind", "names": {n: u.doc for n, u in self._units.items()}})
                reloaded = list(self._units)
            except (_protocol.Timeout, _protocol.PeerClosed, _protocol.ProtocolError, OSError):
                pass  # the next execution finds it dead and replaces it again
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

    def _serve(self, worker: _Worker, request: dict[str, Any], deadline: float, ex: _Exchange,
               skill: str | None, *, defining: bool = False) -> tuple[dict[str, Any], int]:
        """Send `request` to `worker` and answer its `api` and `skill` frames until its
        `done` frame; (that frame, stale frames dropped). Calls made by this worker are
        attributed to `skill` (None: the task's own code)."""
        cfg = self._config
        max_frame = cfg.stdout_limit_bytes * 8 + (1 << 20)
        sock = worker.sock
        self._seq += 1
        seq = self._seq
        token = _TOKENS.getrandbits(63)
        stale = 0
        worker.resume()
        sock.send({**request, "seq": seq, "token": token}, deadline=deadline)
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
                return msg, stale
            if op == "api":
                ex.traffic += sock.last_size
                if defining:
                    ex.refused += 1
                    error = f"skill {skill} called an API while being defined; a skill may call APIs only when called"
                    reply = {"ok": False, "type": "ApiError", "error": error}
                    sock.send_raw(_protocol.encode(reply), deadline=deadline)
                    continue
                if len(ex.calls) >= cfg.api_call_budget or ex.traffic > cfg.api_bytes_budget:
                    ex.refused += 1
                    sock.send_raw(_protocol.encode(_budget_reply(cfg, ex.traffic)), deadline=deadline)
                    continue
                record, payload = self._call_host(msg, sock.last_size, cfg.api_bytes_budget - ex.traffic, skill)
                ex.calls.append(record)
                ex.traffic += len(payload)
                sock.send_raw(payload, deadline=deadline)
            elif op == "skill":
                ex.traffic += sock.last_size
                answer = self._call_skill(msg, deadline, ex, skill, defining)
                try:
                    payload = _protocol.encode_trusted(answer)
                except ValueError:
                    payload = _protocol.encode(answer)
                ex.traffic += len(payload)
                sock.send_raw(payload, deadline=deadline)
            else:
                raise _protocol.ProtocolError(f"unexpected frame {str(op)[:40]!r}")

    def _call_skill(self, msg: dict[str, Any], deadline: float, ex: _Exchange, caller: str | None,
                    defining: bool) -> dict[str, Any]:
        """Run one `skill` frame's call in the skill's worker; the reply for the caller."""
        name, args, kwargs = msg.get("name"), msg.get("args"), msg.get("kwargs")
        if not (isinstance(name, str) and _NAME_RE.match(name) and isinstance(args, list) and isinstance(kwargs, dict)):
            raise _protocol.ProtocolError("skill call with an invalid name or arguments")
        started = time.perf_counter()
        unit = self._units.get(name)
        first_call = len(ex.calls)
        result_kind, value, killed, stdout = "none", None, None, ""
        done: dict[str, Any] = {}
        try:
            if unit is None:
                raise _SkillFailed("NameError", f"no skill {name!r} is preloaded in this session")
            if defining:
                raise _SkillFailed("SkillError", f"skill {caller} called skill {name} while being defined")
            if name in ex.stack:
                chain = " -> ".join([*ex.stack[ex.stack.index(name):], name])
                raise _SkillFailed("RecursionError", f"skills call each other in a cycle: {chain}")
            if len(ex.stack) >= MAX_SKILL_DEPTH:
                raise _SkillFailed("RecursionError", f"skills nested more than {MAX_SKILL_DEPTH} deep")
            if len(ex.skills) >= self._config.api_call_budget:
                raise _SkillFailed("ApiBudgetExceeded", "the skill call budget of this execution is used up")
            ex.stack.append(name)
            try:
                done = self._run_in_unit(unit, args, kwargs, deadline, ex)
            finally:
                ex.stack.pop()
            stdout, _cut = _cap_output(_as_str(done.get("stdout")), self._config.stdout_limit_bytes)
            if done.get("ok") is not True:
                raise _SkillFailed(_name(_opt_str(done.get("error_type"))) or "SkillError",
                                   _cap(_opt_str(done.get("error_message")), 2000) or f"skill {name} failed",
                                   killed="memory" if done.get("recycle") == "memory" else None)
            value = done.get("value")
            text = json.dumps(value, allow_nan=False)
            result_kind = "json" if len(text) <= MAX_SKILL_RESULT_CHARS else "too_large"
            reply: dict[str, Any] = {"ok": True, "result": value, "stdout": stdout}
            ok, error_type, error = True, None, None
        except _SkillFailed as exc:
            ok, error_type, error, killed = False, exc.error_type, exc.message, exc.killed
            frames = _frames(done.get("frames"))
            reply = {"ok": False, "type": error_type, "error": error, "stdout": stdout,
                     "frames": [[f.filename, f.lineno, f.function, f.line] for f in frames]}
        own = [c for c in ex.calls[first_call:] if c.skill == name]
        if len(ex.skills) < MAX_SKILL_RECORDS:
            shown_args, shown_kwargs = _bounded_arguments(args, kwargs)
            record = SkillCallRecord(
                name=name, ref=unit.ref if unit is not None else None, caller=caller, args=shown_args,
                kwargs=shown_kwargs, ok=ok, result_kind=result_kind, result=value if result_kind == "json" else None,
                error_type=error_type, error=error, api_calls=len(own), api_failed=sum(1 for c in own if not c.ok),
                duration_s=time.perf_counter() - started, killed=killed,
            )
            ex.skills.append(record)
            if len(self._skill_log) < 4 * MAX_SKILL_RECORDS:
                self._skill_log.append(record)
        return reply

    def _run_in_unit(self, unit: _SkillUnit, args: list[Any], kwargs: dict[str, Any], deadline: float,
                     ex: _Exchange) -> dict[str, Any]:
        """Call `unit`'s skill in its worker (started and defined first if need be)."""
        worker = unit.worker
        try:
            if worker is None:
                worker = self._start_unit(unit, deadline, ex)
            unit.last_used = time.monotonic()
            done, _stale = self._serve(worker, {"op": "call", "name": unit.name, "args": args, "kwargs": kwargs},
                                       deadline, ex, unit.name)
        except _protocol.Timeout:
            if unit.worker is not None:
                self._retire(unit.worker)
                unit.worker = None
            raise
        except (_protocol.PeerClosed, _protocol.ProtocolError, ConnectionError, OSError) as exc:
            dead = unit.worker
            unit.worker = None
            status: dict[str, Any] = {}
            if dead is not None:
                self.pool._discard(dead)
                status = self.pool._exit_status(dead.pid)
                spent = status.get("cpu_s")
                self._cpu_retired += float(spent) if isinstance(spent, (int, float)) else 0.0
            killed, why = "crash", "its worker died"
            if isinstance(exc, _protocol.ProtocolError):
                why = f"its worker broke the protocol ({exc})"
            if _cpu_limit_hit(status, self._config):
                killed, why = "timeout", f"it used up the CPU-seconds limit ({self._config.cpu_seconds} s)"
            elif status.get("signal") == signal.SIGSYS:
                why += " (SIGSYS: a system call the sandbox refuses, or one the code sent itself)"
            raise _SkillFailed("SkillError", f"skill {unit.name} was stopped: {why}", killed=killed) from None
        worker.stop()
        if done.get("recycle") == "memory" or _threads(worker.pid) > 1:
            # Nothing a skill starts survives its call: a thread it left behind dies with
            # its worker, and the next call starts from the definition again.
            self._retire(worker)
            unit.worker = None
        return done

    def _start_unit(self, unit: _SkillUnit, deadline: float, ex: _Exchange) -> _Worker:
        live = [u for u in self._units.values() if u.worker is not None]
        if len(live) >= MAX_LIVE_SKILL_WORKERS:
            oldest = min(live, key=lambda u: u.last_used)
            if oldest.worker is not None:
                self._retire(oldest.worker)
            oldest.worker = None
        worker = self.pool._take_spare()
        unit.worker = worker
        others = {n: u.doc for n, u in self._units.items() if n != unit.name}
        if others:
            self._control(worker, {"op": "bind", "names": others})
        done, _stale = self._serve(
            worker, {"op": "run", "code": unit.source, "filename": f"<skill:{unit.name}>",
                     "check": self._config.static_check},
            deadline, ex, unit.name, defining=True,
        )
        worker.stop()
        if done.get("ok") is not True or _threads(worker.pid) > 1:
            self._retire(worker)
            unit.worker = None
            why = (f"{_opt_str(done.get('error_type')) or 'Error'}: {_cap(_opt_str(done.get('error_message')), 500)}"
                   if done.get("ok") is not True else "defining it left a thread running")
            raise _SkillFailed("SkillError", f"skill {unit.name} could not be defined in its worker ({why})")
        return worker

    def _execute(self, code: str, filename: str, reloading: bool = False) -> ExecutionResult:
        worker = self._check_open()
        cfg = self._config
        # While no worker of this task has been retired and no skill worker is alive, the
        # task's worker is all it has spent, and its own RLIMIT_CPU (the same budget)
        # bounds that: the /proc read is needed only once there is more than one.
        several = self._cpu_retired > 0 or any(u.worker is not None for u in self._units.values())
        spent = self.cpu_seconds if several else 0.0
        if spent >= _cpu_floor(cfg):
            # The budget is the task's, not a worker's: a replaced worker or a skill's
            # worker starts with a fresh RLIMIT_CPU, the task does not.
            return ExecutionResult(
                ok=False, error_type="TimeoutError", killed="timeout",
                error_message=(f"this task has used up its CPU budget ({spent:.1f} s of {cfg.cpu_seconds} s over "
                               "all its workers); nothing more runs in this session"),
            )
        started = time.perf_counter()
        deadline = time.monotonic() + cfg.timeout_s
        ex = _Exchange()
        stale = 0
        killed: str | None = None
        detail = ""
        msg: dict[str, Any] = {}
        try:
            msg, stale = self._serve(worker, {"op": "run", "code": code, "filename": filename,
                                              "check": cfg.static_check}, deadline, ex, None)
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
            self._stop_skill_workers()
            raise
        duration = time.perf_counter() - started
        calls = ex.calls
        extra: dict[str, Any] = {}
        if calls or ex.refused:
            extra["api_traffic_bytes"] = ex.traffic
        if ex.refused:
            extra["refused_api_calls"] = ex.refused
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
            if killed == "crash" and _cpu_limit_hit(status, cfg):
                killed, detail = "timeout", f"the code used up the CPU-seconds limit ({cfg.cpu_seconds} s)"
            elif killed == "crash" and status.get("signal") == signal.SIGSYS:
                detail += " (SIGSYS: a system call the sandbox refuses, or one the code sent itself)"
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
                skill_calls=tuple(ex.skills),
                killed=killed,
                duration_s=duration,
                extra=extra,
            )
        worker.stop()
        return _result_from_done(msg, calls, ex.skills, duration, extra, cfg.stdout_limit_bytes)

    def _call_host(self, msg: dict[str, Any], request_bytes: int, room: int,
                   skill: str | None = None) -> tuple[ApiCallRecord, bytes]:
        app, api, kwargs = msg.get("app"), msg.get("api"), msg.get("kwargs")
        if not (isinstance(app, str) and _NAME_RE.match(app) and isinstance(api, str) and _NAME_RE.match(api)):
            raise _protocol.ProtocolError("API call with an invalid app or api name")
        if not isinstance(kwargs, dict):
            raise _protocol.ProtocolError("API call whose arguments are not an object")
        arguments, cut = kwargs, False
        if request_bytes > RECORD_ARGUMENTS_BYTES:
            arguments, cut = bounded_jsonable_flagged(kwargs, **_RECORD_LIMITS)

        def record(ok: bool, error: str | None, duration: float, response: bytes) -> ApiCallRecord:
            return ApiCallRecord(app, api, arguments, ok, error, duration, cut, request_bytes, len(response), skill)

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
            if (isinstance(item, list) and len(item) in (3, 4) and isinstance(item[0], str) and type(item[1]) is int
                    and isinstance(item[2], str)):
                line = item[3] if len(item) == 4 and isinstance(item[3], str) else ""
                frames.append(FrameInfo(_cut_name(item[0]), item[1], _cut_name(item[2]), line[:_NAME_CHARS]))
    return tuple(frames)


def _skill_shape(name: str, source: str) -> tuple[ast.Module | None, tuple[str, ...], str | None, list[str]]:
    """(its tree, top-level functions, the docstring of `name`, problems) of a skill's source."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return None, (), None, [f"line {getattr(exc, 'lineno', 0) or 0}: syntax error: {getattr(exc, 'msg', exc)}"]
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    target = next((f for f in functions if f.name == name), None)
    if target is None:
        return tree, (), None, [f"the source defines no top-level function {name!r}"]
    return tree, tuple(f.name for f in functions), ast.get_docstring(target), []


def _bounded_arguments(args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any] | None, dict[str, Any] | None]:
    """What a skill was passed, for its call record: None when it is too large to keep."""
    try:
        text = json.dumps([args, kwargs], allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None, None
    if len(text) > MAX_SKILL_RESULT_CHARS:
        return None, None
    return args, kwargs


def load_time_problems(source: str | ast.Module) -> list[str]:
    """:func:`skillbank.skill.load_time_problems`, imported when first needed: the zygote
    imports this package and must hold nothing but the sandbox's own code."""
    from skillbank.skill import load_time_problems as problems

    return problems(source)


def _cpu_limit_hit(status: Mapping[str, Any], cfg: SandboxConfig) -> bool:
    """Whether a dead worker reached the CPU limit, by the kernel's count of the CPU it used
    (the zygote's `wait4`), not by its exit signal: SIGXCPU is a signal code can send itself."""
    spent = status.get("cpu_s")
    return isinstance(spent, (int, float)) and spent >= _cpu_floor(cfg)


def _cpu_floor(cfg: SandboxConfig) -> float:
    # rusage's user+system time is sampled by ticks and can read a little under the
    # kernel's precise count that triggered the limit.
    return cfg.cpu_seconds - max(0.3, 0.05 * cfg.cpu_seconds)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` (all its threads) from /proc; 0.0 when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return 0.0


def _threads(pid: int) -> int:
    """The kernel's count of threads in process `pid` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return 0


def _str_tuple(raw: Any, limit: int, max_items: int = 1000) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(x if len(x) <= limit else x[:limit] + "…" for x in raw[:max_items] if isinstance(x, str))


def _result_from_done(
    msg: dict[str, Any], calls: list[ApiCallRecord], skills: list[SkillCallRecord], duration: float,
    extra: dict[str, Any], limit: int,
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
        skill_calls=tuple(skills),
        defined_functions=_str_tuple(msg.get("defined_functions"), _NAME_CHARS),
        static_errors=_str_tuple(msg.get("static_errors"), 1000, 200),
        duration_s=duration,
        extra=extra,
    )
