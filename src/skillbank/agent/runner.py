"""A run: the agent over a split, scenario by scenario, the tasks of each scenario in
order sharing the library (as SAGE evaluates), graded by the world, traced to disk.

Figures in the summary:

- ``tgc``: share of tasks whose tests all pass; ``sgc``: share of scenarios whose tasks
  (those played in this run; `--limit` may cut a scenario short) all pass. Both in [0, 1],
  from the world's grades via `skillbank.metrics`; the runner asks for a grade only after
  the episode has ended.
- ``mean_steps``: replies per task. ``mean_tokens``: generated (completion) tokens per
  task, the figure SAGE reports; ``mean_prompt_tokens`` is the context read per task,
  summed over its turns.
- ``skills_created`` / ``skills_updated``: create / update operations;
  ``skills_used``: use operations, counted once per (task, skill);
  ``skills_saved``: versions saved; ``skill_usage_rate``: share of tasks that used at
  least one library skill.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillbank import metrics
from skillbank.agent.config import RunConfig
from skillbank.agent.hooks import RunHooks
from skillbank.agent.library import Retriever, RunLibrary
from skillbank.agent.loop import SessionFactory, SkillAgent
from skillbank.agent.operations import OperationKind
from skillbank.agent.play import play_and_grade
from skillbank.agent.trace import EpisodeTrace, RunWriter, new_run_id
from skillbank.errors import ValidationError
from skillbank.llm.base import BatchingPolicy, DecodingReport, Policy
from skillbank.store.base import LibraryStore
from skillbank.worlds.base import Grade, Task, World


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    policy: str
    split: str
    world: str
    tasks: int
    scenarios: int
    tgc: float
    sgc: float
    mean_steps: float
    mean_tokens: float
    mean_prompt_tokens: float
    skills_created: int
    skills_used: int
    skills_updated: int
    skills_saved: int
    skill_usage_rate: float
    with_skills: bool
    retrieval: str
    top_k: int
    namespace: str
    duration_s: float
    run_dir: str
    governance: dict[str, Any] | None = None  # governance's tallies when it ran beside the run
    decoding: dict[str, Any] | None = None  # a local model's decoder figures (`decoding_stats`)


def ordered_tasks(tasks: list[Task], limit: int | None = None) -> list[Task]:
    """Scenarios in order of first appearance, each scenario's tasks by their index."""
    scenarios: dict[str, list[Task]] = {}
    for task in tasks:
        scenarios.setdefault(task.scenario_id, []).append(task)
    ordered = [t for group in scenarios.values() for t in sorted(group, key=lambda t: t.index_in_scenario)]
    return ordered[:limit] if limit is not None else ordered


def summarize(episodes: list[EpisodeTrace], grades: list[Grade], tasks: list[Task], config: RunConfig, *,
              run_id: str, world: str, duration_s: float, run_dir: str) -> RunSummary:
    n = len(episodes)
    scenario_of = {e.task_id: e.scenario_id for e in episodes}
    ops = [(e.task_id, op) for e in episodes for op in e.operations()]
    used = {(task, op.name) for task, op in ops if op.kind is OperationKind.USE}
    return RunSummary(
        run_id=run_id,
        policy=config.policy,
        split=config.split,
        world=world,
        tasks=n,
        scenarios=len(set(scenario_of.values())),
        tgc=metrics.tgc(grades),
        sgc=metrics.sgc(grades, tasks),
        mean_steps=sum(e.steps for e in episodes) / n if n else 0.0,
        mean_tokens=sum(e.completion_tokens for e in episodes) / n if n else 0.0,
        mean_prompt_tokens=sum(e.prompt_tokens for e in episodes) / n if n else 0.0,
        skills_created=sum(op.kind is OperationKind.CREATE for _, op in ops),
        skills_used=len(used),
        skills_updated=sum(op.kind is OperationKind.UPDATE for _, op in ops),
        skills_saved=sum(len(e.saved) for e in episodes),
        skill_usage_rate=len({task for task, _ in used}) / n if n else 0.0,
        with_skills=config.with_skills,
        retrieval=config.retrieval if config.with_skills else "none",
        top_k=config.top_k,
        namespace=config.namespace,
        duration_s=round(duration_s, 3),
        run_dir=run_dir,
    )


#: Called after each task: (episode with its grade, tasks done, tasks in the run).
ProgressCallback = Callable[[EpisodeTrace, int, int], None]


def _concurrency(policy: Policy, config: RunConfig) -> int:
    """Scenarios played at once: the policy's `max_concurrency` (a batching local model),
    else 1. Only when no scenario can see another's skills (retrieval ``same-scenario``
    or an empty library), so concurrency never changes what an episode reads."""
    wanted = int(policy.max_concurrency or 1) if isinstance(policy, BatchingPolicy) else 1
    isolated = not config.with_skills or config.retrieval in ("same-scenario", "none")
    return wanted if wanted > 1 and isolated else 1


class _LockedLibrary:
    """A `RunLibrary` shared by scenario threads: one call at a time (retrieval indexes
    and searches in two steps)."""

    def __init__(self, inner: RunLibrary):
        self._inner = inner
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)
        return locked


def _play_concurrently(play: Callable[[SkillAgent, Task], None], policy: Policy, library: Any,
                       sessions: SessionFactory, config: RunConfig, tasks: list[Task], workers: int) -> None:
    """Each scenario's tasks in order on one thread; up to `workers` scenarios at once."""
    chains: dict[str, list[Task]] = {}
    for task in tasks:
        chains.setdefault(task.scenario_id, []).append(task)

    def chain(scenario_tasks: list[Task]) -> None:
        agent = SkillAgent(policy, library, sessions, config.agent)
        with policy.stream() if isinstance(policy, BatchingPolicy) else contextlib.nullcontext():
            for task in scenario_tasks:
                play(agent, task)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scenario") as pool:
        for future in [pool.submit(chain, c) for c in chains.values()]:
            future.result()


def run_split(
    world: World,
    policy: Policy,
    store: LibraryStore,
    sessions: SessionFactory,
    retriever: Retriever | None,
    config: RunConfig,
    *,
    on_episode: ProgressCallback | None = None,
    extra_config: dict[str, Any] | None = None,
    hooks: RunHooks | None = None,
) -> RunSummary:
    """Play `config.split` and write the run directory; returns the summary. `hooks`
    (governance beside the run) wraps the sessions, chooses the versions served, sees
    each graded episode before `on_episode` does, and gives the summary's
    ``governance`` tallies."""
    if config.split not in world.splits():
        raise ValidationError(f"unknown split {config.split!r}; splits of the {world.name} world: "
                              f"{', '.join(world.splits())}")
    tasks = ordered_tasks(world.tasks(config.split), config.limit)
    if not tasks:
        raise ValidationError(f"split {config.split!r} of the {world.name} world has no tasks")
    run_id = config.run_id or new_run_id()
    writer = RunWriter(config.runs_dir, run_id)
    writer.write_config({**dataclasses.asdict(config), "run_id": run_id, "world": world.name,
                         "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                         "library": store.url, "tasks": [t.id for t in tasks],
                         **(extra_config or {})})
    library = RunLibrary(store, retriever if config.with_skills else None, run_id=run_id,
                         namespace=config.namespace, top_k=config.top_k, actor=config.agent.actor,
                         writable=config.with_skills, version_chooser=hooks)
    if hooks is not None:
        sessions = hooks.wrap_sessions(sessions)
    started = time.perf_counter()
    episodes: list[EpisodeTrace] = []
    grades: list[Grade] = []

    def play(agent: SkillAgent, task: Task) -> None:
        played = play_and_grade(world, task.id, agent, episode_id=f"{run_id}:{task.id}:{uuid.uuid4().hex[:6]}")
        with done_lock:
            writer.append_episode(played.episode)
            episodes.append(played.episode)
            grades.append(played.grade)
            if hooks is not None:
                hooks.after_episode(played.episode)
            if on_episode is not None:
                on_episode(played.episode, len(episodes), len(tasks))

    done_lock = threading.Lock()
    workers = _concurrency(policy, config)
    if workers <= 1:
        agent = SkillAgent(policy, library, sessions, config.agent)
        for task in tasks:
            play(agent, task)
    else:
        _play_concurrently(play, policy, _LockedLibrary(library), sessions, config, tasks, workers)
        # The trace file is in completion order; the summary keeps scenario order.
        order = {t.id: i for i, t in enumerate(tasks)}
        pairs = sorted(zip(episodes, grades), key=lambda p: order[p[0].task_id])
        episodes, grades = [e for e, _ in pairs], [g for _, g in pairs]
    summary = summarize(episodes, grades, tasks, config, run_id=run_id, world=world.name,
                        duration_s=time.perf_counter() - started, run_dir=str(Path(writer.dir)))
    if hooks is not None:
        summary = dataclasses.replace(summary, governance=hooks.summary())
    if isinstance(policy, DecodingReport):
        summary = dataclasses.replace(summary, decoding=policy.decoding_stats())
    writer.write_summary(dataclasses.asdict(summary))
    return summary
