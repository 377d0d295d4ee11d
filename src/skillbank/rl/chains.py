"""Sequential rollout (SAGE §2): chains of similar tasks, a group of rollouts per chain.

A **chain** is k tasks of one scenario, in the scenario's order (the paper: k = 2; its
3-task chains were worse). A **group** is G rollouts of one chain (the paper: G = 8;
default 4 here). Each rollout plays the chain's tasks in order with its **own library**:
a fresh SQLite file that starts from the same snapshot for every rollout (empty by
default, as in the paper: task 1 starts with no skills), so the skills a rollout saves
on task 1 reach its task 2 and no sibling's. Nothing reaches the shared library during
training; what training produced goes there afterwards, through governance.

Each task's outcome r comes from the world's grade (`Grade.reward`): binary success by
default, or `Grade.fraction`, the share of the task's *own* tests that pass (never the
guard tests, so zero work earns zero).

**What counts as used** (the bonus of the skill-integrated reward must not be
farmable; decided from what the sandbox's parent saw, never from the code's text): task j
used a skill of an earlier task i of the same rollout when

1. task j passed;
2. the sandbox recorded a call of the version task i saved (by its ref) that returned
   without raising (a call that raised counts as failed even when the caller caught it),
   and the API calls made from inside that skill's own worker (attributed by the parent
   from the socket they came on) include at least one successful call to an app
   (``supervisor`` and ``api_docs`` are not work) and no failed one; and
3. the work was the skill's: replaying task j's code in a fresh copy of the world with
   that skill replaced by a stub that raises makes the task fail. This counterfactual
   replay runs only for a skill that passed 1 and 2 (one sandbox session each), so the
   common case costs nothing.

A function that returns a constant, whose API call sits in dead code, that makes an
irrelevant call (failed, or succeeded while the caller does the work), or raises, never
counts, however often it is called. A skill that red-teaming flags (the ``flagged``
hook) is quarantined in the rollout's library the moment its task saves it, so it is
never offered to a later task and earns no bonus: safety is a gate, applied once, at
save time, not a term.
"""

from __future__ import annotations

import functools
import random
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillbank.agent.config import AgentConfig
from skillbank.agent.library import Retriever, RunLibrary
from skillbank.agent.loop import SessionFactory, SkillAgent
from skillbank.agent.play import play_and_grade
from skillbank.agent.trace import EpisodeTrace
from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, Policy, SampledTokens
from skillbank.refs import parse_version_ref
from skillbank.rl.reward import RewardMode, TaskOutcome, chain_rewards
from skillbank.store import open_store
from skillbank.store.base import LibraryStore, StoredVersion, VersionStatus
from skillbank.store.serving import SERVED_STATUSES
from skillbank.worlds.base import Grade, World

NON_WORK_APPS = frozenset({"supervisor", "api_docs"})


@dataclass(frozen=True)
class Chain:
    """k task ids of one scenario, in order."""

    scenario_id: str
    task_ids: tuple[str, ...]


def make_chains(world: World, split: str, *, k: int = 2, seed: int = 0, limit: int | None = None) -> list[Chain]:
    """Every window of k consecutive tasks of each scenario of `split`, shuffled by `seed`.

    A scenario with tasks t1, t2, t3 gives (t1, t2) and (t2, t3) for k = 2. Only the
    first task of a chain starts from the snapshot; later ones see what it saved.
    """
    if k < 1:
        raise ValidationError(f"chain length k must be at least 1, got {k}")
    by_scenario: dict[str, list[Any]] = {}
    for task in world.tasks(split):
        by_scenario.setdefault(task.scenario_id, []).append(task)
    chains = []
    for sid, tasks in by_scenario.items():
        tasks = sorted(tasks, key=lambda t: t.index_in_scenario)
        for start in range(len(tasks) - k + 1):
            chains.append(Chain(sid, tuple(t.id for t in tasks[start:start + k])))
    if not chains:
        raise ValidationError(f"split {split!r} has no scenario with {k} tasks")
    random.Random(seed).shuffle(chains)
    return chains[:limit] if limit is not None else chains


@dataclass(frozen=True)
class PolicyTurn:
    """What the policy saw and wrote in one turn: the training data of GRPO.

    ``tokens``: the prompt ids, the sampled ids and their sampling log-probs, as the
    policy returned them (`Completion.tokens`); the loss is computed on exactly these.
    None for a policy that does not decode itself (a script, a server): such a turn can
    be played and rewarded but not trained on.
    """

    messages: tuple[Message, ...]
    reply: str
    tokens: SampledTokens | None = None


@dataclass(frozen=True)
class TaskRollout:
    task_id: str
    episode: EpisodeTrace
    grade: Grade
    r: float
    no_code: bool
    used_from: frozenset[int]
    turns: tuple[PolicyTurn, ...]


@dataclass(frozen=True)
class ChainRollout:
    """One rollout of a chain: its tasks in order and their rewards R_k."""

    chain: Chain
    rollout: int
    tasks: tuple[TaskRollout, ...]
    rewards: tuple[float, ...]

    @property
    def outcomes(self) -> tuple[float, ...]:
        return tuple(t.r for t in self.tasks)


class RecordingPolicy:
    """Wraps a policy and keeps every (prompt messages, reply) it produced."""

    def __init__(self, inner: Policy):
        self.inner = inner
        self.turns: list[PolicyTurn] = []
        self.name = inner.name

    def start_episode(self, info: EpisodeInfo) -> None:
        self.turns = []
        self.inner.start_episode(info)

    def generate(self, messages: Sequence[Message]) -> Completion:
        completion = self.inner.generate(messages)
        self.turns.append(PolicyTurn(tuple(messages), completion.text, completion.tokens))
        return completion

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


#: Replays a task's code with one skill stubbed out: ``(episode, skill name) -> passed``.
Replay = Callable[[EpisodeTrace, str], bool]


def attributed_uses(episode: EpisodeTrace) -> dict[str, set[str]]:
    """Skill refs (``name@N``) whose calls in `episode` did real work by the parent's
    records: returned without raising, and their own API calls include a successful call
    to an app and no failed one. Keyed by name."""
    out: dict[str, set[str]] = {}
    failed: set[str] = set()
    for turn in episode.turns:
        own: dict[str, list[dict[str, Any]]] = {}
        for call in turn.api_calls:
            skill = call.get("skill")
            if isinstance(skill, str):
                own.setdefault(skill, []).append(call)
        for record in turn.skill_calls:
            name, ref = record.get("name"), record.get("ref")
            if not isinstance(name, str) or not isinstance(ref, str):
                continue
            calls = own.get(name, [])
            if record.get("ok") is not True or record.get("api_failed") or any(not c.get("ok") for c in calls):
                failed.add(ref)
                continue
            if any(c.get("ok") and c.get("app") not in NON_WORK_APPS for c in calls):
                out.setdefault(name, set()).add(ref)
    return {name: refs - failed for name, refs in out.items() if refs - failed}


def skills_used_from(episode: EpisodeTrace, saved_by_task: Sequence[dict[str, StoredVersion]], *,
                     task_passed: bool = True, replay: Replay | None = None) -> frozenset[int]:
    """Indices of earlier tasks whose saved skills `episode` used for real (see module doc).

    `saved_by_task` holds only what the safety gate let through (`SequentialRollout`
    drops a flagged skill when its task saves it). `replay` is the counterfactual; without
    it (hand-built episodes) rules 1 and 2 decide."""
    if not task_passed:
        return frozenset()
    uses = attributed_uses(episode)
    out: set[int] = set()
    verdicts: dict[str, bool] = {}
    for i, saved in enumerate(saved_by_task):
        for name, sv in saved.items():
            if sv.ref not in uses.get(name, set()):
                continue
            if replay is not None:
                if name not in verdicts:
                    verdicts[name] = not replay(episode, name)  # used: the task fails without it
                if not verdicts[name]:
                    continue
            out.add(i)
    return frozenset(out)


def stub_source(name: str) -> str:
    """A skill of the same name that raises: the counterfactual's stand-in."""
    return f"def {name}(*args, **kwargs):\n    raise RuntimeError('{name} is stubbed out for the counterfactual replay')\n"


def red_team_flag(version: StoredVersion) -> bool:
    """The safety gate rollouts use by default: governance's static red-team scan (no
    sandbox needed) finds something at the quarantine severity (high) or above."""
    from skillbank.governance.policy import severity_at_least
    from skillbank.governance.redteam import static_scan

    return any(severity_at_least(f.severity, "high") for f in static_scan(version.source))


#: Outcome modes of a rollout (`RolloutConfig.outcome`) and the `Grade.reward` kind each is.
OUTCOME_REWARD_KINDS = {"success": "binary", "fraction": "fraction"}


def outcome(grade: Grade, mode: str = "success") -> float:
    """The outcome reward r in [0, 1]: `grade.reward` of the mode's kind, binary success
    (``success``) or the task tests' fraction (``fraction``, `Grade.fraction`)."""
    if mode not in OUTCOME_REWARD_KINDS:
        raise ValidationError(f"unknown outcome {mode!r}: use 'success' or 'fraction'")
    return grade.reward(OUTCOME_REWARD_KINDS[mode])


@dataclass
class RolloutConfig:
    """How one group is played.

    Attributes:
        group_size: G, rollouts per chain (the paper: 8).
        reward: ``skill_integrated`` (default), ``outcome_only`` or ``chain_based``.
        outcome: ``success`` (binary, default) or ``fraction`` (the task's own tests only).
        retrieval: retrieval mode inside a rollout (same-scenario, as the paper's default).
        top_k: skills retrieved per task.
        agent: the per-task settings (steps, token budget, truncation).
    """

    group_size: int = 4
    reward: RewardMode = "skill_integrated"
    outcome: str = "success"
    retrieval: str = "same-scenario"
    top_k: int = 5
    agent: AgentConfig = field(default_factory=AgentConfig)

    def __post_init__(self) -> None:
        if self.group_size < 1:
            raise ValidationError(f"group_size must be at least 1, got {self.group_size}")


class SequentialRollout:
    """Plays groups of chains: each rollout with its own library from the same snapshot."""

    def __init__(
        self,
        world: World,
        sessions: SessionFactory,
        config: RolloutConfig | None = None,
        *,
        snapshot: Sequence[StoredVersion] = (),
        flagged: Callable[[StoredVersion], bool] | None = None,
        retriever_factory: Callable[[], Retriever] | None = None,
        workdir: str | Path | None = None,
    ):
        self.world = world
        self.sessions = sessions
        self.config = config or RolloutConfig()
        self.snapshot = tuple(v for v in snapshot if v.status in SERVED_STATUSES)
        self.flagged = flagged
        self._retriever_factory = retriever_factory
        self._workdir = Path(workdir) if workdir else None

    def _retriever(self) -> Retriever:
        if self._retriever_factory is not None:
            return self._retriever_factory()
        from skillbank.retrieval import make_retriever

        return make_retriever(self.config.retrieval, top_k=self.config.top_k)

    def _fresh_library(self, directory: Path) -> LibraryStore:
        store = open_store(directory / "library.db")
        for v in self.snapshot:
            store.put_version(v.source, provenance=v.provenance, status=v.status, actor="snapshot")
        return store

    def play_group(self, chain: Chain, policies: Sequence[Policy]) -> list[ChainRollout]:
        """G rollouts of `chain`; ``policies[i]`` plays rollout i (one policy object may
        be repeated: each rollout starts its episodes afresh)."""
        if len(policies) != self.config.group_size:
            raise ValidationError(f"a group needs {self.config.group_size} policies, got {len(policies)}")
        return [self.play_one(chain, policy, i) for i, policy in enumerate(policies)]

    def _replay(self, store: LibraryStore, episode: EpisodeTrace, stubbed: str) -> bool:
        """Task `episode.task_id` replayed in a fresh copy of the world: the skills the
        episode loaded (from the rollout's library), `stubbed` replaced by a stub that
        raises, then the episode's code blocks in order; whether the task still passes."""
        sources: dict[str, str] = {}
        refs: dict[str, str] = {}
        for record in (r for t in episode.turns for r in t.skill_calls):
            ref = record.get("ref")
            if isinstance(ref, str) and record.get("name") not in sources:
                name, number = parse_version_ref(ref)
                sources[name] = store.get_version(name, number).source
                refs[name] = ref
        sources[stubbed] = stub_source(stubbed)
        env = self.world.start(episode.task_id)
        with self.sessions(env, episode.task_id) as session:
            session.preload(sources, refs=refs)
            for turn in episode.turns:
                if turn.code is not None:
                    session.run(turn.code)
        return env.evaluate().success

    def play_one(self, chain: Chain, policy: Policy, rollout: int) -> ChainRollout:
        tmp = Path(tempfile.mkdtemp(prefix="skillbank-rollout-", dir=self._workdir))
        store = self._fresh_library(tmp)
        try:
            run_id = f"rollout-{uuid.uuid4().hex[:10]}"
            library = RunLibrary(store, self._retriever(), run_id=run_id, top_k=self.config.top_k,
                                 actor="rollout", writable=True)
            recorder = RecordingPolicy(policy)
            agent = SkillAgent(recorder, library, self.sessions, self.config.agent)
            saved_by_task: list[dict[str, StoredVersion]] = []
            tasks: list[TaskRollout] = []
            for task_id in chain.task_ids:
                played = play_and_grade(self.world, task_id, agent, episode_id=f"{run_id}:{task_id}")
                episode, grade = played.episode, played.grade
                used_from = skills_used_from(episode, saved_by_task, task_passed=grade.success,
                                             replay=functools.partial(self._replay, store))
                saved = {}
                for ref in episode.saved:
                    name, number = parse_version_ref(ref)
                    sv = store.get_version(name, number)
                    if self.flagged is not None and self.flagged(sv):
                        # not carried to the next task: quarantined in this rollout's library
                        store.set_status(sv.id, VersionStatus.QUARANTINED, actor="rollout", reason="red-team flag")
                        continue
                    saved[name] = sv
                saved_by_task.append(saved)
                no_code = bool(episode.turns) and all(t.code is None for t in episode.turns)
                tasks.append(TaskRollout(task_id, episode, grade, outcome(grade, self.config.outcome), no_code,
                                         used_from, tuple(recorder.turns)))
            rewards = chain_rewards(
                [TaskOutcome(t.r, no_code=t.no_code, used_from=t.used_from) for t in tasks], self.config.reward,
            )
            return ChainRollout(chain, rollout, tuple(tasks), tuple(rewards))
        finally:
            store.close()
            shutil.rmtree(tmp, ignore_errors=True)
