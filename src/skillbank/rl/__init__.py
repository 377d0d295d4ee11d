"""SAGE's learning method: the skill-integrated reward and GRPO (see ``reward`` and ``grpo``)."""

from skillbank.rl.grpo import chain_advantages, clipped_objective_loss, group_advantages
from skillbank.rl.reward import (
    NO_CODE_REWARD,
    REWARD_MODES,
    TaskOutcome,
    chain_rewards,
    skill_integrated_rewards,
)

__all__ = [
    "NO_CODE_REWARD",
    "REWARD_MODES",
    "TaskOutcome",
    "chain_advantages",
    "chain_rewards",
    "clipped_objective_loss",
    "group_advantages",
    "skill_integrated_rewards",
]
