"""Namespaces and the unprivileged user for sandbox workers.

Each worker lives in its own IPC, network, PID, mount and UTS namespaces, so System V
IPC objects, network interfaces, other processes and the host name of the machine are
out of its sight, and what it leaves behind dies with it.

The PID namespace needs care: the first process in a new PID namespace is its init,
the kernel drops signals that init sends itself (so ``os.kill(os.getpid(), SIGKILL)``
would do nothing) and the namespace dies with it. So every worker gets a tiny init:

    zygote ─fork→ init (pid 1 of a fresh PID namespace) ─fork→ worker (pid 2)

The init unshares the other namespaces, forks the worker, waits for it and exits
with its status (a worker killed by signal S makes the init exit with 128+S, which the
zygote reports as that signal). Killing the init, as the pool does through its pidfd,
makes the kernel kill everything in the namespace: no worker outlives its init.

Two ways to get there:

- ``direct`` (the pool runs as root): the zygote points its next child into a new PID
  namespace with setns(own PID namespace) + unshare(CLONE_NEWPID) before each fork.
- ``userns`` (a normal user, where the kernel allows unprivileged user namespaces): the
  zygote forks a helper that unshares a user namespace together with the others, maps
  the sandbox uid/gid to the caller's own ids, and forks the init inside it. The worker
  is then an unprivileged id inside its namespace; on the host it is the calling user.

Otherwise workers start without namespaces and the pool warns, naming the layer.

The worker's user: as root, uid and gid :data:`SANDBOX_ID` (an id no account on a
normal host uses, so it owns no file there), no supplementary groups, and no
capabilities (changing every uid away from 0 clears them).
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
OTHER_NAMESPACES = CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWNS
NAMESPACE_NAMES = ("ipc", "net", "pid", "mnt", "uts")

#: uid and gid of every worker when the pool runs as root.
SANDBOX_ID = 2_000_000_000
#: As root, each live worker runs as SANDBOX_ID + its slot (uid and gid), so the kernel's
#: per-user counts (tasks, pending signals, message queues) are per worker: one tenant
#: cannot use up what another's worker needs. In a user namespace every worker is
#: SANDBOX_ID inside a namespace of its own, which the kernel counts apart anyway.
UID_SLOTS = 1 << 20
HOSTNAME = b"sandbox"

PR_SET_PDEATHSIG = 1


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)))


def setns(fd: int, flags: int) -> None:
    _check(_libc().setns(ctypes.c_int(fd), ctypes.c_int(flags)))


class Spawner:
    """Decides once, in the zygote, how workers get their namespaces, then forks them."""

    def __init__(self, enabled: bool):
        self.mode = "none"
        self.reason = "disabled by config" if not enabled else ""
        self._own_pidns: int | None = None
        if not enabled:
            return
        if not hasattr(os, "fork") or not os.path.exists("/proc/self/ns/pid"):
            self.reason = "missing: this kernel has no namespaces"
            return
        errors = []
        if os.geteuid() == 0:
            try:
                self._own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
                self._try(self._direct_child_ok)
                self.mode = "direct"
                return
            except OSError as exc:
                errors.append(f"direct: {exc.strerror or exc}")
                if self._own_pidns is not None:
                    os.close(self._own_pidns)
                    self._own_pidns = None
        try:
            self._try(self._userns_child_ok)
            self.mode = "userns"
        except OSError as exc:
            errors.append(f"user namespace: {exc.strerror or exc}")
            self.reason = "missing: " + "; ".join(errors)

    @staticmethod
    def _try(check) -> None:
        """Run `check` in a throwaway child: namespaces are per process, so trying them
        in the zygote itself would change the zygote."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                check()
            except OSError as exc:
                code = exc.errno or 1
            os.write(w, bytes([code]))
            os._exit(0)
        os.close(w)
        data = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        if not data or data[0]:
            err = data[0] if data else 0
            raise OSError(err, os.strerror(err) if err else "the probe died")

    @property
    def _pidns(self) -> int:
        """The zygote's own PID namespace, held open in "direct" mode."""
        if self._own_pidns is None:
            raise OSError(errno.EBADF, "the zygote's PID namespace is not open")
        return self._own_pidns

    def _direct_child_ok(self) -> None:
        setns(self._pidns, CLONE_NEWPID)
        unshare(CLONE_NEWPID | OTHER_NAMESPACES)

    @staticmethod
    def _userns_child_ok() -> None:
        _enter_user_namespace(CLONE_NEWPID | OTHER_NAMESPACES)

    @property
    def layer_status(self) -> str:
        return "active" if self.mode != "none" else self.reason

    def fork(self) -> tuple[int, int]:
        """Fork a worker. In the zygote returns (pid to wait for, pidfd of the worker);
        in the worker process returns (0, -1).

        The pid to wait for is that of the process whose exit reports the worker's end:
        the init (direct), the helper (userns) or the worker itself. The pidfd is the
        worker's own, sent up by its init, so that killing it (the pool's SIGKILL) lets
        the init report how the worker ended instead of being killed first.
        """
        if self.mode == "none":
            pid = os.fork()
            return (pid, os.pidfd_open(pid)) if pid else (0, -1)
        up, down = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            if self.mode == "direct":
                setns(self._pidns, CLONE_NEWPID)
                unshare(CLONE_NEWPID)
                pid = os.fork()
                if pid == 0:
                    up.close()
                    _become_init(down)
                    return 0, -1
            else:
                pid = os.fork()
                if pid == 0:
                    up.close()
                    # the userns helper: outside the new PID namespace, mirrors its init
                    try:
                        _set_pdeathsig()
                        _enter_user_namespace(CLONE_NEWPID)
                        init = os.fork()
                    except OSError:
                        os._exit(111)
                    if init == 0:
                        _become_init(down)
                        return 0, -1
                    down.close()
                    _wait_and_mirror(init)
            down.close()
            up.settimeout(10)
            try:
                _msg, fds, _flags, _addr = socket.recv_fds(up, 16, 1)
            except OSError:
                fds = []
            if len(fds) != 1:
                for fd in fds:
                    os.close(fd)
                os.kill(pid, signal.SIGKILL)
                raise OSError(0, "the worker's init did not report its worker")
            return pid, fds[0]
        finally:
            up.close()
            try:
                down.close()
            except OSError:
                pass


def _enter_user_namespace(extra_flags: int) -> None:
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | extra_flags)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{SANDBOX_ID} {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{SANDBOX_ID} {gid} 1")


def _set_pdeathsig() -> None:
    _check(_libc().prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def _become_init(up: socket.socket) -> None:
    """In pid 1 of the new PID namespace: unshare the rest, fork the worker (returns in
    the worker), send the worker's pidfd up to the zygote; the init never returns."""
    try:
        _set_pdeathsig()
        unshare(OTHER_NAMESPACES)
        try:
            _check(_libc().sethostname(HOSTNAME, ctypes.c_size_t(len(HOSTNAME))))
        except OSError:
            pass
        worker = os.fork()
    except OSError:
        os._exit(112)
    if worker == 0:
        up.close()
        return
    try:
        pidfd = os.pidfd_open(worker)
        socket.send_fds(up, [b"w"], [pidfd])
    except OSError:
        os._exit(115)
    _wait_and_mirror(worker)


def _wait_and_mirror(child: int) -> None:
    """Close everything, wait for `child`, exit with its status (signal S -> 128+S)."""
    try:
        os.closerange(0, 1 << 16)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(113)
            if pid == child:
                break
        if os.WIFSIGNALED(status):
            os._exit(128 + os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status))
    finally:
        os._exit(114)


def drop_to_sandbox_user(slot: int = 0) -> int:
    """setgroups([]), setresgid/setresuid to SANDBOX_ID + `slot` (inside a user namespace
    the id is already SANDBOX_ID); the id now held. Changing every uid away from 0 clears
    all capabilities."""
    target = SANDBOX_ID + (slot % UID_SLOTS) if os.getuid() == 0 else SANDBOX_ID
    if os.getuid() != target:
        os.setgroups([])
        os.setresgid(target, target, target)
        os.setresuid(target, target, target)
    if os.getresuid() != (target,) * 3 or os.getresgid() != (target,) * 3:
        raise OSError(0, "ids not changed")
    groups = os.getgroups()
    if groups and groups != [target]:
        raise OSError(0, f"supplementary groups remain: {groups}")
    return target
