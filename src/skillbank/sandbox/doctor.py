"""What `skillbank doctor` reports: each isolation layer as a real worker set it up, and
what this kernel lacks.

:func:`sandbox_report` starts a one-worker pool, reads the layers the worker reported,
and adds what the parent can tell on its own: the seccomp allowlist's size by verdict,
the namespaces, the sandbox uid/gid, the Landlock read roots, and the kernel features
that are absent (each with what it costs).
"""

from __future__ import annotations

import dataclasses
import os
import stat
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from skillbank.sandbox import _lockdown, _namespaces, _seccomp
from skillbank.sandbox.config import LAYERS, SandboxConfig


@dataclass(frozen=True)
class LayerStatus:
    name: str
    status: str  # "active", "disabled by config" or "missing: <reason>"
    detail: str = ""


@dataclass(frozen=True)
class SandboxReport:
    kernel: dict[str, Any]
    layers: tuple[LayerStatus, ...]
    seccomp: dict[str, Any]
    namespaces: dict[str, Any]
    uid: dict[str, Any]
    landlock: dict[str, Any]
    lacks: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.status == "active"]

    @property
    def missing(self) -> list[str]:
        return [layer.name for layer in self.layers if layer.status != "active"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["active"], data["missing"] = self.active, self.missing
        return data


def seccomp_summary() -> dict[str, Any]:
    """The allowlist by verdict and group (what the filter names; all else is EPERM)."""
    verdicts = _seccomp.verdicts()
    counts: dict[str, int] = {}
    for verdict in verdicts.values():
        counts[verdict] = counts.get(verdict, 0) + 1
    program = _seccomp.build_program(2)
    return {
        "default": "EPERM for every system call not named",
        "counts": counts,
        "instructions": len(program) // 8,
        "allowed": sorted(n for n, v in verdicts.items() if v == "allow"),
        "conditional": dict(_seccomp.CONDITIONAL),
        "killed": sorted(n for n, v in verdicts.items() if v == "kill"),
        "groups": [{"name": g.name, "verdict": g.verdict, "why": g.why, "calls": list(g.calls)} for g in _seccomp.GROUPS],
    }


def _kernel_lacks(kernel: dict[str, Any], raw: dict[str, str]) -> list[str]:
    lacks: list[str] = []
    abi = int(kernel.get("landlock_abi") or 0)
    if not kernel.get("seccomp"):
        lacks.append("seccomp: no system-call filter (every call reaches the kernel)")
    if abi == 0:
        lacks.append("Landlock: no file-system confinement (reads and writes limited by uid and namespaces only)")
    else:
        if abi < 4:
            lacks.append(f"Landlock ABI {abi} < 4: no TCP bind/connect rules (seccomp still refuses sockets)")
        if abi < 6:
            lacks.append(
                f"Landlock ABI {abi} < 6 (Linux 6.12): no signal or abstract-socket scoping "
                "(seccomp still refuses kill to others and F_SETOWN)"
            )
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            actions = f.read().split()
        if "kill_process" not in actions:
            lacks.append("seccomp KILL_PROCESS action (Linux 4.14): dangerous calls are refused, the worker is not killed")
    except OSError:
        pass
    status = raw.get("namespaces", "")
    if status and status != "active" and status != _lockdown.DISABLED:
        lacks.append(f"namespaces: {status}")
    return lacks


def _first_id(raw: dict[str, str], index: int) -> int | None:
    """The uid (0) or gid (1) the first worker reported, when the uid layer is active."""
    if raw.get("uid") != "active":
        return None
    try:
        return int(raw.get("uid_gid", "").split(":")[index])
    except (ValueError, IndexError):
        return None


def untraversable(path: str) -> str | None:
    """The first directory on the way to `path` that a user other than its owner cannot
    enter (no execute bit for others), or None."""
    here = "/"
    for part in os.path.realpath(path).strip("/").split("/"):
        if not part:
            continue
        here = os.path.join(here, part)
        try:
            mode = os.stat(here).st_mode
        except OSError:
            return here
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return here
    return None


def _worker_reads(pool: Any, stdlib: list[str]) -> dict[str, Any]:
    """Whether a locked-down worker can read its Landlock roots, tried by a real worker
    (opening the standard library's ``os.py``) and explained from the directory modes.

    A worker that can read nothing is stopped by an accident of this deployment (say a
    venv under a 0700 home), not by the design: Landlock's rules are then untested, and
    the same sandbox on a system Python behaves differently."""
    from skillbank.sandbox.echo import EchoHost

    target = os.path.join(stdlib[0], "os.py") if stdlib else os.__file__
    code = (f"try:\n    open({target!r}, 'rb').close()\n    seen = 'yes'\n"
            "except OSError as e:\n    seen = 'no: ' + (e.strerror or type(e).__name__)\nseen")
    try:
        with pool.session(EchoHost(), task_id="doctor") as session:
            result = session.run(code)
        answer = (result.result_repr or "").strip("'\"") if result.ok else f"no: {result.error_type}"
    except Exception as exc:  # noqa: BLE001 - the report says what failed
        answer = f"no: {type(exc).__name__}"
    blocker = untraversable(target)
    out: dict[str, Any] = {"file": target, "readable": answer == "yes", "detail": answer}
    if blocker is not None:
        out["blocked_by"] = f"{blocker} is not traversable by other users (the worker runs as another uid)"
    return out


def sandbox_report(config: SandboxConfig | None = None) -> SandboxReport:
    """Start one worker and report every layer (see the module docstring)."""
    from skillbank.sandbox.pool import SandboxDegradedWarning, SandboxPool

    kernel = _lockdown.probe()
    cfg = config if config is not None else SandboxConfig(workers=1)
    roots = _lockdown.read_roots(cfg.allowed_imports)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SandboxDegradedWarning)
        with SandboxPool(dataclasses.replace(cfg, static_check=False)) as pool:
            raw = pool.layers
            readable = _worker_reads(pool, roots["stdlib"])
    details = {
        "namespaces": (
            f"{raw.get('namespaces_list', '')} ({raw.get('namespaces_mode', '')})" if raw.get("namespaces") == "active" else ""
        ),
        "uid": (
            f"{raw.get('uid_gid', '')} (uid:gid"
            + (f" inside a user namespace; uid {os.geteuid()} on the host" if raw.get("namespaces_mode") == "userns" else "")
            + f"), no groups, capabilities {raw.get('capabilities', '?')}"
        )
        if raw.get("uid") == "active"
        else "",
        "landlock": f"ABI {raw.get('landlock_abi')}, {raw.get('landlock_roots')} read roots, no writes" if raw.get("landlock") == "active" else "",
        "seccomp": "allowlist, default EPERM, dangerous calls kill" if raw.get("seccomp") == "active" else "",
    }
    layers = tuple(LayerStatus(name, raw.get(name, "missing: not reported"), details.get(name, "")) for name in LAYERS)
    euid = os.geteuid()
    return SandboxReport(
        kernel=kernel,
        layers=layers,
        seccomp=seccomp_summary(),
        namespaces={
            "status": raw.get("namespaces", "missing: not reported"),
            "mode": raw.get("namespaces_mode", "none"),
            "namespaces": raw.get("namespaces_list", "").split(",") if raw.get("namespaces_list") else [],
            "hostname": _namespaces.HOSTNAME.decode() if raw.get("namespaces") == "active" else None,
        },
        uid={
            "status": raw.get("uid", "missing: not reported"),
            "uid": _first_id(raw, 0),
            "gid": _first_id(raw, 1),
            "per_worker": ("a uid of its own per worker (SANDBOX_ID + slot)" if raw.get("namespaces_mode") != "userns"
                           else "a user namespace of its own per worker"),
            "host_uid": _first_id(raw, 0) if raw.get("uid") == "active" and raw.get("namespaces_mode") != "userns" else euid,
            "capabilities": raw.get("capabilities", "missing: not reported"),
        },
        landlock={
            "status": raw.get("landlock", "missing: not reported"),
            "abi": kernel.get("landlock_abi"),
            "roots": roots["roots"],
            "stdlib": roots["stdlib"],
            "packages": roots["packages"],
            "refused_imports": roots["refused"],
            "worker_reads_roots": readable,
        },
        lacks=tuple(_kernel_lacks(kernel, raw)),
        warnings=tuple(str(w.message) for w in caught),
        raw=raw,
    )
