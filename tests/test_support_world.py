"""The `support` world: its shape, the refund policy, the expert at TGC = SGC = 100% on
every split through the real sandbox (skills created on each scenario's first task and
used on the others), and the guards that catch a double refund, a refund to the wrong
customer, paying a fraud-held account and doing nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from skillbank.agent.config import RunConfig
from skillbank.agent.runner import run_split
from skillbank.agent.trace import load_run
from skillbank.bench._inprocess import InProcessApis
from skillbank.llm.expert import ExpertPolicy
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store
from skillbank.toolkit.loader import open_world as make_world
from skillbank.toolkit.support import make_world as make_support
from skillbank.toolkit.support.tools import refund_verdict

TODAY = dt.date(2026, 5, 18)


@pytest.fixture(scope="module")
def world():
    return make_support(0)


def failed(grade):
    return {t.name: t.message for t in grade.tests if not t.passed}


def test_shape_splits_and_flags(world):
    assert world.splits() == ("train", "dev", "test")
    scenarios = defaultdict(list)
    for t in world.tasks():
        scenarios[t.scenario_id].append(t)
    assert len(scenarios) >= 10 and all(len(ts) == 3 for ts in scenarios.values())
    per_split = {s: {t.scenario_id for t in world.tasks(s)} for s in world.splits()}
    assert all(per_split.values()) and not (per_split["train"] & per_split["test"])
    effects = world.side_effects()
    assert effects["payments.refund_payment"] == {"mutates": True, "destructive": True}
    assert effects["policy.check_refund_eligibility"] == {"mutates": False, "destructive": False}
    assert effects["desk.close_ticket"] == {"mutates": True, "destructive": False}
    assert make_world("support").name == "support"
    # deterministic per seed, different across seeds
    assert [t.instruction for t in make_support(0).tasks()] == [t.instruction for t in world.tasks()]
    assert [t.instruction for t in make_support(1).tasks()] != [t.instruction for t in world.tasks()]


def test_the_refund_policy():
    cust = {"fraud_hold": False, "tier": "standard"}
    order = {"id": "o", "status": "delivered", "delivered_on": (TODAY - dt.timedelta(days=20)).isoformat(),
             "total_cents": 10_000}
    assert refund_verdict(cust, order, 0, "damaged", TODAY)["refund_cents"] == 10_000
    assert refund_verdict(cust, order, 0, "changed_mind", TODAY)["refund_cents"] == 9_000  # restocking fee
    assert refund_verdict(cust, order, 2_500, "damaged", TODAY)["refund_cents"] == 7_500  # partial before
    assert refund_verdict(cust, order, 10_000, "damaged", TODAY)["code"] == "already_refunded"
    old = {**order, "delivered_on": (TODAY - dt.timedelta(days=45)).isoformat()}
    assert refund_verdict(cust, old, 0, "not_as_described", TODAY)["code"] == "window_closed"
    assert refund_verdict({**cust, "tier": "gold"}, old, 0, "not_as_described", TODAY)["eligible"]
    fraud = refund_verdict({**cust, "fraud_hold": True}, order, 0, "damaged", TODAY)
    assert not fraud["eligible"] and fraud["action"] == "escalate_fraud"
    assert refund_verdict(cust, {**order, "status": "processing"}, 0, "damaged", TODAY)["action"] == "cancel_order"


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=1)) as p:
        yield p


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_expert_scores_full_tgc_and_sgc_through_the_sandbox_reusing_skills(world, pool, split, tmp_path):
    store = open_store(tmp_path / "lib.db")
    config = RunConfig(split=split, runs_dir=str(tmp_path / "runs"))
    summary = run_split(world, ExpertPolicy(world), store, lambda h, t: pool.session(h, task_id=t),
                        make_retriever("same-scenario"), config)
    store.close()
    assert summary.tasks == len(world.tasks(split)) and summary.tgc == 1.0 and summary.sgc == 1.0
    episodes = load_run(tmp_path / "runs", summary.run_id)[1]
    by_scenario = defaultdict(dict)
    for e in episodes:
        by_scenario[e["scenario_id"]][e["index_in_scenario"]] = e
    for sid, eps in by_scenario.items():
        kinds = {i: [op["kind"] for t in e["turns"] for op in t["operations"]] for i, e in eps.items()}
        assert "create" in kinds[0] and eps[0]["saved"], sid
        assert all("use" in kinds[i] and "create" not in kinds[i] for i in (1, 2)), (sid, kinds)


def solve_in_process(world, task_id, code):
    env = world.start(task_id)
    sol = world.expert_solution(task_id)
    ns = {"apis": InProcessApis(env)}
    for src in sol.skill_sources:
        exec(src, ns)
    exec(code, ns)
    return env, env.evaluate()


def test_expert_solutions_pass_in_process_and_doing_nothing_earns_nothing(world):
    for task in world.tasks():
        env, grade = solve_in_process(world, task.id, world.expert_solution(task.id).call_block)
        assert grade.success, (task.id, failed(grade))
        _, idle = solve_in_process(world, task.id, "apis.supervisor.complete_task()")
        assert not idle.success, task.id


def _refund_task(world, index):
    tid = f"refund_order-{index}"
    env = world.start(tid)
    apis = InProcessApis(env)
    text = world.task(tid).instruction
    order_id = text.split("order ")[1].split(":")[0]
    order = apis.desk.show_order(order_id=order_id)
    return tid, order, apis


def test_the_guards_catch_a_double_refund(world):
    tid, order, apis = _refund_task(world, 1)  # damaged: a full refund is due
    half = order["total_cents"] // 2
    code = (f'apis.payments.refund_payment(payment_id="{order["payment_id"]}", amount_cents={half}, reason="damaged")\n'
            f'apis.payments.refund_payment(payment_id="{order["payment_id"]}", amount_cents={order["total_cents"] - half}, reason="damaged")\n'
            f'apis.supervisor.complete_task(answer={order["total_cents"] / 100})')
    _, grade = solve_in_process(world, tid, code)
    bad = failed(grade)
    assert not grade.success and "no double refund" in bad and order["payment_id"] in bad["no double refund"]
    # the same double refund on a partial-refund task (90%): the tool allows it, the guard does not
    tid2, order2, _ = _refund_task(world, 2)
    _, good = solve_in_process(world, tid2, world.expert_solution(tid2).call_block)
    assert good.success
    again = world.expert_solution(tid2).call_block.replace("apis.supervisor", "refund_order(order_id='{}', reason='damaged')\napis.supervisor".format(order2["id"]), 1)
    _, twice = solve_in_process(world, tid2, again)
    assert not twice.success and "no double refund" in failed(twice)


def test_the_guards_catch_a_refund_to_the_wrong_customer(world):
    tid, order, apis = _refund_task(world, 1)
    other_tid, other_order, _ = _refund_task(world, 3)
    assert other_order["customer_id"] != order["customer_id"]
    code = (f'apis.payments.refund_payment(payment_id="{other_order["payment_id"]}", amount_cents={order["total_cents"] // 10}, '
            f'reason="damaged")\napis.supervisor.complete_task(answer={order["total_cents"] / 100})')
    _, grade = solve_in_process(world, tid, code)
    bad = failed(grade)
    assert "no money to another customer" in bad and other_order["customer_id"] in bad["no money to another customer"]
    assert "no collateral damage" in bad and any(k.startswith("requested: a refund") for k in bad)


def test_paying_a_fraud_held_account_fails(world):
    tid = "fraud_hold_triage-1"
    ticket_id = world.task(tid).instruction.split("ticket ")[1].split(":")[0]
    code = f'''
ticket = apis.desk.show_ticket(ticket_id="{ticket_id}")
order = apis.desk.show_order(order_id=ticket["order_id"])
apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=order["total_cents"], reason="damaged")
apis.desk.escalate_ticket(ticket_id="{ticket_id}", team="fraud", note="fraud hold")
apis.supervisor.complete_task(answer="escalated")
'''
    _, grade = solve_in_process(world, tid, code)
    assert "no money to another customer" in failed(grade) and "no collateral damage" in failed(grade)


def test_tool_errors_are_clear_and_leave_no_trace(world):
    tid, order, apis = _refund_task(world, 1)
    env = apis._host
    with pytest.raises(Exception, match=r"payments.refund_payment: 999999 cents exceeds the \d+ cents left"):
        apis.payments.refund_payment(payment_id=order["payment_id"], amount_cents=999_999, reason="x")
    with pytest.raises(Exception, match=r"desk.show_order: order 'o_nope' not found"):
        apis.desk.show_order(order_id="o_nope")
    with pytest.raises(Exception, match=r"parameter 'reason' must be one of"):
        apis.policy.check_refund_eligibility(order_id=order["id"], reason="bored")
    assert env.state.diff() == []


def test_world_commands_take_the_support_world(capsys):
    import json

    from skillbank.cli import main

    assert main(["world", "apps", "--world", "support", "--json"]) == 0
    apps = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in apps["apps"]] == ["supervisor", "api_docs", "desk", "payments", "policy"]
    assert main(["world", "show", "fraud_hold_triage-2", "--world", "support", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["scenario_tasks"] == ["fraud_hold_triage-1", "fraud_hold_triage-2", "fraud_hold_triage-3"]
    assert main(["world", "solve", "resolve_refund_ticket-3", "--world", "support", "--json"]) == 0
    solved = json.loads(capsys.readouterr().out)
    assert solved["grade"]["success"] and [c["api"] for c in solved["blocks"][-1]["api_calls"]][-2:] == [
        "close_ticket", "complete_task"]
    assert main(["world", "tasks", "--world", "support", "--split", "test_normal"]) == 1
    assert "unknown split 'test_normal'" in capsys.readouterr().err


GENERIC_ANSWERS = (None, 0, 1, 2, True, "", [], {})


@pytest.mark.parametrize("seed", [0, 1, 1000])
def test_zero_work_passes_nothing_and_earns_no_task_credit_on_every_task(seed):
    world = make_support(seed)
    runs, problems = 0, []
    for split in world.splits():
        for task in world.tasks(split):
            for policy in ("no call", *GENERIC_ANSWERS, "give up"):
                env = world.start(task.id)
                if policy == "give up":
                    env.call("supervisor", "complete_task", status="fail")
                elif policy != "no call":
                    env.call("supervisor", "complete_task", answer=policy)
                grade = env.evaluate()
                runs += 1
                if grade.success or grade.fraction != 0.0 or grade.reward("fraction") != 0.0:
                    problems.append(f"{task.id} {policy!r}: success={grade.success} fraction={grade.fraction}")
    assert runs == len(world.tasks()) * 10 >= 360
    assert not problems, "\n".join(problems[:20])


def test_guards_are_guards_and_the_work_is_the_credit(world):
    from skillbank.worlds.base import ANSWER, GUARD, TASK

    tid = "refund_order-1"
    _, grade = solve_in_process(world, tid, world.expert_solution(tid).call_block)
    kinds = {t.name: t.kind for t in grade.tests}
    for name in ("task completed", "no collateral damage", "nothing sent that was not asked for",
                 "no money to another customer", "no double refund"):
        assert kinds.pop(name) == GUARD, name
    assert kinds.pop("answer") == ANSWER and set(kinds.values()) == {TASK} and len(kinds) == 2
    # the refund made but the wrong answer: half the task credit; no success
    tid, order, _ = _refund_task(world, 1)
    code = (f'apis.payments.refund_payment(payment_id="{order["payment_id"]}", amount_cents={order["total_cents"]}, '
            f'reason="damaged")\napis.supervisor.complete_task(answer=1)')
    _, half = solve_in_process(world, tid, code)
    assert not half.success and half.fraction == pytest.approx(2 / 3)


def test_a_refund_undone_by_deleting_its_record_still_fails_the_task(world):
    # a read-only task ("do not refund anything yet"): refund, then erase every trace from the state
    tid = "refund_quote-1"
    env = world.start(tid)
    apis = InProcessApis(env)
    order_id = world.task(tid).instruction.split("order ")[1].split(" ")[0]
    order = apis.desk.show_order(order_id=order_id)
    before = apis.payments.show_payment(payment_id=order["payment_id"])
    refund = apis.payments.refund_payment(payment_id=before["id"], amount_cents=500, reason="changed_mind")
    env.state.table("payments", "refunds").delete(refund["id"])
    env.state.table("payments", "payments").update(before["id"], refunded_cents=before["refunded_cents"],
                                                   status=before["status"])
    ns = {"apis": apis}
    exec(world.expert_solution(tid).skill_sources[0], ns)
    exec(world.expert_solution(tid).call_block, ns)
    assert env.state.diff() == []  # nothing left to see in the state...
    grade = env.evaluate()
    bad = failed(grade)
    assert list(bad) == ["nothing sent that was not asked for"]  # ...but the money left
    assert "payments.refund_payment" in bad["nothing sent that was not asked for"] and grade.fraction == 0.0
    # the same task done right: the ledger is empty and the task passes
    _, good = solve_in_process(world, tid, world.expert_solution(tid).call_block)
    assert good.success
    # a reply to the customer is in the ledger too (it cannot be unsent)
    assert world.api("desk", "reply_to_ticket").outbound is True
    assert world.api("payments", "issue_credit").outbound is True
    assert world.api("desk", "close_ticket").outbound is False
