"""`skillbank mcp`: the MCP round trip over stdio with the mcp package's own client:
list tools, search, show, list APIs, run code in the sandbox with the library preloaded
(against the support world), save a candidate and an update; errors come back as tool
errors, and the server never promotes anything."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from skillbank.store import Provenance, VersionStatus, open_store  # noqa: E402
from skillbank.toolkit.support import make_world  # noqa: E402
from skillbank.toolkit.support.scenarios import REFUND_ORDER  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")

FIXED = '''
def order_total(order_id: str) -> float:
    """An order's total in dollars."""
    return apis.desk.show_order(order_id=order_id)["total_cents"] / 100
'''


def server_params(library: Path, *extra: str) -> StdioServerParameters:
    env = {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "HF_HUB_OFFLINE": "1"}
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "skillbank.cli", "mcp", "--library", str(library), "--world", "support",
                                       *extra], env=env)


def call(client, name, args):
    return client.call_tool(name, args)


async def round_trip(library: Path, task_id: str) -> dict:
    out: dict = {}
    async with Client(server_params(library, "--task", task_id, "--actor", "ide")) as c:
        out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
        out["search"] = (await c.call_tool("search_skills", {"query": "refund policy order", "k": 3})).structured_content
        out["show"] = (await c.call_tool("show_skill", {"ref": "refund_order"})).structured_content
        out["apis"] = (await c.call_tool("list_apis", {"app": "payments", "api": "refund_payment"})).structured_content
        order_id = make_world().task(task_id).instruction.split("order ")[1].split(":")[0]
        out["run"] = (await c.call_tool("run_code", {"code": f"x = refund_order(order_id={order_id!r}, reason='damaged')\nprint(x)"})).structured_content
        out["again"] = (await c.call_tool("run_code", {"code": "x * 2"})).structured_content  # the shell persists
        out["tool_error"] = (await c.call_tool("run_code", {"code": "apis.desk.show_order(order_id='o_nope')"})).structured_content
        out["reset"] = (await c.call_tool("run_code", {"code": "x", "reset": True})).structured_content
        bad = "def order_total(order_id: str) -> float:\n    '''An order's total.'''\n    return apis.desk.show_order(id=order_id)\n"
        out["save1"] = (await c.call_tool("save_skill", {"source": bad, "query": "order total"})).structured_content
        out["run_bad"] = (await c.call_tool("run_code", {"code": f"order_total({order_id!r})", "skills": ["order_total@1"]})).structured_content
        out["save2"] = (await c.call_tool("save_skill", {"source": FIXED, "parent": "order_total@1",
                                                          "failure_log": out["run_bad"]["error"]})).structured_content
        out["missing"] = await c.call_tool("show_skill", {"ref": "no_such_skill"})
        out["bad_save"] = await c.call_tool("save_skill", {"source": "x = 1"})
    return out


def test_mcp_round_trip_over_stdio(tmp_path):
    library = tmp_path / "lib.db"
    store = open_store(library)
    promoted, _ = store.put_version(REFUND_ORDER.strip() + "\n", provenance=Provenance(created_by="me", query="refund an order"),
                                    status=VersionStatus.PROMOTED)
    store.put_version("def unrelated(x: int) -> int:\n    '''Square a number.'''\n    return x * x\n")
    store.close()
    out = asyncio.run(asyncio.wait_for(round_trip(library, "refund_order-1"), 120))

    assert out["tools"] == ["list_apis", "run_code", "save_skill", "search_skills", "show_skill"]
    hits = out["search"]["result"]
    assert hits[0]["ref"] == "refund_order@1" and hits[0]["status"] == "promoted"
    assert all(h["name"] != "unrelated" for h in hits)
    show = out["show"]
    assert show["signature"] == "def refund_order(order_id: str, reason: str) -> float"
    assert show["docstring"].startswith("Refund what the refund policy allows") and "refund_payment" in show["source"]
    assert out["apis"]["destructive"] is True and out["apis"]["api_name"] == "refund_payment"

    run = out["run"]
    assert run["ok"] and run["preloaded"] == ["refund_order@1"] and run["task_id"] == "refund_order-1"
    assert [c["api"] for c in run["api_calls"]] == ["check_refund_eligibility", "show_order", "refund_payment"]
    refunded = float(run["stdout"])
    assert refunded > 0 and out["again"]["value"] == repr(refunded * 2)
    assert not out["tool_error"]["ok"] and "desk.show_order: order 'o_nope' not found" in out["tool_error"]["error"]
    assert not out["reset"]["ok"] and "NameError" in out["reset"]["error"]

    assert out["save1"]["ref"] == "order_total@1" and out["save1"]["status"] == "candidate"
    assert not out["run_bad"]["ok"] and "unexpected parameter 'id'" in out["run_bad"]["error"]
    assert out["save2"]["ref"] == "order_total@2" and out["save2"]["created"] is True
    assert out["missing"].is_error and "no skill 'no_such_skill'" in out["missing"].content[0].text
    assert out["bad_save"].is_error

    store = open_store(library)
    try:
        v2 = store.get_version("order_total", 2)
        v1 = store.get_version("order_total", 1)
        assert v2.status == VersionStatus.CANDIDATE and v2.provenance.created_by == "ide"
        assert v2.provenance.parent_version_id == v1.id and "unexpected parameter 'id'" in v2.provenance.failure_log
        assert store.get_version("refund_order").id == promoted.id  # nothing promoted or changed by the server
        saves = store.events(name="order_total", type="saved")
        assert len(saves) == 2 and all(e.actor == "ide" for e in saves)
    finally:
        store.close()


def test_library_service_refuses_bad_input_before_writing(tmp_path):
    from skillbank.errors import SkillbankError
    from skillbank.library_service import LibraryService

    store = open_store(tmp_path / "lib.db")
    try:
        service = LibraryService(store, world=None)
        service.save_skill("def a(x: int) -> int:\n    '''One.'''\n    return x\n")
        with pytest.raises(SkillbankError, match="is a version of 'a', not of 'b'"):
            service.save_skill("def b(x: int) -> int:\n    '''Two.'''\n    return x\n", parent="a@1")
        with pytest.raises(SkillbankError):
            service.save_skill("print('not a function')")
        assert [v.name for v in store.list_versions()] == ["a"]
        assert [h["ref"] for h in service.search_skills("")] == ["a@1"]
        with pytest.raises(SkillbankError, match="k must be between 1 and 100"):
            service.search_skills("a", k=0)
        with pytest.raises(SkillbankError, match="no world is configured"):
            service.run_code("1")
    finally:
        store.close()


def test_a_save_goes_through_governance_intake(tmp_path):
    """A skill saved over MCP is red-teamed at once: a secret in its source quarantines it.
    The client learns accepted or refused, never which rule fired; people see the findings."""
    import json

    from skillbank.governance import Governance
    from skillbank.library_service import LibraryService

    store = open_store(tmp_path / "lib.db")
    try:
        service = LibraryService(store, world=None)
        clean = service.save_skill("def a(x: int) -> int:\n    '''One.'''\n    return x\n")
        assert clean["accepted"] is True and clean["status"] == "candidate"
        leaky = service.save_skill(
            "def call_model(prompt: str) -> str:\n    '''Ask the model.'''\n"
            "    key = 'sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6" + "'\n    return prompt + key\n")
        assert leaky["accepted"] is False and leaky["status"] == "quarantined"
        (report,) = store.events(name="call_model", type="redteamed")
        (finding,) = [f for f in report.payload["findings"] if f["kind"] == "secret_in_source"]  # a person reads it
        said = json.dumps(leaky).lower()
        assert "findings" not in leaky and finding["kind"] not in said and finding["message"].lower() not in said
        assert not any(word in said for word in ("secret", "key", "credential", "line"))
        assert [h["ref"] for h in service.search_skills("")] == ["a@1"], "a quarantined version is never offered"
        assert Governance(store).version("call_model").status.value == "quarantined"
    finally:
        store.close()


async def first_contact(library: Path) -> dict:
    out: dict = {}
    async with Client(server_params(library)) as c:
        out["server_info"] = c.server_info
        out["tools"] = {t.name: t for t in (await c.list_tools()).tools}
        out["none"] = await c.call_tool("search_skills", {"query": "zebra giraffe"})
        out["hit"] = await c.call_tool("search_skills", {"query": "square"})
    return out


def test_a_new_client_sees_the_version_described_parameters_and_a_no_match_text(tmp_path):
    """Issue 28, item 18: the server announces skillbank's version; every tool parameter
    has a description; a search without match says so in its text."""
    import skillbank

    library = tmp_path / "lib.db"
    store = open_store(library)
    store.put_version("def square(x: int) -> int:\n    '''Square a number.'''\n    return x * x\n")
    store.close()
    out = asyncio.run(asyncio.wait_for(first_contact(library), 120))
    info = out["server_info"]
    assert info is not None and info.name == "skillbank" and info.version == skillbank.__version__
    for tool in out["tools"].values():
        for param, schema in tool.input_schema["properties"].items():
            assert len(schema.get("description", "")) > 10, (tool.name, param, schema)
    none = out["none"]
    assert not none.is_error and none.structured_content == {"result": []}
    assert "no skill matches 'zebra giraffe'" in none.content[0].text
    hit = out["hit"]
    assert hit.structured_content["result"][0]["ref"] == "square@1" and "square@1" in hit.content[0].text


def test_the_no_match_text_names_the_case() -> None:
    from skillbank.commands.mcp import no_match_text

    assert "no skills yet" in no_match_text("x", 0)
    assert "no skill matches 'x'" in no_match_text("x", 3) and "3 skill name(s)" in no_match_text("x", 3)
    assert "no skill to list" in no_match_text("", 2)
