"""Governance's pure parts: the policy file, canary routing and the sequential rule,
the promotion gate's rules, user case files, fault variants."""

from __future__ import annotations

import ast
import json
import statistics

import pytest

from skillbank.errors import ValidationError
from skillbank.governance import (
    ArmStats,
    EvalCase,
    Evidence,
    PromotionGate,
    SequentialRule,
    load_policy,
    load_user_cases,
    parse_policy,
    routes_to_canary,
)
from skillbank.governance.policy import CanaryRules
from skillbank.llm.faults import FAULT_KINDS, applicable_faults, apply_fault

from skillbank.bench.canary import run_bench, simulate


def test_default_policy_says_one_success_is_not_enough():
    p = load_policy()
    assert p.gate.min_successful_calls >= 3 and p.gate.min_distinct_tasks >= 2
    assert p.gate.require_suite_pass and p.gate.require_redteam_clean and p.gate.block_regressions
    assert p.canary.share == pytest.approx(0.10)
    assert p.false_alarm_bound == pytest.approx(p.canary.alpha / (1 - p.canary.beta))


def test_policy_file_overrides_and_rejects_bad_keys(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[gate]\nmin_successful_calls = 5\nrequire_approval = true\n[canary]\nshare = 0.2\n")
    p = load_policy(f)
    assert (p.gate.min_successful_calls, p.gate.require_approval, p.canary.share) == (5, True, 0.2)
    assert p.gate.min_distinct_tasks == 2  # untouched keys keep their defaults
    for text, word in [("[gate]\nmin_calls = 1\n", "unknown key"), ("[canary]\nshare = 1.5\n", "share"),
                       ("[gate]\nrequire_approval = 'yes'\n", "true or false"), ("[other]\n", "unknown section"),
                       ("[redteam]\nblock_severity = 'bad'\n", "block_severity"), ("[gate", "not valid TOML")]:
        with pytest.raises(ValidationError, match=word):
            parse_policy(text)
    with pytest.raises(ValidationError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")


def test_routing_is_deterministic_per_call_id_and_close_to_the_share():
    ids = [(f"run{i % 7}", f"task{i}", "skill") for i in range(20_000)]
    first = [routes_to_canary(*x, 0.1) for x in ids]
    assert first == [routes_to_canary(*x, 0.1) for x in ids]
    assert 0.09 < sum(first) / len(first) < 0.11
    assert routes_to_canary("r", "t", "a", 0.1) in (True, False)


def test_sequential_rule_rolls_back_a_worse_canary_within_bounded_calls():
    rule = SequentialRule(load_policy().canary)
    calls = []
    for seed in range(200):
        action, canary_calls, _ = simulate(rule, incumbent_failure=0.1, canary_failure=0.4, seed=seed)
        assert action == "rollback", seed
        calls.append(canary_calls)
    assert statistics.median(calls) <= 40 and max(calls) <= 150


def test_sequential_rule_false_rollbacks_stay_under_the_stated_bound():
    result = run_bench(runs=500, seed=11, incumbent_failure=0.1, worse_failure=0.3)
    good = result["as_good"]
    assert good["false_rollback_rate"] <= 0.05
    assert good["false_rollback_rate"] <= result["stated_false_alarm_bound"] + 0.02
    assert result["worse"]["rollback_rate"] >= 0.95


def test_sequential_rule_decisions_follow_the_evidence():
    rule = SequentialRule(CanaryRules(min_calls=5, max_calls=50))
    assert rule.decide(ArmStats(), ArmStats()).action == "continue"
    worse = rule.decide(ArmStats(10, 2, 8), ArmStats(90, 85, 5))
    assert worse.action == "rollback" and worse.llr >= worse.upper
    better = rule.decide(ArmStats(10, 10, 0), ArmStats(90, 60, 30))
    assert better.action == "promote"
    assert rule.decide(ArmStats(50, 50, 0), ArmStats(400, 400, 0)).action == "promote"  # truncation
    assert rule.decide(ArmStats(3, 3, 0), ArmStats(90, 60, 30)).action == "continue"  # under min_calls


def _evidence(**kw):
    base = dict(version_id="v", ref="f@2", status="candidate", successful_calls=3, distinct_tasks=2, evaluated=True,
                suite_cases=4, redteamed=True)
    return Evidence(**{**base, **kw})


def test_gate_rules_each_block_and_all_pass():
    gate = PromotionGate(load_policy())
    ok = gate.check(_evidence())
    assert ok.passed and ok.target == "promoted"
    assert gate.check(_evidence(has_incumbent=True)).target == "canary"
    blockers = {
        "successful_calls": _evidence(successful_calls=1),
        "distinct_tasks": _evidence(distinct_tasks=1),
        "suite_passed": _evidence(suite_failed=1),
        "no_regression": _evidence(regressions=("c1",)),
        "redteam_clean": _evidence(findings=({"kind": "first_page_only", "severity": "medium"},)),
        "not_quarantined": _evidence(status="quarantined"),
        "evaluated": _evidence(evaluated=False),
    }
    for check, ev in blockers.items():
        d = gate.check(ev)
        assert not d.passed and d.checks[check] is False and d.reasons, check
    assert gate.check(_evidence(regressions=("c",))).blocked_by_regression
    low = gate.check(_evidence(findings=({"kind": "fuzz_crash", "severity": "low"},)))
    assert low.passed
    approval = PromotionGate(parse_policy("[gate]\nrequire_approval = true\n"))
    assert not approval.check(_evidence()).passed and approval.check(_evidence(approved=True)).passed


def test_a_case_failing_live_since_the_last_evaluation_blocks_the_gate(tmp_path):
    """`live_failed`: the suite passed when evaluated, then a case failed in a run. The
    gate must not promote on the stale evaluation (a mutation that drops `live_failed`
    from the suite check is caught here)."""
    gate = PromotionGate(load_policy())
    d = gate.check(_evidence(live_failed=1))
    assert not d.passed and d.checks["suite_passed"] is False
    assert "1 case(s) of 5 failed" in "; ".join(d.reasons)
    # the same through the library's events: evaluated clean, then a failing live case
    from skillbank.governance import EvalCase

    store, gov, v = _evaluated_and_observed(tmp_path)
    gov.redteam("f", run=False)
    assert gov.check("f", 1, record=False).passed
    gov.record_case(v, EvalCase(kind="call", task_id="t9", args=(1,), expected_kind="json", expected=2), outcome=False)
    assert gov.evidence(v).live_failed == 1
    decision, move = gov.consider("f", 1)
    assert not decision.passed and decision.checks["suite_passed"] is False and move is None
    store.close()


def test_user_cases_load_from_toml_and_json(tmp_path):
    t = tmp_path / "c.toml"
    t.write_text('[[case]]\nkwargs = {a = 1}\nexpect = 2\n\n[[case]]\nargs = [3]\npredicate = "result > 0"\ntask = "x-1"\n')
    cases = load_user_cases(t)
    assert [c.kind for c in cases] == ["user", "user"]
    assert cases[0].expected == 2 and cases[1].predicate == "result > 0" and cases[1].task_id == "x-1"
    j = tmp_path / "c.json"
    j.write_text(json.dumps([{"kwargs": {"a": 1}, "expect": [1, 2]}]))
    assert load_user_cases(j)[0].expected == [1, 2]
    assert EvalCase.from_dict(cases[0].to_dict()) == cases[0]
    for body, word in [('[[case]]\nexpect = 1\npredicate = "x"\n', "exactly one"),
                       ('[[case]]\npredicate = "result >"\n', "not a Python expression"),
                       ('[[case]]\nexpect = 1\nwhat = 2\n', "unknown key"), ("x = 1\n", "no cases")]:
        t.write_text(body)
        with pytest.raises(ValidationError, match=word):
            load_user_cases(t)
    with pytest.raises(ValidationError, match=".toml or .json"):
        (tmp_path / "c.txt").write_text("")
        load_user_cases(tmp_path / "c.txt")


PAGED = '''
def total_of(tag: str, limit: int) -> int:
    """Sum the amounts of items tagged `tag` that are below `limit`."""
    token = apis.shop.login(username="u", password="p")["access_token"]
    items = []
    page = 0
    while True:
        batch = apis.shop.show_items(access_token=token, page_index=page, page_limit=20)
        if not batch:
            break
        items.extend(batch)
        page += 1
    total = 0
    for item in items:
        if item["amount"] < limit:
            total += item["amount"]
    return total
'''


def test_fault_variants_are_real_rewrites():
    kinds = {f.kind for f in applicable_faults(PAGED)}
    assert {"first_page", "off_by_one", "wrong_comparison", "missing_filter"} <= kinds
    first = apply_fault(PAGED, "first_page")
    loop = next(n for n in ast.walk(ast.parse(first)) if isinstance(n, ast.While))
    assert isinstance(loop.body[-1], ast.Break)
    assert "page = 1" in apply_fault(PAGED, "off_by_one")
    assert "item['amount'] > limit" in apply_fault(PAGED, "wrong_comparison")
    assert "if item['amount'] < limit" not in apply_fault(PAGED, "missing_filter")
    assert set(FAULT_KINDS) >= kinds
    assert apply_fault("def f(x):\n    return x\n", "first_page") is None


def test_expert_fault_injection_is_seeded_and_recorded():
    from skillbank.llm.base import EpisodeInfo, Message
    from skillbank.llm.expert import ExpertPolicy
    from skillbank.worlds.apps import AppsWorld

    world = AppsWorld(0)
    tasks = world.tasks("train")

    def play(seed):
        policy = ExpertPolicy(world, fault_rate=1.0, fault_seed=seed)
        texts = []
        for t in tasks[:12]:
            policy.start_episode(EpisodeInfo(task=t, skill_names=()))
            texts.append([policy.generate([Message("user", "go")]).text for _ in range(2)])
        return policy, texts

    a, ta = play(3)
    b, tb = play(3)
    assert ta == tb and a.injected == b.injected and len(a.injected) >= 10
    assert all(f["fault"] in FAULT_KINDS and f["source"].strip() in "".join(sum(ta, [])) for f in a.injected)
    clean = ExpertPolicy(world)
    clean.start_episode(EpisodeInfo(task=tasks[0], skill_names=()))
    assert clean.injected == []
    with pytest.raises(ValidationError):
        ExpertPolicy(world, fault_rate=2.0)


def test_a_narrower_red_team_does_not_clear_an_earlier_finding(tmp_path):
    """The gate reads every red-team report of a version: a static-only scan after a full
    one (which found a medium fuzz crash) must not make the version look clean."""

    store, gov, v = _evaluated_and_observed(tmp_path)
    crash = {"kind": "fuzz_crash", "severity": "medium", "message": "raises TypeError on {'x': 0}", "line": None}
    store.record_event("redteamed", name="f", version_id=v.id, actor="governance", payload={"findings": [crash]})
    gov.redteam("f", run=False)  # static only: no findings of its own
    decision = gov.check("f", 1, record=False)
    assert not decision.passed and decision.checks["redteam_clean"] is False and "fuzz_crash" in "; ".join(decision.reasons)
    store.close()


def _evaluated_and_observed(tmp_path):
    """A library with one version, evaluated clean and observed on three tasks."""
    from skillbank.governance import Governance
    from skillbank.store import open_store

    store = open_store(tmp_path / "lib.db")
    gov = Governance(store)
    v, _ = store.put_version('def f(x: int) -> int:\n    """x plus one."""\n    return x + 1\n')
    store.record_event("evaluated", name="f", version_id=v.id, actor="governance",
                       payload={"cases": 4, "failed": 0, "regressions": [], "outcomes": []})
    for i in range(3):
        gov.observe(v, ok=True, task_success=True, task_id=f"t{i}")
    return store, gov, v
