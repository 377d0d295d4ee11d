"""The apps world's core: copy-on-write state, the diff, grading, the api_docs and
supervisor apps, API errors, determinism and the world registry.

Uses the `notes` app and its `notes_tag_mentioning` scenario (the core's own template),
so these tests do not depend on the other apps.
"""

from __future__ import annotations

import copy

import pytest
from _world_util import run_code, run_expert

from skillbank.errors import ValidationError
from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.apps.scenario import NO_ANSWER, TaskSpec, grade_changes, normalise_answer
from skillbank.worlds.engine.grading import Allow, Expect
from skillbank.worlds.engine.state import Change
from skillbank.worlds.base import ApiError
from skillbank.toolkit.loader import WORLD_NAMES
from skillbank.worlds.registry import make_world

TASK = "notes_tag_mentioning-1"
OTHER = "notes_tag_mentioning-2"

LOGIN = """
profile = apis.supervisor.show_profile()
pw = {a["account_name"]: a["password"] for a in apis.supervisor.show_account_passwords()}
token = apis.notes.login(username=profile["email"], password=pw["notes"])["access_token"]
"""


@pytest.fixture(scope="module")
def world():
    return AppsWorld(0)


def notes_of(world, task_id):
    pid = world.built(task_id).spec.supervisor
    return world.data.rows_of("notes", "notes", pid)


def login(world, task_id):
    env, ns = run_code(world, task_id, LOGIN)
    return env, ns["token"]


def names(grade):
    return {t.name: t for t in grade.tests}


# -- copy-on-write -------------------------------------------------------------------------

def test_a_tasks_changes_never_reach_another_task_or_the_base(world):
    base_table = world.base.tables[("notes", "notes")]
    snapshot = copy.deepcopy(base_table.rows)
    env, token = login(world, TASK)
    mine = notes_of(world, TASK)
    victim = mine[0]
    env.call("notes", "update_note", access_token=token, note_id=victim["id"], title="CHANGED")
    env.call("notes", "add_tag", access_token=token, note_id=mine[1]["id"], tag="leaky")
    env.call("notes", "delete_note", access_token=token, note_id=mine[2]["id"])
    new_id = env.call("notes", "create_note", access_token=token, title="fresh")["note_id"]
    assert env.call("notes", "show_note", access_token=token, note_id=victim["id"])["title"] == "CHANGED"

    assert base_table.rows == snapshot  # the base is untouched, records included
    for other_task in (TASK, OTHER):  # a new env of the same task, and of another task
        other = world.start(other_task)
        table = other.state.table("notes", "notes")
        assert table.get(victim["id"]) == snapshot[victim["id"]]
        assert table.get(mine[2]["id"]) is not None
        assert table.get(new_id) is None
        assert not other.state.diff()
    assert {c.kind for c in env.state.diff()} == {"update", "insert", "delete"}


def test_rows_returned_by_apis_are_copies(world):
    env, token = login(world, TASK)
    note = env.call("notes", "show_notes", access_token=token, page_limit=1)[0]
    note["title"] = "mutated by the caller"
    note["tags"].append("mutated")
    again = env.call("notes", "show_note", access_token=token, note_id=note["id"])
    assert again["title"] != "mutated by the caller" and "mutated" not in again["tags"]
    assert not env.state.diff()


def test_diff_ignores_no_op_writes(world):
    env = world.start(TASK)
    table = env.state.table("notes", "notes")
    row = notes_of(world, TASK)[0]
    table.update(row["id"], title=row["title"], tags=list(row["tags"]))  # same values
    table.insert("note_tmp", {"id": "note_tmp", "owner_id": row["owner_id"], "title": "t", "tags": []})
    table.delete("note_tmp")  # added and removed in one task: no trace
    assert env.state.diff() == []
    assert "note_tmp" not in [r["id"] for r in table.rows_of(row["owner_id"])]
    table.update(row["id"], title=row["title"] + "!")
    (change,) = env.state.diff()
    assert change.kind == "update" and change.changed_fields() == {"title"}


def test_an_update_that_restores_the_original_leaves_no_diff(world):
    env, token = login(world, TASK)
    note = notes_of(world, TASK)[0]
    env.call("notes", "pin_note", access_token=token, note_id=note["id"], pinned=not note["pinned"])
    assert len(env.state.diff()) == 1
    env.state.table("notes", "notes").update(note["id"], **note)
    assert env.state.diff() == []


# -- grading -------------------------------------------------------------------------------

def test_the_expert_passes_every_test(world):
    env, grade = run_expert(world, TASK)
    assert grade.success and grade.fraction == 1.0
    assert {"task completed", "no collateral damage", "answer"} <= set(names(grade))


def test_a_requested_change_that_is_missing_fails(world):
    spec = world.built(TASK).spec
    env, _ = run_code(world, TASK, f"apis.supervisor.complete_task(answer={spec.answer!r})")
    grade = env.evaluate()
    requested = [t for t in grade.tests if t.name.startswith("requested")]
    assert requested and not any(t.passed for t in requested)
    assert all("found 0" in t.message for t in requested)
    assert names(grade)["answer"].passed and names(grade)["no collateral damage"].passed
    assert not grade.success


def test_an_extra_change_is_collateral_damage(world):
    sol = world.expert_solution(TASK)
    code = LOGIN + "apis.notes.create_note(access_token=token, title='unasked for')\n" + sol.skill_sources[0] + sol.call_block
    env, _ = run_code(world, TASK, code)
    grade = env.evaluate()
    collateral = names(grade)["no collateral damage"]
    assert not collateral.passed and "1 unexpected change" in collateral.message and "insert notes.notes" in collateral.message
    assert not grade.success
    assert all(t.passed for t in grade.tests if t is not collateral)


def test_giving_up_or_never_completing_fails(world):
    env, _ = run_code(world, TASK, 'apis.supervisor.complete_task(status="fail")')
    done = names(env.evaluate())["task completed"]
    assert not done.passed and "fail" in done.message
    env = world.start(TASK)
    done = names(env.evaluate())["task completed"]
    assert not done.passed and "never called" in done.message


def test_a_wrong_answer_fails(world):
    sol = world.expert_solution(TASK)
    code = sol.skill_sources[0] + "\n" + sol.call_block.replace("complete_task(answer=answer)", "complete_task(answer=answer + 1)")
    env, _ = run_code(world, TASK, code)
    grade = env.evaluate()
    assert not names(grade)["answer"].passed and "got" in names(grade)["answer"].message
    assert names(grade)["no collateral damage"].passed


def change(kind, before=None, after=None, rid="r1", table="notes"):
    return Change("notes", table, rid, kind, before, after)


def grade_of(spec, changes, answer=None, status="success", completed=True):
    return {t.name: t.passed for t in grade_changes(spec, changes, completed=completed, status=status, answer=answer)}


@pytest.mark.parametrize(
    "want, got",
    [
        ("Hello World", "  hello   WORLD "),
        (3, "3"),
        (3, 3.0),
        ("12.50", 12.5),
        (1250, "1,250"),
        (["b", "A"], ["a", "B"]),
        ([1, 2, 3], ("3", 1, 2.0)),
        (["a"], "a"),
        (461.43, "$461.43"),
    ],
)
def test_answers_compare_after_normalisation(want, got):
    spec = TaskSpec("q", "p1", "f()", answer=want)
    assert grade_of(spec, [], answer=got)["answer"]


@pytest.mark.parametrize("want, got", [("Hello World", "Hello"), (3, 4), (12.5, 12.51), (["a", "b"], ["a"]), (["a"], "b"), (1, True)])
def test_different_answers_still_differ(want, got):
    spec = TaskSpec("q", "p1", "f()", answer=want)
    assert not grade_of(spec, [], answer=got)["answer"]


def test_answer_order_matters_only_when_asked():
    ordered = TaskSpec("q", "p1", "f()", answer=["x", "y"], answer_order_matters=True)
    assert grade_of(ordered, [], answer=["X", "y"])["answer"]
    assert not grade_of(ordered, [], answer=["y", "x"])["answer"]
    assert normalise_answer(" 007 ") == normalise_answer(7)
    assert normalise_answer(True) != normalise_answer(1) and normalise_answer(None) != normalise_answer(0)


def test_expect_counts_only_fields_and_allow():
    before = {"id": "r1", "title": "a", "tags": ["x"], "updated_at": "t0"}
    tagged = {**before, "tags": ["x", "y"], "updated_at": "t1"}
    exp = Expect("notes", "notes", "update", match={"id": "r1", "tags": ["y", "x"]}, only_fields=frozenset({"tags", "updated_at"}))
    spec = TaskSpec("q", "p1", "f()", expect=(exp,))
    assert all(grade_of(spec, [change("update", before, tagged)]).values())
    renamed = {**tagged, "title": "b"}  # touches a field the task did not ask about
    assert not any(v for k, v in grade_of(spec, [change("update", before, renamed)]).items()
                   if k not in ("task completed", "nothing sent that was not asked for"))

    two = TaskSpec("q", "p1", "f()", expect=(Expect("notes", "notes", "insert", count=2),))
    ins = [change("insert", None, {"id": f"n{i}"}, rid=f"n{i}") for i in range(3)]
    assert not grade_of(two, ins[:1])["requested: 2 insert in notes.notes"]
    assert grade_of(two, ins[:2])["requested: 2 insert in notes.notes"]
    assert not grade_of(two, ins)["requested: 2 insert in notes.notes"]  # one too many

    read = change("update", {"id": "m", "read": False}, {"id": "m", "read": True}, rid="m", table="mail")
    tolerant = TaskSpec("q", "p1", "f()", allow=(Allow("notes", "mail", "update"),))
    assert grade_of(tolerant, [read])["no collateral damage"]
    assert not grade_of(TaskSpec("q", "p1", "f()"), [read])["no collateral damage"]
    assert "answer" not in grade_of(TaskSpec("q", "p1", "f()", answer=NO_ANSWER), [])


# -- api_docs and supervisor ---------------------------------------------------------------

def test_api_docs_describe_every_app_and_api(world):
    env = world.start(TASK)
    apps = env.call("api_docs", "show_app_descriptions")
    assert [a["name"] for a in apps] == list(world.apps)
    assert all(a["description"] for a in apps)
    apis = env.call("api_docs", "show_api_descriptions", app_name="notes")
    assert [a["name"] for a in apis] == list(world.apps["notes"].apis)
    doc = env.call("api_docs", "show_api_doc", app_name="notes", api_name="show_notes")
    params = {p["name"]: p for p in doc["parameters"]}
    assert params["access_token"]["required"] and params["page_limit"]["constraints"] == {"minimum": 1, "maximum": 20}
    assert params["page_limit"]["default"] == 5 and doc["response"] and doc["errors"]
    with pytest.raises(ApiError, match="Did you mean 'notes'"):
        env.call("api_docs", "show_api_descriptions", app_name="note")
    with pytest.raises(ApiError, match="No API named 'show_tagz'.*Did you mean 'show_tags'"):
        env.call("api_docs", "show_api_doc", app_name="notes", api_name="show_tagz")


def test_supervisor_profile_passwords_and_completion(world):
    env = world.start(TASK)
    task = world.task(TASK)
    profile = env.call("supervisor", "show_profile")
    assert {k: profile[k] for k in ("first_name", "last_name", "email", "phone")} == task.supervisor
    passwords = {a["account_name"]: a["password"] for a in env.call("supervisor", "show_account_passwords")}
    assert "notes" in passwords and "supervisor" not in passwords
    token = env.call("notes", "login", username=profile["email"].upper(), password=passwords["notes"])["access_token"]
    assert env.call("notes", "show_account", access_token=token)["email"] == profile["email"]
    assert env.call("supervisor", "show_addresses")[0]["city"] == profile["city"]
    assert not env.completed
    assert env.call("supervisor", "complete_task", answer=3) == {"message": "Task marked as success."}
    assert env.completed and env.answer == 3 and env.status == "success"
    with pytest.raises(ApiError, match="already completed"):
        env.call("notes", "show_account", access_token=token)
    assert env.call("api_docs", "show_app_descriptions")  # docs stay readable


def test_another_supervisor_has_other_passwords(world):
    a = {x["account_name"]: x["password"] for x in world.start(TASK).call("supervisor", "show_account_passwords")}
    b_env = world.start(OTHER)
    assert world.built(TASK).spec.supervisor != world.built(OTHER).spec.supervisor
    b = {x["account_name"]: x["password"] for x in b_env.call("supervisor", "show_account_passwords")}
    assert a["notes"] != b["notes"]
    with pytest.raises(ApiError, match="invalid credentials"):
        b_env.call("notes", "login", username=b_env.call("supervisor", "show_profile")["email"], password=a["notes"])


# -- API errors ----------------------------------------------------------------------------

def test_unknown_app_and_api_get_a_suggestion(world):
    env = world.start(TASK)
    with pytest.raises(ApiError, match=r"No app named 'nots'\. Did you mean 'notes'\?"):
        env.call("nots", "show_notes")
    with pytest.raises(ApiError, match=r"No API named 'shownotes' in app 'notes'\. Did you mean 'show_notes'\?"):
        env.call("notes", "shownotes")


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"colour": "red"}, r"notes\.show_notes: unexpected parameter 'colour'"),
        ({"page_limit": "5"}, r"notes\.show_notes: parameter 'page_limit' must be of type integer, got str"),
        ({"page_limit": True}, r"parameter 'page_limit' must be of type integer, got bool"),
        ({"page_limit": 50}, r"parameter 'page_limit' must be <= 20, got 50"),
        ({"page_index": -1}, r"parameter 'page_index' must be >= 0"),
        ({"pinned": "yes"}, r"parameter 'pinned' must be of type boolean"),
    ],
)
def test_bad_parameters_name_the_field(world, kwargs, pattern):
    env, token = login(world, TASK)
    with pytest.raises(ApiError, match=pattern):
        env.call("notes", "show_notes", access_token=token, **kwargs)


def test_missing_and_mistyped_write_parameters(world):
    env, token = login(world, TASK)
    with pytest.raises(ApiError, match=r"notes\.add_tag: missing required parameter 'tag'"):
        env.call("notes", "add_tag", access_token=token, note_id=notes_of(world, TASK)[0]["id"])
    with pytest.raises(ApiError, match=r"notes\.create_note: parameter 'tags' must be a list\[string\]"):
        env.call("notes", "create_note", access_token=token, title="t", tags=["ok", 3])
    with pytest.raises(ApiError, match=r"parameter 'title' is required and cannot be null"):
        env.call("notes", "create_note", access_token=token, title=None)
    assert not env.state.diff()  # refused calls change nothing


def test_bad_tokens_are_unauthorised(world):
    env, token = login(world, TASK)
    with pytest.raises(ApiError, match=r"notes\.show_notes: missing required parameter 'access_token'"):
        env.call("notes", "show_notes")
    with pytest.raises(ApiError, match=r"notes\.show_notes: unauthorised"):
        env.call("notes", "show_notes", access_token="0" * 24)
    other_app = next(a for a, d in world.apps.items() if a != "notes" and "login" in d.apis
                     and any(s.auth for s in d.apis.values()))
    auth_api = next(s for s in world.apps[other_app].apis.values() if s.auth)
    with pytest.raises(ApiError, match=rf"{other_app}\.{auth_api.name}: unauthorised"):
        env.call(other_app, auth_api.name, access_token=token)  # a notes token is not a key to other apps
    fresh = world.start(TASK)
    with pytest.raises(ApiError, match="unauthorised"):
        fresh.call("notes", "show_notes", access_token=token)  # tokens do not outlive their task env


def test_other_peoples_records_are_not_found(world):
    env, token = login(world, TASK)
    mine = world.built(TASK).spec.supervisor
    theirs = next(r for r in world.data.rows("notes", "notes") if r["owner_id"] != mine)
    with pytest.raises(ApiError, match=rf"note '{theirs['id']}' not found"):
        env.call("notes", "show_note", access_token=token, note_id=theirs["id"])
    with pytest.raises(ApiError, match="not found"):
        env.call("notes", "delete_note", access_token=token, note_id=theirs["id"])


# -- determinism ---------------------------------------------------------------------------

def _data(w):
    return {k: t.rows for k, t in w.base.tables.items()}


def test_same_seed_same_world_other_seed_other_world(world):
    again = AppsWorld(0)
    assert again.tasks() == world.tasks()
    assert [world.expert_solution(t.id) for t in world.tasks()] == [again.expert_solution(t.id) for t in again.tasks()]
    assert _data(again) == _data(world)
    assert again.population.passwords == world.population.passwords
    other = AppsWorld(1)
    assert [p.to_dict() for p in other.population.people] != [p.to_dict() for p in world.population.people]
    assert _data(other) != _data(world)
    assert [t.instruction for t in other.tasks()] != [t.instruction for t in world.tasks()]
    # the same procedures: scenario ids do not depend on the seed
    assert {t.scenario_id for t in other.tasks()} == {t.scenario_id for t in world.tasks()}


def test_new_ids_and_tokens_are_deterministic_per_task(world):
    def run():
        env, token = login(world, TASK)
        return token, env.call("notes", "create_note", access_token=token, title="t")["note_id"]

    assert run() == run()


# -- registry ------------------------------------------------------------------------------

def test_make_world_by_name(world):
    assert WORLD_NAMES == ("apps", "appworld", "support")
    built = make_world("apps", seed=0)
    assert isinstance(built, AppsWorld) and built.tasks() == world.tasks()
    with pytest.raises(ValidationError, match="unknown world 'appsworld'; worlds: apps, appworld"):
        make_world("appsworld")
    with pytest.raises(ValidationError, match="unknown option.*'apps': colour; expected some of people"):
        make_world("apps", colour="red")
    with pytest.raises(ValidationError, match="seed must be an integer"):
        make_world("apps", seed="0")
