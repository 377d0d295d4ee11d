"""TGC, SGC and the summary: the definitions in SAGE.md, and their edge cases."""

from __future__ import annotations

import pytest

from skillbank.metrics import by_scenario, sgc, summarise, tgc
from skillbank.worlds.base import Grade, Task
from skillbank.worlds.base import TestResult as Result


def task(tid: str, scenario: str) -> Task:
    return Task(id=tid, scenario_id=scenario, split="dev", instruction="x", supervisor={})


def grade(tid: str, *passed: bool) -> Grade:
    return Grade(tid, tuple(Result(f"t{i}", p) for i, p in enumerate(passed)))


TASKS = [task("a1", "A"), task("a2", "A"), task("a3", "A"), task("b1", "B"), task("b2", "B"), task("b3", "B")]


def test_grade_success_needs_every_test_and_at_least_one():
    assert grade("x", True, True).success
    assert not grade("x", True, False).success
    assert not Grade("x", ()).success  # no tests proves nothing
    assert grade("x", True, False, False, True).fraction == 0.5
    assert Grade("x", ()).fraction == 0.0


def test_empty_inputs_give_zero():
    assert tgc([]) == 0.0
    assert sgc([], []) == 0.0
    assert sgc([grade("a1", True)], []) == 0.0
    s = summarise([], [])
    assert s["tgc"] == s["sgc"] == s["mean_test_fraction"] == 0.0 and s["tasks"] == s["graded"] == 0


def test_tgc_is_the_share_of_tasks_whose_tests_all_pass():
    grades = [grade("a1", True), grade("a2", True, False), grade("a3", True, True), grade("b1", False)]
    assert tgc(grades) == pytest.approx(2 / 4)


def test_sgc_counts_a_scenario_only_when_all_its_tasks_pass():
    all_a = [grade(t, True) for t in ("a1", "a2", "a3")]
    b_two = [grade("b1", True), grade("b2", True), grade("b3", False)]
    assert sgc(all_a + b_two, TASKS) == pytest.approx(0.5)
    assert sgc(all_a + [grade(t, True) for t in ("b1", "b2", "b3")], TASKS) == 1.0


def test_a_task_without_a_grade_makes_its_scenario_incomplete():
    grades = [grade("a1", True), grade("a2", True)]  # a3 never ran (crashed)
    assert sgc(grades, TASKS) == 0.0
    assert tgc(grades) == 1.0  # TGC only sees what was graded


def test_grades_for_unknown_tasks_do_not_complete_a_scenario():
    grades = [grade("zz", True), grade("a1", True), grade("a2", True), grade("a3", True)]
    assert sgc(grades, TASKS) == pytest.approx(0.5)


def test_summarise_reports_counts_and_means():
    grades = [grade("a1", True, True), grade("a2", True, False), grade("a3", True), grade("b1", False, False)]
    s = summarise(grades, TASKS)
    assert s["tasks"] == 6 and s["graded"] == 4 and s["tasks_passed"] == 2 and s["scenarios"] == 2
    assert s["tgc"] == pytest.approx(0.5)
    assert s["sgc"] == 0.0
    assert s["mean_test_fraction"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)


def test_by_scenario_groups_grades_and_marks_strays():
    grades = [grade("a1", True), grade("b2", False), grade("a3", True), grade("q9", True)]
    groups = by_scenario(grades, TASKS)
    assert [g.task_id for g in groups["A"]] == ["a1", "a3"]
    assert [g.task_id for g in groups["B"]] == ["b2"]
    assert [g.task_id for g in groups["?"]] == ["q9"]


def test_mean_test_fraction_counts_task_tests_only_and_zeroes_failed_guards():
    done = Result("task completed", True, kind="guard")
    undone = Result("task completed", False, kind="guard")
    work = Result("requested: x", True)
    miss = Result("requested: y", False)
    answer = Result("answer", True, kind="answer")
    grades = [
        Grade("a1", (done, work, miss)),          # half the work: 0.5 (the guard is not counted)
        Grade("a2", (undone, work, answer)),      # a guard failed: 0
        Grade("a3", (done, miss, answer)),        # a lucky answer with no work: 0
        Grade("b1", (done, work, answer)),        # all of it: 1
    ]
    assert [g.fraction for g in grades] == [0.5, 0.0, 0.0, 1.0]
    s = summarise(grades, TASKS)
    assert s["mean_test_fraction"] == pytest.approx(1.5 / 4) and s["tasks_passed"] == 1
    assert [g.reward() for g in grades] == [0.0, 0.0, 0.0, 1.0]
