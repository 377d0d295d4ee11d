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
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import sysconfig

# Imported here, before any fork, so the workers never need to read them from disk.
import ast  # noqa: F401
import linecache  # noqa: F401
import traceback  # noqa: F401

from skillbank.sandbox import _lockdown, _protocol, _worker, static  # noqa: F401

_WORKER_SUPPORT_MODULES = ("_strptime", "encodings.idna", "unicodedata", "string", "types")


def read_roots() -> list[str]:
    """The Python installation, read-only: the venv (or prefix) and the stdlib."""
    paths = sysconfig.get_paths()
    roots = {sys.prefix, sys.exec_prefix, paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    return sorted(os.path.realpath(p) for p in roots if p and os.path.exists(p))


def _preimport(names: list[str]) -> None:
    for name in list(names) + list(_WORKER_SUPPORT_MODULES):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _child(worker_fd: int, config: dict, ctl: socket.socket) -> None:
    try:
        ctl.close()
        os.closerange(3, worker_fd)
        os.closerange(worker_fd + 1, 1 << 16)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _lockdown_prctl_pdeathsig()
        sock = _protocol.Channel(socket.socket(fileno=worker_fd), accept_trusted=True)
        layers = _lockdown.lock_down(
            read_roots=config["read_roots"],
            address_space_bytes=config["address_space_bytes"],
            cpu_seconds=config["cpu_seconds"],
            open_files=config["open_files"],
        )
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


def _describe(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.waitstatus_to_exitcode(status)}


def serve(ctl: socket.socket, config: dict) -> None:
    children: set[int] = set()
    ended: dict[int, dict] = {}

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            ended[pid] = _describe(status)
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
                pid = os.fork()
                if pid == 0:
                    _child(fds[0], config, ctl)
                os.close(fds[0])
                children.add(pid)
                pidfd = os.pidfd_open(pid)
                try:
                    socket.send_fds(ctl, [json.dumps({"pid": pid}).encode()], [pidfd])
                finally:
                    os.close(pidfd)
            elif op == "status":
                pid = int(request["pid"])
                if pid in children:
                    try:
                        _, status = os.waitpid(pid, 0)
                        ended[pid] = _describe(status)
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
    config["read_roots"] = read_roots()
    _preimport(config["allowed_imports"])
    gc.collect()
    gc.freeze()  # keeps forked workers from copying pages the collector would touch
    serve(ctl, config)


if __name__ == "__main__":
    main()
