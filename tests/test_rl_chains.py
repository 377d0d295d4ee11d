"""Sequential rollout over the real apps world in the real sandbox: chains, per-rollout
libraries, the skill-integrated reward, and the rule that a trivial skill earns nothing."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from skillbank.llm.base import Completion, EpisodeInfo, Message
from skillbank.llm.expert import ExpertPolicy
from skillbank.rl.chains import (
    Chain,
    RolloutConfig,
    SequentialRollout,
    make_chains,
    skills_used_from,
)
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.worlds.apps import AppsWorld


@pytest.fixture(scope="module")
def world():
    return AppsWorld(seed=0)


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=1)) as p:
        yield p


def _sessions(pool):
    return lambda host, task_id: pool.session(host, task_id=task_id)


def _expert_chain(world) -> Chain:
    for chain in make_chains(world, "train", k=2, seed=0):
        first = world.expert_solution(chain.task_ids[0])
        if first.skill_names:
            return chain
    raise AssertionError("no train chain whose first task defines a skill")


class Scripted:
    """Fixed replies per task (in call order), recording what each episode had loaded."""

    name = "scripted"

    def __init__(self, replies: dict[int, list[str]]):
        self.replies = replies
        self.loaded: list[tuple[str, ...]] = []
        self._task = -1
        self._step = 0

    def start_episode(self, info: EpisodeInfo) -> None:
        self._task += 1
        self._step = 0
        self.loaded.append(info.skill_names)

    def generate(self, messages: Sequence[Message]) -> Completion:
        script = self.replies[self._task]
        text = script[min(self._step, len(script) - 1)]
        self._step += 1
        return Completion(text=text, prompt_tokens=1, completion_tokens=1, latency_s=0.0)

    def count_tokens(self, text: str) -> int:
        return 1


def test_make_chains_are_windows_of_one_scenario(world) -> None:
    chains = make_chains(world, "train", k=2, seed=1)
    tasks = {t.id: t for t in world.tasks("train")}
    assert chains and all(len(c.task_ids) == 2 for c in chains)
    for c in chains:
        a, b = (tasks[t] for t in c.task_ids)
        assert a.scenario_id == b.scenario_id == c.scenario_id
        assert b.index_in_scenario == a.index_in_scenario + 1
    assert make_chains(world, "train", k=2, seed=1) == chains  # seeded
    assert len(make_chains(world, "train", k=3)) == len({t.scenario_id for t in tasks.values()})


def test_expert_group_earns_the_skill_bonus(world, pool) -> None:
    chain = _expert_chain(world)
    roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=2))
    group = roll.play_group(chain, [ExpertPolicy(world), ExpertPolicy(world)])
    for r in group:
        assert r.outcomes == (1.0, 1.0)
        assert r.tasks[0].episode.saved, "task 1 saved its skill"
        assert r.tasks[1].used_from == frozenset({0})
        assert r.rewards == (2.0, 2.0)
        assert r.tasks[0].turns and r.tasks[0].turns[0].messages[0].role == "system"
    outcome_only = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=1, reward="outcome_only"))
    assert outcome_only.play_one(chain, ExpertPolicy(world), 0).rewards == (1.0, 1.0)


def test_a_rollouts_skills_are_invisible_to_its_siblings(world, pool) -> None:
    chain = _expert_chain(world)
    roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=2))
    skill = world.expert_solution(chain.task_ids[0]).skill_names[0]
    lazy = Scripted({0: ["```python\napis.supervisor.complete_task(status='fail')\n```"],
                     1: ["```python\napis.supervisor.complete_task(status='fail')\n```"]})
    expert = ExpertPolicy(world)
    seen: list[tuple[str, ...]] = []
    original = expert.start_episode

    def spy(info: EpisodeInfo) -> None:
        seen.append(info.skill_names)
        original(info)

    expert.start_episode = spy  # type: ignore[method-assign]
    group = roll.play_group(chain, [expert, lazy])
    assert skill in seen[1], "the expert's own task 2 sees its task-1 skill"
    assert lazy.loaded == [(), ()], "the sibling never sees it"
    assert group[1].rewards == (0.0, 0.0)
    # and a rollout that follows starts from the snapshot (empty) again
    again = Scripted({0: ["```python\napis.supervisor.complete_task(status='fail')\n```"]})
    roll.play_one(Chain(chain.scenario_id, chain.task_ids[:1]), again, 0)
    assert again.loaded == [()]


def test_a_trivial_skill_does_not_collect_the_bonus(world, pool) -> None:
    chain = _expert_chain(world)
    expert_t2 = world.expert_solution(chain.task_ids[1])
    # task 1: define a constant function, call it, and fail honestly; task 2: call it and
    # then solve the task with the expert's code (so r2 = 1 and only `used` is in doubt).
    define = "def lucky_number():\n    return 42\n\nprint(lucky_number())\napis.supervisor.complete_task(status='success')"
    t2 = "\n\n".join(s.strip() for s in expert_t2.skill_sources) + "\n\nprint(lucky_number())\n" + expert_t2.call_block
    farmer = Scripted({0: [f"```python\n{define}\n```"], 1: [f"```python\n{t2}\n```"]})
    roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=1))
    r = roll.play_one(chain, farmer, 0)
    assert r.tasks[0].episode.saved == ("lucky_number@1",)
    assert any(op.kind.value == "use" and op.name == "lucky_number" for op in r.tasks[1].episode.operations())
    assert r.tasks[1].r == 1.0
    assert r.tasks[1].used_from == frozenset(), "a constant function is not real work"
    assert r.rewards[1] == 1.0


def test_a_flagged_skill_earns_nothing_and_is_not_carried(world, pool) -> None:
    chain = _expert_chain(world)
    roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=1), flagged=lambda sv: True)
    expert = ExpertPolicy(world)
    seen: list[tuple[str, ...]] = []
    original = expert.start_episode
    expert.start_episode = lambda info: (seen.append(info.skill_names), original(info))[1]  # type: ignore[method-assign]
    r = roll.play_one(chain, expert, 0)
    assert r.tasks[0].episode.saved, "task 1 saved its skill (and the gate flagged it)"
    assert seen[1] == (), "the flagged skill was not offered to task 2"
    assert r.tasks[1].used_from == frozenset()
    assert r.rewards == (1.0, 1.0)
    # the same rollout without the gate earns the bonus: the gate is what withheld it
    open_roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=1), flagged=lambda sv: False)
    assert open_roll.play_one(chain, ExpertPolicy(world), 0).rewards == (2.0, 2.0)


# -- what counts as used, on hand-built episodes ------------------------------------------


def _version(name: str, source: str, vid: str = "v1"):
    from skillbank.store.base import Provenance, StoredVersion, VersionStatus

    return StoredVersion(vid, "default", name, 1, "h", source, None, f"def {name}()", None, VersionStatus.CANDIDATE,
                         Provenance(), None)


WORK_CALL = {"app": "wallet", "api": "show_balance", "ok": True, "skill": "balance"}


def _used_episode(*, ok: bool = True, own_calls=(WORK_CALL,), ref: str = "balance@1", api_failed: int = 0):
    """Task 2's episode: one turn that called `balance` from the library, with the
    sandbox parent's records of that call and of the API calls its worker made."""
    from skillbank.agent.trace import EpisodeTrace, TurnTrace

    record = {"name": "balance", "ref": ref, "caller": None, "ok": ok, "api_calls": len(own_calls),
              "api_failed": api_failed}
    calls = (*own_calls, {"app": "supervisor", "api": "complete_task", "ok": True, "skill": None})
    turn = TurnTrace(0, 1, 1, 1, "reply", "print(balance(t))", True, "", None, calls, (), 0.0, 0.0,
                     skill_calls=(record,))
    return EpisodeTrace("e", "r", "t2", "s", 1, "", (), ("balance",), (), (turn,), "completed", "success", (), 1, 1, 0.0)


REAL = "def balance(t):\n    return apis.wallet.show_balance(access_token=t)\n"


def _saved(ref_number: int = 1):
    version = _version("balance", REAL)
    from dataclasses import replace

    return [{"balance": replace(version, version=ref_number)}]


def test_a_real_use_of_an_earlier_tasks_skill_counts() -> None:
    assert skills_used_from(_used_episode(), _saved()) == frozenset({0})
    assert skills_used_from(_used_episode(), [{}, _saved()[0]]) == frozenset({1})


def test_a_failed_call_earns_no_bonus() -> None:
    """The skill raised (caught or not), or one of its own API calls failed."""
    assert skills_used_from(_used_episode(ok=False), _saved()) == frozenset()
    failed_call = {**WORK_CALL, "ok": False}
    assert skills_used_from(_used_episode(own_calls=(failed_call, WORK_CALL), api_failed=1), _saved()) == frozenset()


def test_a_skill_without_api_calls_of_its_own_earns_no_bonus() -> None:
    # The block's own API calls (skill None) do not count for the skill.
    assert skills_used_from(_used_episode(own_calls=()), _saved()) == frozenset()
    not_work = {"app": "supervisor", "api": "show_profile", "ok": True, "skill": "balance"}
    assert skills_used_from(_used_episode(own_calls=(not_work,)), _saved()) == frozenset()
    inline = {**WORK_CALL, "skill": None}
    assert skills_used_from(_used_episode(own_calls=(inline,)), _saved()) == frozenset()


def test_only_the_version_the_earlier_task_saved_counts() -> None:
    assert skills_used_from(_used_episode(ref="balance@2"), _saved(1)) == frozenset()
    assert skills_used_from(_used_episode(ref="balance@2"), _saved(2)) == frozenset({0})


def test_a_failed_task_earns_no_bonus_and_the_counterfactual_decides() -> None:
    assert skills_used_from(_used_episode(), _saved(), task_passed=False) == frozenset()
    still_passes = lambda episode, name: True  # noqa: E731 - the task passes without the skill
    fails_without = lambda episode, name: False  # noqa: E731
    assert skills_used_from(_used_episode(), _saved(), replay=still_passes) == frozenset()
    assert skills_used_from(_used_episode(), _saved(), replay=fails_without) == frozenset({0})


# -- farmers, end to end: task 2 does the work inline and calls task 1's skill for show ----------

FARMERS = {
    "api call in dead code": "def helper():\n    if len('x') > 5:\n        apis.wallet.show_balance(access_token='x')\n    return 1\n",
    "irrelevant call, error swallowed": (
        "def helper():\n    try:\n        apis.wallet.show_balance(access_token='not-a-token')\n"
        "    except Exception:\n        pass\n    return 1\n"),
    "login whose result is ignored": (
        "def helper():\n    profile = apis.supervisor.show_profile()\n"
        "    passwords = {a['account_name']: a['password'] for a in apis.supervisor.show_account_passwords()}\n"
        "    apis.wallet.login(username=profile['email'], password=passwords['wallet'])\n    return 1\n"),
    "skill that raises, caught by the caller": "def helper():\n    raise ValueError('nothing to do')\n",
    "send_money in dead code": (
        "def helper():\n    if len('x') > 5:\n        apis.wallet.send_money(access_token='x', receiver_email='a@b.c', "
        "amount_cents=1)\n    return 1\n"),
}


@pytest.mark.parametrize("farmer", sorted(FARMERS))
def test_farmers_earn_no_bonus(world, pool, farmer) -> None:
    chain = _expert_chain(world)
    expert_t2 = world.expert_solution(chain.task_ids[1])
    define = FARMERS[farmer] + "\ntry:\n    helper()\nexcept Exception:\n    pass\napis.supervisor.complete_task(status='success')"
    inline = "\n\n".join(src.strip() for src in expert_t2.skill_sources)
    t2 = inline + "\n\ntry:\n    helper()\nexcept Exception:\n    pass\n" + expert_t2.call_block
    policy = Scripted({0: [f"```python\n{define}\n```"], 1: [f"```python\n{t2}\n```"]})
    roll = SequentialRollout(world, _sessions(pool), RolloutConfig(group_size=1), flagged=lambda sv: False)
    r = roll.play_one(chain, policy, 0)
    assert r.tasks[0].episode.saved == ("helper@1",), r.tasks[0].episode.turns[-1].observation
    assert r.tasks[1].r == 1.0, "task 2 did the work itself"
    assert any(c["name"] == "helper" for t in r.tasks[1].episode.turns for c in t.skill_calls), "helper was called"
    assert r.tasks[1].used_from == frozenset() and r.rewards[1] == 1.0


def test_the_default_safety_gate_is_governances_red_team_scan() -> None:
    from skillbank.rl.chains import red_team_flag
    from skillbank.store.base import Provenance, StoredVersion, VersionStatus

    def version(source: str) -> StoredVersion:
        return StoredVersion("id", "default", "f", 1, "h", source, None, "def f()", None, VersionStatus.CANDIDATE,
                             Provenance(), None)

    clean = "def f(t):\n    '''Balance.'''\n    return apis.wallet.show_balance(access_token=t)\n"
    leaky = "def f(t):\n    '''Balance.'''\n    key = 'sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6" + "'\n    return key\n"
    assert red_team_flag(version(clean)) is False
    assert red_team_flag(version(leaky)) is True
