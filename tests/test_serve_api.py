"""`skillbank serve`: the REST API, scoped tokens, the remote `LibraryStore` over HTTP, and
`skillbank run` against a served library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
pytest.importorskip("uvicorn", reason="the REST API needs the `web` extra (uvicorn)")

from fastapi.testclient import TestClient  # noqa: E402
from http_server import serve_in_thread  # noqa: E402

from skillbank.cli import main  # noqa: E402
from skillbank.errors import ConflictError, NotFoundError, PermissionDeniedError  # noqa: E402
from skillbank.serve.app import create_app  # noqa: E402
from skillbank.serve.guard import AccessAudit  # noqa: E402
from skillbank.serve.tokens import TokenRegistry  # noqa: E402
from skillbank.store import Provenance, VersionStatus, open_store  # noqa: E402
from skillbank.store.http import HttpLibraryStore  # noqa: E402

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"


@pytest.fixture()
def lib(tmp_path: Path):
    store = open_store(tmp_path / "lib.db")
    store.create_namespace("team-a")
    store.create_namespace("team-b")
    yield store
    store.close()


@pytest.fixture()
def tokens(lib):
    reg = TokenRegistry(lib)
    out = {}
    for ns in ("team-a", "team-b"):
        for role in ("read", "write", "admin"):
            out[(ns, role)] = reg.create(ns, role, label=f"{ns}-{role}")[0]
    return out


@pytest.fixture()
def client(lib):
    # flush_interval_s=0: the refused-request log is written at once, for the assertions
    return TestClient(create_app(lib, audit=AccessAudit(lib, flush_interval_s=0)))


def _h(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _denials(lib, ns: str) -> int:
    """Refusals aimed at `ns`, in the refused-request log (never in the namespace's events)."""
    assert lib.events(namespace=ns, type="access_denied") == []
    return len([s for s in lib.access_denials(limit=1000)["samples"] if s["namespace"] == ns])


def test_token_is_shown_once_and_only_its_hash_is_kept(lib, tmp_path) -> None:
    secret, tok = TokenRegistry(lib).create("team-a", "read")
    assert secret.startswith("sbk_") and len(secret) > 40
    raw = (tmp_path / "lib.db").read_bytes()
    assert secret.encode() not in raw
    assert TokenRegistry(lib).lookup(secret) == tok
    assert TokenRegistry(lib).lookup(secret + "x") is None


def test_missing_and_unknown_tokens_are_401_json_and_audited(client, lib) -> None:
    r = client.get("/api/v1/namespaces/team-a/skills")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = client.get("/api/v1/namespaces/team-a/skills", headers=_h("sbk_nope"))
    assert r.status_code == 401 and "unknown or revoked" in r.json()["detail"]
    assert _denials(lib, "team-a") == 2


def test_read_token_reads_but_cannot_write(client, lib, tokens) -> None:
    lib.put_version(V1, namespace="team-a")
    h = _h(tokens[("team-a", "read")])
    r = client.get("/api/v1/namespaces/team-a/skills", headers=h)
    assert r.status_code == 200 and [v["name"] for v in r.json()] == ["total"]
    assert client.get("/api/v1/namespaces/team-a/skills/total/versions/1", headers=h).json()["source"] == V1
    before = len(lib.list_versions(namespace="team-a", latest_only=False))
    r = client.post("/api/v1/namespaces/team-a/versions", headers=h, json={"source": V2})
    assert r.status_code == 403 and r.json()["error"] == "forbidden" and "'write'" in r.json()["detail"]
    assert len(lib.list_versions(namespace="team-a", latest_only=False)) == before
    r = client.put("/api/v1/namespaces/team-a/skills/total/aliases/promoted", headers=h,
                   json={"version": 1, "expected_generation": None})
    assert r.status_code == 403 and lib.get_alias("total", "promoted", namespace="team-a") is None
    assert _denials(lib, "team-a") == 2


def test_namespace_a_token_neither_reads_nor_changes_namespace_b(client, lib, tokens) -> None:
    vb, _ = lib.put_version(V1, namespace="team-b")
    h = _h(tokens[("team-a", "admin")])
    for method, path, body in [
        ("GET", "/api/v1/namespaces/team-b/skills", None),
        ("GET", "/api/v1/namespaces/team-b/skills/total/versions/1", None),
        ("POST", "/api/v1/namespaces/team-b/versions", {"source": V2}),
        ("GET", f"/api/v1/versions/{vb.id}", None),
        ("POST", f"/api/v1/versions/{vb.id}/status", {"status": "promoted"}),
        ("POST", f"/api/v1/versions/{vb.id}/calls", {"ok": True, "latency_s": 0.1}),
    ]:
        r = client.request(method, path, headers=h, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert lib.get_version_by_id(vb.id).status is VersionStatus.CANDIDATE
    assert len(lib.history("total", namespace="team-b")) == 1
    assert lib.call_stats(vb.id).calls == 0
    assert client.get("/api/v1/namespaces", headers=h).json() == ["team-a"]


def test_write_token_saves_and_only_governance_promotes(client, lib, tokens) -> None:
    w, a = _h(tokens[("team-a", "write")]), _h(tokens[("team-a", "admin")])
    r = client.post("/api/v1/namespaces/team-a/versions", headers=w,
                    json={"source": V1, "provenance": {"created_by": "agent", "task_id": "t1"}, "actor": "bot"})
    assert r.status_code == 200 and r.json()["created"] is True
    vid = r.json()["version"]["id"]
    assert r.json()["version"]["provenance"]["task_id"] == "t1"
    for h in (w, a):  # no token saves a version as anything but a candidate, or moves `promoted` by hand
        r = client.post("/api/v1/namespaces/team-a/versions", headers=h, json={"source": V2, "status": "promoted"})
        assert r.status_code == 403 and "candidate" in r.json()["detail"]
        r = client.put("/api/v1/namespaces/team-a/skills/total/aliases/promoted", headers=h,
                       json={"version": 1, "expected_generation": None})
        assert r.status_code == 403 and "governance" in r.json()["detail"]
        r = client.post(f"/api/v1/versions/{vid}/status", headers=h, json={"status": "promoted"})
        assert r.status_code == 403
    r = client.put("/api/v1/namespaces/team-a/skills/total/aliases/mine", headers=w,
                   json={"version": 1, "expected_generation": None})
    assert r.status_code == 200 and r.json()["generation"] == 1
    # the admin's way: governance's endpoint, past the gate only with force and a reason
    r = client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                    json={"version": 1, "expected_generation": None})
    assert r.status_code == 422 and "has not passed its gate" in r.json()["detail"]
    r = client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                    json={"version": 1, "expected_generation": None, "force": True, "reason": "known good"})
    assert r.status_code == 200
    assert lib.get_version_by_id(vid).status is VersionStatus.PROMOTED
    moved = lib.events(namespace="team-a", type="alias_moved")
    assert moved[-1].actor.startswith("token:") and moved[-1].reason == "known good"
    # a stale compare-and-set is a 409
    assert client.post("/api/v1/namespaces/team-a/versions", headers=w, json={"source": V2}).status_code == 200
    r = client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                    json={"version": 2, "expected_generation": None, "force": True, "reason": "stale"})
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert lib.get_alias("total", "promoted", namespace="team-a").version == 1


def test_revoked_token_stops_at_once(client, lib, tokens) -> None:
    secret = tokens[("team-a", "read")]
    assert client.get("/api/v1/whoami", headers=_h(secret)).status_code == 200
    tok = TokenRegistry(lib).lookup(secret)
    TokenRegistry(lib).revoke(tok.id)
    assert client.get("/api/v1/whoami", headers=_h(secret)).status_code == 401
    with pytest.raises(NotFoundError):
        TokenRegistry(lib).revoke("nosuch")


def test_bad_input_is_a_json_422_and_writes_nothing(client, lib, tokens) -> None:
    w = _h(tokens[("team-a", "write")])
    r = client.post("/api/v1/namespaces/team-a/versions", headers=w, json={"source": "def broken(:\n"})
    assert r.status_code == 422 and r.json()["error"] == "invalid"
    r = client.post("/api/v1/namespaces/team-a/versions", headers=w, json={"source": "x" * 300_000})
    assert r.status_code == 422
    r = client.get("/api/v1/namespaces/team-a/skills/nosuch/versions/1", headers=w)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert lib.list_versions(namespace="team-a") == []


def test_openapi_spec_is_served(client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "skillbank"
    assert "/api/v1/namespaces/{ns}/skills" in spec["paths"]


# -- a real server on loopback ------------------------------------------------------------


@pytest.fixture()
def served(tmp_path: Path):
    """A library served by uvicorn in a thread: (url, store, token registry, runs_dir)."""
    store = open_store(tmp_path / "served.db")
    store.create_namespace("team-a")
    runs_dir = tmp_path / "runs"
    with serve_in_thread(create_app(store, runs_dir=runs_dir)) as url:
        yield url, store, TokenRegistry(store), runs_dir
    store.close()


def test_remote_store_speaks_the_library_interface(served) -> None:
    url, store, reg, _ = served
    write = reg.create("team-a", "write")[0]
    with HttpLibraryStore(url, write) as remote:
        v1, created = remote.put_version(V1, namespace="team-a", provenance=Provenance(created_by="agent", task_id="t1"),
                                         actor="bot")
        assert created and v1 == store.get_version("total", 1, namespace="team-a")
        v2, _ = remote.put_version(V2, namespace="team-a")
        assert [v.version for v in remote.history("total", namespace="team-a")] == [1, 2]
        assert remote.get_version("total", namespace="team-a") == v2
        assert remote.get_version_by_id(v1.id) == v1
        assert "x for x in xs if x" in remote.diff("total", 1, 2, namespace="team-a")
        a = remote.set_alias("total", "stable", 1, expected_generation=None, namespace="team-a", actor="bot")
        with pytest.raises(ConflictError):
            remote.set_alias("total", "stable", 2, expected_generation=None, namespace="team-a", actor="bot")
        assert remote.get_alias("total", "stable", namespace="team-a") == a
        assert remote.list_aliases("total", namespace="team-a") == [a]
        remote.record_call(v2.id, ok=True, latency_s=0.5)
        assert remote.call_stats(v2.id).calls == 1
        e = remote.record_event("called", namespace="team-a", name="total", version_id=v2.id, actor="bot", payload={"k": 1})
        assert e.payload == {"k": 1}
        assert [x.type for x in remote.events(namespace="team-a", name="total")][-1] == "called"
        assert [v.name for v in remote.list_versions(namespace="team-a", latest_only=False)] == ["total", "total"]
        with pytest.raises(PermissionDeniedError):
            remote.set_status(v2.id, VersionStatus.PROMOTED, actor="bot")
        with pytest.raises(PermissionDeniedError):
            remote.list_versions(namespace="default")
        with pytest.raises(NotFoundError):
            remote.get_version("nosuch", namespace="team-a")
        # the change cursor a remote run's retrieval follows
        cursor, visible = remote.retrievable_versions(namespace="team-a", statuses=[VersionStatus.CANDIDATE])
        assert [v.version for v in visible] == [1, 2] and remote.changes_since(cursor, namespace="team-a").names == ()
        remote.put_version(V1.replace("sum(xs)", "int(sum(xs))"), namespace="team-a")
        ch = remote.changes_since(cursor, namespace="team-a")
        assert ch.names == ("total",) and [v.version for v in ch.versions] == [1, 2, 3] and ch.cursor > cursor


def test_skillbank_run_against_a_served_library(served, tmp_path) -> None:
    url, store, reg, runs_dir = served
    write = reg.create("team-a", "write")[0]
    env = {**os.environ, "SKILLBANK_LIBRARY": url, "SKILLBANK_TOKEN": write}
    proc = subprocess.run(
        [sys.executable, "-m", "skillbank.cli", "run", "--policy", "expert", "--split", "dev", "--limit", "3",
         "--namespace", "team-a", "--runs-dir", str(runs_dir), "--json"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["tgc"] == 1.0
    saved = store.list_versions(namespace="team-a", latest_only=False)
    assert saved, "the run saved its skills into the served library"
    assert all(v.status is VersionStatus.CANDIDATE for v in saved)
    # governance on (the default) against a served library: the client writes no evidence,
    # so nothing is refused or fails, and the summary says whose governance it is
    assert summary["governance"]["mode"] == "served"
    assert store.events(namespace="team-a", type=["access_denied", "governance_error", "observed"]) == []


def test_cli_tokens_create_ls_revoke(capsys, tmp_path) -> None:
    lib = str(tmp_path / "t.db")
    assert main(["tokens", "create", "--namespace", "default", "--role", "write", "--library", lib, "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["token"].startswith("sbk_") and made["role"] == "write"
    assert main(["tokens", "ls", "--library", lib, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in listed] == [made["id"]] and "token" not in listed[0]
    assert main(["tokens", "revoke", made["id"], "--library", lib, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"]
    assert main(["tokens", "create", "--namespace", "default", "--role", "root", "--library", lib]) == 1
    assert "unknown role 'root'" in capsys.readouterr().err


def test_governance_routes_promote_rollback_and_reports(client, lib, tokens) -> None:
    from skillbank.governance import Governance

    a, r = _h(tokens[("team-a", "admin")]), _h(tokens[("team-a", "read")])
    lib.put_version(V1, namespace="team-a")
    lib.put_version(V2, namespace="team-a")
    Governance(lib, namespace="team-a").redteam("total", 2, run=False)
    assert client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=r, json={"version": 1}).status_code == 403
    moved = client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                        json={"version": 1, "expected_generation": None, "reason": "first", "force": True})
    assert moved.status_code == 200 and moved.json()["action"] == "promoted"
    stale = client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                        json={"version": 2, "expected_generation": 7, "force": True, "reason": "stale"})
    assert stale.status_code == 409
    assert client.post("/api/v1/namespaces/team-a/skills/total/promote", headers=a,
                       json={"version": 2, "expected_generation": 1, "force": True, "reason": "second"}).status_code == 200
    back = client.post("/api/v1/namespaces/team-a/skills/total/rollback", headers=a, json={"expected_generation": 2})
    assert back.status_code == 200 and back.json()["version"] == 1
    assert lib.get_alias("total", "promoted", namespace="team-a").version == 1
    assert lib.get_version("total", 2, namespace="team-a").status is VersionStatus.RETIRED
    found = client.get("/api/v1/namespaces/team-a/skills/total/findings", headers=r).json()
    assert len(found) == 1 and found[0]["payload"]["quarantined"] is False
    assert client.get("/api/v1/namespaces/team-a/skills/total/evaluations", headers=r).json() == []
    assert client.get("/api/v1/namespaces/team-a/canaries", headers=r).json() == []
    assert client.get("/api/v1/namespaces/team-a/skills/nosuch/findings", headers=r).status_code == 404
    v3, _ = lib.put_version(V1.replace("sum(xs)", "int(sum(xs))"), namespace="team-a")
    Governance(lib, namespace="team-a").start_canary("total", 3)
    (row,) = client.get("/api/v1/namespaces/team-a/canaries", headers=r).json()
    assert (row["name"], row["canary"], row["promoted"], row["canary_calls"]["calls"]) == ("total", 3, 1, 0)
    assert client.post("/api/v1/namespaces/team-a/skills/total/rollback", headers=a, json={}).json()["action"] == "rolled_back"
    assert client.get("/api/v1/namespaces/team-a/canaries", headers=r).json() == []
