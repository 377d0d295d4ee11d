"""Rollouts on Ray actors equal the in-process rollouts on a seeded run."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (the `ray` extra)")

from skillbank.llm.expert import ExpertPolicy  # noqa: E402
from skillbank.rl.chains import RolloutConfig, make_chains  # noqa: E402
from skillbank.rl.distributed import ray_player  # noqa: E402
from skillbank.rl.trainer import in_process_player  # noqa: E402
from skillbank.sandbox import SandboxConfig, SandboxPool  # noqa: E402
from skillbank.worlds.apps import AppsWorld  # noqa: E402


def _view(groups):
    return [[(r.rollout, r.rewards, r.outcomes, tuple(t.episode.saved for t in r.tasks),
              tuple(tuple(turn.reply for turn in t.turns) for t in r.tasks),
              tuple(sorted(t.used_from) for t in r.tasks)) for r in group] for group in groups]


@pytest.mark.slow
def test_ray_rollouts_equal_in_process_rollouts() -> None:
    world = AppsWorld(seed=3)
    chains = make_chains(world, "train", k=2, seed=5, limit=3)
    cfg = RolloutConfig(group_size=2)
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        local = in_process_player(world, lambda host, task_id: pool.session(host, task_id=task_id), cfg)
        here = local(chains, lambda i: ExpertPolicy(world))
    play, shutdown = ray_player("local", world_seed=3, rollout=cfg, actors=2, num_cpus=2)
    try:
        there = play(chains, lambda i: {"kind": "expert"})
    finally:
        shutdown()
        ray.shutdown()
    assert _view(there) == _view(here)
    assert any(r.rewards == (2.0, 2.0) for g in here for r in g)  # the comparison is not vacuous
