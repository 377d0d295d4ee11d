"""Play a task, then grade it: the grade comes only after the episode, and the episode and
the RL outcome read it in the grade's own terms (`Grade.success`, `fraction`, `reward`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from test_agent_fakes import FakeEnv, FakeWorld, block, in_process_sessions

from skillbank.agent.config import AgentConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.loop import SkillAgent
from skillbank.agent.play import play_and_grade, record_grade
from skillbank.governance.harness import Change, _changes
from skillbank.llm.base import Completion, EpisodeInfo, Message
from skillbank.rl.chains import outcome
from skillbank.store import open_store
from skillbank.worlds.engine.state import Change as StateChange
from skillbank.worlds.base import GUARD, Grade
from skillbank.worlds.base import TestResult as Check


class CountingEnv(FakeEnv):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.evaluations = 0

    def evaluate(self) -> Grade:
        self.evaluations += 1
        return super().evaluate()


class CountingWorld(FakeWorld):
    def __init__(self) -> None:
        super().__init__()
        self.envs: list[CountingEnv] = []

    def start(self, task_id: str) -> CountingEnv:
        fake = super().start(task_id)
        env = CountingEnv(fake.task, fake.expected)
        self.envs.append(env)
        return env


class WatchingPolicy:
    """Answers wrongly, checking on every turn that the env has not been graded yet."""

    name = "watching"

    def __init__(self, world: CountingWorld):
        self.world = world
        self.turns = 0

    def start_episode(self, info: EpisodeInfo) -> None:
        pass

    def generate(self, messages: Sequence[Message]) -> Completion:
        assert self.world.envs[-1].evaluations == 0, "the agent saw a graded env"
        self.turns += 1
        return Completion(block("apis.supervisor.complete_task(answer=-1)"), 1, 1)

    def count_tokens(self, text: str) -> int:
        return 1


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "lib.db")
    yield s
    s.close()


def test_the_grade_comes_after_the_episode_and_is_recorded_in_its_own_terms(store) -> None:
    world = CountingWorld()
    policy = WatchingPolicy(world)
    agent = SkillAgent(policy, RunLibrary(store, None, run_id="r", writable=False), in_process_sessions,
                       AgentConfig(max_steps=2))
    played = play_and_grade(world, "count-1", agent, episode_id="ep")
    assert policy.turns == 1 and world.envs[-1].evaluations == 1
    grade = played.grade
    assert (grade.success, grade.fraction) == (False, 0.5)  # completed, wrong answer
    assert played.episode.episode_id == "ep" and played.episode.task_id == "count-1"
    assert played.episode.success is grade.success and played.episode.grade_fraction == grade.fraction
    assert played.episode.grade_tests == tuple(dataclasses.asdict(t) for t in grade.tests)
    assert record_grade(dataclasses.replace(played.episode, success=None, grade_fraction=None,
                                            grade_tests=None), grade) == played.episode


def test_the_rollout_outcome_is_the_grades_reward() -> None:
    done, damage = Check("completed", True, kind=GUARD), Check("no damage", False, kind=GUARD)
    half = Grade("t", (done, Check("requested: x", True), Check("answer", False, kind="answer")))
    damaged = Grade("t", (done, damage, Check("requested: x", True)))
    full = Grade("t", (done, Check("requested: x", True)))
    for grade in (half, damaged, full):
        assert outcome(grade) == outcome(grade, "success") == grade.reward() == (1.0 if grade.success else 0.0)
        assert outcome(grade, "fraction") == grade.reward("fraction") == grade.fraction
    assert (outcome(half, "fraction"), outcome(damaged, "fraction"), outcome(full, "fraction")) == (0.5, 0.0, 1.0)
    with pytest.raises(Exception, match="unknown outcome 'shaped'"):
        outcome(half, "shaped")


def test_the_harness_reads_changes_only_from_an_env_that_can_diff_its_state() -> None:
    class State:
        def diff(self) -> list[StateChange]:
            return [StateChange("notes", "notes", "n1", "update", {"t": "a"}, {"t": "b"})]

    class DiffableEnv:
        state = State()

    assert _changes(DiffableEnv()) == (Change("notes", "notes", "update", "n1"),)
    assert _changes(FakeWorld().start("count-1")) is None  # no state: no diff
