"""The interface every world implements (the built-in apps world, the AppWorld adapter,
test doubles). The agent, the sandbox broker and the RL loop see only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from skillbank.errors import SkillbankError


class ApiError(SkillbankError):
    """An API call was refused by the world: unauthorised, not found, validation error.

    The message is what the agent sees, so it names the app, the API and the problem.
    """


@dataclass(frozen=True)
class Task:
    id: str
    scenario_id: str
    split: str
    instruction: str
    supervisor: dict[str, Any]
    difficulty: int = 1
    apps: tuple[str, ...] = ()
    index_in_scenario: int = 0


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class Grade:
    task_id: str
    tests: tuple[TestResult, ...]

    @property
    def success(self) -> bool:
        return bool(self.tests) and all(t.passed for t in self.tests)

    @property
    def fraction(self) -> float:
        return sum(t.passed for t in self.tests) / len(self.tests) if self.tests else 0.0


@dataclass(frozen=True)
class ExpertSolution:
    """A scenario's reference solution in the skill-library style.

    `skill_sources` are the reusable functions (each parses as one skill); `explore_block`
    is what a careful agent runs before writing them (reading API docs); `call_block`
    calls the skills for this task and ends with `apis.supervisor.complete_task(...)`.
    """

    task_id: str
    skill_sources: tuple[str, ...]
    skill_names: tuple[str, ...]
    call_block: str
    explore_block: str | None = None


class TaskEnv(Protocol):
    """One task's live state. `call` is what the sandbox broker forwards `apis` calls to."""

    task: Task

    def call(self, app: str, api: str, **kwargs: Any) -> Any: ...

    @property
    def completed(self) -> bool: ...

    def evaluate(self) -> Grade: ...


class World(Protocol):
    name: str

    def splits(self) -> tuple[str, ...]: ...

    def tasks(self, split: str | None = None) -> list[Task]: ...

    def task(self, task_id: str) -> Task: ...

    def start(self, task_id: str) -> TaskEnv: ...

    def expert_solution(self, task_id: str) -> ExpertSolution: ...


@dataclass(frozen=True)
class AppInfo:
    name: str
    description: str
    api_count: int
    apis: tuple[str, ...] = field(default_factory=tuple)


#: World seeds for training data (SFT/RL episodes) and for evaluation; disjoint, so an
#: evaluation at an `EVAL_SEEDS` seed plays data and instructions no training run saw.
TRAIN_SEEDS = range(0, 1000)
EVAL_SEEDS = range(1000, 2000)
