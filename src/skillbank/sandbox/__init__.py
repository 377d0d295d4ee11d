"""Sandboxed execution of agent-written code.

    from skillbank.sandbox import SandboxPool, SandboxConfig
    with SandboxPool(SandboxConfig()) as pool:
        with pool.session(host, task_id="t1") as s:
            s.preload({"total": "def total(): ..."})
            result = s.run("total()")

The static check (:func:`check_source`) gives the model helpful refusals; the boundary
is the worker process: a seccomp allowlist, its own IPC/network/PID/mount/UTS
namespaces, an unprivileged uid, Landlock, no_new_privs and rlimits (see `_lockdown`,
`_seccomp`, `_namespaces`; `skillbank.sandbox.doctor` reports each layer).
"""

from skillbank.sandbox._lockdown import probe
from skillbank.sandbox.config import LAYERS, SandboxConfig
from skillbank.sandbox.echo import EchoHost
from skillbank.sandbox.pool import SandboxDegradedWarning, SandboxError, SandboxPool, Session
from skillbank.sandbox.static import DEFAULT_ALLOWED_IMPORTS, StaticCheckError, check_source, find_problems
from skillbank.sandbox.types import ApiCallRecord, ApiHost, ExecutionResult, FrameInfo

__all__ = [
    "DEFAULT_ALLOWED_IMPORTS",
    "LAYERS",
    "ApiCallRecord",
    "ApiHost",
    "EchoHost",
    "ExecutionResult",
    "FrameInfo",
    "SandboxConfig",
    "SandboxDegradedWarning",
    "SandboxError",
    "SandboxPool",
    "Session",
    "StaticCheckError",
    "check_source",
    "find_problems",
    "probe",
]
