"""Task and scenario goal completion, as defined in SAGE.md / AppWorld.

- **TGC** (task goal completion): the share of tasks whose tests all pass.
- **SGC** (scenario goal completion): the share of scenarios all of whose tasks pass.

Both are fractions in [0, 1]; an empty input gives 0.0 (nothing was completed). Each
task has at most one grade: a second grade for a task is refused. A
scenario counts only when every one of its tasks has a passing grade: a task of the
scenario with no grade (not run, crashed) makes the scenario incomplete.

`summarise` also reports ``mean_test_fraction``, the mean of `Grade.fraction`: partial
credit for the tasks' own work only (0 for a grade whose guards fail, so doing nothing
or doing damage earns nothing; see `skillbank.worlds.base.Grade`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from skillbank.errors import ValidationError


# Structural types, so this bottom-layer module needs nothing from the worlds above it;
# `skillbank.worlds.base.Grade` and `Task` satisfy them. Members are read-only properties
# so that frozen dataclasses match.
class Grade(Protocol):
    @property
    def task_id(self) -> str: ...

    @property
    def success(self) -> bool: ...

    @property
    def fraction(self) -> float: ...


class Task(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def scenario_id(self) -> str: ...


def _one_per_task(grades: Iterable[Grade]) -> dict[str, Grade]:
    """Grades by task id. Two grades for one task are a caller's bug (a task graded
    twice, or two runs mixed): counting both would weigh that task double, so refuse."""
    by_task: dict[str, Grade] = {}
    for g in grades:
        if g.task_id in by_task:
            raise ValidationError(f"two grades for task {g.task_id!r}: TGC and SGC take one grade per task")
        by_task[g.task_id] = g
    return by_task


def tgc(grades: Iterable[Grade]) -> float:
    by_task = _one_per_task(grades)
    return sum(g.success for g in by_task.values()) / len(by_task) if by_task else 0.0


def sgc(grades: Iterable[Grade], tasks: Sequence[Task]) -> float:
    """`tasks`: every task of the scenarios under evaluation (defines the scenarios)."""
    by_task = _one_per_task(grades)
    scenarios: dict[str, list[str]] = {}
    for t in tasks:
        scenarios.setdefault(t.scenario_id, []).append(t.id)
    if not scenarios:
        return 0.0
    done = sum(all(tid in by_task and by_task[tid].success for tid in tids) for tids in scenarios.values())
    return done / len(scenarios)


def summarise(grades: Iterable[Grade], tasks: Sequence[Task]) -> dict[str, Any]:
    grades = list(grades)
    scenario_ids = {t.scenario_id for t in tasks}
    return {
        "tasks": len(tasks),
        "graded": len(grades),
        "tasks_passed": sum(g.success for g in grades),
        "scenarios": len(scenario_ids),
        "tgc": tgc(grades),
        "sgc": sgc(grades, tasks),
        "mean_test_fraction": (sum(g.fraction for g in grades) / len(grades)) if grades else 0.0,
    }


def by_scenario(grades: Iterable[Grade], tasks: Sequence[Task]) -> Mapping[str, list[Grade]]:
    scenario_of = {t.id: t.scenario_id for t in tasks}
    out: dict[str, list[Grade]] = {}
    for g in grades:
        out.setdefault(scenario_of.get(g.task_id, "?"), []).append(g)
    return out
