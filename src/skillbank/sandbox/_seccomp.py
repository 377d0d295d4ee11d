"""The worker's seccomp filter: a default-deny allowlist, assembled here as classic BPF.

Everything a worker may call is named below, group by group, with the reason it is
needed; every other system call is refused. Refusals come in three kinds:

- ``errno``: the call fails with EPERM (or ENOSYS where libc has a fallback, so the
  program carries on). For calls a harmless program may make: feature probes, stat of
  paths, sockets, inotify, prctl...
- ``kill``: the whole worker dies with SIGSYS. For calls no Python program running in
  the worker has a reason to make and that are kernel attack surface or act on other
  processes: ptrace, execve, mount and namespace calls, bpf, io_uring, System V IPC,
  legacy AIO, file_setattr...
- the same two outcomes from argument checks on the few allowed calls that are only
  safe with some arguments (clone, kill, prlimit64, fcntl, ioctl, open).

The filter first checks the architecture (anything but x86-64 kills, so the i386
syscall table is not an alternative entry point) and the x32 bit (kill: x32 calls
reach the same handlers under other numbers).

The list was derived, not guessed: the filter has a log mode
(``SKILLBANK_SANDBOX_DEBUG=seccomp-log``: refusals are allowed and logged by the kernel
as ``audit: type=1326``), the sandbox tests, the escape corpus and the expert agent
were run under it, and every logged call was either added below with its reason or
left refused. (The only call benign code made that the list refuses is stat by path,
from linecache and the import system, which handle the error: modules a worker may
import are imported before lockdown.)

Why our own assembler rather than libseccomp: the program is simple (a balanced
binary search over the ~270 named calls, each leaf returning its verdict: about 800
instructions, of which a call runs about 25), the whole policy is data in this file where a reviewer reads it, and
the worker needs no C library beyond libc. libseccomp's Python binding is not on PyPI
(it ships with the C library's source), so depending on it would make the default
install depend on a system package. ``tests/test_seccomp_allowlist.py`` runs the
assembled program through a BPF interpreter for every syscall number and checks the
kernel's verdicts with real calls.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000

# classic BPF opcodes used here
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
JA = 0x05
RET_K = 0x06

OFF_NR = 0
OFF_ARCH = 4


def _arg_lo(i: int) -> int:
    """Offset of the low 32 bits of argument i (x86-64 is little-endian)."""
    return 16 + 8 * i


# --- x86-64 syscall numbers of every call named below ---------------------------------
NR: dict[str, int] = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6,
    "poll": 7, "lseek": 8, "mmap": 9, "mprotect": 10, "munmap": 11, "brk": 12,
    "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "ioctl": 16,
    "pread64": 17, "pwrite64": 18, "readv": 19, "writev": 20, "access": 21, "pipe": 22,
    "select": 23, "sched_yield": 24, "mremap": 25, "msync": 26, "mincore": 27,
    "madvise": 28, "shmget": 29, "shmat": 30, "shmctl": 31, "dup": 32, "dup2": 33,
    "pause": 34, "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38,
    "getpid": 39, "sendfile": 40, "socket": 41, "connect": 42, "accept": 43,
    "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "shutdown": 48,
    "bind": 49, "listen": 50, "getsockname": 51, "getpeername": 52, "socketpair": 53,
    "setsockopt": 54, "getsockopt": 55, "clone": 56, "fork": 57, "vfork": 58,
    "execve": 59, "exit": 60, "wait4": 61, "kill": 62, "uname": 63, "semget": 64,
    "semop": 65, "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70,
    "msgctl": 71, "fcntl": 72, "flock": 73, "getcwd": 79, "gettimeofday": 96, "chdir": 80, "fchdir": 81,
    "readlink": 89, "getrlimit": 97, "getrusage": 98, "sysinfo": 99, "times": 100,
    "ptrace": 101, "getuid": 102, "syslog": 103, "getgid": 104, "setuid": 105,
    "setgid": 106, "geteuid": 107, "getegid": 108, "getppid": 110, "getpgrp": 111,
    "setsid": 112, "getgroups": 115, "getresuid": 118, "getresgid": 120, "getpgid": 121,
    "getsid": 124, "capget": 125, "capset": 126, "rt_sigpending": 127,
    "rt_sigtimedwait": 128, "rt_sigqueueinfo": 129, "rt_sigsuspend": 130,
    "sigaltstack": 131, "uselib": 134, "personality": 135, "ustat": 136, "statfs": 137,
    "fstatfs": 138, "sysfs": 139, "getpriority": 140, "setpriority": 141,
    "sched_getparam": 143, "sched_getscheduler": 145, "vhangup": 153,
    "modify_ldt": 154, "pivot_root": 155, "_sysctl": 156, "prctl": 157,
    "arch_prctl": 158, "adjtimex": 159, "setrlimit": 160, "chroot": 161, "sync": 162,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171,
    "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176,
    "quotactl": 179, "gettid": 186, "getxattr": 191, "lgetxattr": 192,
    "fgetxattr": 193, "listxattr": 194, "llistxattr": 195, "flistxattr": 196,
    "tkill": 200, "time": 201, "futex": 202, "sched_setaffinity": 203,
    "sched_getaffinity": 204, "io_setup": 206, "io_destroy": 207, "io_getevents": 208,
    "io_submit": 209, "io_cancel": 210, "lookup_dcookie": 212, "getdents64": 217,
    "set_tid_address": 218, "restart_syscall": 219, "semtimedop": 220,
    "clock_settime": 227, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234, "mbind": 237,
    "kexec_load": 246, "waitid": 247, "add_key": 248, "request_key": 249, "keyctl": 250,
    "inotify_init": 253, "inotify_add_watch": 254, "inotify_rm_watch": 255,
    "migrate_pages": 256, "openat": 257, "newfstatat": 262, "readlinkat": 267,
    "faccessat": 269, "pselect6": 270, "ppoll": 271, "unshare": 272,
    "set_robust_list": 273, "get_robust_list": 274, "move_pages": 279,
    "epoll_pwait": 281, "eventfd": 284, "accept4": 288, "eventfd2": 290,
    "epoll_create1": 291, "dup3": 292, "pipe2": 293, "inotify_init1": 294,
    "preadv": 295, "pwritev": 296, "rt_tgsigqueueinfo": 297, "perf_event_open": 298,
    "fanotify_init": 300, "fanotify_mark": 301, "prlimit64": 302,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "clock_adjtime": 305,
    "setns": 308, "getcpu": 309, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "finit_module": 313, "seccomp": 317, "getrandom": 318,
    "memfd_create": 319, "kexec_file_load": 320, "bpf": 321, "execveat": 322,
    "userfaultfd": 323, "membarrier": 324, "statx": 332, "io_pgetevents": 333,
    "rseq": 334, "uretprobe": 335, "uprobe": 336, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437,
    "pidfd_getfd": 438, "faccessat2": 439, "process_madvise": 440,
    "epoll_pwait2": 441, "mount_setattr": 442, "quotactl_fd": 443,
    "landlock_create_ruleset": 444, "landlock_add_rule": 445,
    "landlock_restrict_self": 446, "memfd_secret": 447, "process_mrelease": 448,
    "futex_waitv": 449, "set_mempolicy_home_node": 450, "cachestat": 451,
    "fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454, "futex_wait": 455,
    "futex_requeue": 456, "statmount": 457, "listmount": 458,
    "lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,
    "mseal": 462, "setxattrat": 463, "getxattrat": 464, "listxattrat": 465,
    "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468,
    "file_setattr": 469,
}


@dataclass(frozen=True)
class Group:
    """A set of system calls sharing one verdict, and why."""

    name: str
    verdict: str  # "allow", "errno" (EPERM), "enosys", "kill"
    why: str
    calls: tuple[str, ...]


#: Calls the kernel passes through every seccomp filter (since Linux 6.13): they only
#: work from a uprobe trampoline the kernel itself installs; called from anywhere else
#: uretprobe kills the caller with SIGILL and uprobe fails with ENXIO. Named here so
#: the list is complete; the filter's verdict for them (EPERM) is never consulted.
KERNEL_PASSTHROUGH = ("uretprobe", "uprobe")

GROUPS: tuple[Group, ...] = (
    # ---------------------------------------------------------------- allowed
    Group("memory", "allow", "the allocator, the interpreter and thread stacks",
          ("brk", "mmap", "munmap", "mremap", "mprotect", "madvise")),
    Group("fd_io", "allow", "reading and writing descriptors the worker already holds: its "
          "socketpair to the parent, fd 0-2 (/dev/null), files Landlock let it open",
          ("read", "write", "readv", "writev", "pread64", "lseek", "close", "dup", "dup2",
           "dup3", "getdents64", "fstat")),
    Group("socket_io", "allow", "messages on the inherited socketpair, and reading its options (socket.socket(fileno=) "
          "asks for its family and type); no new sockets: "
          "socket, connect, bind... stay refused)",
          ("sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "poll", "ppoll",
           "getsockopt", "getsockname")),
    Group("time", "allow", "clocks and sleeping (time.sleep, deadlines)",
          ("clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
           "time")),
    Group("identity", "allow", "the worker's own ids, limits and usage (all about itself)",
          ("getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
           "getresuid", "getresgid", "getgroups", "getrlimit", "setrlimit", "getrusage", "times",
           "getrandom", "sched_yield", "sched_getaffinity", "uname")),
    Group("signals", "allow", "signal handling of the process itself (signals to others "
          "are argument-checked below)",
          ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall")),
    Group("threads", "allow", "threads (clone itself is argument-checked): glibc's thread "
          "start-up and the locks between threads",
          ("futex", "set_robust_list", "set_tid_address", "rseq", "exit", "exit_group")),
    # -------------------------------------------------- refused with ENOSYS (libc falls back)
    Group("fallbacks", "enosys", "newer variants libc tries first and falls back from: "
          "clone3 (flags in memory BPF cannot read; glibc falls back to clone, which is "
          "checked), openat2, statx, faccessat2",
          ("clone3", "openat2", "statx", "faccessat2")),
    # ------------------------------------------------------- refused with EPERM
    Group("path_metadata", "errno", "stat, access, readlink, statfs and xattr reads by path: "
          "Landlock does not govern them, so they would show what exists outside the "
          "read roots. newfstatat goes too, although glibc's fstat() uses it: its "
          "AT_EMPTY_PATH form also accepts any absolute path, which BPF cannot read, so "
          "allowing fstat that way would allow stat of every host path. The worker never "
          "needs fstat after lockdown (Python's open() of a file then fails with EPERM; "
          "the fstat syscall itself, fd-only, stays allowed)",
          ("stat", "lstat", "newfstatat", "access", "faccessat", "readlink", "readlinkat", "statfs",
           "fstatfs", "ustat", "sysfs", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
           "llistxattr", "flistxattr", "getxattrat", "listxattrat", "getcwd", "chdir",
           "fchdir", "file_getattr", "statmount", "listmount")),
    Group("network", "errno", "no new sockets and no connections: the only channel is the "
          "socketpair to the parent",
          ("socket", "socketpair", "connect", "accept", "accept4", "bind", "listen",
           "getpeername", "setsockopt", "sendfile")),
    Group("processes", "errno", "no new processes (fork fails with EPERM so subprocess "
          "and os.fork raise PermissionError)",
          ("fork", "vfork", "wait4", "waitid", "setsid", "getpgrp", "getpgid", "getsid")),
    Group("other_processes", "errno", "signals, priorities and ids aimed at other "
          "processes or the system",
          ("tkill", "pidfd_open", "pidfd_send_signal", "getpriority", "setpriority",
           "sched_setaffinity", "sched_getparam", "sched_getscheduler", "setuid", "setgid",
           "capget", "capset", "prctl", "arch_prctl", "sysinfo", "getcpu",
           "alarm", "setitimer", "getitimer", "pause", "rt_sigsuspend", "rt_sigpending",
           "rt_sigtimedwait", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules")),
    Group("fd_kinds", "errno", "descriptor kinds a worker has no use for: pipes, eventfds, "
          "epoll, inotify/fanotify (file names of other processes), memfd, flock",
          ("pipe", "pipe2", "eventfd", "eventfd2", "epoll_create1", "epoll_pwait",
           "epoll_pwait2", "inotify_init", "inotify_init1", "inotify_add_watch",
           "inotify_rm_watch", "fanotify_init", "fanotify_mark", "memfd_create",
           "memfd_secret", "flock", "close_range", "msync", "mincore", "sync", "cachestat",
           "pwrite64", "preadv", "pwritev", "select", "pselect6", "futex_waitv",
           "futex_wake", "futex_wait", "futex_requeue", "membarrier", "get_robust_list",
           "mseal", "map_shadow_stack")),
    Group("sandbox_calls", "errno", "the lockdown's own calls: nothing to add once locked",
          ("seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self")),
    Group("uprobes", "errno", "uprobe trampolines (the kernel bypasses seccomp for these; "
          "see KERNEL_PASSTHROUGH)", KERNEL_PASSTHROUGH),
    # --------------------------------------------------------------- kill
    Group("exec", "kill", "replacing the worker's program", ("execve", "execveat", "uselib")),
    Group("debugging", "kill", "reading or writing other processes' memory",
          ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
           "process_madvise", "process_mrelease")),
    Group("namespaces_mounts", "kill", "mounts, namespaces and the root directory",
          ("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
           "open_tree_attr", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
           "mount_setattr", "name_to_handle_at", "open_by_handle_at", "quotactl",
           "quotactl_fd")),
    Group("sysv_ipc", "kill", "System V IPC: objects that outlive the worker, are shared "
          "across tasks and pin host memory",
          ("shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
           "msgget", "msgsnd", "msgrcv", "msgctl")),
    Group("kernel_surface", "kill", "large kernel attack surface no worker needs: BPF, perf, "
          "io_uring, legacy AIO, userfaultfd, keyrings, NUMA page moves, ldt/iopl",
          ("bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
           "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
           "io_pgetevents", "userfaultfd", "keyctl", "add_key", "request_key", "mbind",
           "migrate_pages", "move_pages", "set_mempolicy_home_node", "modify_ldt", "iopl",
           "ioperm", "personality", "_sysctl", "lookup_dcookie")),
    Group("file_metadata", "kill", "changing file attributes (Landlock does not govern them)",
          ("file_setattr", "setxattrat", "removexattrat", "fchmodat2")),
    Group("system", "kill", "machine-wide state",
          ("reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module",
           "delete_module", "swapon", "swapoff", "syslog", "acct", "settimeofday",
           "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
           "vhangup")),
)

# Calls allowed only with some arguments; see _conditional() for the checks.
CONDITIONAL: dict[str, str] = {
    "clone": "threads only: CLONE_THREAD set and no namespace flags (else EPERM)",
    "kill": "only to the worker itself (arg0 == its pid), else EPERM",
    "tgkill": "only to the worker's own threads (arg0 == its pid), else EPERM",
    "rt_sigqueueinfo": "only to itself, else EPERM",
    "rt_tgsigqueueinfo": "only to itself, else EPERM",
    "prlimit64": "only on itself (pid 0 or its own pid), else EPERM",
    "fcntl": "F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC; not "
             "F_SETOWN/F_SETSIG/F_SETLEASE/F_NOTIFY/locks (EPERM)",
    "ioctl": "TCGETS (isatty), FIONBIO, FIOCLEX, FIONCLEX; not FS_IOC_* or SIOCGIF* (EPERM)",
    "open": "read-only: no O_WRONLY/O_RDWR/O_CREAT/O_TRUNC/O_PATH/O_TMPFILE (EPERM)",
    "openat": "read-only, as open",
}

CLONE_THREAD = 0x00010000
CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
FCNTL_ALLOWED = (0, 1, 2, 3, 4, 1030)
IOCTL_ALLOWED = (0x5401, 0x5421, 0x5451, 0x5450)  # TCGETS FIONBIO FIOCLEX FIONCLEX
OPEN_FORBIDDEN_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o10000000 | 0o20000000  # WRONLY RDWR CREAT TRUNC PATH __TMPFILE

_VERDICTS = {
    "allow": RET_ALLOW,
    "errno": RET_ERRNO | errno.EPERM,
    "enosys": RET_ERRNO | errno.ENOSYS,
    "kill": RET_KILL_PROCESS,
}


def verdicts() -> dict[str, str]:
    """Each named syscall's unconditional verdict (conditional ones say "conditional")."""
    out: dict[str, str] = {}
    for group in GROUPS:
        for name in group.calls:
            if name in out:
                raise ValueError(f"{name} is in two seccomp groups")
            out[name] = group.verdict
    for name in CONDITIONAL:
        if name in out:
            raise ValueError(f"{name} is both conditional and in group")
        out[name] = "conditional"
    unknown = [name for name in out if name not in NR]
    if unknown:
        raise ValueError(f"unknown syscalls in the seccomp policy: {unknown}")
    return out


Insn = tuple[int, int, int, int]  # code, jt, jf, k


def _ret(action: int) -> list[Insn]:
    return [(RET_K, 0, 0, action)]


def _conditional(name: str, own_pid: int, deny: int) -> list[Insn]:
    """Code for one argument-checked call; A holds the syscall number on entry, every path returns."""
    allow = RET_ALLOW
    if name == "clone":
        return [
            (LD_W_ABS, 0, 0, _arg_lo(0)),
            (JSET_K, 0, 2, CLONE_THREAD),  # no CLONE_THREAD -> deny
            (JSET_K, 1, 0, CLONE_NS_FLAGS),  # a namespace flag -> deny
            (RET_K, 0, 0, allow),
            (RET_K, 0, 0, deny),
        ]
    if name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        return [
            (LD_W_ABS, 0, 0, _arg_lo(0)),
            (JEQ_K, 0, 1, own_pid & 0xFFFFFFFF),
            (RET_K, 0, 0, allow),
            (RET_K, 0, 0, deny),
        ]
    if name == "prlimit64":
        return [
            (LD_W_ABS, 0, 0, _arg_lo(0)),
            (JEQ_K, 1, 0, 0),
            (JEQ_K, 0, 1, own_pid & 0xFFFFFFFF),
            (RET_K, 0, 0, allow),
            (RET_K, 0, 0, deny),
        ]
    if name in ("fcntl", "ioctl"):
        values = FCNTL_ALLOWED if name == "fcntl" else IOCTL_ALLOWED
        code: list[Insn] = [(LD_W_ABS, 0, 0, _arg_lo(1))]
        n = len(values)
        for i, value in enumerate(values):
            code.append((JEQ_K, n - i, 0, value))  # jump to the allow after the deny
        code += [(RET_K, 0, 0, deny), (RET_K, 0, 0, allow)]
        return code
    if name in ("open", "openat"):
        return [
            (LD_W_ABS, 0, 0, _arg_lo(1 if name == "open" else 2)),
            (JSET_K, 1, 0, OPEN_FORBIDDEN_FLAGS),
            (RET_K, 0, 0, allow),
            (RET_K, 0, 0, deny),
        ]
    raise ValueError(f"no argument check for {name}")


def build_program(own_pid: int, log_refusals: bool = False) -> bytes:
    """Assemble the filter for a worker whose pid (in its own PID namespace) is `own_pid`.

    With `log_refusals` every errno/kill verdict becomes SECCOMP_RET_LOG (allowed and
    logged): the mode used to derive the allowlist, never for agent code.
    """
    deny = RET_LOG if log_refusals else RET_ERRNO | errno.EPERM
    blocks: list[tuple[int, list[Insn]]] = []
    for name, verdict in verdicts().items():
        if verdict == "conditional":
            block = _conditional(name, own_pid, deny)
        else:
            action = _VERDICTS[verdict]
            if log_refusals and verdict != "allow":
                action = RET_LOG
            block = _ret(action)
        blocks.append((NR[name], block))
    blocks.sort(key=lambda item: item[0])
    default = _ret(deny)

    def tree(entries: list[tuple[int, list[Insn]]]) -> list[Insn]:
        if len(entries) <= 4:
            code: list[Insn] = []
            for nr, block in entries:
                code.append((JEQ_K, 0, len(block), nr))
                code.extend(block)
            return code + default
        mid = len(entries) // 2
        left, right = tree(entries[:mid]), tree(entries[mid:])
        # A >= pivot: fall to the JA, which jumps over the left half; else skip the JA.
        return [(JGE_K, 0, 1, entries[mid][0]), (JA, 0, 0, len(left))] + left + right

    prefix: list[Insn] = [
        (LD_W_ABS, 0, 0, OFF_ARCH),
        (JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        (RET_K, 0, 0, RET_KILL_PROCESS),
        (LD_W_ABS, 0, 0, OFF_NR),
        (JGE_K, 0, 1, X32_SYSCALL_BIT),
        (RET_K, 0, 0, RET_LOG if log_refusals else RET_KILL_PROCESS),
    ]
    program = prefix + tree(blocks)
    if len(program) > 4096:
        raise ValueError(f"seccomp program too long ({len(program)} instructions)")
    out = bytearray()
    for code, jt, jf, k in program:
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp jump out of range")
        out += struct.pack("=HBBI", code, jt, jf, k)
    return bytes(out)


def evaluate(program: bytes, nr: int, args: tuple[int, ...] = (), arch: int = AUDIT_ARCH_X86_64) -> int:
    """Run `program` on one (arch, nr, args) the way the kernel would; returns the action.

    A tiny interpreter of the opcodes the assembler emits, for tests and `doctor`.
    """
    data = struct.pack("=iIQ", nr, arch, 0) + b"".join(
        struct.pack("=Q", (args[i] if i < len(args) else 0) & 0xFFFFFFFFFFFFFFFF) for i in range(6)
    )
    insns = [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == LD_W_ABS:
            acc = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code == JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif code == JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif code == JSET_K:
            pc += 1 + (jt if acc & k else jf)
        elif code == JA:
            pc += 1 + k
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"unknown BPF opcode {code:#x}")
