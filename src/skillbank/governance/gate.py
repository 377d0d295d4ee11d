"""The promotion gate: the policy's rules applied to a version's evidence.

The gate reads numbers, never decides on a hunch: :class:`Evidence` is what the library
holds about one version (successful calls and the distinct tasks they ran on, the
suite's last result, regressions, red-team findings, approval, quarantine), and
:meth:`PromotionGate.check` returns a :class:`GateDecision` with every rule's verdict.
A candidate that passes becomes ``canary`` where a promoted version of its name
exists, ``promoted`` where none does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skillbank.governance.policy import GovernancePolicy, severity_at_least


@dataclass(frozen=True)
class Evidence:
    version_id: str
    ref: str
    status: str
    successful_calls: int = 0
    failed_calls: int = 0
    distinct_tasks: int = 0
    evaluated: bool = False
    suite_cases: int = 0
    suite_failed: int = 0
    live_failed: int = 0  # cases observed failing in runs since the last evaluation
    regressions: tuple[str, ...] = ()
    redteamed: bool = False
    findings: tuple[dict[str, Any], ...] = ()
    approved: bool = False
    has_incumbent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    target: str | None  # "promoted" | "canary" | None
    checks: dict[str, bool] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    evidence: Evidence | None = None

    @property
    def blocked_by_regression(self) -> bool:
        return self.checks.get("no_regression") is False

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "target": self.target, "checks": dict(self.checks), "reasons": list(self.reasons),
                "evidence": self.evidence.to_dict() if self.evidence else None}


class PromotionGate:
    def __init__(self, policy: GovernancePolicy):
        self.policy = policy

    def check(self, ev: Evidence) -> GateDecision:
        g, r = self.policy.gate, self.policy.redteam
        checks: dict[str, bool] = {}
        reasons: list[str] = []

        def rule(name: str, ok: bool, why: str) -> None:
            checks[name] = ok
            if not ok:
                reasons.append(why)

        rule("not_quarantined", ev.status != "quarantined", "the version is quarantined")
        rule("is_candidate", ev.status == "candidate", f"the version is {ev.status}, not a candidate")
        rule("successful_calls", ev.successful_calls >= g.min_successful_calls,
             f"{ev.successful_calls} successful call(s); the policy needs {g.min_successful_calls}")
        rule("distinct_tasks", ev.distinct_tasks >= g.min_distinct_tasks,
             f"successful calls on {ev.distinct_tasks} task(s); the policy needs {g.min_distinct_tasks}")
        if g.require_suite_pass:
            rule("evaluated", ev.evaluated, "not evaluated yet")
            rule("suite_passed", ev.evaluated and ev.suite_failed == 0 and ev.live_failed == 0,
                 f"{ev.suite_failed + ev.live_failed} case(s) of {ev.suite_cases + ev.live_failed} failed")
        if g.block_regressions:
            rule("no_regression", not ev.regressions,
                 f"regression: fails {len(ev.regressions)} case(s) its predecessor passed")
        if g.require_redteam_clean:
            blocking = [f for f in ev.findings if severity_at_least(str(f.get("severity")), r.block_severity)]
            rule("redteamed", ev.redteamed, "not red-teamed yet")
            rule("redteam_clean", not blocking,
                 f"{len(blocking)} red-team finding(s) at or above {r.block_severity}: "
                 + ", ".join(sorted({str(f.get('kind')) for f in blocking})))
        if g.require_approval:
            rule("approved", ev.approved, "needs a person's approval (skillbank skills approve NAME@V)")
        passed = all(checks.values())
        target = ("canary" if ev.has_incumbent else "promoted") if passed else None
        return GateDecision(passed, target, checks, tuple(reasons), ev)
