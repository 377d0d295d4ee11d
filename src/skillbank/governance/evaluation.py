"""Evaluation suites: a version's cases, run in the sandbox, each with its outcome.

A version's suite is its own evidence (call and task cases recorded from the episodes
that created or used it), its predecessor's evidence, and its name's user cases. An
update that fails a case its predecessor passed is a **regression**.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from skillbank.governance.cases import EvalCase
from skillbank.governance.harness import Harness, SkillRun, call_code, strip_definitions
from skillbank.governance.recorder import RecordedCall


@dataclass(frozen=True)
class CaseOutcome:
    case_id: str
    kind: str
    origin: str  # "own", "predecessor" or "user"
    passed: bool
    detail: str = ""
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "kind": self.kind, "origin": self.origin, "passed": self.passed,
                "detail": self.detail, "duration_ms": round(self.duration_ms, 2)}


@dataclass(frozen=True)
class EvaluationReport:
    version_id: str
    ref: str
    outcomes: tuple[CaseOutcome, ...]
    regressions: tuple[str, ...] = ()  # case ids the predecessor passed and this version fails
    predecessor: str | None = None
    new_cases: tuple[EvalCase, ...] = field(default_factory=tuple)  # call cases found while replaying

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def suite_passed(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {"version_id": self.version_id, "ref": self.ref, "cases": len(self.outcomes), "passed": self.passed,
                "failed": self.failed, "suite_passed": self.suite_passed, "regressions": list(self.regressions),
                "predecessor": self.predecessor, "outcomes": [o.to_dict() for o in self.outcomes]}


def _first_call(calls: tuple[RecordedCall, ...], name: str) -> RecordedCall | None:
    return next((c for c in calls if c.name == name), None)


def run_case(harness: Harness, name: str, source: str, case: EvalCase) -> tuple[bool, str, SkillRun]:
    """Run one case against `source`; (passed, detail, the run)."""
    if case.kind == "task":
        run = harness.run(name, source, strip_definitions(case.code or "", {name}), task_id=case.task_id,
                          seed=case.seed, grade=True)
        if run.grade_success:
            return True, "task passed", run
        why = run.error or "; ".join(run.failed_tests[:2]) or "task failed"
        return False, why[:300], run
    tail = None
    code = call_code(name, case.args, case.kwargs)
    if case.kind == "user" and case.predicate:
        # The predicate is a person's expression over `result`; it runs in the sandbox too.
        code, tail = f"result = {code}", f"bool({case.predicate})"
    run = harness.run(name, source, code, task_id=case.task_id, seed=case.seed, tail=tail)
    if not run.ok:
        return False, (run.error or "error")[:300], run
    if tail is not None:
        return (run.value == "True"), ("predicate held" if run.value == "True" else f"predicate {case.predicate!r} is false"), run
    recorded = _first_call(run.calls, name)
    if case.expected_kind in (None, "unserialisable", "too_large"):
        return True, "ran without error", run
    if recorded is None or recorded.result_kind != "json":
        return False, "the result no longer serialises as JSON", run
    if recorded.result != case.expected:
        return False, f"result {str(recorded.result)[:80]} != expected {str(case.expected)[:80]}", run
    return True, "same result", run


def evaluate(harness: Harness, *, version_id: str, ref: str, name: str, source: str,
             suite: list[tuple[EvalCase, str]], predecessor_passed: dict[str, bool] | None = None,
             predecessor: str | None = None, run_origin: dict[str, Any] | None = None) -> EvaluationReport:
    """Run `suite` (cases with their origin: own, predecessor, user). A case the
    predecessor passed (per `predecessor_passed`) and this version fails is a
    regression. Replays of task cases yield new call cases (`new_cases`)."""
    outcomes: list[CaseOutcome] = []
    regressions: list[str] = []
    new_cases: list[EvalCase] = []
    seen: set[str] = set()
    for case, origin in suite:
        if case.id in seen:
            continue
        seen.add(case.id)
        started = time.perf_counter()
        try:
            passed, detail, run = run_case(harness, name, source, case)
        except Exception as exc:  # noqa: BLE001 - a broken case is a failed case, not a crashed evaluation
            passed, detail, run = False, f"could not run: {type(exc).__name__}: {exc}"[:300], None
        outcomes.append(CaseOutcome(case.id, case.kind, origin, passed, detail, 1000 * (time.perf_counter() - started)))
        if not passed and (predecessor_passed or {}).get(case.id):
            regressions.append(case.id)
        if run is not None and case.kind == "task" and origin == "own" and passed:
            call = _first_call(run.calls, name)
            if call is not None and call.args is not None:
                new_cases.append(EvalCase(
                    kind="call", task_id=case.task_id, seed=case.seed, world=case.world, args=tuple(call.args),
                    kwargs=call.kwargs or {}, expected_kind=call.result_kind, expected=call.result,
                    origin={**case.origin, **(run_origin or {}), "source": "replay", "from_case": case.id},
                ))
    return EvaluationReport(version_id, ref, tuple(outcomes), tuple(regressions), predecessor, tuple(new_cases))
