"""The personal apps (phone, mail, todo, calendar, files) and their scenarios."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from _world_util import InProcessApis, run_code, run_expert

from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.engine.api import MAX_PAGE_LIMIT
from skillbank.worlds.apps.scenario import NO_ANSWER
from skillbank.worlds.apps.scenarios import personal
from skillbank.worlds.base import ApiError

MY_APPS = ("phone", "mail", "todo", "calendar", "files")
SCENARIO_IDS = [s.id for s in personal.SCENARIOS]


# Built once: every test forks its own copy-on-write state from it, so sharing is safe.
WORLD = AppsWorld(0)
TASK_IDS = [t.id for t in WORLD.tasks() if t.scenario_id in SCENARIO_IDS]
MUTATING_TASK_IDS = [t for t in TASK_IDS if WORLD.built(t).spec.expect]
ANSWER_TASK_IDS = [t for t in TASK_IDS if WORLD.built(t).spec.answer is not NO_ANSWER]


@pytest.fixture(scope="module")
def world() -> AppsWorld:
    return WORLD


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


def _failed(grade) -> set[str]:
    return {t.name.split(":")[0] for t in grade.tests if not t.passed}


# -- scenarios: shape and rules --------------------------------------------------------


def test_task_id_lists_cover_every_task():
    assert len(TASK_IDS) >= 3 * len(SCENARIO_IDS)
    assert set(MUTATING_TASK_IDS) | set(ANSWER_TASK_IDS) == set(TASK_IDS)


def test_split_quotas_and_calendar_rule():
    counts: dict[str, int] = {}
    for sc in personal.SCENARIOS:
        counts[sc.split] = counts.get(sc.split, 0) + 1
        if "calendar" in sc.apps:
            assert sc.split in ("dev", "test_challenge"), sc.id
    assert counts == {"train": 9, "dev": 3, "test_normal": 4, "test_challenge": 2}
    challenge = [sc for sc in personal.SCENARIOS if sc.split == "test_challenge"]
    assert sum("calendar" in sc.apps for sc in challenge) >= 2
    train_apps = {a for sc in personal.SCENARIOS if sc.split == "train" for a in sc.apps}
    for sc in challenge:
        assert not set(sc.apps) & train_apps, sc.id


def test_multi_app_and_pagination_coverage():
    assert sum(len(sc.apps) >= 2 for sc in personal.SCENARIOS) >= 4
    assert sum("page_index=page" in sc.skill_source for sc in personal.SCENARIOS) >= 10
    for sc in personal.SCENARIOS:
        assert sc.skill_source.lstrip().startswith(f"def {sc.skill_name}("), sc.id
        assert '"""' in sc.skill_source and "show_account_passwords" in sc.skill_source, sc.id


def test_each_scenario_has_three_distinct_tasks(world):
    for sid in SCENARIO_IDS:
        tasks = [t for t in world.tasks() if t.scenario_id == sid]
        assert len(tasks) >= 3, sid
        specs = [world.built(t.id).spec for t in tasks]
        assert len({(s.supervisor, s.call) for s in specs}) == len(specs), sid


def test_scenarios_are_deterministic():
    a, b = AppsWorld(0), AppsWorld(0)
    assert [(t.id, t.instruction) for t in a.tasks()] == [(t.id, t.instruction) for t in b.tasks()]


# -- every task: expert passes, nothing fails, wrong solutions fail the right test ------


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_expert_passes(world, task_id):
    env, grade = _quiet(run_expert, world, task_id)
    assert grade.success, [t for t in grade.tests if not t.passed]


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_doing_nothing_fails(world, task_id):
    env = world.start(task_id)
    assert not env.evaluate().success
    # completing without doing the work fails the requested changes (or the answer)
    env.call("supervisor", "complete_task", answer=None)
    grade = env.evaluate()
    assert not grade.success
    assert _failed(grade) & {"requested", "answer"}


def _expert_ns(world, env, task_id) -> dict[str, Any]:
    sol = world.expert_solution(task_id)
    ns: dict[str, Any] = {"apis": InProcessApis(env)}
    for src in sol.skill_sources:
        exec(compile(src, "<skill>", "exec"), ns)
    return ns


def _call_expr(world, task_id) -> str:
    return world.built(task_id).spec.call


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_one_extra_change_is_collateral_damage(world, task_id):
    env = world.start(task_id)
    ns = _expert_ns(world, env, task_id)
    extra = (
        "p = apis.supervisor.show_profile()\n"
        "pw = {a['account_name']: a['password'] for a in apis.supervisor.show_account_passwords()}\n"
        "t = apis.notes.login(username=p['email'], password=pw['notes'])['access_token']\n"
        "apis.notes.create_note(access_token=t, title='Scratch pad', content='unrelated')\n"
    )
    _quiet(exec, extra + f"answer = {_call_expr(world, task_id)}\napis.supervisor.complete_task(answer=answer)", ns)
    grade = env.evaluate()
    assert not grade.success
    assert _failed(grade) == {"no collateral damage"}


class _SkipLastWrite:
    """A host that silently drops the `skip_at`-th write of the task (found by a dry run)."""

    def __init__(self, env: Any, skip_at: int):
        self._env, self._skip_at, self._writes = env, skip_at, 0

    def call(self, app: str, api: str, **kw: Any) -> Any:
        if self._env.world.api(app, api).mutates and app != "supervisor":
            self._writes += 1
            if self._writes == self._skip_at:
                return {"message": "skipped", "email_id": "x", "message_id": "x", "path": kw.get("path", "x")}
        return self._env.call(app, api, **kw)


@pytest.mark.parametrize("task_id", MUTATING_TASK_IDS)
def test_missing_one_change_fails_requested(world, task_id):
    spec = world.built(task_id).spec
    counter = _SkipLastWrite(world.start(task_id), skip_at=-1)
    ns: dict[str, Any] = {"apis": InProcessApis(counter)}
    for src in world.expert_solution(task_id).skill_sources:
        exec(compile(src, "<skill>", "exec"), ns)
    _quiet(exec, f"answer = {spec.call}", ns)
    writes = counter._writes
    assert writes >= 1
    env = world.start(task_id)
    ns = {"apis": InProcessApis(_SkipLastWrite(env, skip_at=writes))}
    for src in world.expert_solution(task_id).skill_sources:
        exec(compile(src, "<skill>", "exec"), ns)
    _quiet(exec, f"answer = {spec.call}\napis.supervisor.complete_task(answer=answer)", ns)
    grade = env.evaluate()
    assert not grade.success
    assert "requested" in _failed(grade)
    assert "no collateral damage" not in _failed(grade)


def _wrong(answer: Any) -> Any:
    if isinstance(answer, bool):
        return not answer
    if isinstance(answer, int):
        return answer + 1
    if isinstance(answer, list):
        return answer[:-1] if answer else ["nothing"]
    return f"{answer} (not)"


@pytest.mark.parametrize("task_id", ANSWER_TASK_IDS)
def test_wrong_answer_fails_answer_test(world, task_id):
    spec = world.built(task_id).spec
    env = world.start(task_id)
    ns = _expert_ns(world, env, task_id)
    _quiet(exec, f"answer = {spec.call}", ns)
    env.call("supervisor", "complete_task", answer=_wrong(ns["answer"]))
    grade = env.evaluate()
    assert _failed(grade) == {"answer"}


def test_a_wrong_phone_message_text_fails(world):
    task_id = next(t for t in TASK_IDS if t.startswith("phone_text_relationship"))
    spec = world.built(task_id).spec
    call = spec.call.replace("message=", "message='Hello! ' + ")
    env = world.start(task_id)
    ns = _expert_ns(world, env, task_id)
    _quiet(exec, f"answer = {call}\napis.supervisor.complete_task(answer=answer)", ns)
    grade = env.evaluate()
    assert {"requested", "no collateral damage"} <= _failed(grade)
    assert "answer" not in _failed(grade)


# -- APIs: docs, auth, validation, not found, pagination --------------------------------


def _login(world, env, app: str, pid: str = "p000") -> str:
    person = world.people_by_id[pid]
    user = person["phone"] if world.apps[app].username_field == "phone" else person["email"]
    return env.call(app, "login", username=user, password=world.population.passwords[(app, pid)])["access_token"]


def _dummy(p) -> Any:
    if p.choices:
        return p.choices[0]
    return {"string": "x", "integer": int(p.minimum or 1), "number": 1, "boolean": True, "list[string]": ["a@example.com"],
            "list[integer]": [1], "object": {}, "any": "x"}[p.type]


def _apis(world, app: str):
    return [s for s in world.apps[app].apis.values() if s.name != "login"]


@pytest.fixture()
def env(world):
    return world.start(TASK_IDS[0])


@pytest.mark.parametrize("app", MY_APPS)
def test_app_has_documented_apis(world, app):
    a = world.apps[app]
    assert len(a.apis) >= 15 and "login" in a.apis
    assert a.description and "being written" not in a.description
    for spec in a.apis.values():
        doc = spec.doc()
        assert doc["description"] and doc["response"] is not None, spec.name
        assert all(p["description"] for p in doc["parameters"]), spec.name
        assert doc["errors"], spec.name


@pytest.mark.parametrize("app", MY_APPS)
def test_every_api_rejects_a_bad_token(world, env, app):
    for spec in _apis(world, app):
        kwargs = {p.name: _dummy(p) for p in spec.params if p.required and p.name != "access_token"}
        with pytest.raises(ApiError, match="unauthorised"):
            env.call(app, spec.name, access_token="not-a-token", **kwargs)
    # a token of another app is refused too
    other = _login(world, env, "notes")
    with pytest.raises(ApiError, match="unauthorised"):
        env.call(app, "show_account", access_token=other)


@pytest.mark.parametrize("app", MY_APPS)
def test_every_api_names_a_missing_required_parameter(world, env, app):
    token = _login(world, env, app)
    checked = 0
    for spec in [*_apis(world, app), world.apps[app].apis["login"]]:
        required = [p for p in spec.params if p.required and p.name != "access_token"]
        for missing in required:
            kwargs = {p.name: _dummy(p) for p in required if p is not missing}
            if spec.auth:
                kwargs["access_token"] = token
            with pytest.raises(ApiError, match=f"missing required parameter '{missing.name}'"):
                env.call(app, spec.name, **kwargs)
            checked += 1
    assert checked >= 8


_ID_PARAMS = ("path", "source_path", "under")


@pytest.mark.parametrize("app", MY_APPS)
def test_unknown_ids_are_not_found(world, env, app):
    token = _login(world, env, app)
    checked = 0
    for spec in _apis(world, app):
        keys = [p for p in spec.params if p.name.endswith("_id") or p.name in _ID_PARAMS]
        for key in keys:
            kwargs = {p.name: _dummy(p) for p in spec.params if p.required and p.name != "access_token"}
            kwargs[key.name] = "/no/such/thing.txt" if key.name in _ID_PARAMS else "nope_0000000000"
            with pytest.raises(ApiError, match="not found"):
                env.call(app, spec.name, access_token=token, **kwargs)
            checked += 1
    assert checked >= 3


def test_records_of_another_user_look_not_found(world, env):
    theirs = world.data.rows_of("mail", "emails", "p001")[0]
    token = _login(world, env, "mail", "p000")
    with pytest.raises(ApiError, match="not found"):
        env.call("mail", "show_email", access_token=token, email_id=theirs["id"])


def _paginated_kwargs(world, app: str, api: str, pid: str) -> dict[str, Any]:
    if (app, api) == ("mail", "show_thread"):
        return {"thread_id": world.data.rows_of("mail", "emails", pid)[0]["thread_id"]}
    if (app, api) == ("calendar", "show_day"):
        return {"date": world.data.rows_of("calendar", "events", pid)[0]["start"][:10]}
    return {}


@pytest.mark.parametrize("app", MY_APPS)
def test_pagination_limits(world, env, app):
    pid = "p000"
    token = _login(world, env, app, pid)
    paginated = [s for s in world.apps[app].apis.values() if s.paginated]
    assert paginated
    full_pages = 0
    for spec in paginated:
        kwargs = {"access_token": token, **_paginated_kwargs(world, app, spec.name, pid)}
        first = env.call(app, spec.name, page_limit=3, **kwargs)
        assert len(first) <= 3
        full_pages += len(first) == 3
        second = env.call(app, spec.name, page_limit=3, page_index=1, **kwargs)
        assert len(second) <= 3
        if len(first) == 3 and second:
            assert second[0] != first[0]
        assert len(env.call(app, spec.name, page_limit=MAX_PAGE_LIMIT, **kwargs)) <= MAX_PAGE_LIMIT
        with pytest.raises(ApiError, match="page_limit"):
            env.call(app, spec.name, page_limit=MAX_PAGE_LIMIT + 1, **kwargs)
        assert env.call(app, spec.name, page_index=10_000, **kwargs) == []
    assert full_pages >= 1


# -- behaviour ----------------------------------------------------------------------------


def test_a_text_lands_on_both_phones(world, env):
    token = _login(world, env, "phone", "p000")
    friend = world.people_by_id[next(iter(world.population.people[0].relationships))]
    env.call("phone", "send_text_message", access_token=token, phone_number=friend["phone"], content="ping")
    theirs = _login(world, env, "phone", friend["id"])
    got = env.call("phone", "search_text_messages", access_token=theirs, query="ping", unread=True)
    assert [m["direction"] for m in got] == ["received"]
    assert got[0]["sender_phone"] == world.people_by_id["p000"]["phone"]
    with pytest.raises(ApiError, match="phone_number"):
        env.call("phone", "send_text_message", access_token=token, phone_number="call me", content="x")


def test_mail_send_reply_forward_and_folders(world, env):
    other = world.people_by_id["p001"]
    token = _login(world, env, "mail", "p000")
    sent = env.call("mail", "send_email", access_token=token, recipients=[other["email"]], subject="Plans", body="Saturday?",
                    attachment_names=["map.pdf"])
    theirs = _login(world, env, "mail", "p001")
    inbox = env.call("mail", "show_emails", access_token=theirs, folder="inbox", subject="Plans")
    assert len(inbox) == 1 and not inbox[0]["read"] and inbox[0]["attachments"][0]["file_name"] == "map.pdf"
    env.call("mail", "reply_to_email", access_token=theirs, email_id=inbox[0]["id"], body="Yes!")
    replies = env.call("mail", "show_emails", access_token=token, folder="inbox", subject="Re: Plans")
    assert replies and replies[0]["thread_id"] == sent["thread_id"]
    env.call("mail", "move_email", access_token=token, email_id=replies[0]["id"], folder="trash")
    assert env.call("mail", "show_emails", access_token=token, folder="trash", subject="Re: Plans")
    with pytest.raises(ApiError, match="folder"):
        env.call("mail", "move_email", access_token=theirs, email_id=inbox[0]["id"], folder="sent")


def test_todo_overdue_filter_and_completion(world, env):
    token = _login(world, env, "todo", "p000")
    overdue = env.call("todo", "show_tasks", access_token=token, overdue=True, page_limit=20)
    today = "2026-05-18"
    assert all(not t["completed"] and t["due_date"] < today for t in overdue)
    expected = [t for t in world.data.rows_of("todo", "tasks", "p000") if not t["completed"] and t["due_date"] and t["due_date"] < today]
    assert len(overdue) == min(20, len(expected))
    if overdue:
        env.call("todo", "mark_task_completed", access_token=token, task_id=overdue[0]["id"])
        assert env.call("todo", "show_task", access_token=token, task_id=overdue[0]["id"])["completed"]
    with pytest.raises(ApiError, match="due_before"):
        env.call("todo", "show_tasks", access_token=token, due_before="next week")


def test_calendar_only_the_organizer_may_reschedule(world, env):
    token = _login(world, env, "calendar", "p000")
    rows = world.data.rows_of("calendar", "events", "p000")
    invite = next(r for r in rows if r["my_rsvp"] != "organizer")
    with pytest.raises(ApiError, match="only the organizer"):
        env.call("calendar", "reschedule_event", access_token=token, event_id=invite["id"],
                 start="2026-06-01T10:00:00", end="2026-06-01T11:00:00")
    own = next(r for r in rows if r["my_rsvp"] == "organizer" and r["status"] == "confirmed")
    with pytest.raises(ApiError, match="'end' must be after"):
        env.call("calendar", "reschedule_event", access_token=token, event_id=own["id"],
                 start="2026-06-01T10:00:00", end="2026-06-01T09:00:00")
    moved = env.call("calendar", "reschedule_event", access_token=token, event_id=own["id"],
                     start="2026-06-01T10:00:00", end="2026-06-01T11:00:00")
    assert moved["start"] == "2026-06-01T10:00:00+00:00"
    day = env.call("calendar", "show_day", access_token=token, date="2026-06-01", page_limit=20)
    assert own["id"] in [e["id"] for e in day]


def test_files_write_copy_move_and_sizes(world, env):
    token = _login(world, env, "files", "p000")
    env.call("files", "create_directory", access_token=token, path="/scratch")
    out = env.call("files", "write_file", access_token=token, path="/scratch/a.txt", content="héllo")
    assert out["size_bytes"] == len("héllo".encode())
    with pytest.raises(ApiError, match="already exists"):
        env.call("files", "write_file", access_token=token, path="/scratch/a.txt", content="x")
    env.call("files", "copy_file", access_token=token, source_path="/scratch/a.txt", destination_path="/scratch/b.txt")
    env.call("files", "move_file", access_token=token, source_path="/scratch/b.txt", destination_path="/c.md")
    assert env.call("files", "read_file", access_token=token, path="/c.md")["extension"] == "md"
    names = [e["name"] for e in env.call("files", "list_directory", access_token=token, path="/scratch", page_limit=20)]
    assert names == ["a.txt"]
    with pytest.raises(ApiError, match="not empty"):
        env.call("files", "delete_directory", access_token=token, path="/scratch")
    with pytest.raises(ApiError, match="'..'"):
        env.call("files", "read_file", access_token=token, path="/scratch/../c.md")


def test_api_calls_are_fast(world, env):
    import time

    token = _login(world, env, "mail", "p000")
    t0 = time.perf_counter()
    for _ in range(200):
        env.call("mail", "show_emails", access_token=token, folder="inbox", page_limit=20)
    assert (time.perf_counter() - t0) / 200 < 0.002


def test_run_code_helper_reaches_my_apps(world):
    env, ns = run_code(world, TASK_IDS[0], "n = len(apis.api_docs.show_api_descriptions(app_name='files'))")
    assert ns["n"] == len(world.apps["files"].apis)
