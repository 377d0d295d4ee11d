"""The zygote: a small pre-imported process that forks locked-down workers on request.

Starting a Python interpreter and importing the stdlib costs tens of milliseconds;
forking this process costs about one, so replacing a killed worker is cheap. The
zygote itself never runs agent code and is never locked down (it must keep the right
to fork); it talks only to the pool over a SOCK_SEQPACKET control socket:

- ``{"op": "spawn"}`` + one fd (the worker's end of a socketpair) → fork a worker;
  reply ``{"pid": N}`` + a pidfd the pool uses to kill it without pid-reuse races.
- ``{"op": "status", "pid": N}`` → reap that (already killed) worker and say how it
  ended: ``{"signal": S}`` or ``{"exit": C}``.

When the control socket closes (the pool closed, or its process died), the zygote kills
every worker it forked and exits, so no worker outlives its pool.

Before serving, the zygote decides how workers get their namespaces (`_namespaces`),
computes the Landlock read roots (the standard library and the allowed imports'
packages, `_lockdown.read_roots`) and builds the Landlock ruleset once; each worker
only applies it. It imports the sandbox's own modules and the allowed imports, nothing
from the worlds or the agent, so a worker's memory holds no world code to reuse.
"""

from __future__ import annotations

# ast, linecache and traceback (noqa: F401) are imported here, before any fork, so the
# workers never need to read them from disk.
import ast  # noqa: F401
import gc
import importlib
import json
import linecache  # noqa: F401
import os
import signal
import socket
import sys
import traceback  # noqa: F401
from typing import Any

from skillbank.sandbox import _lockdown, _namespaces, _protocol, _worker, static  # noqa: F401

_WORKER_SUPPORT_MODULES = ("_strptime", "encodings.idna", "unicodedata", "string", "types")


def _preimport(names: list[str]) -> None:
    for name in list(names) + list(_WORKER_SUPPORT_MODULES):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


class _State:
    """What the zygote prepared once for all its workers."""

    def __init__(self, config: dict):
        self.layers = tuple(config.get("layers", _lockdown.OPTIONAL_LAYERS))
        self.spawner = _namespaces.Spawner("namespaces" in self.layers)
        self.log_refusals = os.environ.get("SKILLBANK_SANDBOX_DEBUG", "") == "seccomp-log"
        self.ruleset: int | None = None
        self.landlock_status = "missing: kernel has no Landlock (or it is disabled)"
        self.roots = _lockdown.read_roots(config["allowed_imports"])["roots"]
        self.granted = 0
        self.abi = _lockdown.landlock_abi()
        if "landlock" in self.layers and self.abi > 0:
            try:
                self.ruleset, granted = _lockdown.make_landlock_ruleset(self.abi, self.roots)
                self.granted = len(granted)
            except OSError as exc:
                self.landlock_status = f"missing: {exc}"


def _child(worker_fd: int, config: dict, ctl: socket.socket, state: _State, slot: int = 0) -> None:
    try:
        ctl.close()
        keep = sorted(fd for fd in (worker_fd, state.ruleset) if fd is not None)
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _lockdown_prctl_pdeathsig()
        sock = _protocol.Channel(socket.socket(fileno=worker_fd), accept_trusted=True)
        layers = {"namespaces": state.spawner.layer_status}
        if state.spawner.mode != "none":
            layers["namespaces_mode"] = state.spawner.mode
            layers["namespaces_list"] = ",".join(_namespaces.NAMESPACE_NAMES)
        layers.update(
            _lockdown.lock_down(
                address_space_bytes=config["address_space_bytes"],
                cpu_seconds=config["cpu_seconds"],
                open_files=config["open_files"],
                layers=state.layers,
                landlock_ruleset=state.ruleset,
                landlock_status=state.landlock_status,
                log_refusals=state.log_refusals,
                max_tasks=int(config.get("max_tasks", 64)),
                pending_signals=int(config.get("pending_signals", 64)),
                slot=slot,
            )
        )
        if layers.get("landlock") == "active":
            layers["landlock_abi"] = str(state.abi)
            layers["landlock_roots"] = str(state.granted)
        worker = _worker.Worker(sock, config)
        sock.send({"op": "ready", "pid": os.getpid(), "layers": layers})
        worker.serve()
    finally:
        os._exit(0)


def _lockdown_prctl_pdeathsig() -> None:
    try:
        _lockdown._prctl(_lockdown._libc(), _lockdown.PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _pidfd_pid(pidfd: int) -> int | None:
    """The host pid behind a pidfd (the worker's, sent up by its init)."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as f:
            for line in f:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
                    return pid if pid > 0 else None
    except (OSError, ValueError):
        pass
    return None


def _describe(status: int, namespaced: bool, usage: Any = None) -> dict:
    # `cpu_s` is the kernel's account of the CPU the worker used (its init's, which
    # includes the worker it reaped, under namespaces): the pool decides from it whether a
    # kill was the CPU limit, never from the signal number alone, which the worker can
    # send itself.
    cpu = {} if usage is None else {"cpu_s": round(usage.ru_utime + usage.ru_stime, 3)}
    return {**cpu, **_describe_status(status, namespaced)}


def _describe_status(status: int, namespaced: bool) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    code = os.waitstatus_to_exitcode(status)
    if namespaced and code > 128:
        # the worker's init mirrors a signal S as exit code 128+S (see _namespaces)
        return {"signal": code - 128}
    return {"exit": code}


def serve(ctl: socket.socket, config: dict, state: _State) -> None:
    children: set[int] = set()
    ended: dict[int, dict] = {}
    namespaced = state.spawner.mode != "none"
    aliases: dict[int, int] = {}  # worker's host pid -> the pid we wait for
    slots: dict[int, int] = {}  # the pid we wait for -> the worker's uid slot

    def free_slot() -> int:
        taken = set(slots.values())
        return next(i for i in range(len(taken) + 1) if i not in taken)

    def reap() -> None:
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            slots.pop(pid, None)
            ended[pid] = _describe(status, namespaced, usage)
            if len(ended) > 256:
                ended.pop(next(iter(ended)))

    try:
        while True:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 65536, 4)
            if not msg:
                return
            reap()
            request = json.loads(msg)
            op = request.get("op")
            if op == "spawn" and len(fds) == 1:
                slot = free_slot()
                try:
                    pid, pidfd = state.spawner.fork()
                except OSError as exc:
                    os.close(fds[0])
                    ctl.send(json.dumps({"error": f"could not fork a worker: {exc}"}).encode())
                    continue
                if pid == 0:
                    _child(fds[0], config, ctl, state, slot)
                os.close(fds[0])
                children.add(pid)
                slots[pid] = slot
                # The pool knows the worker by its own host pid; its status comes from
                # the process we wait for (its init, under namespaces).
                worker_pid = _pidfd_pid(pidfd) or pid
                if worker_pid != pid:
                    aliases[worker_pid] = pid
                    if len(aliases) > 4096:
                        aliases.pop(next(iter(aliases)))
                try:
                    socket.send_fds(ctl, [json.dumps({"pid": worker_pid}).encode()], [pidfd])
                finally:
                    os.close(pidfd)
            elif op == "status":
                pid = int(request["pid"])
                pid = aliases.pop(pid, pid)
                if pid in children:
                    try:
                        _, status, usage = os.wait4(pid, 0)
                        ended[pid] = _describe(status, namespaced, usage)
                        slots.pop(pid, None)
                    except ChildProcessError:
                        ended[pid] = {"exit": None}
                    children.discard(pid)
                ctl.send(json.dumps(ended.pop(pid, {"exit": None})).encode())
            else:
                for fd in fds:
                    os.close(fd)
                ctl.send(json.dumps({"error": f"unknown request {op!r}"}).encode())
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def main() -> None:
    config = json.loads(sys.argv[1])
    ctl = socket.socket(fileno=int(sys.argv[2]))
    # Ctrl-C in the pool's terminal is the pool's business; it closes us through the
    # control socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _preimport(config["allowed_imports"])
    state = _State(config)
    gc.collect()
    gc.freeze()  # keeps forked workers from copying pages the collector would touch
    serve(ctl, config, state)


if __name__ == "__main__":
    main()
