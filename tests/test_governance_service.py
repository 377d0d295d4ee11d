"""Governance over a real library, the real sandbox and the apps world: evidence from a
governed run, a good update promoted only after its evidence, a regressing update
blocked, a worse canary rolled back, quarantine keeps a version out of retrieval, and
two processes moving aliases at once."""

from __future__ import annotations

import multiprocessing as mp
import warnings

import pytest

from skillbank.agent.config import AgentConfig, RunConfig
from skillbank.agent.library import RunLibrary
from skillbank.agent.runner import run_split
from skillbank.errors import ConflictError, ValidationError
from skillbank.governance import Governance, GovernedRun, Harness, WorldCache, load_policy, parse_policy
from skillbank.governance.service import CASE_RECORDED
from skillbank.llm.expert import ExpertPolicy
from skillbank.llm.faults import apply_fault
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import Provenance, VersionStatus, open_store
from skillbank.worlds.apps import AppsWorld

SCENARIO = "notes_tag_mentioning"
NAME = "tag_notes_mentioning"


@pytest.fixture(scope="module")
def world():
    return AppsWorld(seed=0)


@pytest.fixture(scope="module")
def pool():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, timeout_s=5)) as p:
            yield p


def governed_run(world, pool, store, tmp_path, *, policy=None, limit=3, expert=None):
    gov = Governance(store, policy=policy or load_policy(), harness=Harness(pool, _worlds(world)))
    governed = GovernedRun(gov, seed=0)
    config = RunConfig(split="train", limit=limit, runs_dir=str(tmp_path / "runs"), agent=AgentConfig(max_steps=6))
    sessions = lambda host, task_id: pool.session(host, task_id=task_id)  # noqa: E731
    summary = run_split(world, expert or ExpertPolicy(world), store, sessions, make_retriever("same-scenario"), config,
                        hooks=governed)
    return gov, governed, summary


def _worlds(world):
    cache = WorldCache(AppsWorld)
    cache.add(0, world)
    return cache


@pytest.fixture
def promoted_library(world, pool, tmp_path):
    """A library whose reference skill was promoted by a governed run of its scenario."""
    store = open_store(tmp_path / "lib.db")
    gov, governed, summary = governed_run(world, pool, store, tmp_path)
    yield store, gov, summary
    store.close()


def test_governed_run_collects_evidence_and_promotes_after_three_successes(promoted_library, world):
    store, gov, summary = promoted_library
    assert summary.tgc == 1.0
    g = summary.governance
    assert g["evaluated"] == 1 and g["redteamed"] == 1 and g["promoted"] == 1 and g["quarantined"] == 0
    v1 = gov.version(NAME, 1)
    assert v1.status is VersionStatus.PROMOTED
    promoted = store.events(name=NAME, type="promoted")
    assert len(promoted) == 1 and promoted[0].actor == "governance"
    ev = promoted[0].payload["evidence"]["evidence"]
    assert ev["successful_calls"] >= 3 and ev["distinct_tasks"] >= 2
    # one success was not enough: the gate was checked and blocked before the third task
    blocked = [e for e in store.events(name=NAME, type="gate_checked") if not e.payload["passed"]]
    assert blocked and "successful call" in blocked[0].reason
    cases = [e.payload["case"] for e in store.events(name=NAME, type=CASE_RECORDED)]
    kinds = {c["kind"] for c in cases}
    assert kinds == {"call", "task"}
    # the recorder wrapped the preloaded skill in tasks 2 and 3: live call cases
    assert {c["origin"]["source"] for c in cases if c["kind"] == "call"} >= {"live"}
    call = next(c for c in cases if c["kind"] == "call")
    assert call["expected_kind"] == "json" and isinstance(call["expected"], int) and call["kwargs"]["word"]


def _equivalent(source: str, suffix: str) -> str:
    """A behaviour-preserving rewrite (a renamed local), so the content hash changes."""
    return (source.replace("tagged = 0", f"count_{suffix} = 0").replace("tagged += 1", f"count_{suffix} += 1")
            .replace("return tagged", f"return count_{suffix}"))


def _update(store, gov, source):
    parent = gov.version(NAME, 1)
    v, created = store.put_version(source, provenance=Provenance(created_by="agent", parent_version_id=parent.id,
                                                                 task_id=f"{SCENARIO}-1", scenario_id=SCENARIO))
    assert created
    return v


def test_good_update_is_promoted_only_after_its_evidence(promoted_library, world):
    store, gov, _ = promoted_library
    v2 = _update(store, gov, _equivalent(gov.version(NAME, 1).source, "a"))
    report = gov.evaluate(NAME, 2)
    assert len(report.outcomes) >= 3
    assert report.suite_passed and not report.regressions
    assert {o.origin for o in report.outcomes} == {"predecessor"}
    _, quarantined = gov.redteam(NAME, 2)
    assert not quarantined
    decision, move = gov.consider(NAME, 2)
    assert not decision.passed and move is None and decision.checks["successful_calls"] is False
    for i, task in enumerate([f"{SCENARIO}-1", f"{SCENARIO}-2", f"{SCENARIO}-3"]):
        gov.observe(v2, ok=True, task_success=True, task_id=task, run_id="r")
    decision, move = gov.consider(NAME, 2)
    assert decision.passed and move is not None and move.action == "canaried"  # v1 is the incumbent
    assert gov.active_canary(NAME).id == v2.id
    assert store.events(name=NAME, type="canaried")[-1].payload["evidence"]["evidence"]["successful_calls"] == 3


def test_regressing_update_is_blocked(promoted_library, world):
    store, gov, _ = promoted_library
    buggy = apply_fault(gov.version(NAME, 1).source, "off_by_one")
    v2 = _update(store, gov, buggy)
    report = gov.evaluate(NAME, 2)
    assert not report.suite_passed and report.regressions
    for task in (f"{SCENARIO}-1", f"{SCENARIO}-2", f"{SCENARIO}-3"):
        gov.observe(v2, ok=True, task_success=True, task_id=task, run_id="r")
    gov.redteam(NAME, 2)
    decision, move = gov.consider(NAME, 2)
    assert move is None and decision.blocked_by_regression
    assert gov.version(NAME, 2).status is VersionStatus.CANDIDATE
    with pytest.raises(ValidationError, match="already the promoted"):
        gov.promote(NAME, 1)
    with pytest.raises(ValidationError, match="has not passed its gate.*regression"):
        gov.promote(NAME, 2, actor="alice")
    move = gov.promote(NAME, 2, actor="alice", reason="known and accepted", force=True)
    assert move.version == 2 and store.events(name=NAME, type="promoted")[-1].payload["forced"] is True


def test_worse_canary_is_rolled_back_within_bounded_calls(promoted_library):
    store, gov, _ = promoted_library
    v2 = _update(store, gov, _equivalent(gov.version(NAME, 1).source, "b"))
    gov.start_canary(NAME, 2, reason="test")
    v1 = gov.version(NAME, 1)
    calls = 0
    result = None
    for n in range(400):
        canary = gov.route(NAME, run_id="sim", task_id=f"t{n}")
        if canary.id == v2.id:
            calls += 1
            gov.observe(v2, ok=calls % 2 == 0, task_success=True, task_id=f"t{n}")  # fails half its calls
        else:
            gov.observe(v1, ok=n % 10 != 0, task_success=True, task_id=f"t{n}")  # fails 10%
        result = gov.decide_canary(NAME)
        if result is not None and result[1] is not None:
            break
    decision, move = result
    assert move is not None and move.action == "rolled_back" and decision.action == "rollback"
    assert calls <= 40
    assert gov.version(NAME, 2).status is VersionStatus.RETIRED
    assert gov.incumbent(NAME).id == v1.id and gov.active_canary(NAME) is None
    ev = store.events(name=NAME, type="rolled_back")[-1]
    assert ev.payload["evidence"]["canary"]["failures"] >= 1 and ev.actor == "governance"


def test_quarantined_version_is_never_retrieved(promoted_library, world):
    store, gov, _ = promoted_library
    task = world.task(f"{SCENARIO}-1")
    lib = RunLibrary(store, make_retriever("same-scenario"), run_id="other-run")
    assert [v.ref for v in lib.retrieve(task)] == [f"{NAME}@1"]
    gov.quarantine(NAME, 1, actor="alice", reason="test")
    assert lib.retrieve(task) == []
    governed = GovernedRun(gov, seed=0)
    chooser = governed.choose_versions
    lib2 = RunLibrary(store, make_retriever("same-scenario"), run_id="third", version_chooser=governed)
    assert lib2.retrieve(task) == []
    assert chooser("r", task, [gov.version(NAME, 1)]) == []
    with pytest.raises(ValidationError, match="quarantined"):
        gov.promote(NAME, 1)
    with pytest.raises(ValidationError, match="person"):
        gov.release(NAME, 1, actor="governance")
    gov.release(NAME, 1, actor="alice", reason="checked by hand")
    assert gov.version(NAME, 1).status is VersionStatus.CANDIDATE
    assert store.events(name=NAME, type="released")[-1].actor == "alice"


def test_approval_gate_needs_a_person(world, pool, tmp_path):
    store = open_store(tmp_path / "lib.db")
    try:
        policy = parse_policy("[gate]\nrequire_approval = true\n")
        gov, governed, summary = governed_run(world, pool, store, tmp_path, policy=policy)
        assert summary.governance["promoted"] == 0
        decision = gov.check(NAME, 1)
        assert decision.checks["approved"] is False and all(v for k, v in decision.checks.items() if k != "approved")
        with pytest.raises(ValidationError, match="person"):
            gov.approve(NAME, 1, actor="governance")
        gov.approve(NAME, 1, actor="bob")
        decision, move = gov.consider(NAME, 1)
        assert move is not None and move.action == "promoted"
    finally:
        store.close()


# -- two processes at once --------------------------------------------------------------


def _mover(path, which, generation, barrier, out):
    store = open_store(path)
    gov = Governance(store)
    barrier.wait(timeout=30)
    try:
        if which == "promote":
            gov.promote("f", 3, actor="p1", reason="race", expected_generation=generation, force=True)
        else:
            gov.rollback("f", to=1, actor="p2", reason="race", expected_generation=generation)
        out.put((which, "won"))
    except ConflictError as exc:
        out.put((which, "conflict: " + str(exc)))
    finally:
        store.close()


def test_two_processes_promoting_and_rolling_back_one_wins(tmp_path):
    path = tmp_path / "race.db"
    store = open_store(path)
    for i in range(3):
        store.put_version(f"def f(x):\n    return x + {i}\n")
    gov = Governance(store)
    gov.promote("f", 1, reason="setup", force=True)
    gov.promote("f", 2, reason="setup", force=True)
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        generation = store.get_alias("f", "promoted").generation
        barrier, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_mover, args=(str(path), w, generation, barrier, out)) for w in ("promote", "rollback")]
        for p in procs:
            p.start()
        results = dict(out.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        winners = [w for w, r in results.items() if r == "won"]
        losers = [r for r in results.values() if r.startswith("conflict")]
        assert len(winners) == 1 and len(losers) == 1, results
        assert "moved: expected generation" in losers[0]
        alias = store.get_alias("f", "promoted")
        assert alias.generation == generation + 1
        assert alias.version == (3 if winners[0] == "promote" else 1)
        statuses = {v.version: v.status for v in store.history("f")}
        assert [n for n, s in statuses.items() if s is VersionStatus.PROMOTED] == [alias.version]
        # reset for the next round: promote 2 again
        gov.promote("f", 2, reason="reset", force=True)
    store.close()


def test_run_chooser_serves_the_canary_for_its_share_of_calls(promoted_library, world):
    store, gov, _ = promoted_library
    v2 = _update(store, gov, _equivalent(gov.version(NAME, 1).source, "c"))
    gov.start_canary(NAME, 2)
    chooser = GovernedRun(gov, seed=0).choose_versions
    v1 = gov.version(NAME, 1)
    served = []
    for i in range(300):
        task = world.task(f"{SCENARIO}-{i % 3 + 1}")
        picked = chooser(f"run{i}", task, [v1])
        assert len(picked) == 1
        served.append(picked[0].id == v2.id)
        assert chooser(f"run{i}", task, [v1]) == picked  # deterministic per call id
    assert 0.03 < sum(served) / len(served) < 0.2
    # a canary that is rolled back is no longer served
    gov.rollback(NAME)
    assert all(chooser(f"run{i}", world.task(f"{SCENARIO}-1"), [v1])[0].id == v1.id for i in range(50))


def test_injected_faults_are_kept_out_where_trust_on_save_promotes_them(world, pool, tmp_path):
    from skillbank.skill import parse_skill

    reference = {sc.skill_name: parse_skill(sc.skill_source).content_hash for sc in world.scenarios.values()}
    promoted_faulty = {}
    for mode in ("trust", "on"):
        store = open_store(tmp_path / f"{mode}.db")
        try:
            gov = Governance(store, harness=Harness(pool, _worlds(world)))
            governed = GovernedRun(gov, seed=0, mode=mode)
            expert = ExpertPolicy(world, fault_rate=1.0, fault_seed=5)
            config = RunConfig(split="train", limit=9, runs_dir=str(tmp_path / f"runs-{mode}"),
                               agent=AgentConfig(max_steps=6))
            run_split(world, expert, store, lambda h, t: pool.session(h, task_id=t),
                      make_retriever("same-scenario"), config, hooks=governed)
            assert expert.injected
            promoted = [store.get_version_by_id(e.version_id) for e in store.events(type="promoted")]
            promoted_faulty[mode] = [v for v in promoted if reference[v.name] != v.content_hash]
            if mode == "on":
                for v in promoted:  # everything governance promoted passed every task it ran
                    failed = [e for e in store.events(name=v.name, type=CASE_RECORDED)
                              if e.version_id == v.id and e.payload["outcome"] is False]
                    assert not failed
                    assert not [f for f in gov.evidence(v).findings if f["severity"] in ("medium", "high", "critical")]
        finally:
            store.close()
    assert len(promoted_faulty["trust"]) >= 2
    assert len(promoted_faulty["on"]) < len(promoted_faulty["trust"])


def _ender(path, generation, barrier, out):
    store = open_store(path)
    gov = Governance(store)
    barrier.wait(timeout=30)
    try:
        gov.rollback("f", actor="p", reason="race", expected_generation=generation)
        out.put("won")
    except ConflictError as exc:
        out.put("conflict: " + str(exc))
    finally:
        store.close()


def test_two_processes_ending_one_canary_one_wins(tmp_path):
    path = tmp_path / "canary.db"
    store = open_store(path)
    for i in range(2):
        store.put_version(f"def f(x):\n    return x * {i + 2}\n")
    gov = Governance(store)
    gov.promote("f", 1, reason="setup", force=True)
    gov.start_canary("f", 2, reason="setup")
    generation = store.get_alias("f", "canary").generation
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_ender, args=(str(path), generation, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    # Spawned interpreters import the package: on a loaded 2-core machine that alone took
    # over a minute once, so the wait is generous (it bounds a hang, not the speed).
    results = sorted(out.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results[1] == "won" and results[0].startswith("conflict: ")
    assert len(store.events(name="f", type="rolled_back")) == 1
    assert gov.active_canary("f") is None and gov.version("f", 2).status is VersionStatus.RETIRED
    store.close()
