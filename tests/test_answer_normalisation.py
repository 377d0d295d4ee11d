"""The apps world's one answer normalisation (`skillbank.worlds.engine.answers`): each
lenient rule accepts the correct answer written differently, each strict rule still
refuses a different answer, both directions agree, and hostile answers (very deep, very
large, odd types) give a failed test, never a crash."""

from __future__ import annotations

import pytest

from skillbank.worlds.engine.answers import (
    MAX_DEPTH,
    MAX_NODES,
    MAX_TEXT,
    AnswerRefused,
    answers_equal,
    canonical,
    describe,
    parse_number,
    texts_equal,
)
from skillbank.worlds.apps.scenario import TaskSpec, grade_changes

EQUAL = [
    ("Hello World", "  hello   WORLD \n"),
    (461.43, "$461.43"),
    ("461.43", "$461.43"),
    (-492.34, "-$492.34"),
    (-492.34, "$-492.34"),
    (1250, "$1,250.00"),
    (1250, "1,250"),
    (12.5, "12.50 USD"),
    (12.5, "12.5 dollars"),
    (3, 3.0),
    (3, "3"),
    (0.1 + 0.2, 0.3),
    (["Yoga class"], "yoga class"),
    (["b", "a"], ["A", "B"]),
    ({"a": 1}, {"A": "1"}),
    (None, None),
    (True, True),
]

DIFFERENT = [
    (1, True),
    (0, False),
    ("1", True),
    (0, None),
    ("", None),
    ([], None),
    ({}, []),
    (461.43, "$461.44"),
    (461.43, "461"),
    ("12", "$ 1 2"),
    (["a", "b"], "a"),
    (["a", "b"], ["a"]),
    (["a", "a"], ["a"]),
    ("Kindred", "Kindred 2"),
    (3, "three"),
    (1.5, "1.5.0"),
]


@pytest.mark.parametrize("want, got", EQUAL)
def test_correct_answers_written_differently_are_equal_both_ways(want, got):
    assert answers_equal(got, want) and answers_equal(want, got)


@pytest.mark.parametrize("want, got", DIFFERENT)
def test_different_answers_differ_both_ways(want, got):
    assert not answers_equal(got, want) and not answers_equal(want, got)


def test_order_matters_only_when_asked():
    assert answers_equal(["b", "a"], ["a", "b"])
    assert not answers_equal(["b", "a"], ["a", "b"], order_matters=True)
    assert answers_equal(["A", "b"], ["a", "B"], order_matters=True)


def test_booleans_numbers_and_none_have_distinct_normal_forms():
    forms = {repr(canonical(v)) for v in (True, 1, "1", None, 0, False, "")}
    assert len(forms) == 6  # only 1 and "1" share one (the same number)


@pytest.mark.parametrize("text", ["$12", "12 usd", "-$3.50", "1,234.5", ".5"])
def test_currency_strings_parse(text):
    assert parse_number(text) is not None


@pytest.mark.parametrize("text", ["$", "12,34", "--3", "-$-3", "1e5", "nan", "inf", "12.3.4", "$ 12 usd extra"])
def test_non_numbers_stay_strings(text):
    assert parse_number(text) is None


def test_exact_content_ignores_only_surrounding_whitespace():
    assert texts_equal("a\nb\n", "a\nb") and texts_equal("  a\nb", "a\nb\n\n") and texts_equal("a\r\nb\r\n", "a\nb")
    assert not texts_equal("a\n\nb", "a\nb") and not texts_equal("A\nb", "a\nb") and not texts_equal(None, "a")


def _deep(n):
    v: object = "x"
    for _ in range(n):
        v = [v]
    return v


@pytest.mark.parametrize(
    "answer, why",
    [
        (_deep(500), "deeper"),
        (_deep(MAX_DEPTH + 1), "deeper"),
        (list(range(MAX_NODES + 1)), "more than"),
        ({str(i): i for i in range(MAX_NODES)}, "more than"),
        ("x" * (MAX_TEXT + 1), "longer"),
        (10**5000, "too large"),
        ({1, 2}, "type set"),
        (object(), "type object"),
    ],
    ids=["500-deep", "just-too-deep", "too-many-items", "too-many-keys", "too-long", "huge-int", "set", "object"],
)
def test_hostile_answers_fail_the_answer_test_without_crashing(answer, why):
    with pytest.raises(AnswerRefused, match=why):
        answers_equal(answer, 1)
    tests = grade_changes(TaskSpec("q", "p1", "f()", answer=1), [], completed=True, status="success", answer=answer)
    result = {t.name: t for t in tests}["answer"]
    assert not result.passed and result.message.startswith("answer refused") and len(result.message) < 300
    assert len(describe(answer)) < 400


def test_an_answer_just_inside_the_bounds_is_compared():
    assert answers_equal(_deep(MAX_DEPTH - 1), _deep(MAX_DEPTH - 1))
    assert not answers_equal(list(range(MAX_NODES - 1)), 1)


def test_nan_and_infinity_equal_nothing_but_do_not_crash():
    assert not answers_equal(float("nan"), float("nan"))
    assert answers_equal(float("inf"), float("inf")) and not answers_equal(float("inf"), 1)


def test_a_deep_answer_through_the_world_gives_a_failed_grade():
    from _world_util import world_at

    world = world_at(0)
    task = next(t for t in world.tasks() if isinstance(world.built(t.id).spec.answer, int))
    env = world.start(task.id)
    env.call("supervisor", "complete_task", answer=_deep(500))
    grade = env.evaluate()
    answer = {t.name: t for t in grade.tests}["answer"]
    assert not grade.success and not answer.passed and "deeper" in answer.message
