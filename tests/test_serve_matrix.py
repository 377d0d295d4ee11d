"""Every route of `skillbank serve` (REST and dashboard) against every kind of caller:
none, a bogus token, a revoked one, read / write / admin of the route's namespace, and
admin of another namespace. Each cell runs on a fresh library, so an allowed write is
judged alone. Run this file as a script to print the matrix."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")

from fastapi.testclient import TestClient

from skillbank.serve.app import create_app
from skillbank.serve.dashboard import LOGIN_CSRF_COOKIE
from skillbank.serve.guard import AccessAudit
from skillbank.serve.tokens import TokenRegistry
from skillbank.store import VersionStatus, open_store

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"
V3 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return int(sum(xs))\n"
KINDS = ("none", "bogus", "revoked", "read", "write", "admin", "other-ns admin")
RUN_ID = "20250101-000000-aaaaaa"
A = "/api/v1/namespaces/team-a"

# (label, method, path, json body or form, minimal role; "dash" routes use the cookie;
# "governance": refused for every token, since only governance writes it)
ROUTES: list[tuple[str, str, str, Any, str]] = [
    ("whoami", "GET", "/api/v1/whoami", None, "read"),
    ("namespaces", "GET", "/api/v1/namespaces", None, "read"),
    ("list skills", "GET", f"{A}/skills", None, "read"),
    ("history", "GET", f"{A}/skills/total/versions", None, "read"),
    ("get version", "GET", f"{A}/skills/total/versions/1", None, "read"),
    ("diff", "GET", f"{A}/skills/total/diff?v1=1&v2=2", None, "read"),
    ("version by id", "GET", "/api/v1/versions/{v1}", None, "read"),
    ("changes", "GET", f"{A}/changes?cursor=0", None, "read"),
    ("retrievable", "GET", f"{A}/retrievable?run_id=r1", None, "read"),
    ("aliases", "GET", f"{A}/aliases", None, "read"),
    ("get alias", "GET", f"{A}/skills/total/aliases/promoted", None, "read"),
    ("events", "GET", f"{A}/events", None, "read"),
    ("stats", "GET", "/api/v1/versions/{v1}/stats", None, "read"),
    ("evaluations", "GET", f"{A}/skills/total/evaluations", None, "read"),
    ("findings", "GET", f"{A}/skills/total/findings", None, "read"),
    ("canaries", "GET", f"{A}/canaries", None, "read"),
    ("runs", "GET", "/api/v1/runs", None, "read"),
    ("run", "GET", f"/api/v1/runs/{RUN_ID}", None, "read"),
    ("save candidate", "POST", f"{A}/versions", {"source": V3.replace("int(", "abs(")}, "write"),
    ("move own alias", "PUT", f"{A}/skills/total/aliases/mine", {"version": 1, "expected_generation": None}, "write"),
    ("record event", "POST", f"{A}/events", {"type": "note", "payload": {"k": 1}}, "write"),
    ("record call", "POST", "/api/v1/versions/{v1}/calls", {"ok": True, "latency_s": 0.1}, "write"),
    ("save as promoted", "POST", f"{A}/versions", {"source": V3.replace("int(", "abs("), "status": "promoted"}, "governance"),
    ("move promoted", "PUT", f"{A}/skills/total/aliases/promoted", {"version": 3, "expected_generation": 2}, "governance"),
    ("move Promoted", "PUT", f"{A}/skills/total/aliases/Promoted", {"version": 2, "expected_generation": None}, "governance"),
    ("move CANARY", "PUT", f"{A}/skills/total/aliases/CANARY", {"version": 2, "expected_generation": None}, "governance"),
    ("set status", "POST", "/api/v1/versions/{v1}/status", {"status": "quarantined"}, "governance"),
    ("governance event", "POST", f"{A}/events", {"type": "promoted"}, "governance"),
    ("promote", "POST", f"{A}/skills/total/promote", {"version": 3, "force": True, "reason": "matrix"}, "admin"),
    ("rollback", "POST", f"{A}/skills/total/rollback", {"version": 1}, "admin"),
    ("dash overview", "GET", "/", None, "dash-read"),
    ("dash skill", "GET", "/skills/total", None, "dash-read"),
    ("dash runs", "GET", "/runs", None, "dash-read"),
    ("dash run", "GET", f"/runs/{RUN_ID}", None, "dash-read"),
    ("dash canaries", "GET", "/canaries", None, "dash-read"),
    ("dash promote", "POST", "/skills/total/promote", {"version": "3"}, "dash-admin"),
    ("dash logout", "POST", "/logout", {}, "dash-read"),
]


def _world(tmp: Path) -> tuple[Any, dict[str, str], dict[str, str], Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    store = open_store(tmp / "lib.db")
    for ns in ("team-a", "team-b"):
        store.create_namespace(ns)
    v1, _ = store.put_version(V1, namespace="team-a")
    v2, _ = store.put_version(V2, namespace="team-a")
    store.put_version(V3, namespace="team-a")
    store.set_alias("total", "promoted", 1, expected_generation=None, namespace="team-a", actor="t")
    store.set_alias("total", "promoted", 2, expected_generation=1, namespace="team-a", actor="t")
    store.set_status(v2.id, VersionStatus.PROMOTED, actor="t")
    reg = TokenRegistry(store)
    secrets = {role: reg.create("team-a", role)[0] for role in ("read", "write", "admin")}
    secrets["other-ns admin"] = reg.create("team-b", "admin")[0]
    revoked, tok = reg.create("team-a", "admin")
    reg.revoke(tok.id)
    secrets["revoked"] = revoked
    secrets["bogus"] = "sbk_" + "x" * 43
    runs = tmp / "runs" / RUN_ID
    runs.mkdir(parents=True)
    (runs / "config.json").write_text(json.dumps({"namespace": "team-a", "policy": "expert", "split": "dev"}))
    (runs / "episodes.jsonl").write_text(json.dumps({"scenario_id": "s", "success": True, "turns": []}) + "\n")
    (runs / "summary.json").write_text(json.dumps({"tgc": 1.0}))
    return store, secrets, {"v1": v1.id, "v2": v2.id}, tmp / "runs"


def cell(tmp: Path, route: tuple[str, str, str, Any, str], kind: str) -> int:
    _, method, path, body, _ = route
    store, secrets, ids, runs_dir = _world(tmp)
    try:
        c = TestClient(create_app(store, runs_dir=runs_dir, audit=AccessAudit(store, flush_interval_s=3600)))
        path = path.format(**ids)
        secret = secrets.get(kind)
        if not path.startswith("/api/"):
            if secret is not None:
                c.get("/login")
                c.post("/login", data={"token": secret, "csrf": c.cookies.get(LOGIN_CSRF_COOKIE)})
            if method == "POST":
                page = c.get("/skills/total").text
                found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
                data = {**(body or {}), "csrf": found.group(1) if found else ""}
                return c.post(path, data=data, follow_redirects=False).status_code
            return c.get(path, follow_redirects=False).status_code
        headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
        return c.request(method, path, headers=headers, json=body).status_code
    finally:
        store.close()


def _expected(role: str, kind: str, label: str) -> set[int]:
    dash = role.startswith("dash")
    need = role.split("-")[-1]
    if kind in ("none", "bogus", "revoked"):
        return {303} if dash else {401}
    if kind == "other-ns admin":
        if label in ("whoami", "namespaces", "runs") or (dash and label != "dash run" and label != "dash skill"):
            return {200, 303}  # its own namespace's view (empty), or a redirect after a POST
        if label in ("run", "dash run", "dash skill"):
            return {404}  # another namespace's run / skill: not found, like one that does not exist
        return {403}
    if need == "governance":
        return {403}  # governance's own writes: no token of any role (issue 24), admins use its endpoints
    order = ("read", "write", "admin")
    if order.index(kind) < order.index(need):
        return {403}
    return {200, 303}


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_route_by_token_kind(route, tmp_path) -> None:
    got = {kind: cell(tmp_path / kind.replace(" ", "_"), route, kind) for kind in KINDS}
    want = {kind: _expected(route[4], kind, route[0]) for kind in KINDS}
    assert all(got[k] in want[k] for k in KINDS), {k: (got[k], sorted(want[k])) for k in KINDS if got[k] not in want[k]}


if __name__ == "__main__":  # print the matrix (markdown)
    import tempfile

    print("| route | " + " | ".join(KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for route in ROUTES:
        with tempfile.TemporaryDirectory() as d:
            row = [str(cell(Path(d) / k.replace(" ", "_"), route, k)) for k in KINDS]
        print(f"| {route[0]} (`{route[1]} {route[2].replace(A, '/ns/A')}`) | " + " | ".join(row) + " |")
    sys.exit(0)
