"""Play a task, then grade it: the one way an agent's episode meets the world's grade.

The world starts a fresh env for the task, the agent plays it to the end, and only then
does the env grade it, so the agent never sees the grade. Runs (`runner.run_split`) and
RL rollouts (`rl.chains`) both play through `play_and_grade`, so their episodes carry
the same grade fields, written the same way (`record_grade`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from skillbank.agent.loop import SkillAgent
from skillbank.agent.trace import EpisodeTrace
from skillbank.worlds.base import Grade, World


@dataclass(frozen=True)
class GradedEpisode:
    """One played task: its episode (the grade recorded on it) and the grade itself, for
    the figures (`metrics`) and rewards (`Grade.reward`) computed from it."""

    episode: EpisodeTrace
    grade: Grade


def record_grade(episode: EpisodeTrace, grade: Grade) -> EpisodeTrace:
    """`episode` with its grade recorded, in the grade's own terms: `success`
    (`Grade.success`), `grade_fraction` (`Grade.fraction`) and `grade_tests` (each test's
    result as a dict)."""
    return dataclasses.replace(episode, success=grade.success, grade_fraction=grade.fraction,
                               grade_tests=tuple(dataclasses.asdict(t) for t in grade.tests))


def play_and_grade(world: World, task_id: str, agent: SkillAgent, *, episode_id: str) -> GradedEpisode:
    """Start `task_id`'s env from `world`, let `agent` play it, then grade it."""
    env = world.start(task_id)
    episode = agent.play(env, episode_id=episode_id)
    grade = env.evaluate()  # only now, after the episode: the agent never sees it
    return GradedEpisode(record_grade(episode, grade), grade)
