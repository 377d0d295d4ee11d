"""SAGE's skill-integrated reward (arXiv:2512.17102, §3), read top to bottom.

A rollout is a chain of similar tasks solved in order; the skills the policy saves on
an earlier task of the chain are available on the later ones. Each task k has an
outcome reward r_k in [0, 1] from the world's grading. For the paper's two-task chain,
with ``used`` = 1 when task 2 used a skill generated in task 1::

    R1 = r1 + 1[r1 = 1] * 1[r2 = 1] * used
    R2 = r2 + 1[r2 = 1] * used

A reply that gives no code and stops earns ``NO_CODE_REWARD`` (-1.0) for its task.

What counts as *used* is decided by the caller (the rollout), not here, and it must not
be farmable: a policy that defines a constant function on task 1 and calls it on task 2
would otherwise collect the bonus for nothing. The rollout counts a skill as used only
when its call did real work in the task (see ``skillbank.rl.chains``).

Safety is a gate, not a term: a skill that red-teaming flags earns no bonus (its use is
reported as not used) and is not carried to the next task of the chain.

Three variants for the paper's ablation (TGC / SGC on Test-Normal: skill-integrated
72.0 / 60.7, outcome-only 69.8 / 55.4, chain-based 67.9 / 56.6):

- ``skill_integrated``: the formula above (the default);
- ``outcome_only``: R_k = r_k;
- ``chain_based``: the paper does not publish its definition. Ours: every task of a
  chain whose tasks all succeeded gets +1 (R_k = r_k + 1[all r = 1]), i.e. the chain is
  rewarded as a whole and skill use plays no part.

Chains longer than two (the paper found 3-task chains worse) generalise the formula
term by term, and reduce to it exactly for k = 2: task k earns
``1[r_k = 1] * used_k`` for using a skill of an earlier task of the chain, and
``1[r_k = 1] * max_j>k (1[r_j = 1] * used_{j<-k})`` when a later task that succeeded
used a skill that task k created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

RewardMode = Literal["skill_integrated", "outcome_only", "chain_based"]
REWARD_MODES: tuple[str, ...] = ("skill_integrated", "outcome_only", "chain_based")

NO_CODE_REWARD = -1.0
"""The reward of a task whose reply gave no code and stopped (SAGE §3)."""


def _check_outcome(name: str, r: float) -> float:
    r = float(r)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"{name} must be an outcome reward in [0, 1], got {r!r}")
    return r


def _solved(r: float) -> float:
    return 1.0 if r == 1.0 else 0.0


def skill_integrated_rewards(r1: float, r2: float, used: bool) -> tuple[float, float]:
    """The paper's two-task formula: ``(R1, R2)`` from outcomes ``r1``, ``r2`` in [0, 1]."""
    r1 = _check_outcome("r1", r1)
    r2 = _check_outcome("r2", r2)
    u = 1.0 if used else 0.0
    R1 = r1 + _solved(r1) * _solved(r2) * u
    R2 = r2 + _solved(r2) * u
    return R1, R2


@dataclass(frozen=True)
class TaskOutcome:
    """One task of a chain, as the reward sees it.

    ``r``: the outcome reward in [0, 1] (binary success by default; the fraction variant
    counts only the task's own tests, never the guards a zero-work episode passes).
    ``no_code``: the reply gave no code and stopped (earns ``NO_CODE_REWARD``).
    ``used_from``: indices of earlier tasks of this chain whose skills this task used
    (did real work with; flagged skills excluded by the caller).
    """

    r: float
    no_code: bool = False
    used_from: frozenset[int] = frozenset()


def chain_rewards(tasks: Sequence[TaskOutcome], mode: RewardMode = "skill_integrated") -> list[float]:
    """Per-task rewards ``R_k`` for one rollout over a chain, in the chosen ``mode``."""
    if mode not in REWARD_MODES:
        raise ValueError(f"unknown reward mode {mode!r}; choose one of {', '.join(REWARD_MODES)}")
    rs = [_check_outcome(f"r{k + 1}", t.r) for k, t in enumerate(tasks)]
    for k, t in enumerate(tasks):
        bad = [j for j in t.used_from if not 0 <= j < k]
        if bad:
            raise ValueError(f"task {k + 1} cannot use skills of task(s) {sorted(j + 1 for j in bad)}: only earlier tasks")

    if mode == "outcome_only":
        out = list(rs)
    elif mode == "chain_based":
        bonus = 1.0 if rs and all(_solved(r) for r in rs) else 0.0
        out = [r + bonus for r in rs]
    else:
        out = []
        for k, r in enumerate(rs):
            uses_earlier = 1.0 if tasks[k].used_from else 0.0
            reused_later = max(
                (_solved(rs[j]) for j in range(k + 1, len(tasks)) if k in tasks[j].used_from),
                default=0.0,
            )
            out.append(r + _solved(r) * uses_earlier + _solved(r) * reused_later)

    return [NO_CODE_REWARD if t.no_code else R for t, R in zip(tasks, out)]
