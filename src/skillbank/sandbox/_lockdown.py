"""Lock a worker process down: rlimits, capabilities, no_new_privs, Landlock, seccomp.

A small ctypes layer over raw syscalls rather than a PyPI binding: the seccomp filter
is a hand-assembled classic-BPF program (so it needs no libseccomp at run time and its
rules, including the argument checks on clone and kill, are all visible below), and
Landlock is three syscalls (444-446). Everything here is x86-64 Linux; elsewhere each
layer reports itself missing and the pool degrades loudly.

Each step reports "active" or "missing: <reason>"; callers decide whether a missing
layer is fatal.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import struct

# --- syscall numbers (x86-64) -------------------------------------------------------
NR = {
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "kill": 62, "ptrace": 101,
    "syslog": 103, "rt_sigqueueinfo": 129, "uselib": 134, "personality": 135,
    "vhangup": 153, "pivot_root": 155, "adjtimex": 159, "chroot": 161, "acct": 163,
    "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
    "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173,
    "init_module": 175, "delete_module": 176, "quotactl": 179, "tkill": 200,
    "lookup_dcookie": 212, "clock_settime": 227, "tgkill": 234, "mbind": 237,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "migrate_pages": 256, "unshare": 272, "move_pages": 279, "perf_event_open": 298,
    "rt_tgsigqueueinfo": 297, "fanotify_init": 300, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "pidfd_send_signal": 424, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442,
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50,
    "socketpair": 53, "accept4": 288,
    "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "seccomp": 317, "capset": 126,
    "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94, "utime": 132,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "utimes": 235, "fchownat": 260,
    "futimesat": 261, "fchmodat": 268, "utimensat": 280, "fchmodat2": 452,
    "setxattrat": 463, "removexattrat": 466,
}

# Denied outright with EPERM: process creation, networking, debugging other
# processes, and kernel-level state (mounts, namespaces, modules, keys, BPF, io_uring).
DENIED_SYSCALLS = (
    "fork", "vfork", "execve", "execveat",
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "process_madvise",
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "tkill",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "bpf", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "syslog", "acct", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "iopl", "ioperm",
    "quotactl", "lookup_dcookie", "fanotify_init", "name_to_handle_at",
    "open_by_handle_at", "uselib", "personality", "vhangup", "mbind", "migrate_pages",
    "move_pages",
    # Landlock does not govern file metadata (mode, owner, times, xattrs); a root
    # worker owns most files, so these would otherwise reach the host's files.
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "removexattrat",
)
# Signals may only target this very process (arg0 = own pid); kill(0/-1/other) fails.
OWN_PID_SYSCALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")

AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_THREAD = 0x00010000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_GET_SECCOMP = 21
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_FILTER = 2

# Landlock access rights by ABI version.
LL_FS_EXECUTE = 1 << 0
LL_FS_READ_FILE = 1 << 2
LL_FS_READ_DIR = 1 << 3
_LL_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
LL_NET_ALL = (1 << 0) | (1 << 1)  # bind_tcp, connect_tcp (ABI >= 4)
LL_SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals (ABI >= 6)
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1

ACTIVE = "active"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _syscall(libc: ctypes.CDLL, nr: int, *args: int | ctypes.c_void_p) -> int:
    ret = libc.syscall(ctypes.c_long(nr), *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _prctl(libc: ctypes.CDLL, option: int, arg2: int = 0, arg3: int | ctypes.c_void_p = 0) -> int:
    ret = libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), arg3 if isinstance(arg3, ctypes.c_void_p) else ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def is_x86_64_linux() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    if not is_x86_64_linux():
        return 0
    try:
        return _syscall(_libc(), NR["landlock_create_ruleset"], None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    except OSError:
        return 0


def seccomp_available() -> bool:
    if not is_x86_64_linux():
        return False
    try:
        _prctl(_libc(), PR_GET_SECCOMP)
        return True
    except OSError:
        return False


def probe() -> dict[str, object]:
    """What this kernel offers, without restricting the calling process."""
    return {
        "platform": f"{platform.system()} {platform.machine()} {platform.release()}",
        "seccomp": seccomp_available(),
        "landlock_abi": landlock_abi(),
    }


# --- seccomp --------------------------------------------------------------------------

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16  # args[0], low 32 bits on little-endian; pid_t and clone flags fit


def build_seccomp_program(own_pid: int) -> bytes:
    """Assemble the filter. Jump targets are labels resolved after layout."""
    prog: list[tuple] = []  # (code, jt_label|int, jf_label|int, k)
    labels: dict[str, int] = {}

    def emit(code: int, k: int = 0, jt: object = 0, jf: object = 0) -> None:
        prog.append((code, jt, jf, k))

    def label(name: str) -> None:
        labels[name] = len(prog)

    emit(_BPF_LD_W_ABS, _OFF_ARCH)
    emit(_BPF_JEQ_K, AUDIT_ARCH_X86_64, jt=0, jf="kill")
    emit(_BPF_LD_W_ABS, _OFF_NR)
    emit(_BPF_JGE_K, X32_SYSCALL_BIT, jt="deny", jf=0)
    emit(_BPF_JEQ_K, NR["clone"], jt="clone", jf=0)
    # clone3 passes its flags in memory, where BPF cannot look: answer ENOSYS so libc
    # falls back to clone, whose flags we can check.
    emit(_BPF_JEQ_K, NR["clone3"], jt="enosys", jf=0)
    for name in OWN_PID_SYSCALLS:
        emit(_BPF_JEQ_K, NR[name], jt="own_pid", jf=0)
    for name in DENIED_SYSCALLS:
        emit(_BPF_JEQ_K, NR[name], jt="deny", jf=0)
    emit(_BPF_RET_K, SECCOMP_RET_ALLOW)
    label("clone")
    emit(_BPF_LD_W_ABS, _OFF_ARG0_LO)
    emit(_BPF_JSET_K, CLONE_THREAD, jt="allow", jf="deny")
    label("own_pid")
    emit(_BPF_LD_W_ABS, _OFF_ARG0_LO)
    emit(_BPF_JEQ_K, own_pid & 0xFFFFFFFF, jt="allow", jf="deny")
    label("allow")
    emit(_BPF_RET_K, SECCOMP_RET_ALLOW)
    label("deny")
    emit(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM)
    label("enosys")
    emit(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    label("kill")
    emit(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS)

    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(prog):
        offsets = []
        for target in (jt, jf):
            if isinstance(target, str):
                off = labels[target] - index - 1
                if not 0 <= off <= 255:
                    raise ValueError(f"seccomp jump to {target} out of range ({off})")
                offsets.append(off)
            else:
                offsets.append(target)
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return bytes(out)


def install_seccomp(libc: ctypes.CDLL, own_pid: int) -> None:
    program = build_seccomp_program(own_pid)
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _prctl(libc, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_void_p(ctypes.addressof(fprog)))


# --- Landlock -------------------------------------------------------------------------


def install_landlock(libc: ctypes.CDLL, abi: int, read_roots: list[str]) -> list[str]:
    """Allow reading (files and directories) beneath `read_roots`; nothing else at all."""
    handled_fs = _LL_FS_BY_ABI.get(abi, _LL_FS_BY_ABI[5])
    attr = struct.pack("=Q", handled_fs)
    if abi >= 4:
        attr += struct.pack("=Q", LL_NET_ALL)
    if abi >= 6:
        attr += struct.pack("=Q", LL_SCOPE_ALL)
    attr_buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset_fd = _syscall(libc, NR["landlock_create_ruleset"], attr_buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    granted: list[str] = []
    try:
        for root in read_roots:
            try:
                fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                access = LL_FS_READ_FILE | (LL_FS_READ_DIR if os.path.isdir(root) else 0)
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
                _syscall(libc, NR["landlock_add_rule"], ctypes.c_int(ruleset_fd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), rule, ctypes.c_uint32(0))
                granted.append(root)
            finally:
                os.close(fd)
        _syscall(libc, NR["landlock_restrict_self"], ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
    finally:
        os.close(ruleset_fd)
    return granted


# --- capabilities ---------------------------------------------------------------------


def drop_capabilities(libc: ctypes.CDLL) -> None:
    """Empty the effective, permitted and inheritable sets (root keeps uid 0 but no
    CAP_SYS_RESOURCE to raise hard rlimits, no CAP_SYS_ADMIN, no CAP_KILL)."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0), 8)
    data = ctypes.create_string_buffer(bytes(24), 24)
    _syscall(libc, NR["capset"], header, data)


# --- the whole lockdown ---------------------------------------------------------------


def lock_down(
    *,
    read_roots: list[str],
    address_space_bytes: int,
    cpu_seconds: int,
    open_files: int,
) -> dict[str, str]:
    """Restrict the calling process for good; returns each layer's status."""
    layers: dict[str, str] = {}
    libc = _libc()

    try:
        _prctl(libc, PR_SET_DUMPABLE, 0)
        # SIGXFSZ would kill the worker on its first write; with it ignored, a write to
        # a file fails with EFBIG and the agent sees an exception.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))
        layers["rlimits"] = ACTIVE
    except (OSError, ValueError) as exc:
        layers["rlimits"] = f"missing: {exc}"

    if not is_x86_64_linux():
        reason = f"missing: not x86-64 Linux ({platform.system()} {platform.machine()})"
        return {**layers, "no_new_privs": reason, "capabilities": reason, "landlock": reason, "seccomp": reason}

    try:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
        layers["no_new_privs"] = ACTIVE if _prctl(libc, PR_GET_NO_NEW_PRIVS) == 1 else "missing: flag not set"
    except OSError as exc:
        layers["no_new_privs"] = f"missing: {exc}"

    abi = landlock_abi()
    if abi <= 0:
        layers["landlock"] = "missing: kernel has no Landlock (or it is disabled)"
    else:
        try:
            install_landlock(libc, abi, read_roots)
            layers["landlock"] = ACTIVE
            layers["landlock_abi"] = str(abi)
        except OSError as exc:
            layers["landlock"] = f"missing: {exc}"

    try:
        drop_capabilities(libc)
        layers["capabilities"] = "dropped"
    except OSError as exc:
        layers["capabilities"] = f"missing: {exc}"

    try:
        install_seccomp(libc, os.getpid())
        layers["seccomp"] = ACTIVE
    except OSError as exc:
        layers["seccomp"] = f"missing: {exc}"
    return layers
