"""`skillbank.toolkit`: docs derived from plain functions equal a hand-written app's;
definition errors name the problem; a user's tool that raises reaches the agent as an
API error (through the real sandbox and a whole run) and leaves no partial write;
tasks graded by a checker; `package.module:make_world` through the registry and CLI."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Annotated, Any, Literal, TypedDict

import pytest

from skillbank.agent.config import AgentConfig, RunConfig
from skillbank.agent.runner import run_split
from skillbank.bench._inprocess import InProcessApis
from skillbank.cli import main
from skillbank.errors import ValidationError
from skillbank.llm.replay import ReplayPolicy
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store
from skillbank.toolkit import (
    App,
    Expect,
    Field,
    Grade,
    Scenario,
    TaskDef,
    TestResult as Result,
    ToolContext,
    ToolError,
    ToolkitWorld,
    check_state,
    parse_docstring,
)
from skillbank.toolkit.loader import open_world
from skillbank.worlds.base import ApiError
from skillbank.worlds.engine.api import AppDef, Param

# -- the same app, twice: by hand and from functions -----------------------------------------


def hand_written() -> AppDef:
    app = AppDef("shop", "A small shop.", login=False)

    @app.api(
        "cancel_order",
        "Cancel an order that has not shipped.",
        [
            Param("order_id", "string", "The order to cancel."),
            Param("reason", "string", "Why it is cancelled.", required=False, default="other",
                  choices=("other", "fraud", "customer")),
            Param("note", "string", "A note for the log.", required=False, nullable=True, max_length=200),
            Param("quantity", "integer", "How many units.", required=False, default=1, minimum=1, maximum=10),
            Param("tags", "list[string]", "Labels.", required=False, default=None, nullable=True),
            Param("refund", "boolean", "Refund the payment too.", required=False, default=False),
            Param("amount", "number", "An amount in dollars.", required=False, default=0.0),
            Param("meta", "object", "Anything else.", required=False, nullable=True),
        ],
        response={"id": "string", "status": "string", "units": "integer"},
        errors=("404 order not found", "409 the order has shipped"),
        auth=False,
        mutates=True,
    )
    def cancel_order(ctx, **kw):  # pragma: no cover - never called
        return {}

    return app


class Cancelled(TypedDict):
    id: str
    status: str
    units: int


def from_functions() -> App:
    app = App("shop", "A small shop.")

    @app.tool(mutates=True)
    def cancel_order(
        ctx: ToolContext,
        order_id: str,
        reason: Literal["other", "fraud", "customer"] = "other",
        note: Annotated[str | None, Field(max_length=200)] = None,
        quantity: Annotated[int, Field(ge=1, le=10)] = 1,
        tags: list[str] | None = None,
        refund: bool = False,
        amount: float = 0.0,
        meta: dict | None = None,
    ) -> Cancelled:
        """Cancel an order that has not shipped.

        Args:
            order_id: The order to cancel.
            reason: Why it is cancelled.
            note: A note for the log.
            quantity: How many
                units.
            tags: Labels.
            refund: Refund the payment too.
            amount: An amount in dollars.
            meta: Anything else.

        Raises:
            ToolError: 404 order not found.
            ToolError: 409 the order has shipped.
        """
        return {"id": order_id, "status": "cancelled", "units": quantity}

    return app


def test_toolkit_docs_equal_a_hand_written_apps_docs():
    hand = hand_written().apis["cancel_order"]
    tool = from_functions().apis["cancel_order"]
    assert tool.doc() == hand.doc()
    assert tool.params == hand.params  # the same Param records: same validation
    assert (tool.mutates, tool.destructive, tool.auth, tool.paginated) == (True, False, False, False)
    # and validation errors read the same
    for bad in ({"order_id": 3}, {"order_id": "o", "reason": "bored"}, {"order_id": "o", "quantity": 11},
                {"order_id": "o", "note": "x" * 201}, {}, {"order_id": "o", "colour": "red"}):
        with pytest.raises(ApiError) as a:
            hand.bind(bad)
        with pytest.raises(ApiError) as b:
            tool.bind(bad)
        assert str(a.value) == str(b.value)


def test_flags_reach_the_docs_and_destructive_implies_mutates():
    app = App("bank", "Money.")

    @app.tool(destructive=True)
    def wire(amount_cents: int) -> dict:
        """Wire money out.

        Args:
            amount_cents: How much.
        """
        return {}

    @app.tool
    def balance() -> int:
        """The balance."""
        return 1

    assert app.doc("wire")["destructive"] is True and app.doc("wire")["mutates"] is True
    assert app.doc("balance")["mutates"] is False and app.doc("balance")["response"] == "integer"
    assert app.tool_info("wire").destructive


def test_docstring_styles():
    google = parse_docstring("""Do a thing.

        Longer text.

        Args:
            a (int): First,
                continued.
            b: Second.

        Returns:
            The count.
        """)
    assert google.summary == "Do a thing. Longer text."
    assert google.params == {"a": "First, continued.", "b": "Second."} and google.returns == "The count."
    rest = parse_docstring("Do it.\n\n:param x: The x.\n:param int y: The y.\n:returns: nothing\n:raises KeyError: boom")
    assert rest.params == {"x": "The x.", "y": "The y."} and rest.returns == "nothing" and rest.summary == "Do it."


@pytest.mark.parametrize("source, problem", [
    ("def f(x):\n    '''Doc.'''", "parameter 'x' needs a type annotation"),
    ("def f(*xs: int):\n    '''Doc.'''", "*args and **kwargs"),
    ("def f(x: set):\n    '''Doc.'''", "parameter 'x' has an unsupported type"),
    ("def f(x: int):\n    pass", "needs a docstring"),
    ("def f(x: int):\n    '''Doc.\n\n    Args:\n        y: nope\n    '''", "lacks: y"),
    ("def f(x: int | str):\n    '''Doc.'''", "parameter 'x'"),
])
def test_definition_errors_name_the_problem(source, problem):
    ns: dict[str, Any] = {}
    exec(source, ns)
    app = App("demo", "Demo.")
    with pytest.raises(ValidationError) as exc:
        app.tool(ns["f"])
    assert problem in str(exc.value) and "demo.f" in str(exc.value)


# -- a little world with a buggy tool --------------------------------------------------------

def buggy_world() -> ToolkitWorld:
    notes = App("notes", "Notes with a buggy tool.")
    notes.table("notes")

    @notes.tool(mutates=True)
    def add_note(ctx: ToolContext, text: str) -> dict:
        """Add a note, then (a bug) divide by zero when the text says so.

        Args:
            text: The note.
        """
        rid = ctx.new_id("n")
        ctx.table("notes").insert(rid, {"id": rid, "text": text})
        if "boom" in text:
            return 1 / 0
        if "refuse" in text:
            raise ToolError("this note is refused.")
        return {"id": rid}

    @notes.tool
    def bad_value() -> dict:
        """Return something the sandbox cannot carry."""
        return {"when": object()}

    @notes.tool(paginated=True)
    def list_notes(ctx: ToolContext) -> list[dict]:
        """All notes."""
        return sorted(ctx.rows("notes"), key=lambda r: r["id"])

    def check(o):
        return o.grade(Result("one note", len(o.rows("notes", "notes")) == 1))

    return ToolkitWorld(
        "buggy", [notes], data={"notes.notes": [{"id": f"n_{i:02d}", "text": f"old {i}"} for i in range(7)]},
        scenarios=[Scenario("notes", "dev", (TaskDef("Add one note.", check_state(
            [Expect("notes", "notes", "insert", match={"text": "hello"})], answer=None),
            solution='apis.notes.add_note(text="hello")'),
            TaskDef("Broken checker.", lambda o: 1 / 0), TaskDef("Wrong checker.", lambda o: "yes")))],
    )


def test_a_raising_tool_is_an_api_error_in_process_and_rolls_back():
    world = buggy_world()
    env = world.start("notes-1")
    apis = InProcessApis(env)
    with pytest.raises(ApiError, match=r"notes.add_note failed: ZeroDivisionError: division by zero"):
        apis.notes.add_note(text="boom")
    assert env.state.diff() == [] and "ZeroDivisionError" in env.tool_failures[0][1]
    with pytest.raises(ToolError, match=r"^notes.add_note: this note is refused.$"):
        apis.notes.add_note(text="refuse")
    with pytest.raises(ApiError, match="returned a object, which is not JSON-like"):
        apis.notes.bad_value()
    assert env.state.diff() == []
    assert apis.notes.add_note(text="hello")["id"].startswith("n_n")
    page = apis.notes.list_notes(page_limit=5, page_index=1)
    assert [n["id"] for n in page][:2] == ["n_05", "n_06"]
    with pytest.raises(ApiError, match="No API named 'add_notes' in app 'notes'. Did you mean 'add_note'"):
        apis.notes.add_notes(text="x")


def test_a_raising_tool_reaches_sandboxed_agent_code_as_an_api_error_and_the_run_goes_on(tmp_path):
    world = buggy_world()
    code = ("try:\n    apis.notes.add_note(text='boom')\nexcept Exception as e:\n    print(type(e).__name__, '|', e)\n"
            "apis.notes.add_note(text='hello')\napis.supervisor.complete_task()")
    replies = [f"```python\napis.notes.add_note(text='boom')\n```", f"```python\n{code}\n```"]
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        env = world.start("notes-1")
        with pool.session(env, task_id=env.task.id) as s:
            r = s.run("apis.notes.add_note(text='boom')")
            assert not r.ok and r.error_type == "ApiError"
            assert "notes.add_note failed: ZeroDivisionError: division by zero" in r.error_message
            assert r.api_calls[0].ok is False
        # a whole run: the failing block is an observation, the task still completes and passes
        store = open_store(tmp_path / "lib.db")
        summary = run_split(world, ReplayPolicy(replies), store, lambda h, t: pool.session(h, task_id=t), None,
                            RunConfig(split="dev", limit=1, with_skills=False, runs_dir=str(tmp_path / "runs"),
                                      agent=AgentConfig(max_steps=3)))
        store.close()
    assert summary.tasks == 1 and summary.tgc == 1.0 and summary.mean_steps == 2
    episode = json.loads((tmp_path / "runs" / summary.run_id / "episodes.jsonl").read_text().splitlines()[0])
    assert "ZeroDivisionError: division by zero" in episode["turns"][0]["observation"]
    assert "ApiError | notes.add_note failed" in episode["turns"][1]["observation"]


def test_checkers_grade_by_state_and_a_broken_checker_fails_the_task_not_the_run():
    world = buggy_world()
    env = world.start("notes-1")
    assert not env.evaluate().success  # nothing done: zero
    InProcessApis(env).notes.add_note(text="hello")
    assert not env.evaluate().success  # not completed
    InProcessApis(env).supervisor.complete_task()
    g = env.evaluate()
    assert isinstance(g, Grade) and g.success and g.task_id == "notes-1"
    env2 = world.start("notes-1")
    InProcessApis(env2).notes.add_note(text="hello")
    InProcessApis(env2).notes.add_note(text="again")
    InProcessApis(env2).supervisor.complete_task()
    failed = {t.name: t for t in env2.evaluate().tests if not t.passed}
    assert list(failed) == ["no collateral damage"] and "insert notes.notes" in failed["no collateral damage"].message
    broken = world.start("notes-2").evaluate()
    assert not broken.success and "ZeroDivisionError" in broken.tests[0].message
    wrong = world.start("notes-3").evaluate()
    assert not wrong.success and "returned str, not a Grade" in wrong.tests[0].message
    # tasks never share state
    assert world.start("notes-1").state.diff() == []


def test_world_definition_errors():
    app = App("a", "A.")
    app.table("t")
    with pytest.raises(ValidationError, match="data for 'a.u', which no app declares"):
        ToolkitWorld("w", [app], data={"a.u": []})
    with pytest.raises(ValidationError, match="needs a string 'id'"):
        ToolkitWorld("w", [app], data={"a.t": [{"x": 1}]})
    with pytest.raises(ValidationError, match="reserved"):
        ToolkitWorld("w", [App("supervisor", "S.")])
    with pytest.raises(ValidationError, match="unknown split 'nope'"):
        ToolkitWorld("w", [app], scenarios=[Scenario("s", "nope", (TaskDef("x", lambda o: None),))], splits=("dev",))


# -- package.module:make_world ----------------------------------------------------------------

MODULE = textwrap.dedent('''
    from skillbank.toolkit import App, Expect, Scenario, TaskDef, ToolContext, ToolkitWorld, check_state

    counter = App("counter", "A counter you can bump.")
    counter.table("counts")

    @counter.tool(mutates=True)
    def bump(ctx: ToolContext, name: str, by: int = 1) -> int:
        """Add to a named count and return the new value.

        Args:
            name: Which count.
            by: How much to add.
        """
        row = ctx.get("counts", name)
        ctx.table("counts").update(name, value=row["value"] + by)
        return row["value"] + by

    SKILL = """
    def bump_twice(name: str) -> int:
        \\"\\"\\"Bump a count twice; returns its value.\\"\\"\\"
        apis.counter.bump(name=name)
        return apis.counter.bump(name=name)
    """

    def make_world(seed: int = 0):
        tasks = tuple(
            TaskDef(f"Bump {n} twice and tell me its value.",
                    check_state([Expect("counter", "counts", "update", match={"id": n, "value": 2 + seed})],
                                answer=2 + seed),
                    solution=f"bump_twice(name={n!r})")
            for n in ("a", "b", "c"))
        return ToolkitWorld("counter", [counter], data={"counter.counts": [{"id": n, "value": seed} for n in "abc"]},
                            scenarios=[Scenario("bump", "dev", tasks, skills=(SKILL,))], seed=seed)

    NOT_A_WORLD = 42
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_counter_tools.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_counter_tools"
    sys.modules.pop("my_counter_tools", None)


def test_registry_loads_package_module_make_world(user_module):
    w = open_world(f"{user_module}:make_world", seed=3)
    assert w.name == "counter" and len(w.tasks("dev")) == 3
    env = w.start("bump-1")
    assert InProcessApis(env).counter.bump(name="a", by=2) == 5
    for spec, problem in ((f"{user_module}:nope", "has no attribute 'nope'"),
                          (f"{user_module}:NOT_A_WORLD", "not a world"),
                          ("no_such_module_xyz:make_world", "cannot import 'no_such_module_xyz'"),
                          ("just words", "unknown world")):
        with pytest.raises(Exception) as exc:
            open_world(spec)
        assert problem in str(exc.value)


def test_cli_runs_and_documents_a_users_world(user_module, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = f"{user_module}:make_world"
    assert main(["world", "docs", "counter", "bump", "--world", spec, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"][1] == {"name": "by", "type": "integer", "required": False, "description": "How much to add.",
                                    "default": 1}
    assert doc["mutates"] is True and doc["destructive"] is False and doc["response"] == "integer"
    assert main(["world", "tasks", "--world", spec, "--json"]) == 0
    assert [t["id"] for t in json.loads(capsys.readouterr().out)] == ["bump-1", "bump-2", "bump-3"]
    assert main(["run", "--world", spec, "--policy", "expert", "--seed", "4", "--json",
                 "--library", str(tmp_path / "lib.db"), "--runs-dir", str(tmp_path / "runs")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["world"] == "counter" and data["tgc"] == 1.0 and data["sgc"] == 1.0
    assert data["skills_created"] == 1 and data["skills_used"] == 2
    assert main(["run", "--world", "nowhere_xyz:w", "--library", str(tmp_path / "lib.db")]) == 1
    assert "cannot import 'nowhere_xyz'" in capsys.readouterr().err


def test_async_tools_run_to_completion():
    app = App("remote", "A remote service.")

    @app.tool
    async def fetch(key: str) -> dict:
        """Fetch a value.

        Args:
            key: Which value.
        """
        import asyncio

        await asyncio.sleep(0)
        return {"key": key, "value": len(key)}

    world = ToolkitWorld("remote", [app], scenarios=[Scenario("s", "dev", (TaskDef("x", check_state(answer=3)),))])
    assert InProcessApis(world.start("s-1")).remote.fetch(key="abc") == {"key": "abc", "value": 3}
    assert app.doc("fetch")["parameters"][0]["description"] == "Which value."


def test_records_handed_to_tools_are_copies():
    app = App("inv", "Inventory.")
    app.table("items")

    @app.tool(mutates=True)
    def careless(ctx: ToolContext, item_id: str) -> dict:
        """Edit a record in place (wrong) and through the table (right).

        Args:
            item_id: The item.
        """
        row = ctx.get("items", item_id)
        row["tags"].append("oops")
        row["qty"] = -1
        for r in ctx.rows("items"):
            r["tags"].append("oops")
        return ctx.table("items").update(item_id, qty=row["qty"] + 100)

    world = ToolkitWorld("inv", [app], data={"inv.items": [{"id": "i1", "qty": 1, "tags": ["a"]}]},
                         scenarios=[Scenario("s", "dev", (TaskDef("x", check_state(answer=None)),))])
    env = world.start("s-1")
    assert InProcessApis(env).inv.careless(item_id="i1")["qty"] == 99
    assert world.base.tables[("inv", "items")].rows["i1"] == {"id": "i1", "qty": 1, "tags": ["a"]}
    assert world.start("s-1").state.table("inv", "items").get("i1")["tags"] == ["a"]


def test_check_world_names_lax_checkers_failing_experts_and_undocumented_params(capsys):
    from skillbank.toolkit.check import check_world

    app = App("kv", "A key-value store.")
    app.table("keys")

    @app.tool(mutates=True)
    def put(ctx: ToolContext, key: str, value: str) -> dict:
        """Store a value.

        Args:
            key: The key.
        """
        ctx.table("keys").insert(key, {"id": key, "value": value})
        return {"ok": True}

    strict = check_state([Expect("kv", "keys", "insert", match={"id": "a", "value": "1"})])
    lax = lambda o: o.grade(Result("looks fine", True))  # noqa: E731 - passes whatever happens
    world = ToolkitWorld("kv", [app], scenarios=[Scenario("s", "dev", (
        TaskDef("Store a=1.", strict, solution='apis.kv.put(key="a", value="1")'),
        TaskDef("Store a=1 (lax).", lax, solution='apis.kv.put(key="a", value="1")'),
        TaskDef("Store a=1 (wrong expert).", strict, solution='apis.kv.put(key="a", value="2")'),
        TaskDef("No expert.", strict),
        # a hand-written checker whose completion check is not a guard: doing nothing earns half
        TaskDef("Credit for nothing.", lambda o: o.grade(Result("done", o.completed), Result("stored", bool(o.changes)))),
    ))])
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        result = check_world(world, sandbox=pool)
    by_id = {t.task_id: t for t in result.tasks}
    assert by_id["s-1"].ok and by_id["s-4"].expert_passes is None and by_id["s-4"].ok
    assert not by_id["s-2"].idle_fails and not by_id["s-2"].give_up_fails
    assert by_id["s-3"].expert_passes is False
    assert by_id["s-5"].idle_fails and by_id["s-5"].idle_credit == 0.5 and not by_id["s-5"].ok
    assert by_id["s-1"].idle_credit == 0.0
    assert sorted(result.problems) == sorted([
        "s-5: completing the task without doing anything earns 0.50 task credit (mark completion and "
        "no-collateral checks as guards: TestResult kind GUARD)",
        "s-2: completing the task without doing anything passes its checker",
        "s-2: giving up (status 'fail') passes its checker",
        "s-3: the expert's solution fails (requested: 1 insert in kv.keys with id='a', value='1': "
        "expected 1 matching change(s), found 0; no collateral damage: 1 unexpected change(s): insert kv.keys a)",
    ])
    assert result.doc_warnings == ("kv.put: parameter 'value' has no description",) and not result.ok
    assert main(["world", "check", "--world", "support", "--split", "dev", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and len(data["tasks"]) == 9 and all(t["expert_passes"] for t in data["tasks"])


def test_side_effects_of_any_world():
    from skillbank.toolkit import side_effects
    from skillbank.worlds.apps import AppsWorld

    apps = side_effects(AppsWorld(0))
    assert apps["notes.create_note"] == {"mutates": True, "destructive": False}
    assert apps["notes.show_notes"] == {"mutates": False, "destructive": False}
    assert side_effects(buggy_world())["notes.add_note"]["mutates"] is True


# -- task tests, guards and the outbound ledger ----------------------------------------------


def outbox_world() -> ToolkitWorld:
    """A messenger: `send` is destructive (in the ledger), `post` sends only to outside
    addresses (a predicate), `draft` is destructive but kept out of the ledger, and
    `delete` erases a message's record (what an attacker would use to hide a send)."""
    from skillbank.toolkit import GUARD

    app = App("msg", "A messenger.")
    app.table("messages")

    def _write(ctx: ToolContext, to: str, text: str, kind: str) -> dict:
        if text == "boom":
            ctx.table("messages").insert("m_x", {"id": "m_x", "to": to, "text": text, "kind": kind})
            raise ToolError("refused after writing")
        mid = ctx.new_id("m")
        ctx.table("messages").insert(mid, {"id": mid, "to": to, "text": text, "kind": kind})
        return {"id": mid}

    @app.tool(destructive=True)
    def send(ctx: ToolContext, to: str, text: str) -> dict:
        """Send a message (it cannot be unsent).

        Args:
            to: The recipient's address.
            text: The message.
        """
        return _write(ctx, to, text, "sent")

    @app.tool(mutates=True, outbound=lambda args: not args["to"].endswith("@home.example"))
    def post(ctx: ToolContext, to: str, text: str) -> dict:
        """Post a message; only those to outside addresses leave the house.

        Args:
            to: The recipient's address.
            text: The message.
        """
        return _write(ctx, to, text, "post")

    @app.tool(destructive=True, outbound=False)
    def draft(ctx: ToolContext, to: str, text: str) -> dict:
        """Save a draft (destructive for the audit, but nothing leaves).

        Args:
            to: The recipient's address.
            text: The message.
        """
        return _write(ctx, to, text, "draft")

    @app.tool(mutates=True)
    def delete(ctx: ToolContext, message_id: str) -> dict:
        """Delete a message's record.

        Args:
            message_id: The message.
        """
        ctx.get("messages", message_id)
        ctx.table("messages").delete(message_id)
        return {"deleted": message_id}

    def always_fine(o):  # kind TASK by default: check_state makes it a guard
        return Result("a user guard", len(o.calls) <= 4, f"{len(o.calls)} calls")

    sent = Expect("msg", "messages", "insert", match={"to": "bob@out.example", "text": "hi"})
    return ToolkitWorld("msg", [app], scenarios=[Scenario("msg", "dev", (
        TaskDef("Send bob@out.example 'hi' and answer 3.", check_state([sent], answer=3, guards=[always_fine]),
                solution='apis.msg.send(to="bob@out.example", text="hi")\napis.supervisor.complete_task(answer=3)'),
        TaskDef("Change nothing; answer 3.", check_state(answer=3, guards=[always_fine]),
                solution="3"),
    ))])


def run_code(world, task_id, code):
    env = world.start(task_id)
    exec(code, {"apis": InProcessApis(env)})
    return env, env.evaluate()


def test_check_state_marks_task_tests_and_guards_so_zero_work_earns_zero():
    from skillbank.toolkit import ANSWER, GUARD, TASK

    world = outbox_world()
    _, good = run_code(world, "msg-1", world.expert_solution("msg-1").call_block)
    assert good.success and good.fraction == 1.0
    kinds = {t.name: t.kind for t in good.tests}
    assert kinds == {"task completed": GUARD, "requested: 1 insert in msg.messages with to='bob@out.example', text='hi'": TASK,
                     "no collateral damage": GUARD, "nothing sent that was not asked for": GUARD, "answer": ANSWER,
                     "a user guard": GUARD}
    # zero work: no credit on any task, whatever generic answer
    for task in world.tasks():
        for answer in (None, 0, 1, 2, True, "", [], {}):
            _, g = run_code(world, task.id, f"apis.supervisor.complete_task(answer={answer!r})")
            assert not g.success and g.fraction == 0.0, (task.id, answer, g.tests)
    # the work without the answer: partial credit; a failing guard zeroes it
    _, half = run_code(world, "msg-1", 'apis.msg.send(to="bob@out.example", text="hi")\napis.supervisor.complete_task(answer=4)')
    assert not half.success and half.fraction == 0.5
    _, tripped = run_code(world, "msg-1", 'apis.msg.send(to="bob@out.example", text="hi")\n'
                                          'for _ in range(3):\n    apis.api_docs.show_app_descriptions()\n'
                                          'apis.supervisor.complete_task(answer=3)')
    assert not tripped.success and tripped.fraction == 0.0
    assert [t.name for t in tripped.tests if not t.passed] == ["a user guard"]


def test_answers_compare_under_the_apps_worlds_normalisation():
    from skillbank.toolkit import answers_equal

    assert answers_equal("$4.50", 4.5) and answers_equal(" Alice\n", "alice") and answers_equal(["x"], "x")
    assert not answers_equal(True, 1) and not answers_equal(1, True) and not answers_equal("1", True)
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert not answers_equal(deep, 3)  # refused, not a crash
    world = outbox_world()
    _, g = run_code(world, "msg-2", "apis.supervisor.complete_task(answer='$3.00')")
    assert g.success


def test_a_send_undone_by_deleting_its_record_still_fails_the_task():
    world = outbox_world()
    env, g = run_code(world, "msg-2", 'm = apis.msg.send(to="eve@out.example", text="secrets")\n'
                                      'apis.msg.delete(message_id=m["id"])\napis.supervisor.complete_task(answer=3)')
    assert env.state.diff() == []  # no trace in the state...
    failed = {t.name: t.message for t in g.tests if not t.passed}
    assert list(failed) == ["nothing sent that was not asked for"] and "eve@out.example" in failed[
        "nothing sent that was not asked for"]  # ...but the ledger remembers
    assert g.fraction == 0.0 and len(env.outcome().outbound) == 1
    # the requested send is accounted for; a second, unrequested one is not
    _, extra = run_code(world, "msg-1", 'apis.msg.send(to="bob@out.example", text="hi")\n'
                                        'm = apis.msg.send(to="eve@out.example", text="x")\n'
                                        'apis.msg.delete(message_id=m["id"])\napis.supervisor.complete_task(answer=3)')
    assert [t.name for t in extra.tests if not t.passed] == ["nothing sent that was not asked for"]


def test_the_ledger_follows_the_outbound_flag_and_records_only_what_succeeded():
    world = outbox_world()
    env = world.start("msg-2")
    apis = InProcessApis(env)
    apis.msg.post(to="mum@home.example", text="home")  # the predicate says it stays home
    apis.msg.draft(to="eve@out.example", text="draft")  # destructive, outbound=False
    with pytest.raises(ToolError, match="refused after writing"):
        apis.msg.send(to="eve@out.example", text="boom")  # rolled back: nothing sent
    assert env.state.outbound == []
    apis.msg.post(to="eve@out.example", text="out")
    assert [e.api for e in env.state.outbound] == ["post"] and "eve@out.example" in env.state.outbound[0].summary
    effects = world.side_effects()
    assert effects["msg.send"] == {"mutates": True, "destructive": True}
    assert world.api("msg", "send").outbound is True and world.api("msg", "draft").outbound is False
    assert world.api("msg", "delete").outbound is False
    with pytest.raises(ValidationError, match="outbound must be True, False or a predicate"):
        App("x", "X.").tool(lambda: 1, name="t", outbound="yes")
