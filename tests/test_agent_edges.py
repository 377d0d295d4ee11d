"""Cases the agent tests did not cover (issue 10, bug 9): a failing statement that
mentions a function which itself did not fail, checked on hand-made frames and on what
the real sandbox reports; TGC and SGC given two grades for one task."""

from __future__ import annotations

import pytest

from skillbank.agent.operations import OperationKind as K
from skillbank.agent.operations import OperationTracker, analyze_block
from skillbank.errors import ValidationError
from skillbank.metrics import sgc, tgc
from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool
from skillbank.sandbox.types import ExecutionResult, FrameInfo
from skillbank.worlds.base import Grade, Task
from skillbank.worlds.base import TestResult as Check

# f is defined and mentioned by the failing statement, but the statement fails while
# computing f's argument: f never ran, so it must be neither "ok" nor saved.
ARGUMENT_FAILS = "def f(x):\n    return x + 1\n\ny = f(1 / 0)\n"
# f runs fine and the same statement fails after it returned.
FAILS_AFTER_CALL = "def f(x):\n    return x + 1\n\ny = f(1) / 0\n"


def observed(code: str, result: ExecutionResult) -> tuple[list, list]:
    tracker = OperationTracker({})
    ops = [(o.kind, o.name, o.ok) for o in tracker.observe(0, analyze_block(code), result)]
    return ops, [c.name for c in tracker.save_candidates(True)]


def zero_division_at(line: int) -> ExecutionResult:
    return ExecutionResult(ok=False, error_type="ZeroDivisionError", error_message="division by zero",
                           traceback="Traceback...\nZeroDivisionError: division by zero",
                           frames=(FrameInfo("<block-1>", line, "<module>"),))


def test_a_function_in_a_statement_that_failed_before_calling_it_is_not_ok() -> None:
    ops, saves = observed(ARGUMENT_FAILS, zero_division_at(4))
    assert all(ok is not True for _, name, ok in ops if name == "f"), ops
    assert saves == []


@pytest.fixture(scope="module")
def session():
    with SandboxPool(SandboxConfig(workers=1)) as pool, pool.session(EchoHost(), task_id="edges") as s:
        yield s


@pytest.mark.parametrize("code", [ARGUMENT_FAILS, FAILS_AFTER_CALL])
def test_detection_on_what_the_sandbox_reports(session, code: str) -> None:
    result = session.run(code)
    assert not result.ok and result.error_type == "ZeroDivisionError"
    ops, saves = observed(code, result)
    # Neither block shows f working to the end of a statement: nothing is saved.
    assert saves == [], (ops, result.frames)
    assert all(kind in (K.CREATE, K.DEFINED) for kind, _, _ in ops)


def test_a_clean_call_is_still_create_ok_in_the_sandbox(session) -> None:
    code = "def f(x):\n    return x + 1\n\ny = f(1)\nz = 1 / 0\n"
    ops, saves = observed(code, session.run(code))
    assert ops == [(K.CREATE, "f", True)] and saves == ["f"]


def _grade(task_id: str, passed: bool) -> Grade:
    return Grade(task_id, (Check("t", passed),))


def test_two_grades_for_one_task_are_refused() -> None:
    tasks = [Task(id="a1", scenario_id="A", split="dev", instruction="x", supervisor={}),
             Task(id="a2", scenario_id="A", split="dev", instruction="x", supervisor={})]
    twice = [_grade("a1", True), _grade("a1", False), _grade("a2", True)]
    with pytest.raises(ValidationError, match="two grades for task 'a1'"):
        tgc(twice)
    with pytest.raises(ValidationError, match="two grades for task 'a1'"):
        sgc(twice, tasks)
    once = [_grade("a1", False), _grade("a2", True)]
    assert tgc(once) == 0.5 and sgc(once, tasks) == 0.0
