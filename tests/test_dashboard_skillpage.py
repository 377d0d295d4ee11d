"""The dashboard's skill and canaries pages tell the governance story (issue 28, items 7,
8, 9 and 10): one meaning of "successful call" (the gate's), the latest evaluation, whole
failure reasons (folded, never cut), provenance (parent, failure log), alias events that
name their alias, per-call events folded with a way to show them all, and canaries with
the SPRT's state, a hand-set canary alias told from governance's."""

from __future__ import annotations

import re
from html import unescape

import pytest

pytest.importorskip("fastapi", reason="the dashboard needs the `web` extra")
pytest.importorskip("jinja2", reason="the dashboard needs the `web` extra")

from fastapi.testclient import TestClient  # noqa: E402

from skillbank.governance import Governance  # noqa: E402
from skillbank.serve.app import create_app  # noqa: E402
from skillbank.serve.dashboard import COOKIE  # noqa: E402
from skillbank.serve.skillview import folded  # noqa: E402
from skillbank.serve.tokens import TokenRegistry  # noqa: E402
from skillbank.store import Provenance, VersionStatus, open_store  # noqa: E402

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs, ignoring None.'''\n    return sum(x for x in xs if x is not None)\n"
W1 = "def share(x: int) -> int:\n    '''Half of x.'''\n    return x // 2\n"
W2 = "def share(x: int) -> int:\n    '''Half of x, rounded up.'''\n    return -(-x // 2)\n"
H1 = "def hand(x: int) -> int:\n    '''x.'''\n    return x\n"
H2 = "def hand(x: int) -> int:\n    '''x again.'''\n    return x + 0\n"
LONG = ("the version's result differs from the recorded one: expected 42 for the arguments [1, 2, 3, None] but "
        "got a TypeError: unsupported operand type(s) for +: 'int' and 'NoneType' at line 3 of the skill END")
FAILURE_LOG = "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'"


@pytest.fixture()
def site(tmp_path):
    store = open_store(tmp_path / "lib.db")
    v1, _ = store.put_version(V1, provenance=Provenance(created_by="agent", task_id="t1"))
    v2, _ = store.put_version(V2, provenance=Provenance(created_by="agent", task_id="t2", parent_version_id=v1.id,
                                                         failure_log=FAILURE_LOG))
    gov = Governance(store)
    # the call log says 4 calls ran without error; the gate counts none (their tasks failed)
    for _ in range(4):
        store.record_call(v2.id, ok=True, latency_s=0.01)
        gov.observe(v2, ok=True, task_success=False, task_id="t2")
    for n in range(30):
        store.record_event("case_recorded", name="total", version_id=v2.id, actor="governance",
                           payload={"case": {"kind": "call"}, "outcome": True}, reason=f"case {n}")
    # two evaluations: the page shows the second
    store.record_event("evaluated", name="total", version_id=v2.id, actor="governance", reason="1/3",
                       payload={"passed": 1, "cases": 3, "failed": 2, "regressions": [],
                                "outcomes": [{"kind": "task", "case_id": "c1", "passed": False, "detail": LONG}]})
    store.record_event("evaluated", name="total", version_id=v2.id, actor="governance", reason="2/3",
                       payload={"passed": 2, "cases": 3, "failed": 1, "regressions": ["c9"],
                                "outcomes": [{"kind": "task", "case_id": "c2", "passed": False, "detail": LONG}]})
    gov.check("total", 2)  # blocked: 0 successful calls
    store.set_alias("total", "reviewed", 1, expected_generation=None, actor="alice")
    store.remove_alias("total", "reviewed", actor="alice")
    # a governance canary: share@2 is status canary against share@1 promoted
    w1, _ = store.put_version(W1, status=VersionStatus.PROMOTED)
    store.set_alias("share", "promoted", 1, expected_generation=None, actor="governance")
    w2, _ = store.put_version(W2, provenance=Provenance(created_by="agent", parent_version_id=w1.id))
    gov.start_canary("share", 2, reason="gate passed")
    for _ in range(3):
        gov.observe(w2, ok=False, task_success=False, task_id="t")
    for _ in range(5):
        gov.observe(w1, ok=True, task_success=True, task_id="t")
    # a hand-set canary alias: hand@2 is a plain candidate
    store.put_version(H1, status=VersionStatus.PROMOTED)
    store.set_alias("hand", "promoted", 1, expected_generation=None, actor="bob")
    store.put_version(H2)
    store.set_alias("hand", "canary", 2, expected_generation=None, actor="bob")
    token = TokenRegistry(store).create("default", "read")[0]
    client = TestClient(create_app(store))
    client.cookies.set(COOKIE, token)
    yield client, store
    store.close()


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_one_meaning_of_success(site) -> None:
    client, _ = site
    html = client.get("/skills/total").text
    row = text_of(html.split('id="v2"', 1)[1].split("</tr>", 1)[0])
    assert "0 on 0 task(s)" in row  # the gate's count, beside...
    assert " 4 4 " in f" {row} "  # ...4 calls, 4 ran without error
    assert "<th>success</th>" not in html and "ran without error" in html
    assert "successful call" in text_of(html.split('id="success-meaning"', 1)[1].split("</p>", 1)[0])
    assert "0 successful call(s); the policy needs 3" in html  # the gate's reason, same meaning


def test_the_latest_evaluation_and_whole_reasons(site) -> None:
    client, _ = site
    html = client.get("/skills/total").text
    section = html.split('id="governance-v2"', 1)[1].split("</section>", 1)[0]
    assert "2/3 cases passed" in section and "1/3 cases passed" not in section
    assert "the latest of 2" in section and "c9" in section
    assert LONG in unescape(section)  # whole, behind a fold
    assert "<details><summary>" in section and "END" in section


def test_provenance_parent_and_failure_log(site) -> None:
    client, _ = site
    html = client.get("/skills/total").text
    prov = html.split('id="provenance"', 1)[1].split("</table>", 1)[0]
    assert "total@1" in prov and "none (a new skill)" in prov
    assert FAILURE_LOG in unescape(prov)


def test_alias_events_name_their_alias_and_call_rows_are_folded(site) -> None:
    client, _ = site
    html = client.get("/skills/total").text
    events = text_of(html.split('id="events"', 1)[1].split("</table>", 1)[0])
    assert "alias reviewed: none → v1" in events
    assert "alias reviewed removed (it pointed at v1)" in events
    assert "case_recorded" not in events and "observed" not in events
    hidden = text_of(html.split('id="events-hidden"', 1)[1].split("</p>", 1)[0])
    assert "30 case_recorded" in hidden and "4 observed" in hidden
    everything = client.get("/skills/total?events=all").text
    events_all = text_of(everything.split('id="events"', 1)[1].split("</table>", 1)[0])
    assert events_all.count("case_recorded") == 30 and "evaluated" in events_all


def test_canaries_show_the_decision_state_and_the_kind(site) -> None:
    client, _ = site
    html = client.get("/canaries").text
    share = text_of(html.split('<a href="/skills/share">', 1)[1].split("</tr>", 1)[0])
    hand = text_of(html.split('<a href="/skills/hand">', 1)[1].split("</tr>", 1)[0])
    assert "governance" in share and "LLR" in share and "roll back at" in share and "promote at" in share
    m = re.search(r"rolled back after (\d+) more canary failure", share)
    assert m and int(m.group(1)) >= 1
    assert "3 (3)" in share and "5 (0)" in share  # canary calls (failures), promoted calls (failures)
    assert "set by hand" in hand and "candidate" in hand and "LLR" not in hand


def test_the_distance_to_rollback_is_the_sprt_s(tmp_path) -> None:
    """The page's "N more canary failures" is exactly what makes the rule roll back."""
    from skillbank.governance.canary import ArmStats, SequentialRule
    from skillbank.governance.policy import load_policy
    from skillbank.serve.skillview import canary_rows

    store = open_store(tmp_path / "lib.db")
    w1, _ = store.put_version(W1, status=VersionStatus.PROMOTED)
    store.set_alias("share", "promoted", 1, expected_generation=None, actor="governance")
    w2, _ = store.put_version(W2)
    gov = Governance(store)
    gov.start_canary("share", 2, reason="test")
    gov.observe(w2, ok=False, task_success=False, task_id="t")
    row = canary_rows(store, "default")[0]
    rule = SequentialRule(load_policy().canary)
    n = row["to_rollback"]
    assert rule.decide(ArmStats(calls=1 + n, failures=1 + n), ArmStats()).action == "rollback"
    assert rule.decide(ArmStats(calls=n, failures=n), ArmStats()).action != "rollback"
    store.close()


def test_folded_keeps_whole_words() -> None:
    f = folded(LONG, at=40)
    assert f["full"] == LONG and f["short"].endswith(" …")
    assert LONG.startswith(f["short"][:-2]) and f["short"][:-2].split()[-1] in LONG.split()
    assert folded("short")["short"] == ""
