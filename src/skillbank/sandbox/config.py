"""SandboxConfig: every limit the sandbox enforces, with documented defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from skillbank.errors import ValidationError
from skillbank.sandbox.static import DEFAULT_ALLOWED_IMPORTS

_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
LAYERS = ("rlimits", "no_new_privs", "namespaces", "uid", "landlock", "seccomp")
#: Layers `SandboxConfig.layers` can switch off (for tests that prove each on its own).
OPTIONAL_LAYERS = ("namespaces", "uid", "landlock", "seccomp")


@dataclass(frozen=True)
class SandboxConfig:
    """Limits for a :class:`~skillbank.sandbox.SandboxPool`.

    workers: worker processes kept ready; None = one per CPU core.
    allowed_imports: modules agent code may import (checked statically; also
        pre-imported in every worker before lockdown).
    static_check: run the AST check before each block (helpful errors, not the boundary).
    address_space_bytes: RLIMIT_AS per worker (1 GiB).
    cpu_seconds: CPU seconds a task may use over all its workers (the task's worker,
        its replacements and its skills' workers; the parent keeps the account) and the
        RLIMIT_CPU of each worker.
    max_tasks: RLIMIT_NPROC per worker: threads and processes it may have at once. Each
        worker runs as a uid of its own (root) or in a user namespace of its own, so the
        kernel counts this, pending signals and message queues per worker.
    pending_signals: RLIMIT_SIGPENDING per worker.
    timeout_s: wall-clock limit per execution, enforced by the parent with SIGKILL.
    api_call_budget: API calls allowed per execution; further calls raise
        ApiBudgetExceeded inside the worker.
    api_bytes_budget: bytes of API traffic (calls' frames plus their results) allowed per
        execution; further calls, and results that would not fit, raise
        ApiBudgetExceeded inside the worker.
    stdout_limit_bytes: captured stdout+stderr per execution, enforced by the parent;
        the rest is dropped and a truncation marker appended.
    Every task gets a freshly forked worker, killed when its session closes, so nothing
    a tenant does to its process reaches a later task (workers fork from a pre-imported
    zygote, so this is cheap).
    open_files: RLIMIT_NOFILE per worker.
    required_layers: isolation layers whose absence is an error instead of a warning
        (any of "rlimits", "no_new_privs", "namespaces", "uid", "landlock", "seccomp").
    layers: the optional layers workers set up (default: all of "namespaces", "uid",
        "landlock", "seccomp"). Only tests switch layers off, to show what each one
        refuses on its own; a switched-off layer is reported "disabled by config".
    """

    workers: int | None = None
    allowed_imports: tuple[str, ...] = DEFAULT_ALLOWED_IMPORTS
    static_check: bool = True
    address_space_bytes: int = 1 << 30
    cpu_seconds: int = 60
    max_tasks: int = 64
    pending_signals: int = 64
    timeout_s: float = 30.0
    api_call_budget: int = 500
    api_bytes_budget: int = 16 << 20
    stdout_limit_bytes: int = 64 * 1024
    open_files: int = 64
    required_layers: tuple[str, ...] = ()
    layers: tuple[str, ...] = OPTIONAL_LAYERS

    def __post_init__(self) -> None:
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValidationError(f"workers must be a positive integer or None, got {self.workers!r}")
        if isinstance(self.allowed_imports, str):
            raise ValidationError("allowed_imports must be a sequence of module names, not one string")
        object.__setattr__(self, "allowed_imports", tuple(self.allowed_imports))
        for name in self.allowed_imports:
            if not isinstance(name, str) or not _MODULE_RE.match(name):
                raise ValidationError(f"allowed_imports contains {name!r}, which is not a module name")
        checks = {
            "address_space_bytes": (self.address_space_bytes, 64 << 20),
            "cpu_seconds": (self.cpu_seconds, 1),
            "max_tasks": (self.max_tasks, 4),
            "pending_signals": (self.pending_signals, 8),
            "api_call_budget": (self.api_call_budget, 0),
            "api_bytes_budget": (self.api_bytes_budget, 1024),
            "stdout_limit_bytes": (self.stdout_limit_bytes, 1),
            "open_files": (self.open_files, 16),
        }
        for field_name, (value, minimum) in checks.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValidationError(f"{field_name} must be an integer >= {minimum}, got {value!r}")
        if not isinstance(self.timeout_s, (int, float)) or not self.timeout_s > 0:
            raise ValidationError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        object.__setattr__(self, "required_layers", tuple(self.required_layers))
        for layer in self.required_layers:
            if layer not in LAYERS:
                raise ValidationError(f"required_layers contains {layer!r}; known layers: {', '.join(LAYERS)}")

        if isinstance(self.layers, str):
            raise ValidationError("layers must be a sequence of layer names, not one string")
        object.__setattr__(self, "layers", tuple(self.layers))
        for layer in self.layers:
            if layer not in OPTIONAL_LAYERS:
                raise ValidationError(f"layers contains {layer!r}; layers that can be switched off: {', '.join(OPTIONAL_LAYERS)}")

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)
