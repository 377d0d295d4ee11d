"""The interface every world implements (the built-in apps world, the AppWorld adapter,
test doubles). The agent, the sandbox broker and the RL loop see only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from skillbank.errors import SkillbankError, ValidationError


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


#: World seeds for training data (SFT/RL episodes: rollouts, SFT data) and for evaluation;
#: disjoint, so an evaluation at an `EVAL_SEEDS` seed plays data and instructions no
#: training run saw.
TRAIN_SEEDS = range(1000)
#: Seeds held out from training, for evaluation: a policy is never trained on these worlds.
EVAL_SEEDS = range(1000, 2000)
#: Splits whose tasks are played for evaluation: `seed_for("random", split)` draws their
#: seed from EVAL_SEEDS, any other split's (train, or none) from TRAIN_SEEDS.
EVAL_SPLITS = ("dev", "test_normal", "test_challenge")


def seed_for(value: str | int, split: str | None = None) -> int:
    """A world seed from a command-line value: a non-negative integer, or 'random' for a
    fresh one drawn from EVAL_SEEDS when `split` is an evaluation split, else from
    TRAIN_SEEDS (so a policy trained with random seeds never sees an evaluation world)."""
    if isinstance(value, int) and not isinstance(value, bool):
        seed = value
    elif isinstance(value, str) and value.strip().lower() == "random":
        import secrets

        pool = EVAL_SEEDS if split in EVAL_SPLITS else TRAIN_SEEDS
        return pool[secrets.randbelow(len(pool))]
    else:
        try:
            seed = int(str(value).strip())
        except ValueError:
            raise ValidationError(f"--seed: expected a non-negative integer or 'random', got {value!r}") from None
    if seed < 0:
        raise ValidationError(f"--seed: expected a non-negative integer or 'random', got {value!r}")
    return seed

#: A test that checks the task's own work: a requested change.
TASK = "task"
#: The test of the task's answer: task credit, but only alongside requested work (a
#: guessed answer with none of the requested changes earns nothing).
ANSWER = "answer"
#: A test that guards the task: completed with status success, no collateral damage,
#: nothing sent or done irreversibly that the task did not ask for.
GUARD = "guard"

REWARD_KINDS = ("binary", "fraction")


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    message: str = ""
    kind: str = TASK  # TASK, ANSWER or GUARD


@dataclass(frozen=True)
class Grade:
    """A task's tests. `success` (every test passes) is what TGC/SGC count and the default
    reward; `fraction` is partial credit for the task's own work only. `reward` is the one
    place a grade becomes a scalar outcome (RL rollouts' `outcome` goes through it)."""

    task_id: str
    tests: tuple[TestResult, ...]

    @property
    def success(self) -> bool:
        return bool(self.tests) and all(t.passed for t in self.tests)

    @property
    def task_tests(self) -> tuple[TestResult, ...]:
        return tuple(t for t in self.tests if t.kind != GUARD)

    @property
    def guard_tests(self) -> tuple[TestResult, ...]:
        return tuple(t for t in self.tests if t.kind == GUARD)

    @property
    def guards_passed(self) -> bool:
        return all(t.passed for t in self.guard_tests)

    @property
    def fraction(self) -> float:
        """Partial credit for the task's own work: the share of task tests (requested
        changes and the answer) that pass. It is 0.0 when any guard fails (not completed,
        given up, collateral damage, an unrequested send) and when the task requests
        changes and none of them was made (a guessed answer alone earns nothing), so
        doing nothing earns zero. A grade with no task tests scores 1.0 only when it succeeds."""
        if not self.tests or not self.guards_passed:
            return 0.0
        task = self.task_tests
        if not task:
            return 1.0 if self.success else 0.0
        work = [t for t in task if t.kind == TASK]
        if work and not any(t.passed for t in work):
            return 0.0
        return sum(t.passed for t in task) / len(task)

    def reward(self, kind: str = "binary") -> float:
        """The scalar reward of this grade: 'binary' (the default: 1.0 when every test
        passes, else 0.0) or 'fraction' (partial credit, see `fraction`)."""
        if kind == "binary":
            return 1.0 if self.success else 0.0
        if kind == "fraction":
            return self.fraction
        raise ValidationError(f"unknown reward kind {kind!r}; kinds: {', '.join(REWARD_KINDS)}")


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

