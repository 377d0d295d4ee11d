"""The seccomp allowlist, decision by decision.

Two levels: the assembled BPF program run through an interpreter for every syscall
number (and the argument checks with allowed and refused arguments), and the kernel's
own verdicts, from real calls made by a worker whose only layer is seccomp (so root,
with every capability: a refusal can only come from the filter).
"""

from __future__ import annotations

import errno
import warnings

import pytest

from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool, probe
from skillbank.sandbox import _seccomp as sc

OWN = 2  # the worker's pid inside its PID namespace
PROGRAM = sc.build_program(OWN)
ALLOW, KILL = sc.RET_ALLOW, sc.RET_KILL_PROCESS
EPERM, ENOSYS = sc.RET_ERRNO | errno.EPERM, sc.RET_ERRNO | errno.ENOSYS
VERDICTS = sc.verdicts()
NAME_OF = {nr: name for name, nr in sc.NR.items()}


def decide(name_or_nr, *args, arch=sc.AUDIT_ARCH_X86_64):
    nr = sc.NR[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    return sc.evaluate(PROGRAM, nr, tuple(args), arch=arch)


def test_every_syscall_number_gets_its_groups_verdict():
    expected_action = {"allow": ALLOW, "errno": EPERM, "enosys": ENOSYS, "kill": KILL}
    for nr in range(0, 1024):
        name = NAME_OF.get(nr)
        verdict = VERDICTS.get(name) if name else None
        got = decide(nr)
        if verdict is None:
            assert got == EPERM, f"unnamed syscall {nr} ({name}) must be refused with EPERM, got {got:#x}"
        elif verdict != "conditional":
            assert got == expected_action[verdict], f"{name} ({nr}): {verdict} expected, got {got:#x}"


def test_the_allowlist_is_short_and_reviewed():
    allowed = sorted(n for n, v in VERDICTS.items() if v == "allow")
    # Growing this list is a security decision: update the group's reason in _seccomp too.
    assert allowed == sorted([
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
        "read", "write", "readv", "writev", "pread64", "lseek", "close", "dup", "dup2", "dup3", "getdents64", "fstat",
        "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "poll", "ppoll", "getsockopt", "getsockname",
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
        "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
        "getgroups", "getrlimit", "setrlimit", "getrusage", "times", "getrandom", "sched_yield",
        "sched_getaffinity", "uname",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
        "futex", "set_robust_list", "set_tid_address", "rseq", "exit", "exit_group",
    ])
    for group in sc.GROUPS:
        assert group.why and group.calls and group.verdict in ("allow", "errno", "enosys", "kill")


def test_architecture_and_x32_are_checked():
    assert decide("getpid") == ALLOW
    assert decide("getpid", arch=0x40000003) == KILL  # AUDIT_ARCH_I386: int 0x80 entry
    assert decide(sc.X32_SYSCALL_BIT | sc.NR["getpid"]) == KILL
    assert decide(sc.X32_SYSCALL_BIT | 512) == KILL


@pytest.mark.parametrize(
    "name",
    ["prlimit64", "shmget", "shmat", "shmctl", "semget", "semop", "semctl", "msgget", "msgsnd", "msgrcv",
     "msgctl", "file_setattr", "io_setup", "io_submit", "execve", "execveat", "ptrace", "unshare",
     "setns", "mount", "bpf", "io_uring_setup", "userfaultfd", "keyctl", "perf_event_open"],
)
def test_issue_calls_are_refused_outright(name):
    if name == "prlimit64":
        assert decide(name, 1234, 0) == EPERM  # on another process
        return
    assert decide(name) == KILL


@pytest.mark.parametrize(
    "name",
    ["inotify_init", "inotify_init1", "inotify_add_watch", "statfs", "fstatfs", "readlink", "readlinkat",
     "stat", "lstat", "access", "faccessat", "getxattr", "socket", "socketpair", "connect", "bind",
     "fork", "vfork", "memfd_create", "pipe2", "prctl", "sysinfo", "file_getattr"],
)
def test_leaky_calls_fail_with_eperm(name):
    assert decide(name) == EPERM


def test_clone3_and_friends_answer_enosys():
    for name in ("clone3", "openat2", "statx", "faccessat2"):
        assert decide(name) == ENOSYS


def test_argument_checks():
    CLONE_THREAD, SIGCHLD = 0x10000, 17
    glibc_thread = 0x3D0F00  # what pthread_create passes
    assert decide("clone", glibc_thread) == ALLOW
    assert decide("clone", SIGCHLD) == EPERM  # fork
    assert decide("clone", 0x4111) == EPERM  # vfork-like CLONE_VM|CLONE_VFORK
    for ns in (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000):
        assert decide("clone", glibc_thread | ns) == EPERM, hex(ns)
    assert decide("clone", CLONE_THREAD) == ALLOW
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        assert decide(name, OWN, 9) == ALLOW
        for other in (0, 1, 3, 0xFFFFFFFF, 1234):  # group, init, other, -1 (everyone)
            assert decide(name, other, 9) == EPERM, (name, other)
    assert decide("tkill", OWN, 9) == EPERM
    assert decide("prlimit64", 0, 7) == ALLOW and decide("prlimit64", OWN, 7) == ALLOW
    assert decide("prlimit64", 1, 7) == EPERM and decide("prlimit64", 3, 7) == EPERM
    for cmd in (0, 1, 2, 3, 4, 1030):
        assert decide("fcntl", 1, cmd) == ALLOW, cmd
    for cmd in (5, 6, 7, 8, 9, 10, 11, 15, 16, 36, 37, 38, 1024, 1025, 1026, 1031, 1033):
        assert decide("fcntl", 1, cmd) == EPERM, cmd  # locks, F_SETOWN, F_SETSIG, leases, F_NOTIFY, pipe size
    for req in (0x5401, 0x5421, 0x5451, 0x5450):
        assert decide("ioctl", 0, req) == ALLOW, hex(req)
    for req in (0x80086601, 0x40086602, 0x801C581F, 0x401C5820,  # FS_IOC_GET/SETFLAGS, FS_IOC_FSGET/SETXATTR
                0x8912, 0x8915, 0x8927, 0x8913, 0x541B, 0x5412, 0x5413, 0x541C):  # SIOCGIF*, FIONREAD, TIOCSTI, TIOCGWINSZ, TIOCLINUX
        assert decide("ioctl", 0, req) == EPERM, hex(req)
    O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_PATH, O_TMPFILE = 1, 2, 0o100, 0o1000, 0o10000000, 0o20200000
    O_CLOEXEC, O_DIRECTORY = 0o2000000, 0o200000
    assert decide("openat", -100, 0, O_CLOEXEC) == ALLOW
    assert decide("openat", -100, 0, O_CLOEXEC | O_DIRECTORY) == ALLOW
    assert decide("open", 0, O_CLOEXEC) == ALLOW
    for flags in (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_PATH, O_TMPFILE, O_WRONLY | O_CREAT | O_TRUNC):
        assert decide("openat", -100, 0, flags) == EPERM, oct(flags)
        assert decide("open", 0, flags) == EPERM, oct(flags)
    # newfstatat is refused whatever its flags: with AT_EMPTY_PATH it still takes any path
    for flags in (0, 0x100, 0x1000, 0x1100):
        assert decide("newfstatat", 3, 0, 0, flags) == EPERM
    assert decide("fstat", 3) == ALLOW


def test_log_mode_allows_and_logs_instead_of_refusing():
    program = sc.build_program(OWN, log_refusals=True)
    assert sc.evaluate(program, sc.NR["execve"]) == sc.RET_LOG
    assert sc.evaluate(program, 999) == sc.RET_LOG
    assert sc.evaluate(program, sc.NR["read"]) == ALLOW


# --- the kernel's verdicts --------------------------------------------------------------

KERNEL_OK = probe()["seccomp"]
needs_seccomp = pytest.mark.skipif(not KERNEL_OK, reason="this kernel has no seccomp")


@pytest.fixture(scope="module")
def seccomp_only_pool():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = SandboxPool(SandboxConfig(workers=1, static_check=False, timeout_s=10.0, layers=("seccomp",)))
    yield pool
    pool.close()


_SWEEP = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {{}}
for nr in {numbers}:
    ctypes.set_errno(0)
    r = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    out[nr] = (r, ctypes.get_errno())
out
"""


@needs_seccomp
def test_kernel_refuses_every_unnamed_and_errno_syscall(seccomp_only_pool):
    # Real calls, all arguments zero, from a root worker whose only layer is seccomp.
    # uretprobe/uprobe bypass seccomp in the kernel itself (uretprobe SIGILLs its caller).
    errno_named = [sc.NR[n] for n, v in VERDICTS.items() if v in ("errno", "enosys") and n not in sc.KERNEL_PASSTHROUGH]
    unnamed = [nr for nr in range(0, 512) if nr not in NAME_OF]
    with seccomp_only_pool.session(EchoHost()) as s:
        r = s.run(_SWEEP.format(numbers=sorted(errno_named + unnamed)))
    assert r.ok, r.error_message
    results = eval(r.result_repr)  # noqa: S307 - a dict of ints from our own code
    wrong = {}
    for nr, (ret, err) in results.items():
        want = errno.ENOSYS if VERDICTS.get(NAME_OF.get(nr)) == "enosys" else errno.EPERM
        if (ret, err) != (-1, want):
            wrong[f"{NAME_OF.get(nr, nr)}"] = (ret, errno.errorcode.get(err, err))
    assert not wrong, wrong
    assert len(results) > 250


@needs_seccomp
def test_kernel_kills_on_every_kill_syscall(seccomp_only_pool):
    killers = sorted(sc.NR[n] for n, v in VERDICTS.items() if v == "kill")
    survived = {}
    with seccomp_only_pool.session(EchoHost()) as s:
        for nr in killers + [sc.X32_SYSCALL_BIT | sc.NR["getpid"]]:
            r = s.run(f"import ctypes\nctypes.CDLL(None, use_errno=True).syscall({nr}, 0, 0, 0, 0, 0, 0)")
            if not (r.killed == "crash" and (r.extra.get("exit_status") or {}).get("signal") == 31):
                survived[NAME_OF.get(nr, hex(nr))] = (r.killed, r.result_repr, r.extra.get("exit_status"))
        assert s.run("1 + 1").result_repr == "2"
    assert not survived, survived


_ARG_CHECKS = """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(nr, *args)
    return r if r >= 0 else -ctypes.get_errno()
ppid = os.getppid()
old = (ctypes.c_ulong * 2)()
out = {
    "kill_self_0": call(62, os.getpid(), 0),
    "kill_parent_0": call(62, ppid, 0),
    "kill_group_0": call(62, 0, 0),
    "prlimit_self": call(302, 0, 7, None, old),
    "prlimit_parent": call(302, ppid, 7, None, old),
    "fcntl_getfl": call(72, 1, 3),
    "fcntl_setown": call(72, 1, 8, ppid),
    "fcntl_setsig": call(72, 1, 10, 9),
    "ioctl_tcgets": call(16, 0, 0x5401, ctypes.create_string_buffer(64)),
    "ioctl_siocgifconf": call(16, 6, 0x8912, ctypes.create_string_buffer(64)),
    "open_read": call(2, os.__file__.encode(), os.O_RDONLY | os.O_CLOEXEC),
    "open_write": call(2, b"/tmp/skillbank-seccomp-probe", os.O_WRONLY | os.O_CREAT, 0o600),
    "open_path": call(257, -100, b"/etc/passwd", 0o10000000),
    "stat_path": call(262, -100, b"/etc/passwd", ctypes.create_string_buffer(256), 0),
    "fstatat_empty_path": call(262, -100, b"/etc/passwd", ctypes.create_string_buffer(256), 0x1000),
    "fstat_fd": call(5, 1, ctypes.create_string_buffer(256)),
    "clone_fork": call(56, 17, 0, 0, 0, 0),
}
out
"""


@needs_seccomp
def test_kernel_applies_the_argument_checks(seccomp_only_pool):
    with seccomp_only_pool.session(EchoHost()) as s:
        r = s.run(_ARG_CHECKS)
    assert r.ok, r.error_message
    got = eval(r.result_repr)  # noqa: S307 - a dict of ints from our own code
    eperm = -errno.EPERM
    assert got["kill_self_0"] == 0 and got["kill_parent_0"] == eperm and got["kill_group_0"] == eperm
    assert got["prlimit_self"] == 0 and got["prlimit_parent"] == eperm
    assert got["fcntl_getfl"] >= 0 and got["fcntl_setown"] == eperm and got["fcntl_setsig"] == eperm
    assert got["ioctl_tcgets"] == -errno.ENOTTY  # allowed, and fd 0 is /dev/null
    assert got["ioctl_siocgifconf"] == eperm
    assert got["open_read"] >= 0 and got["open_write"] == eperm and got["open_path"] == eperm
    assert got["stat_path"] == eperm and got["fstatat_empty_path"] == eperm and got["fstat_fd"] == 0
    assert got["clone_fork"] == eperm


_I386 = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
page = libc.mmap(None, 4096, 7, 0x22, -1, 0)
code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20 (i386 getpid); int 0x80; ret
ctypes.memmove(page, code, len(code))
ctypes.CFUNCTYPE(ctypes.c_int)(page)()
"""


@needs_seccomp
def test_kernel_kills_the_i386_entry_point(seccomp_only_pool):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bare = SandboxPool(SandboxConfig(workers=1, static_check=False, layers=()))
    try:
        with bare.session(EchoHost()) as s:
            control = s.run(_I386)
    finally:
        bare.close()
    if not control.ok:
        pytest.skip(f"this kernel has no i386 entry point ({control.error_type}, {control.extra.get('exit_status')})")
    assert int(control.result_repr) > 0  # without the filter, the i386 getpid answers
    with seccomp_only_pool.session(EchoHost()) as s:
        r = s.run(_I386)
    assert r.killed == "crash" and r.extra["exit_status"].get("signal") == 31
