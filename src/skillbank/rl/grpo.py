"""GRPO as SAGE uses it (arXiv:2512.17102, §4), read top to bottom.

For one chain of tasks, a *group* of G rollouts is sampled (each with its own library).
Rollout i earns a reward R_i^k on each task k of the chain (``skillbank.rl.reward``).

1. Group-relative advantage, per task position k of the chain::

       A_i^k = R_i^k - mean_j(R_j^k)

   SAGE does **not** divide by the group's std (following LOOP, arXiv:2502.01600).
   ``normalize_std=True`` gives the convention of TRL and verl instead:
   ``(R - mean) / (std_unbiased + eps)``; the group [1, 0, 0, 1] then gives about
   +-0.866 where SAGE's default gives +-0.5. A group of one has advantage 0 (TRL's
   convention; verl would return the raw reward).

2. The clipped token-level objective, summed over the chain's tasks::

       J = (1/G) sum_i sum_k (1/|o_i^k|) sum_t min(s_t A_i^k, clip(s_t, 1-eps, 1+eps) A_i^k)
       s_t = pi(o_t | ...) / pi_old(o_t | ...)

   Environment-observation tokens (and the prompt) are masked out: only the policy's own
   tokens o_i^k count, in |o_i^k| too. No KL term by default (SAGE and LOOP drop it);
   ``kl_coef > 0`` adds the k3 estimator against reference log-probs, as TRL does.

The loss returned is ``-J`` so an optimiser minimises it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_advantages(
    rewards: Sequence[float] | np.ndarray,
    group_size: int,
    normalize_std: bool = False,
    eps: float = 1e-4,
) -> np.ndarray:
    """Advantages for consecutive groups of ``group_size`` rewards (flat in, flat out).

    ``rewards`` is laid out group after group: ``[g0_r0, g0_r1, ..., g1_r0, ...]``.
    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, got {group_size}")
    if r.size % group_size:
        raise ValueError(f"{r.size} rewards do not split into groups of {group_size}")
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards must be finite numbers")
    grouped = r.reshape(-1, group_size)
    adv = grouped - grouped.mean(axis=1, keepdims=True)
    if normalize_std and group_size > 1:
        std = grouped.std(axis=1, ddof=1, keepdims=True)
        adv = adv / (std + eps)
    return adv.reshape(-1)


def chain_advantages(
    chain_rewards: np.ndarray | Sequence[Sequence[float]],
    normalize_std: bool = False,
    eps: float = 1e-4,
) -> np.ndarray:
    """Advantages for one group: ``chain_rewards[i][k]`` is R_i^k; the result has that shape.

    Each task position k is its own group over the G rollouts.
    """
    R = np.asarray(chain_rewards, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"chain_rewards must be G x K (rollouts x tasks), got shape {R.shape}")
    G, K = R.shape
    cols = [group_advantages(R[:, k], G, normalize_std=normalize_std, eps=eps) for k in range(K)]
    return np.stack(cols, axis=1)


def clipped_objective_loss(
    logprobs,
    old_logprobs,
    advantages,
    policy_mask,
    num_rollouts: int,
    clip_eps: float = 0.2,
    kl_coef: float = 0.0,
    ref_logprobs=None,
):
    """The negated clipped objective ``-J`` (a torch scalar).

    Rows are (rollout i, task k) sequences. ``logprobs``, ``old_logprobs`` and
    ``policy_mask`` are ``[rows, T]`` tensors (log-prob of each sampled token under the
    current and the sampling policy; mask 1 on the policy's own tokens, 0 on prompt,
    observation and padding tokens). ``advantages`` is ``[rows]``: A_i^k of the row.
    ``num_rollouts`` is G (times the number of groups in the batch): the 1/G of J.
    """
    import torch

    mask = policy_mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype).unsqueeze(1)
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
    per_token = torch.minimum(unclipped, clipped)
    if kl_coef:
        if ref_logprobs is None:
            raise ValueError("kl_coef > 0 needs ref_logprobs")
        # k3 estimator of KL(pi || pi_ref), per token, as TRL computes it.
        d = ref_logprobs - logprobs
        per_token = per_token - kl_coef * (torch.exp(d) - d - 1.0)
    lengths = mask.sum(dim=1).clamp(min=1.0)  # |o_i^k|
    per_sequence = (per_token * mask).sum(dim=1) / lengths
    J = per_sequence.sum() / float(num_rollouts)
    return -J
