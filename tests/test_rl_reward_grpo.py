"""SAGE's reward (§3) and GRPO (§4) against hand-computed vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skillbank.rl import (
    NO_CODE_REWARD,
    TaskOutcome,
    chain_advantages,
    chain_rewards,
    group_advantages,
    skill_integrated_rewards,
)

# -- reward -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "r1, r2, used, expected",
    [
        (1, 1, True, (2.0, 2.0)),  # both solved, task 2 used task 1's skill
        (1, 1, False, (1.0, 1.0)),  # solved without reuse: outcome only
        (1, 0, True, (1.0, 0.0)),  # reuse that failed earns nothing
        (0, 1, True, (0.0, 2.0)),  # task 1 failed but its skill worked on task 2
        (0, 0, True, (0.0, 0.0)),
        (0.5, 1, True, (0.5, 2.0)),  # partial task 1: no bonus for it
        (1, 0.5, True, (1.0, 0.5)),  # partial task 2: no bonus for either
    ],
)
def test_skill_integrated_formula(r1, r2, used, expected):
    assert skill_integrated_rewards(r1, r2, used) == expected


def test_chain_rewards_reduce_to_the_paper_for_two_tasks():
    for r1 in (0.0, 0.5, 1.0):
        for r2 in (0.0, 0.5, 1.0):
            for used in (False, True):
                tasks = [TaskOutcome(r1), TaskOutcome(r2, used_from=frozenset({0}) if used else frozenset())]
                assert tuple(chain_rewards(tasks)) == skill_integrated_rewards(r1, r2, used)


def test_no_code_reply_gets_minus_one_whatever_else():
    tasks = [TaskOutcome(1.0), TaskOutcome(0.0, no_code=True, used_from=frozenset({0}))]
    assert chain_rewards(tasks) == [1.0, NO_CODE_REWARD]


def test_variants():
    tasks = [TaskOutcome(1.0), TaskOutcome(1.0, used_from=frozenset({0}))]
    assert chain_rewards(tasks, "outcome_only") == [1.0, 1.0]
    assert chain_rewards(tasks, "chain_based") == [2.0, 2.0]
    half = [TaskOutcome(1.0), TaskOutcome(0.0, used_from=frozenset({0}))]
    assert chain_rewards(half, "chain_based") == [1.0, 0.0]


def test_three_task_chain_generalisation():
    # task 3 uses task 1's skill and succeeds; task 2 fails.
    tasks = [TaskOutcome(1.0), TaskOutcome(0.0), TaskOutcome(1.0, used_from=frozenset({0}))]
    assert chain_rewards(tasks) == [2.0, 0.0, 2.0]


@pytest.mark.parametrize("bad", [-0.1, 1.5, 2])
def test_outcomes_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match="r1"):
        skill_integrated_rewards(bad, 1, True)


def test_forward_use_and_unknown_mode_refused():
    with pytest.raises(ValueError, match="only earlier tasks"):
        chain_rewards([TaskOutcome(1.0, used_from=frozenset({1})), TaskOutcome(1.0)])
    with pytest.raises(ValueError, match="unknown reward mode"):
        chain_rewards([TaskOutcome(1.0)], "bogus")  # type: ignore[arg-type]


# -- advantages ---------------------------------------------------------------------


def test_group_advantages_sage_default_is_mean_centred_only():
    np.testing.assert_allclose(group_advantages([1, 0, 0, 1], 4), [0.5, -0.5, -0.5, 0.5])


def test_group_advantages_std_normalised_like_trl_and_verl():
    adv = group_advantages([1, 0, 0, 1], 4, normalize_std=True, eps=0.0)
    expected = 0.5 / math.sqrt(1 / 3)  # unbiased std of [1,0,0,1] is sqrt(1/3)
    np.testing.assert_allclose(adv, [expected, -expected, -expected, expected])
    assert abs(expected - 0.866) < 1e-3


def test_groups_are_independent_and_group_of_one_is_zero():
    np.testing.assert_allclose(
        group_advantages([0, 1, 0, 1, 1, 0, 0, 0], 4),
        [-0.5, 0.5, -0.5, 0.5, 0.75, -0.25, -0.25, -0.25],
    )
    np.testing.assert_allclose(group_advantages([3.0, -1.0], 1), [0.0, 0.0])
    np.testing.assert_allclose(group_advantages([3.0, -1.0], 1, normalize_std=True), [0.0, 0.0])
    # identical rewards: no signal, and no division by zero with normalisation
    np.testing.assert_allclose(group_advantages([1, 1, 1, 1], 4, normalize_std=True), [0, 0, 0, 0])


def test_group_advantages_bad_input():
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages([1, 0, 0, 1], 3)
    with pytest.raises(ValueError, match="at least 1"):
        group_advantages([1], 0)
    with pytest.raises(ValueError, match="finite"):
        group_advantages([1, float("nan")], 2)


def test_chain_advantages_per_task_position():
    R = [[2.0, 2.0], [1.0, 0.0], [0.0, 0.0], [1.0, 2.0]]  # G=4 rollouts x K=2 tasks
    A = chain_advantages(R)
    np.testing.assert_allclose(A[:, 0], [1.0, 0.0, -1.0, 0.0])
    np.testing.assert_allclose(A[:, 1], [1.0, -1.0, -1.0, 1.0])


# -- the clipped objective ----------------------------------------------------------

torch = pytest.importorskip("torch", reason="the GRPO loss needs torch (the `local` extra)")


def test_loss_equals_hand_computed_value():
    from skillbank.rl import clipped_objective_loss

    lp = torch.log(torch.tensor([[0.5, 0.5, 0.9], [0.2, 0.2, 0.2]]))
    old = torch.log(torch.tensor([[0.25, 0.5, 0.9], [0.2, 0.4, 0.2]]))
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, -1.0])
    loss = clipped_objective_loss(lp, old, adv, mask, num_rollouts=2, clip_eps=0.2)
    # row 0: ratios 2.0 (clipped to 1.2), 1.0 -> min(s A, clip A) = 1.2, 1.0 -> mean 1.1
    # row 1: ratios 1, 0.5, 1 with A=-1 -> min(-1,-1), min(-0.5,-0.8)=-0.8, -1 -> mean -2.8/3
    J = (1.1 + (-2.8 / 3)) / 2
    assert float(loss) == pytest.approx(-J, abs=1e-6)


def test_gradient_reaches_only_policy_tokens():
    from skillbank.rl import clipped_objective_loss

    logits = torch.zeros(2, 4, requires_grad=True)
    lp = torch.nn.functional.logsigmoid(logits)
    old = lp.detach()
    mask = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 1]])
    loss = clipped_objective_loss(lp, old, torch.tensor([1.0, -0.5]), mask, num_rollouts=2)
    loss.backward()
    g = logits.grad
    assert torch.all(g[mask == 0] == 0)
    assert torch.all(g[mask == 1] != 0)


def test_kl_term_needs_reference_and_penalises_drift():
    from skillbank.rl import clipped_objective_loss

    lp = torch.log(torch.tensor([[0.5, 0.5]]))
    mask = torch.ones(1, 2)
    adv = torch.tensor([0.0])
    with pytest.raises(ValueError, match="ref_logprobs"):
        clipped_objective_loss(lp, lp, adv, mask, 1, kl_coef=0.1)
    same = clipped_objective_loss(lp, lp, adv, mask, 1, kl_coef=0.1, ref_logprobs=lp)
    drift = clipped_objective_loss(lp, lp, adv, mask, 1, kl_coef=0.1, ref_logprobs=torch.log(torch.tensor([[0.9, 0.1]])))
    assert float(same) == pytest.approx(0.0)
    assert float(drift) > 0.0


def test_policy_gradient_raises_the_rewarded_output():
    """A one-parameter-vector policy over 3 outputs: rewarding output 2 raises its probability."""
    from skillbank.rl import clipped_objective_loss

    torch.manual_seed(0)
    logits = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    p_before = torch.softmax(logits, 0)[2].item()
    for _ in range(10):
        with torch.no_grad():
            samples = torch.multinomial(torch.softmax(logits, 0), 8, replacement=True)
        rewards = (samples == 2).float().numpy()
        adv = torch.tensor(group_advantages(rewards, 8), dtype=torch.float32)
        lp = torch.log_softmax(logits, 0)[samples].unsqueeze(1)
        loss = clipped_objective_loss(lp, lp.detach(), adv, torch.ones(8, 1), num_rollouts=8)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.softmax(logits, 0)[2].item() > p_before + 0.2


def test_advantages_match_trls_group_scaling() -> None:
    """TRL's GRPOTrainer with scale_rewards="group" divides by its own `nanstd` (Bessel-corrected)
    plus 1e-4; with scale_rewards="none" it only centres: SAGE's default. TRL's formula is
    written out here (these rewards hold no NaN, so `nanstd` is torch.std with correction=1)."""
    rng = np.random.default_rng(0)
    rewards = torch.tensor(rng.integers(0, 3, size=24).astype("float32"))  # 6 groups of 4
    G = 4
    mean = rewards.view(-1, G).mean(dim=1).repeat_interleave(G)
    std = torch.std(rewards.view(-1, G), dim=1, correction=1).repeat_interleave(G)
    trl_group = ((rewards - mean) / (std + 1e-4)).numpy()
    trl_none = (rewards - mean).numpy()
    np.testing.assert_allclose(group_advantages(rewards.numpy(), G, normalize_std=True, eps=1e-4), trl_group, atol=1e-5)
    np.testing.assert_allclose(group_advantages(rewards.numpy(), G), trl_none, atol=1e-6)
