"""Lock a worker process down: rlimits, no_new_privs, Landlock, the sandbox user, seccomp.

A small ctypes layer over raw syscalls rather than a PyPI binding: the seccomp filter
is a hand-assembled classic-BPF allowlist (`_seccomp`, which says why), Landlock is three
syscalls (444-446), and the namespaces and the unprivileged user are in `_namespaces`.
Everything here is x86-64 Linux; elsewhere each layer reports itself missing and the
pool degrades loudly.

Each step reports "active", "disabled by config" (tests switch layers off one by one to
prove each on its own) or "missing: <reason>"; callers decide whether a missing layer is
fatal.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import resource
import signal
import struct
import sys
import sysconfig
from typing import Any

from skillbank.sandbox import _namespaces, _seccomp

#: Layers a pool can switch off one at a time (tests only); rlimits and no_new_privs
#: are always on.
OPTIONAL_LAYERS = ("namespaces", "uid", "landlock", "seccomp")

NR = {
    "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "capset": 126,
}

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
DISABLED = "disabled by config"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _syscall(libc: ctypes.CDLL, nr: int, *args: Any) -> int:
    """syscall(2); `args` are ints or ctypes values (pointers, sized integers, buffers)."""
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


# --- read roots -----------------------------------------------------------------------

_PACKAGE_DIRS = ("site-packages", "dist-packages")


def _stdlib_dirs() -> list[str]:
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix}
    paths = sysconfig.get_paths(vars=base)
    dirs = {os.path.dirname(os.__file__), paths["stdlib"], paths["platstdlib"]}
    return sorted({os.path.realpath(d) for d in dirs if d and os.path.isdir(d)})


def read_roots(allowed_imports: tuple[str, ...] | list[str] = ()) -> dict[str, list[str]]:
    """What workers may read: the standard library, entry by entry so that a
    site-packages inside it stays out, plus the package directory of each allowed
    import that lives outside the standard library. Never site-packages as a whole,
    never skillbank's own code.

    Returns {"roots": [...], "stdlib": [...], "packages": [...], "refused": [...]}:
    every root; the standard-library directories they come from; the third-party
    package roots; allowed imports whose files were not granted, with the reason.
    """
    roots: set[str] = set()
    stdlib = _stdlib_dirs()
    for directory in stdlib:
        for entry in os.scandir(directory):
            if entry.name in _PACKAGE_DIRS:
                continue
            roots.add(os.path.realpath(entry.path))
    package_dirs = {os.path.realpath(p) for p in sys.path if os.path.basename(p.rstrip("/")) in _PACKAGE_DIRS}
    package_dirs |= {os.path.realpath(p) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    skillbank_dir = os.path.realpath(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    refused: list[str] = []
    packages: set[str] = set()
    for name in sorted({m.split(".")[0] for m in allowed_imports}):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin in (None, "built-in", "frozen"):
            continue
        locations = list(spec.submodule_search_locations or []) or [spec.origin]
        for location in locations:
            path = os.path.realpath(location)
            if any(path == d or path.startswith(d + os.sep) for d in stdlib):
                continue
            if path in package_dirs or path.startswith(skillbank_dir) or skillbank_dir.startswith(path + os.sep):
                refused.append(f"{name}: {path} holds skillbank or a whole package directory")
                continue
            packages.add(path)
            libs = os.path.join(os.path.dirname(path), f"{name}.libs")
            if os.path.isdir(libs):  # wheels' vendored shared libraries (numpy.libs, ...)
                packages.add(os.path.realpath(libs))
    roots |= packages
    return {"roots": sorted(roots), "stdlib": stdlib, "packages": sorted(packages), "refused": refused}


# --- seccomp --------------------------------------------------------------------------


def build_seccomp_program(own_pid: int, log_refusals: bool = False) -> bytes:
    """The allowlist filter for a worker whose pid is `own_pid` (see `_seccomp`)."""
    return _seccomp.build_program(own_pid, log_refusals=log_refusals)


def install_seccomp(libc: ctypes.CDLL, own_pid: int, log_refusals: bool = False) -> None:
    program = build_seccomp_program(own_pid, log_refusals)
    buf = ctypes.create_string_buffer(program, len(program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _prctl(libc, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_void_p(ctypes.addressof(fprog)))


# --- Landlock -------------------------------------------------------------------------


def make_landlock_ruleset(abi: int, read_roots: list[str]) -> tuple[int, list[str]]:
    """A ruleset allowing reads (files and directories) beneath `read_roots` and nothing
    else; built once in the zygote, applied by each worker with :func:`restrict_landlock`."""
    libc = _libc()
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
    except BaseException:
        os.close(ruleset_fd)
        raise
    return ruleset_fd, granted


def restrict_landlock(libc: ctypes.CDLL, ruleset_fd: int) -> None:
    _syscall(libc, NR["landlock_restrict_self"], ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))


def install_landlock(libc: ctypes.CDLL, abi: int, read_roots: list[str]) -> list[str]:
    """Build and apply a ruleset in one go (the calling process only)."""
    fd, granted = make_landlock_ruleset(abi, read_roots)
    try:
        restrict_landlock(libc, fd)
    finally:
        os.close(fd)
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
    address_space_bytes: int,
    cpu_seconds: int,
    open_files: int,
    layers: tuple[str, ...] | list[str] = OPTIONAL_LAYERS,
    landlock_ruleset: int | None = None,
    landlock_status: str = "missing: no ruleset",
    log_refusals: bool = False,
    max_tasks: int = 64,
    pending_signals: int = 64,
    slot: int = 0,
) -> dict[str, str]:
    """Restrict the calling process for good; returns each layer's status.

    Order: rlimits and no_new_privs; Landlock (while the process may still open the
    roots); the sandbox user (which clears every capability; capabilities are dropped
    explicitly too); seccomp last, since the allowlist refuses everything above.
    """
    status: dict[str, str] = {}
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
        # Counted by the kernel per user: per worker, since each has a uid (or user
        # namespace) of its own; enforced once the worker is no longer root.
        resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
        resource.setrlimit(resource.RLIMIT_SIGPENDING, (pending_signals, pending_signals))
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
        status["rlimits"] = ACTIVE
    except (OSError, ValueError) as exc:
        status["rlimits"] = f"missing: {exc}"

    if not is_x86_64_linux():
        reason = f"missing: not x86-64 Linux ({platform.system()} {platform.machine()})"
        return {**status, "no_new_privs": reason, "uid": reason, "capabilities": reason, "landlock": reason, "seccomp": reason}

    try:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
        status["no_new_privs"] = ACTIVE if _prctl(libc, PR_GET_NO_NEW_PRIVS) == 1 else "missing: flag not set"
    except OSError as exc:
        status["no_new_privs"] = f"missing: {exc}"

    if "landlock" not in layers:
        status["landlock"] = DISABLED
    elif landlock_ruleset is None:
        status["landlock"] = landlock_status
    else:
        try:
            restrict_landlock(libc, landlock_ruleset)
            status["landlock"] = ACTIVE
        except OSError as exc:
            status["landlock"] = f"missing: {exc}"
    if landlock_ruleset is not None:
        os.close(landlock_ruleset)

    if "uid" not in layers:
        status["uid"] = status["capabilities"] = DISABLED
    else:
        try:
            uid = _namespaces.drop_to_sandbox_user(slot)
            status["uid"] = ACTIVE
            status["uid_gid"] = f"{uid}:{uid}"
        except OSError as exc:
            status["uid"] = f"missing: {exc.strerror or exc}"
        try:
            drop_capabilities(libc)
            status["capabilities"] = "dropped"
        except OSError as exc:
            status["capabilities"] = f"missing: {exc}"

    if "seccomp" not in layers:
        status["seccomp"] = DISABLED
    else:
        try:
            install_seccomp(libc, os.getpid(), log_refusals)
            status["seccomp"] = "log mode: refusals logged, not enforced" if log_refusals else ACTIVE
        except OSError as exc:
            status["seccomp"] = f"missing: {exc}"
    return status
