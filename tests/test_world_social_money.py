"""The money apps (wallet, splitbill) and their scenarios: experts pass, wrong work fails,
every API guards its inputs, pagination is bounded and money stays exact."""

from __future__ import annotations

import contextlib
import io

import pytest
from _world_util import run_code, run_expert

from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.apps.apps import splitbill as splitbill_app
from skillbank.worlds.apps.apps import wallet as wallet_app
from skillbank.worlds.apps.scenario import NO_ANSWER
from skillbank.worlds.apps.scenarios.social_money import SCENARIOS
from skillbank.worlds.base import ApiError


@pytest.fixture(scope="module")
def world() -> AppsWorld:
    return AppsWorld(0)


_WORLD = AppsWorld(0)
TASK_IDS = [t.id for t in _WORLD.tasks() if t.scenario_id in {s.id for s in SCENARIOS}]


def _spec(world, task_id):
    return world.built(task_id).spec


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _failed(grade) -> set[str]:
    return {t.name for t in grade.tests if not t.passed}


def _skill_code(world, task_id: str) -> str:
    sol = world.expert_solution(task_id)
    return "\n".join(sol.skill_sources)


def _login_code(app: str) -> str:
    return (
        "profile = apis.supervisor.show_profile()\n"
        "pw = {a['account_name']: a['password'] for a in apis.supervisor.show_account_passwords()}\n"
        f"tok = apis.{app}.login(username=profile['email'], password=pw['{app}'])['access_token']\n"
    )


# ---------------------------------------------------------------------------------------
# scenario shape


def test_scenario_quotas_and_mix():
    by_split: dict[tuple[str, str], int] = {}
    for sc in SCENARIOS:
        kind = "splitbill" if "splitbill" in sc.apps else "wallet"
        by_split[(kind, sc.split)] = by_split.get((kind, sc.split), 0) + 1
    assert by_split == {("wallet", "train"): 6, ("wallet", "dev"): 2, ("wallet", "test_normal"): 3,
                        ("splitbill", "test_challenge"): 4, ("splitbill", "dev"): 1}
    assert sum(len(sc.apps) >= 2 for sc in SCENARIOS) >= 5
    assert sum("while True" in sc.skill_source for sc in SCENARIOS) >= 8
    train_apps = {a for sc in _WORLD.scenarios.values() if sc.split == "train" for a in sc.apps}
    for sc in SCENARIOS:
        if sc.split == "test_challenge":
            assert set(sc.apps) - train_apps, sc.id


def test_every_scenario_has_three_distinct_tasks(world):
    for sc in SCENARIOS:
        tasks = [t for t in world.tasks() if t.scenario_id == sc.id]
        assert len(tasks) >= 3
        assert len({t.instruction for t in tasks}) >= 2
        assert len({t.supervisor["email"] for t in tasks}) == len(tasks)
        assert "apis.supervisor.show_account_passwords()" in sc.skill_source


def test_tasks_are_deterministic():
    again = AppsWorld(0)
    for tid in TASK_IDS[::5]:
        assert again.task(tid) == _WORLD.task(tid)


# ---------------------------------------------------------------------------------------
# every task: the expert passes, nothing fails, extra or wrong work fails


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_expert_passes(world, task_id):
    env, grade = _quiet(run_expert, world, task_id)
    assert grade.success, [t for t in grade.tests if not t.passed]
    assert env.completed


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_doing_nothing_fails(world, task_id):
    env, _ = run_code(world, task_id, "apis.supervisor.complete_task()")
    grade = env.evaluate()
    assert not grade.success
    spec = _spec(world, task_id)
    if spec.expect:
        assert any(name.startswith("requested:") for name in _failed(grade))
    else:
        assert "answer" in _failed(grade)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_extra_change_is_collateral_damage(world, task_id):
    spec = _spec(world, task_id)
    code = _skill_code(world, task_id) + f"\nresult = {spec.call}\n" + _login_code("notes")
    code += "apis.notes.create_note(access_token=tok, title='stray')\n"
    code += "apis.supervisor.complete_task(answer=result)\n"
    env, _ = _quiet(run_code, world, task_id, code)
    assert _failed(env.evaluate()) == {"no collateral damage"}


@pytest.mark.parametrize("task_id", [t for t in TASK_IDS if _spec(_WORLD, t).answer is not NO_ANSWER])
def test_wrong_answer_fails(world, task_id):
    spec = _spec(world, task_id)
    code = _skill_code(world, task_id) + f"\nresult = {spec.call}\napis.supervisor.complete_task(answer=result + 1)\n"
    env, _ = _quiet(run_code, world, task_id, code)
    assert _failed(env.evaluate()) == {"answer"}


def _run_variant(world, task_id: str, old: str, new: str):
    """Run the expert skill with one line changed (a plausible mistake)."""
    src = _skill_code(world, task_id)
    assert old in src
    spec = _spec(world, task_id)
    code = src.replace(old, new) + f"\nresult = {spec.call}\n"
    code += "apis.supervisor.complete_task(answer=result)\n" if spec.answer is not NO_ANSWER else "apis.supervisor.complete_task()\n"
    env, _ = _quiet(run_code, world, task_id, code)
    return env.evaluate()


def test_refund_of_a_wrong_amount_fails(world):
    grade = _run_variant(world, "wallet_refund_event_payers-1", 'amount_cents=payment["amount_cents"]',
                         'amount_cents=payment["amount_cents"] - 1')
    assert not grade.success
    assert any("payment(s)" in n for n in _failed(grade)) and any("balance of" in n for n in _failed(grade))


def test_declining_a_friends_request_too_fails(world):
    grade = _run_variant(world, "wallet_decline_non_friend_requests-1",
                         'if request["requester_email"] not in friends and', "if")
    assert "no collateral damage" in _failed(grade)


def test_rounding_the_share_up_fails(world):
    grade = _run_variant(world, "wallet_request_equal_share-1", "share = total_cents // (len(people) + 1)",
                         "share = -(-total_cents // (len(people) + 1))")
    assert not grade.success and any(n.startswith("requested:") for n in _failed(grade))


def test_remainder_cents_on_the_wrong_member_fails(world):
    grade = _run_variant(world, "splitbill_add_equal_expense-1", 'split_type="equal", split_with_emails=emails',
                         'split_type="exact", exact_shares={e: amount_cents // len(emails) + '
                         '(amount_cents % len(emails) if k == len(emails) - 1 else 0) for k, e in enumerate(emails)}')
    assert not grade.success and any(n.startswith("requested:") for n in _failed(grade))


def test_paying_without_recording_the_settlement_fails(world):
    grade = _run_variant(world, "splitbill_settle_group_via_wallet-1", "apis.splitbill.settle_up(", "dict(")
    assert any("settlements" in n for n in _failed(grade))


def test_deleting_the_first_copy_instead_fails(world):
    grade = _run_variant(world, "splitbill_delete_duplicate_expenses-1", 'expenses.sort(key=lambda e: e["created_at"])',
                         'expenses.sort(key=lambda e: e["created_at"], reverse=True)')
    assert not grade.success and any(n.startswith("requested:") for n in _failed(grade))


def test_note_lines_out_of_order_fail(world):
    grade = _run_variant(world, "wallet_largest_payments_note-1", "sent.sort(key=lambda t: t[\"amount_cents\"], reverse=True)",
                         "sent.sort(key=lambda t: t[\"amount_cents\"])")
    assert not grade.success


# ---------------------------------------------------------------------------------------
# every API: bad token, missing parameter, unknown id


_DUMMY = {"string": "x", "integer": 100, "number": 1, "boolean": True, "list[string]": ["x"], "list[integer]": [1],
          "object": {}, "any": "x"}
_APPS = {"wallet": wallet_app.APP, "splitbill": splitbill_app.APP}
_ALL_APIS = [(app, name) for app, a in _APPS.items() for name in a.apis]


def test_api_counts_and_docs():
    for app in _APPS.values():
        assert len(app.apis) >= 16
        for spec in app.apis.values():
            doc = spec.doc()
            assert doc["description"] and doc["response"] is not None, spec.name
            assert all(p["description"] for p in doc["parameters"]), spec.name


def _env(world, app: str):
    env = world.start(TASK_IDS[0])
    sup = env.supervisor_id
    email = world.people_by_id[sup]["email"]
    token = env.call(app, "login", username=email, password=world.population.passwords[(app, sup)])["access_token"]
    return env, token


@pytest.mark.parametrize("app,api", [x for x in _ALL_APIS if x[1] != "login"])
def test_bad_token_is_refused(world, app, api):
    env, _ = _env(world, app)
    spec = _APPS[app].apis[api]
    kwargs = {p.name: _DUMMY[p.type] for p in spec.params if p.required}
    kwargs["access_token"] = "not-a-token"
    with pytest.raises(ApiError, match="unauthorised"):
        env.call(app, api, **kwargs)


def test_token_of_another_app_is_refused(world):
    env, token = _env(world, "wallet")
    with pytest.raises(ApiError, match="unauthorised"):
        env.call("splitbill", "show_groups", access_token=token)


@pytest.mark.parametrize("app,api", _ALL_APIS)
def test_missing_required_parameter_is_named(world, app, api):
    env, token = _env(world, app)
    spec = _APPS[app].apis[api]
    required = [p for p in spec.params if p.required and p.name != "access_token"]
    if spec.auth:
        with pytest.raises(ApiError, match=rf"{app}\.{api}: missing required parameter 'access_token'"):
            env.call(app, api, **{p.name: _DUMMY[p.type] for p in required})
    for missing in required:
        kwargs = {p.name: _DUMMY[p.type] for p in required if p is not missing}
        if spec.auth:
            kwargs["access_token"] = token
        with pytest.raises(ApiError, match=rf"{app}\.{api}: missing required parameter '{missing.name}'"):
            env.call(app, api, **kwargs)


_ID_PARAMS = ("transaction_id", "request_id", "payment_card_id", "group_id", "expense_id", "settlement_id")


def _real_ids(world, env, app: str, token: str) -> dict:
    """Real ids and emails of the supervisor's records, so a call reaches the check under test."""
    me = world.people_by_id[env.supervisor_id]["email"]
    if app == "wallet":
        t = env.call("wallet", "show_transactions", access_token=token, page_limit=1)[0]
        r = env.call("wallet", "show_payment_requests", access_token=token, status="pending", page_limit=1)
        card = env.call("wallet", "show_payment_cards", access_token=token)[0]
        friend = env.call("wallet", "show_friends", access_token=token, page_limit=1)[0]["email"]
        return {"transaction_id": t["id"], "request_id": r[0]["id"], "payment_card_id": card["id"], "email": friend}
    g = env.call("splitbill", "show_groups", access_token=token, page_limit=1)[0]
    e = env.call("splitbill", "show_expenses", access_token=token, group_id=g["id"], page_limit=1)
    return {"group_id": g["id"], "expense_id": e[0]["id"], "email": me}


def _targets(spec):
    return [p for p in spec.params if p.name in _ID_PARAMS or p.name.endswith("email")]


@pytest.mark.parametrize("app,api", [x for x in _ALL_APIS if _targets(_APPS[x[0]].apis[x[1]])])
def test_unknown_id_or_email_is_not_found(world, app, api):
    env, token = _env(world, app)
    real = _real_ids(world, env, app, token)
    spec = _APPS[app].apis[api]
    for target in _targets(spec):
        kwargs = {"access_token": token}
        for p in spec.params:
            if p.required and p.name != "access_token":
                kwargs[p.name] = real["email"] if p.name.endswith("email") else real.get(p.name, _DUMMY[p.type])
        unknown = "nobody@nowhere.example" if target.name.endswith("email") else f"{target.name}_unknown"
        kwargs[target.name] = unknown
        with pytest.raises(ApiError, match="not found") as err:
            env.call(app, api, **kwargs)
        assert unknown in str(err.value) and f"{app}.{api}" in str(err.value)


def test_other_peoples_records_are_not_found(world):
    env, token = _env(world, "wallet")
    me = env.supervisor_id
    foreign = next(t for t in world.data.rows("wallet", "transactions") if me not in (t["sender_id"], t["receiver_id"]))
    with pytest.raises(ApiError, match="not found"):
        env.call("wallet", "show_transaction", access_token=token, transaction_id=foreign["id"])
    env, token = _env(world, "splitbill")
    mine = {m["group_id"] for m in world.data.rows_of("splitbill", "memberships", me)}
    other = next(g for g in world.data.rows("splitbill", "groups") if g["id"] not in mine)
    with pytest.raises(ApiError, match="not found"):
        env.call("splitbill", "show_group", access_token=token, group_id=other["id"])


# ---------------------------------------------------------------------------------------
# pagination


def _paginated_calls(world, env, app: str, token: str) -> dict[str, dict]:
    ids = _real_ids(world, env, app, token)
    if app == "wallet":
        return {
            "show_transfers": {}, "show_transactions": {}, "show_payment_requests": {}, "show_friends": {},
            "search_users": {"query": "a"}, "show_transaction_comments": {"transaction_id": ids["transaction_id"]},
        }
    return {
        "show_groups": {}, "show_expenses": {"group_id": ids["group_id"]}, "show_settlements": {"group_id": ids["group_id"]},
        "show_expense_comments": {"expense_id": ids["expense_id"]},
    }


@pytest.mark.parametrize("app", ["wallet", "splitbill"])
def test_pagination_is_bounded(world, app):
    env, token = _env(world, app)
    calls = _paginated_calls(world, env, app, token)
    assert set(calls) == {n for n, s in _APPS[app].apis.items() if s.paginated}
    for api, kwargs in calls.items():
        rows = env.call(app, api, access_token=token, page_limit=20, **kwargs)
        assert len(rows) <= 20
        assert len(env.call(app, api, access_token=token, page_limit=2, **kwargs)) <= 2
        assert len(env.call(app, api, access_token=token, **kwargs)) <= 5
        with pytest.raises(ApiError, match="page_limit"):
            env.call(app, api, access_token=token, page_limit=21, **kwargs)


def test_pages_partition_the_results(world):
    env, token = _env(world, "wallet")
    everything, page = [], 0
    while batch := env.call("wallet", "show_transactions", access_token=token, page_index=page, page_limit=7):
        everything += batch
        page += 1
    ids = [t["id"] for t in everything]
    assert len(ids) == len(set(ids)) == len(world.data.rows_of("wallet", "txn_index", env.supervisor_id)) > 7
    times = [t["created_at"] for t in everything]
    assert times == sorted(times, reverse=True)
    by_amount = env.call("wallet", "show_transactions", access_token=token, sort_by="amount_cents", page_limit=20)
    assert [t["amount_cents"] for t in by_amount] == sorted(t["amount_cents"] for t in by_amount)


# ---------------------------------------------------------------------------------------
# money stays exact


def test_equal_split_remainder_is_deterministic():
    assert splitbill_app.equal_shares(10001, ["a", "b", "c"]) == {"a": 3334, "b": 3334, "c": 3333}
    assert splitbill_app.equal_shares(10, ["a", "b", "c", "d"]) == {"a": 3, "b": 3, "c": 2, "d": 2}
    for amount in (1, 7, 99, 12345):
        assert sum(splitbill_app.equal_shares(amount, list("abcdefg")).values()) == amount


def test_payments_move_exact_cents(world):
    env, token = _env(world, "wallet")
    before = env.call("wallet", "show_account", access_token=token)["balance_cents"]
    friend = env.call("wallet", "show_friends", access_token=token, page_limit=1)[0]
    other = world.people_by_email[friend["email"]]["id"]
    their_before = world.data.rows_of("wallet", "accounts", other)[0]["balance_cents"]
    out = env.call("wallet", "send_money", access_token=token, receiver_email=friend["email"], amount_cents=1234, note="x")
    assert out["balance_cents"] == before - 1234
    assert env.state.table("wallet", "accounts").rows_of(other)[0]["balance_cents"] == their_before + 1234
    with pytest.raises(ApiError, match="amount_cents' must be of type integer"):
        env.call("wallet", "send_money", access_token=token, receiver_email=friend["email"], amount_cents=12.5, note="x")
    with pytest.raises(ApiError, match="insufficient balance"):
        env.call("wallet", "send_money", access_token=token, receiver_email=friend["email"], amount_cents=before, note="x")
    card = env.call("wallet", "show_payment_cards", access_token=token)[0]["id"]
    env.call("wallet", "send_money", access_token=token, receiver_email=friend["email"], amount_cents=before, note="x",
             payment_card_id=card)
    assert env.call("wallet", "show_account", access_token=token)["balance_cents"] == before - 1234
    env.call("wallet", "top_up", access_token=token, payment_card_id=card, amount_cents=1)
    assert env.call("wallet", "withdraw", access_token=token, payment_card_id=card, amount_cents=2)["balance_cents"] == before - 1235


def test_request_lifecycle(world):
    env, token = _env(world, "wallet")
    friend = env.call("wallet", "show_friends", access_token=token, page_limit=1)[0]["email"]
    rid = env.call("wallet", "create_payment_request", access_token=token, payer_email=friend, amount_cents=500, note="tea")["request_id"]
    env.call("wallet", "remind_payment_request", access_token=token, request_id=rid)
    with pytest.raises(ApiError, match="only its payer"):
        env.call("wallet", "approve_payment_request", access_token=token, request_id=rid)
    env.call("wallet", "cancel_payment_request", access_token=token, request_id=rid)
    with pytest.raises(ApiError, match="already cancelled"):
        env.call("wallet", "cancel_payment_request", access_token=token, request_id=rid)
    shown = env.call("wallet", "show_payment_request", access_token=token, request_id=rid)
    assert (shown["status"], shown["reminder_count"], shown["direction"]) == ("cancelled", 1, "outgoing")


def _group_with(world, env, token, size: int):
    page = 0
    while groups := env.call("splitbill", "show_groups", access_token=token, page_index=page, page_limit=20):
        for g in groups:
            if len(g["members"]) >= size:
                return g
        page += 1
    return None


def test_expense_splits_and_balances_stay_exact(world):
    for person in world.population.people:
        env = world.start(TASK_IDS[0])
        token = env.call("splitbill", "login", username=person.email,
                         password=world.population.passwords[("splitbill", person.id)])["access_token"]
        group = _group_with(world, env, token, 3)
        if group:
            break
    emails = [m["email"] for m in group["members"]]
    out = env.call("splitbill", "add_expense", access_token=token, group_id=group["id"], description="Cake",
                   amount_cents=1001, split_with_emails=emails[:3])
    assert [s["share_cents"] for s in out["shares"]] == [334, 334, 333]
    updated = env.call("splitbill", "update_expense", access_token=token, expense_id=out["expense_id"], amount_cents=1000)
    assert [s["share_cents"] for s in updated["shares"]] == [334, 333, 333]
    with pytest.raises(ApiError, match="exact_shares' sums to 999"):
        env.call("splitbill", "add_expense", access_token=token, group_id=group["id"], description="x", amount_cents=1000,
                 split_type="exact", exact_shares={emails[0]: 500, emails[1]: 499})
    with pytest.raises(ApiError, match="not a member"):
        env.call("splitbill", "add_expense", access_token=token, group_id=group["id"], description="x", amount_cents=1000,
                 split_with_emails=[emails[0], next(p.email for p in world.population.people if p.email not in emails)])
    balances = env.call("splitbill", "show_balances", access_token=token, group_id=group["id"])
    assert sum(m["net_cents"] for m in balances["members"]) == 0
    mine = next(m["net_cents"] for m in balances["members"] if m["email"] == person.email)
    owe = sum(d["amount_cents"] for d in balances["you_owe"]) - sum(d["amount_cents"] for d in balances["owed_to_you"])
    assert owe == -mine
    if balances["you_owe"]:
        debt = balances["you_owe"][0]
        env.call("splitbill", "settle_up", access_token=token, group_id=group["id"], to_email=debt["email"],
                 amount_cents=debt["amount_cents"])
        after = env.call("splitbill", "show_balances", access_token=token, group_id=group["id"])
        assert debt["email"] not in {d["email"] for d in after["you_owe"]}
