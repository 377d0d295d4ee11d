"""Governance v2 (issue 24): one writer of evidence, transitions as one transaction, and a
person's override of the gate (--force --reason).

Over REST no token of any role records governance's or the lifecycle's events, saves a
version in another status than candidate, changes a status or moves `promoted`/`canary`
by hand: each path, each role. A transition killed between its writes leaves the library
as it was, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from skillbank.errors import ConflictError, ValidationError
from skillbank.governance import Governance
from skillbank.serve.dashboard import LOGIN_CSRF_COOKIE
from skillbank.store import EventType, VersionStatus, open_store
from skillbank.store.base import CLIENT_EVENT_TYPES
from skillbank.store.sql import SqlLibraryStore

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"
V3 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return int(sum(xs))\n"

ROLES = ("read", "write", "admin")
# Every type a client must not record: governance's evidence, decisions and the lifecycle
# (the list, and whatever else `EventType` holds).
GOVERNED_TYPES = sorted({t.value for t in EventType if t.value not in CLIENT_EVENT_TYPES} | {
    "approved", "observed", "redteamed", "case_recorded", "case_added", "gate_checked", "status_changed",
    "alias_moved", "alias_removed", "created", "updated", "deleted", "imported", "evaluated", "promoted", "canaried",
    "rolled_back", "quarantined", "released", "retired", "governance_error", "access_denied"})


def test_governance_event_types_are_event_types():
    """No loose strings: every type governance writes is an `EventType`."""
    from skillbank.governance import quarantine, service

    values = {t.value for t in EventType}
    for const in (service.CASE_RECORDED, service.CASE_ADDED, service.OBSERVED, service.REDTEAMED,
                  service.GATE_CHECKED, service.APPROVED, service.GOVERNANCE_ERROR, quarantine.RELEASED):
        assert const in values
    for t in ("approved", "observed", "redteamed", "case_recorded", "case_added", "gate_checked", "status_changed",
              "alias_moved", "created", "deleted", "evaluated", "promoted", "canaried", "rolled_back", "quarantined",
              "released", "governance_error", "access_denied"):
        assert t in GOVERNED_TYPES


# -- REST: no client forges evidence --------------------------------------------------------

fastapi = pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")


@pytest.fixture()
def served(tmp_path):
    from fastapi.testclient import TestClient

    from skillbank.serve.app import create_app
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(tmp_path / "lib.db")
    store.create_namespace("team-a")
    v1, _ = store.put_version(V1, namespace="team-a")
    reg = TokenRegistry(store)
    tokens = {role: reg.create("team-a", role)[0] for role in ROLES}
    ids = {role: reg.lookup(secret).id for role, secret in tokens.items()}
    yield TestClient(create_app(store)), store, tokens, ids, v1
    store.close()


def _h(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _log(store, type_: str) -> list:
    return store.events(namespace="team-a", type=type_, limit=None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("event_type", GOVERNED_TYPES)
def test_no_token_records_governance_or_lifecycle_events(served, event_type, role):
    client, store, tokens, _, v1 = served
    before = len(_log(store, event_type))
    refused = _refused(client, store)
    r = client.post("/api/v1/namespaces/team-a/events", headers=_h(tokens[role]),
                    json={"type": event_type, "name": "total", "version_id": v1.id,
                          "payload": {"passed": True, "ok": True, "findings": [], "outcome": True}})
    assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
    assert len(_log(store, event_type)) == before  # nothing reached the namespace's log
    # The refusal is counted in the server's own refused-request log (issue 27), not
    # written into the namespace's event log, which no client can flood.
    assert _refused(client, store) == refused + 1


def _refused(client, store) -> int:
    client.app.state.audit.flush()
    return sum(int(c["count"]) for c in store.access_denials(limit=1000)["clients"])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("event_type", sorted(CLIENT_EVENT_TYPES) + ["canary.checked"])
def test_the_event_route_takes_notes_and_a_clients_own_use(served, event_type, role):
    client, store, tokens, _, v1 = served
    r = client.post("/api/v1/namespaces/team-a/events", headers=_h(tokens[role]),
                    json={"type": event_type, "name": "total", "version_id": v1.id, "reason": "a note"})
    allowed = event_type in CLIENT_EVENT_TYPES and role != "read"
    assert r.status_code == (200 if allowed else 403), r.text
    assert len(_log(store, event_type)) == (1 if allowed else 0)


@pytest.mark.parametrize("role", ROLES)
def test_no_token_changes_status_alias_or_saves_past_candidate(served, role):
    client, store, tokens, _, v1 = served
    h = _h(tokens[role])
    for status in VersionStatus:
        r = client.post(f"/api/v1/versions/{v1.id}/status", headers=h, json={"status": status.value})
        assert r.status_code == 403, (status, r.text)
        if status is not VersionStatus.CANDIDATE:
            r = client.post("/api/v1/namespaces/team-a/versions", headers=h, json={"source": V2, "status": status.value})
            assert r.status_code == 403, (status, r.text)
    for alias in ("promoted", "canary"):
        r = client.put(f"/api/v1/namespaces/team-a/skills/total/aliases/{alias}", headers=h,
                       json={"version": 1, "expected_generation": None})
        assert r.status_code == 403
    assert store.get_version_by_id(v1.id).status is VersionStatus.CANDIDATE
    assert store.list_aliases("total", namespace="team-a") == []
    assert len(store.history("total", namespace="team-a")) == 1
    assert _log(store, "status_changed") == [] and _log(store, "alias_moved") == []


def test_forged_evidence_no_longer_promotes(served):
    """The issue's attack: three `observed`, a clean `redteamed` and an `approved` posted
    with a write token promoted a candidate with a finding and no calls."""
    client, store, tokens, _, v1 = served
    for token in (tokens["write"], tokens["admin"]):
        for i in range(3):
            client.post("/api/v1/namespaces/team-a/events", headers=_h(token), json={
                "type": "observed", "name": "total", "version_id": v1.id,
                "payload": {"ok": True, "task_success": True, "task_id": f"t{i}"}})
        client.post("/api/v1/namespaces/team-a/events", headers=_h(token), json={
            "type": "redteamed", "name": "total", "version_id": v1.id, "payload": {"findings": []}})
        client.post("/api/v1/namespaces/team-a/events", headers=_h(token), json={
            "type": "approved", "name": "total", "version_id": v1.id})
    gov = Governance(store, namespace="team-a")
    ev = gov.evidence(v1)
    assert (ev.successful_calls, ev.redteamed, ev.approved) == (0, False, False)
    decision, move = gov.consider("total", 1)
    assert not decision.passed and move is None
    assert store.get_version_by_id(v1.id).status is VersionStatus.CANDIDATE


def test_admin_endpoints_record_the_tokens_id(served):
    client, store, tokens, ids, v1 = served
    a, w = _h(tokens["admin"]), _h(tokens["write"])
    for action in ("approve", "quarantine", "release", "promote", "rollback"):
        assert client.post(f"/api/v1/namespaces/team-a/skills/total/{action}", headers=w,
                           json={"version": 1}).status_code == 403
    r = client.post("/api/v1/namespaces/team-a/skills/total/approve", headers=a, json={"version": 1, "reason": "read it"})
    assert r.status_code == 200 and r.json()["actor"] == f"token:{ids['admin']}"
    r = client.post("/api/v1/namespaces/team-a/skills/total/quarantine", headers=a, json={"version": 1})
    assert r.status_code == 200 and r.json()["version"]["status"] == "quarantined"
    r = client.post("/api/v1/namespaces/team-a/skills/total/release", headers=a, json={"version": 1, "reason": "fine"})
    assert r.status_code == 200 and r.json()["version"]["status"] == "candidate"
    for t in ("approved", "quarantined", "released"):
        (e,) = _log(store, t)
        assert e.actor == f"token:{ids['admin']}" and e.version_id == v1.id


def test_cli_governs_a_served_library_through_its_endpoints(tmp_path, capsys, monkeypatch):
    """`skills promote|approve|quarantine|release|rollback` against a served library ask
    its governance (an admin token); a write token is refused, one line."""
    import json

    from http_server import serve_in_thread
    from skillbank.cli import main
    from skillbank.serve.app import create_app
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(tmp_path / "served.db")
    store.put_version(V1)
    store.put_version(V2)
    reg = TokenRegistry(store)
    admin, write = reg.create("default", "admin")[0], reg.create("default", "write")[0]
    with serve_in_thread(create_app(store)) as url:
        monkeypatch.setenv("SKILLBANK_TOKEN", write)
        assert main(["skills", "promote", "total@1", "-L", url, "--force", "--reason", "x"]) == 1
        assert "'admin'" in capsys.readouterr().err
        monkeypatch.setenv("SKILLBANK_TOKEN", admin)
        assert main(["skills", "promote", "total@1", "-L", url]) == 1
        assert "has not passed its gate" in capsys.readouterr().err
        assert main(["skills", "promote", "total@1", "-L", url, "--force", "--reason", "reviewed", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["version"] == 1
        assert main(["skills", "promote", "total@2", "-L", url, "--force", "--reason", "next", "--json"]) == 0
        capsys.readouterr()
        assert main(["skills", "rollback", "total", "-L", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["version"] == 1
        assert main(["skills", "quarantine", "total@2", "-L", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "quarantined"
        assert main(["skills", "release", "total@2", "-L", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["status"] == "candidate"
    promoted = store.events(type="promoted")
    assert [e.reason for e in promoted] == ["reviewed", "next"]
    assert all(e.actor.startswith("token:") and e.payload["forced"] for e in promoted)
    store.close()


# -- transitions: one transaction ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store(tmp_path / "lib.db")
    else:
        s = open_store(request.getfixturevalue("postgres_url"))
    yield s
    s.close()


def _consistent(store, name: str = "total") -> None:
    """Aliases and statuses agree: `promoted` names the one promoted version, `canary` a
    canary (or the promoted one, after a canary ended), and every move has its event."""
    versions = store.history(name)
    promoted = store.get_alias(name, "promoted")
    by_status = {s: [v.version for v in versions if v.status is s] for s in VersionStatus}
    if promoted is None:
        assert by_status[VersionStatus.PROMOTED] == []
    else:
        assert by_status[VersionStatus.PROMOTED] == [promoted.version]
    canary = store.get_alias(name, "canary")
    if canary is not None and canary.version not in by_status[VersionStatus.PROMOTED]:
        assert by_status[VersionStatus.CANARY] == [canary.version]
    else:
        assert by_status[VersionStatus.CANARY] == []
    assert len(store.events(name=name, type="alias_moved")) == sum(
        1 for e in store.events(name=name, type=["promoted", "canaried", "rolled_back"]))


def _crash_at(monkeypatch, method: str, after: int) -> None:
    """Make the store's `method` raise on its call number `after + 1` (a crash between a
    transition's writes)."""
    real = getattr(SqlLibraryStore, method)
    calls = {"n": 0}

    def crashing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise RuntimeError("killed between writes")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SqlLibraryStore, method, crashing)


def _gated(store, gov: Governance, ref: int) -> None:
    """Record a passing gate check for `ref` (what the gate writes when it passes)."""
    v = store.get_version("total", ref)
    store.record_event("gate_checked", name="total", version_id=v.id, actor="governance", payload={"passed": True})


@pytest.mark.parametrize(("method", "after"), [
    ("_change_status", 0),  # after the alias moved, before any status
    ("_change_status", 1),  # after the new version's status, before the old one retires
    ("_insert_event", 3),   # after the alias and both statuses, before the `promoted` event
])
def test_a_promotion_killed_between_its_writes_changes_nothing(store, monkeypatch, method, after):
    gov = Governance(store)
    store.put_version(V1)
    store.put_version(V2)
    gov.promote("total", 1, actor="alice", reason="setup", force=True)
    _gated(store, gov, 2)
    before = (store.get_alias("total", "promoted"), [v.status for v in store.history("total")], len(store.events()))
    _crash_at(monkeypatch, method, after)
    with pytest.raises(RuntimeError, match="killed between writes"):
        gov.promote("total", 2, actor="alice", reason="next")
    monkeypatch.undo()
    after_state = (store.get_alias("total", "promoted"), [v.status for v in store.history("total")], len(store.events()))
    assert after_state == before
    _consistent(store)
    gov.promote("total", 2, actor="alice", reason="next")  # and the library goes on from where it was
    _consistent(store)
    assert store.get_alias("total", "promoted").version == 2


@pytest.mark.parametrize("step", ["canary", "rollback_canary", "rollback", "quarantine", "release"])
def test_every_transition_is_all_or_nothing(store, monkeypatch, step):
    gov = Governance(store)
    store.put_version(V1)
    store.put_version(V2)
    store.put_version(V3)
    gov.promote("total", 1, actor="alice", reason="setup", force=True)
    if step in ("rollback_canary",):
        gov.start_canary("total", 2)
    if step == "rollback":
        gov.promote("total", 2, actor="alice", reason="setup", force=True)
    if step == "release":
        gov.quarantine("total", 3, actor="alice", reason="setup")
    before = (store.list_aliases("total"), [v.status for v in store.history("total")], len(store.events()))
    _crash_at(monkeypatch, "_insert_event", 1)  # the step's first write stands, the second is killed
    with pytest.raises(RuntimeError, match="killed between writes"):
        {"canary": lambda: gov.start_canary("total", 2),
         "rollback_canary": lambda: gov.rollback("total"),
         "rollback": lambda: gov.rollback("total"),
         "quarantine": lambda: gov.quarantine("total", 3, actor="alice", reason="bad"),
         "release": lambda: gov.release("total", 3, actor="alice", reason="fine")}[step]()
    monkeypatch.undo()
    assert (store.list_aliases("total"), [v.status for v in store.history("total")], len(store.events())) == before
    _consistent(store)


def test_a_transition_refuses_a_status_changed_since_it_was_read(store):
    """A version quarantined between governance's read and its promotion is not promoted."""
    gov = Governance(store)
    store.put_version(V1)
    stale = store.get_version("total", 1)
    gov.quarantine("total", 1, actor="alice", reason="found something")
    monkey = Governance(store)
    monkey.version = lambda name, ref=None: stale  # type: ignore[method-assign]  # governance read it before
    with pytest.raises(ConflictError, match="quarantined now"):
        monkey.promote("total", 1, actor="alice", reason="override", force=True)
    assert store.get_alias("total", "promoted") is None
    assert store.get_version("total", 1).status is VersionStatus.QUARANTINED


# -- people stay in the loop ------------------------------------------------------------------


def test_an_ungated_promotion_needs_force_and_a_reason(tmp_path):
    store = open_store(tmp_path / "lib.db")
    gov = Governance(store)
    store.put_version(V1)
    with pytest.raises(ValidationError, match="has not passed its gate.*--force --reason"):
        gov.promote("total", 1, actor="alice")
    with pytest.raises(ValidationError, match="needs --reason"):
        gov.promote("total", 1, actor="alice", force=True)
    with pytest.raises(ValidationError, match="needs --reason"):
        gov.promote("total", 1, actor="alice", force=True, reason="   ")
    assert store.get_alias("total", "promoted") is None
    gov.promote("total", 1, actor="alice", force=True, reason="reviewed by hand")
    (e,) = store.events(type="promoted")
    assert (e.actor, e.reason, e.payload["forced"], e.payload["gate_passed"]) == ("alice", "reviewed by hand", True, False)
    # a gated version needs neither
    store.put_version(V2)
    _gated(store, gov, 2)
    gov.promote("total", 2, actor="bob")
    e = store.events(type="promoted")[-1]
    assert (e.payload["forced"], e.payload["gate_passed"]) == (False, True)
    store.close()


def test_a_dashboard_promotion_past_the_gate_needs_a_reason(tmp_path):
    from fastapi.testclient import TestClient

    from skillbank.serve.app import create_app
    from skillbank.serve.dashboard import _csrf
    from skillbank.serve.tokens import TokenRegistry

    store = open_store(tmp_path / "lib.db")
    store.put_version(V1)
    secret = TokenRegistry(store).create("default", "admin")[0]
    client = TestClient(create_app(store))
    client.get("/login")  # the login form's own CSRF value (issue 27)
    r = client.post("/login", data={"token": secret, "csrf": client.cookies.get(LOGIN_CSRF_COOKIE)},
                    follow_redirects=False)
    assert r.status_code in (302, 303)
    page = client.get("/skills/total")
    assert 'name="reason"' in page.text
    r = client.post("/skills/total/promote", data={"version": "1", "csrf": _csrf(secret)})
    assert "has not passed its gate" in r.text and store.get_alias("total", "promoted") is None
    r = client.post("/skills/total/promote", data={"version": "1", "csrf": _csrf(secret), "reason": "looked at it"})
    assert store.get_alias("total", "promoted").version == 1
    (e,) = store.events(type="promoted")
    assert e.reason == "looked at it" and e.payload["forced"] is True and e.actor.endswith("/dashboard")
    store.close()
