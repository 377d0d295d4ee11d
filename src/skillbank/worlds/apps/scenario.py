"""How scenarios and their tasks are declared, and how a task is graded.

A scenario is a procedure (one reusable skill) and at least three tasks that need it with
different supervisors and parameters. Each task declares, as data, the changes it
requests (:class:`Expect`), the extra changes it tolerates (:class:`Allow`) and the
answer it asks for. Grading is state-based, as in AppWorld: the task's whole state is
diffed against the base, every requested change must be there, every other change is
collateral damage, and the answer is compared after normalisation.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from skillbank.worlds.apps.state import Change
from skillbank.worlds.base import TestResult

#: Marks a task that asks for no answer.
NO_ANSWER = object()

Predicate = Callable[[Any], bool]


def _matches(row: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> bool:
    if row is None:
        return not spec
    for key, want in spec.items():
        have = row.get(key)
        if callable(want):
            if not want(have):
                return False
        elif isinstance(want, (list, tuple)) and isinstance(have, (list, tuple)):
            if sorted(map(repr, want)) != sorted(map(repr, have)):
                return False
        elif have != want:
            return False
    return True


@dataclass(frozen=True)
class Expect:
    """A requested change: exactly `count` changes of `kind` to `app.table` whose new
    record matches `match` (the old record for deletes) and whose old record matches
    `before`. With `only_fields`, an update may touch no other field."""

    app: str
    table: str
    kind: str  # insert | update | delete
    match: Mapping[str, Any] = field(default_factory=dict)
    before: Mapping[str, Any] = field(default_factory=dict)
    count: int = 1
    only_fields: frozenset[str] | None = None
    label: str = ""

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table, c.kind) != (self.app, self.table, self.kind):
            return False
        row = c.before if self.kind == "delete" else c.after
        if not _matches(row, self.match):
            return False
        if self.before and not _matches(c.before, self.before):
            return False
        if self.only_fields is not None and not c.changed_fields() <= self.only_fields:
            return False
        return True

    def describe(self) -> str:
        if self.label:
            return self.label
        what = ", ".join(f"{k}={v!r}" for k, v in self.match.items() if not callable(v))
        return f"{self.count} {self.kind} in {self.app}.{self.table}" + (f" with {what}" if what else "")


@dataclass(frozen=True)
class Allow:
    """Changes a task tolerates without requiring them (e.g. marking a message read)."""

    app: str
    table: str
    kind: str | None = None
    match: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, c: Change) -> bool:
        if (c.app, c.table) != (self.app, self.table) or (self.kind and c.kind != self.kind):
            return False
        return _matches(c.before if c.kind == "delete" else c.after, self.match)


@dataclass(frozen=True)
class TaskSpec:
    """One task of a scenario. `call` is the expert's call of the scenario's skill for
    this task (an expression); the world wraps it with `complete_task`."""

    instruction: str
    supervisor: str  # person id
    call: str
    expect: tuple[Expect, ...] = ()
    allow: tuple[Allow, ...] = ()
    answer: Any = NO_ANSWER
    answer_order_matters: bool = False


@dataclass(frozen=True)
class ScenarioDef:
    """A scenario: its procedure as a skill, and a builder of its tasks from world data."""

    id: str
    apps: tuple[str, ...]
    difficulty: int
    split: str
    skill_name: str
    skill_source: str
    build: Callable[[Any, random.Random], Sequence[TaskSpec]]
    explore_block: str | None = None
    description: str = ""


def normalise_answer(value: Any) -> Any:
    """Answers compare after normalisation: case, surrounding space, number types."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        d = Decimal(str(value))
        return d.normalize() if d == d.to_integral_value() else d.quantize(Decimal("0.01"))
    if isinstance(value, str):
        s = " ".join(value.strip().lower().split())
        try:
            return normalise_answer(Decimal(s.replace(",", "")))
        except ArithmeticError:
            return s
    if isinstance(value, (list, tuple)):
        return [normalise_answer(v) for v in value]
    if isinstance(value, dict):
        return {normalise_answer(k): normalise_answer(v) for k, v in value.items()}
    return value


def _answers_equal(got: Any, want: Any, order_matters: bool) -> bool:
    g, w = normalise_answer(got), normalise_answer(want)
    if isinstance(w, list) and isinstance(g, list) and not order_matters:
        return sorted(map(repr, g)) == sorted(map(repr, w))
    return g == w


def grade_changes(
    spec: TaskSpec, changes: Sequence[Change], *, completed: bool, status: str | None, answer: Any
) -> tuple[TestResult, ...]:
    tests: list[TestResult] = []
    tests.append(
        TestResult(
            "task completed",
            completed and status == "success",
            "complete_task was called with status 'success'" if completed and status == "success"
            else ("the task was given up (status 'fail')" if completed else "complete_task was never called"),
        )
    )
    unmatched = list(changes)
    for exp in spec.expect:
        hits = [c for c in unmatched if exp.accepts(c)]
        ok = len(hits) == exp.count
        tests.append(
            TestResult(
                f"requested: {exp.describe()}",
                ok,
                "found" if ok else f"expected {exp.count} matching change(s), found {len(hits)}",
            )
        )
        for c in hits[: exp.count]:
            unmatched.remove(c)
    collateral = [c for c in unmatched if not any(a.accepts(c) for a in spec.allow)]
    tests.append(
        TestResult(
            "no collateral damage",
            not collateral,
            "no other changes" if not collateral
            else f"{len(collateral)} unexpected change(s): "
            + "; ".join(f"{c.kind} {c.app}.{c.table} {c.id}" for c in collateral[:3]),
        )
    )
    if spec.answer is not NO_ANSWER:
        ok = _answers_equal(answer, spec.answer, spec.answer_order_matters)
        tests.append(TestResult("answer", ok, "correct" if ok else f"got {answer!r:.200}"))
    return tuple(tests)
