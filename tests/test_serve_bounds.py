"""Issue 27, serve v2: runs belong to a namespace and carry no secret; every request is
bounded (body, payload depth and size, integer ranges, pages); refused requests go to a
log of their own that a flood cannot grow; reserved aliases in any case, no
cross-namespace references, CSRF on login and a POST logout; the access log names token
ids, never tokens."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
pytest.importorskip("jinja2", reason="the dashboard needs the `web` extra (jinja2)")

from fastapi.testclient import TestClient

from http_server import serve_in_thread
from skillbank.agent.trace import RunWriter
from skillbank.errors import NotFoundError, ValidationError
from skillbank.redact import redact, redact_text
from skillbank.serve.app import MAX_EVENTS_REPLY_BYTES, create_app
from skillbank.serve.dashboard import LOGIN_CSRF_COOKIE
from skillbank.serve.guard import AccessAudit
from skillbank.serve.tokens import TokenRegistry
from skillbank.store import Provenance, VersionStatus, open_store
from skillbank.store.http import HttpLibraryStore
from skillbank.store.limits import UNRENDERABLE_KEY

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"
PG_URL = "postgresql://alice:s3cr3t-pw@db.internal:5432/skills"
BIG = 2**63


def _src(name: str, body: str = "return 1") -> str:
    return f"def {name}() -> int:\n    '''{name}.'''\n    {body}\n"


@pytest.fixture()
def lib(tmp_path: Path):
    store = open_store(tmp_path / "lib.db")
    for ns in ("team-a", "team-b"):
        store.create_namespace(ns)
    yield store
    store.close()


@pytest.fixture()
def tokens(lib) -> dict[tuple[str, str], str]:
    reg = TokenRegistry(lib)
    return {(ns, role): reg.create(ns, role)[0] for ns in ("team-a", "team-b") for role in ("read", "write", "admin")}


def _write_run(runs_dir: Path, run_id: str, namespace: str | None, library: str = PG_URL, *, raw: bool = False) -> None:
    """A finished run directory; `raw` writes config.json as an older skillbank did
    (no redaction), `namespace=None` as one recorded before runs had a namespace."""
    config: dict[str, Any] = {"run_id": run_id, "policy": "expert", "split": "dev", "library": library,
                              "policy_config": {"base_url": "https://bob:hunter2@llm.example/v1?api_key=abc123"}}
    if namespace is not None:
        config["namespace"] = namespace
    if raw:
        d = runs_dir / run_id
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(config))
    else:
        RunWriter(runs_dir, run_id).write_config(config)
    episode = {"episode_id": f"{run_id}:t1", "task_id": "t1", "scenario_id": "s1", "success": True, "turns": [],
               "system_prompt": f"supervisor of {namespace}: private", "completion_tokens": 3}
    (runs_dir / run_id / "episodes.jsonl").write_text(json.dumps(episode) + "\n")
    (runs_dir / run_id / "summary.json").write_text(json.dumps({"tgc": 1.0, "sgc": 1.0, "mean_steps": 1.0,
                                                                "mean_tokens": 3.0}))


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    d = tmp_path / "runs"
    _write_run(d, "20250101-000000-aaaaaa", "team-a")
    _write_run(d, "20250102-000000-bbbbbb", "team-b")
    _write_run(d, "20250103-000000-cccccc", "team-b", raw=True)  # written before the redaction
    _write_run(d, "20240101-000000-dddddd", None, raw=True)  # before runs recorded a namespace: default
    return d


@pytest.fixture()
def client(lib, runs):
    return TestClient(create_app(lib, runs_dir=runs, audit=AccessAudit(lib, flush_interval_s=0)))


def _h(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _login(client: TestClient, secret: str) -> None:
    client.get("/login")
    r = client.post("/login", data={"token": secret, "csrf": client.cookies.get(LOGIN_CSRF_COOKIE)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


# -- 1. runs belong to a namespace; no secret in a run ------------------------------------


def test_redaction_masks_url_credentials_and_secret_parameters() -> None:
    assert redact_text(PG_URL) == "postgresql://alice:***@db.internal:5432/skills"
    assert redact_text("postgresql+psycopg://u:p%40ss@h/db") == "postgresql+psycopg://u:***@h/db"
    assert redact_text("postgresql://h/db?user=u&password=pw&sslmode=require") == \
        "postgresql://h/db?user=u&password=***&sslmode=require"
    assert redact_text("https://ghp_tokenvalue@github.com/x") == "https://***@github.com/x"
    assert redact_text("sqlite:////tmp/lib.db") == "sqlite:////tmp/lib.db"
    assert redact({"a": [PG_URL], "b": 3}) == {"a": ["postgresql://alice:***@db.internal:5432/skills"], "b": 3}


def test_run_config_is_written_without_credentials(runs) -> None:
    text = (runs / "20250101-000000-aaaaaa" / "config.json").read_text()
    assert "s3cr3t-pw" not in text and "hunter2" not in text and "abc123" not in text
    assert json.loads(text)["library"] == "postgresql://alice:***@db.internal:5432/skills"


def test_rest_runs_are_listed_and_read_only_with_their_namespace_tokens(client, tokens) -> None:
    a, b = _h(tokens[("team-a", "read")]), _h(tokens[("team-b", "read")])
    assert [r["run_id"] for r in client.get("/api/v1/runs", headers=a).json()] == ["20250101-000000-aaaaaa"]
    listed_b = client.get("/api/v1/runs", headers=b).json()
    assert [r["run_id"] for r in listed_b] == ["20250103-000000-cccccc", "20250102-000000-bbbbbb"]
    # a run recorded raw (before the redaction) is served masked
    served = json.dumps(listed_b)
    assert "s3cr3t-pw" not in served and "hunter2" not in served and "abc123" not in served
    for run_id in ("20250102-000000-bbbbbb", "20250102", "20240101-000000-dddddd"):
        r = client.get(f"/api/v1/runs/{run_id}", headers=a)
        assert r.status_code == 404, (run_id, r.text)
        # exactly what a run that does not exist gets: nothing said about other namespaces
        nothing = client.get("/api/v1/runs/zz-none", headers=a)
        assert r.json()["detail"].replace(run_id, "X") == nothing.json()["detail"].replace("zz-none", "X")
    mine = client.get("/api/v1/runs/latest", headers=a).json()
    assert mine["run_id"] == "20250101-000000-aaaaaa" and mine["episodes"][0]["system_prompt"].endswith("team-a: private")
    assert client.get("/api/v1/runs/2025", headers=a).json()["run_id"] == "20250101-000000-aaaaaa"
    # a run recorded before runs had a namespace belongs to default
    d = _h(TokenRegistry(client.app.state.store).create("default", "read")[0])
    assert [r["run_id"] for r in client.get("/api/v1/runs", headers=d).json()] == ["20240101-000000-dddddd"]
    # paged
    assert [r["run_id"] for r in client.get("/api/v1/runs?limit=1&offset=1", headers=b).json()] == \
        ["20250102-000000-bbbbbb"]
    assert client.get("/api/v1/runs?limit=0", headers=b).status_code == 422


def test_dashboard_runs_are_the_namespace_s_own(client, tokens) -> None:
    _login(client, tokens[("team-a", "read")])
    page = client.get("/runs").text
    assert "20250101-000000-aaaaaa" in page and "bbbbbb" not in page and "cccccc" not in page
    assert client.get("/runs/20250102-000000-bbbbbb").status_code == 404
    assert client.get("/runs/20250102-000000-bbbbbb/figures/tgc.png").status_code == 404
    assert client.get("/runs/20250101-000000-aaaaaa").status_code == 200


def test_a_run_against_a_postgres_url_with_a_password_records_none(postgres_url, tmp_path) -> None:
    from skillbank.cli import main

    with_password = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:pg-secret-1@")
    assert "pg-secret-1" in with_password  # the test server trusts loopback, so it still connects
    runs_dir = tmp_path / "runs"
    assert main(["run", "--policy", "expert", "--split", "dev", "--limit", "2", "--library", with_password,
                 "--runs-dir", str(runs_dir), "--json"]) == 0
    (run_dir,) = list(runs_dir.iterdir())
    for f in run_dir.iterdir():
        assert "pg-secret-1" not in f.read_text(), f.name
    assert "://postgres:***@127.0.0.1:" in json.loads((run_dir / "config.json").read_text())["library"]


# -- 2. every request bounded ---------------------------------------------------------------


def test_bodies_over_the_cap_are_413_with_or_without_content_length(lib, tokens) -> None:
    c = TestClient(create_app(lib, max_body_bytes=10_000))
    w = _h(tokens[("team-a", "write")])
    r = c.post("/api/v1/namespaces/team-a/events", headers=w, json={"type": "note", "payload": {"x": "y" * 20_000}})
    assert r.status_code == 413 and r.json()["error"] == "too_large"

    def chunks():
        yield b'{"type": "note", "payload": {"x": "'
        for _ in range(30):
            yield b"y" * 1000
        yield b'"}}'

    r = c.post("/api/v1/namespaces/team-a/events", headers={**w, "content-type": "application/json"}, content=chunks())
    assert r.status_code == 413
    assert lib.events(namespace="team-a", type="note") == []
    r = c.post("/api/v1/namespaces/team-a/events", headers=w, json={"type": "note", "payload": {"x": "small"}})
    assert r.status_code == 200


def _nested(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        out = {"a": out}
    return out


def test_payloads_and_provenance_over_their_caps_are_refused_at_write(client, lib, tokens) -> None:
    w = _h(tokens[("team-a", "write")])
    cases = [
        ("POST", "/api/v1/namespaces/team-a/events", {"type": "note", "payload": _nested(300)}, 422),
        ("POST", "/api/v1/namespaces/team-a/events", {"type": "note", "payload": _nested(33)}, 422),
        ("POST", "/api/v1/namespaces/team-a/events", {"type": "note", "payload": {"x": "y" * 300_000}}, 413),
        ("POST", "/api/v1/namespaces/team-a/events", {"type": "note", "name": "n" * 150}, 422),
        ("POST", "/api/v1/namespaces/team-a/versions", {"source": V1, "provenance": {"created_by": "c" * 300}}, 422),
        ("POST", "/api/v1/namespaces/team-a/versions", {"source": V1, "provenance": {"query": "q" * 70_000}}, 413),
        ("POST", "/api/v1/namespaces/team-a/versions", {"source": V1, "provenance": {"task_id": "t" * 3_000_000}}, 413),
    ]
    for method, path, body, status in cases:
        r = client.request(method, path, headers=w, json=body)
        assert r.status_code == status, (path, str(body)[:80], r.status_code, r.text[:200])
        assert r.headers["content-type"].startswith("application/json")
    assert lib.events(namespace="team-a", type="note") == [] and lib.list_versions(namespace="team-a") == []
    r = client.post("/api/v1/namespaces/team-a/events", headers=w, json={"type": "note", "payload": _nested(32)})
    assert r.status_code == 200
    with pytest.raises(ValidationError, match="nested more than 32"):
        lib.record_event("note", namespace="team-a", actor="x", payload=_nested(40))


def _poison(db: Path, namespace: str) -> None:
    """Rows written before the limits existed: a 300-deep payload and a 3 MB one."""
    deep = "{\"a\":" * 300 + "1" + "}" * 300
    with sqlite3.connect(db) as raw:
        for payload in (deep, json.dumps({"blob": "z" * 3_000_000})):
            raw.execute("insert into events (type, namespace, name, version_id, actor, reason, payload, at) "
                        "values ('note', ?, 'total', null, 'old', null, ?, '2025-01-01T00:00:00.000000+00:00')",
                        (namespace, payload))


def test_rows_stored_before_the_limits_render_safely(tmp_path, tokens, lib) -> None:
    lib.put_version(V1, namespace="team-a")
    _poison(tmp_path / "lib.db", "team-a")
    with serve_in_thread(create_app(lib)) as url, HttpLibraryStore(url, tokens[("team-a", "read")]) as remote:
        notes = remote.events(namespace="team-a", type="note")
        assert len(notes) == 2 and all(UNRENDERABLE_KEY in e.payload for e in notes)
        assert len(remote.events(namespace="team-a")) == 3  # with the version's "created"
    c = TestClient(create_app(lib))
    _login(c, tokens[("team-a", "read")])
    assert c.get("/").status_code == 200 and c.get("/skills/total").status_code == 200


def test_integers_out_of_range_are_422_never_500(client, lib, tokens) -> None:
    lib.put_version(V1, namespace="team-a")
    lib.put_version(V2, namespace="team-a")
    r, w, a = (_h(tokens[("team-a", k)]) for k in ("read", "write", "admin"))
    base = "/api/v1/namespaces/team-a"
    cases = [
        ("GET", f"{base}/skills/total/versions/{BIG}", r, None),
        ("GET", f"{base}/skills/total/versions/{2**31}", r, None),
        ("GET", f"{base}/skills/total/versions/{10**40}", r, None),
        ("GET", f"{base}/skills/total/diff?v1=1&v2={BIG}", r, None),
        ("GET", f"{base}/changes?cursor={2**64}", r, None),
        ("GET", f"{base}/events?before_id={BIG}", r, None),
        ("PUT", f"{base}/skills/total/aliases/stable", w, {"version": BIG, "expected_generation": None}),
        ("PUT", f"{base}/skills/total/aliases/stable", w, {"version": 1, "expected_generation": BIG}),
        ("PUT", f"{base}/skills/total/aliases/stable", w, {"version": str(BIG), "expected_generation": None}),
        ("POST", f"{base}/skills/total/promote", a, {"version": BIG}),
        ("POST", f"{base}/skills/total/promote", a, {"version": 1, "expected_generation": BIG}),
        ("POST", f"{base}/skills/total/rollback", a, {"version": BIG}),
    ]
    for method, path, h, body in cases:
        resp = client.request(method, path, headers=h, json=body)
        assert resp.status_code == 422, (method, path, body, resp.status_code, resp.text[:200])
    with pytest.raises(ValidationError):
        lib.get_version("total", BIG, namespace="team-a")
    with pytest.raises(ValidationError):
        lib.set_alias("total", "x", 1, expected_generation=BIG, namespace="team-a", actor="t")
    # the dashboard's promote form
    _login(client, tokens[("team-a", "admin")])
    page = client.get("/skills/total").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    for form in ({"version": "1", "generation": "abc"}, {"version": str(BIG)}, {"version": "x1"},
                 {"version": "1", "generation": str(BIG)}):
        resp = client.post("/skills/total/promote", data={**form, "csrf": csrf}, follow_redirects=False)
        assert resp.status_code == 422, (form, resp.status_code)
    assert lib.get_alias("total", "promoted", namespace="team-a") is None


def test_events_reply_stops_at_its_byte_budget_and_the_client_pages_on(tmp_path, tokens, lib) -> None:
    blob = "b" * 200_000
    n = MAX_EVENTS_REPLY_BYTES // 200_000 + 5
    for i in range(n):
        lib.record_event("note", namespace="team-a", actor="t", payload={"i": i, "blob": blob})
    c = TestClient(create_app(lib))
    r = c.get("/api/v1/namespaces/team-a/events?type=note", headers=_h(tokens[("team-a", "read")]))
    assert r.status_code == 200 and len(r.content) <= MAX_EVENTS_REPLY_BYTES + 100_000
    got = r.json()
    assert 0 < len(got) < n and got[-1]["payload"]["i"] == n - 1  # the newest, oldest first
    assert int(r.headers["X-Skillbank-Next-Before-Id"]) == got[0]["id"]
    with serve_in_thread(create_app(lib)) as url, HttpLibraryStore(url, tokens[("team-a", "read")]) as remote:
        assert [e.payload["i"] for e in remote.events(namespace="team-a", type="note")] == list(range(n))
        assert [e.payload["i"] for e in remote.events(namespace="team-a", type="note", limit=3)] == [n - 3, n - 2, n - 1]


def test_lists_are_paged(client, lib, tokens) -> None:
    for i in range(5):
        lib.put_version(_src(f"f{i}"), namespace="team-a")
        lib.set_alias(f"f{i}", "stable", 1, expected_generation=None, namespace="team-a", actor="t")
    lib.put_version(V1, namespace="team-a")
    lib.put_version(V2, namespace="team-a")
    r = _h(tokens[("team-a", "read")])
    base = "/api/v1/namespaces/team-a"
    assert [v["name"] for v in client.get(f"{base}/skills?limit=2&offset=2", headers=r).json()] == ["f2", "f3"]
    assert [v["version"] for v in client.get(f"{base}/skills/total/versions?limit=1&offset=1", headers=r).json()] == [2]
    assert [a["name"] for a in client.get(f"{base}/aliases?limit=2&offset=3", headers=r).json()] == ["f3", "f4"]
    assert len(client.get(f"{base}/events?limit=3", headers=r).json()) == 3
    assert client.get(f"{base}/skills?offset=-1", headers=r).status_code == 422


class _Spy:
    """The store, recording the calls the dashboard makes."""

    def __init__(self, store: Any) -> None:
        self._store, self.calls = store, []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return target(*args, **kwargs)

        return call


def test_dashboard_overview_reads_a_page_not_the_namespace(lib) -> None:
    for i in range(60):
        v, _ = lib.put_version(_src(f"s{i:02d}"), namespace="team-a")
        if i % 7 == 0:
            lib.record_call(v.id, ok=True, latency_s=0.01 * i)
    spy = _Spy(lib)
    c = TestClient(create_app(spy, tokens=TokenRegistry(lib), audit=AccessAudit(lib)))
    _login(c, TokenRegistry(lib).create("team-a", "read")[0])
    first = c.get("/").text
    table = first.split('id="skills"')[1].split("</table>")[0]
    assert "s00" in table and "s49" in table and "s50" not in table and 'id="next-page"' in first
    second = c.get("/?page=2").text.split('id="skills"')[1].split("</table>")[0]
    assert "s50" in second and "s59" in second and "s49" not in second
    assert c.get("/?page=abc").status_code == 200
    for name, kwargs in spy.calls:
        assert not (name == "events" and kwargs.get("limit") is None), kwargs
        assert not (name == "list_versions" and kwargs.get("latest_only") is False), kwargs
        assert name != "call_stats"  # per-version look-ups: the most used come from one query
    most_used = first.split('id="most-used"')[1].split("</table>")[0]
    assert "s00" in most_used and "s56" in most_used and "s01" not in most_used  # from one SQL query


# -- 3. the refused-request log and the access log ---------------------------------------------


def test_a_flood_of_anonymous_requests_neither_reaches_the_event_log_nor_writes_per_request(lib, tokens) -> None:
    lib.put_version(V1, namespace="team-a")
    before = lib.events(namespace=None)
    audit = AccessAudit(lib, flush_interval_s=3600)
    writes = []
    real = lib.record_access_denials

    def counted(*args: Any, **kwargs: Any) -> None:
        writes.append(1)
        real(*args, **kwargs)

    lib.record_access_denials = counted  # type: ignore[method-assign]
    c = TestClient(create_app(lib, audit=audit))
    for _ in range(201):
        assert c.get("/api/v1/namespaces/team-a/events").status_code == 401
    assert c.get("/api/v1/namespaces/" + "n" * 8000 + "/skills", headers=_h(tokens[("team-a", "read")])).status_code == 403
    assert writes == []  # nothing written per request
    audit.flush()
    assert len(writes) == 1
    assert lib.events(namespace=None) == before  # no namespace's log grew
    log = lib.access_denials(limit=1000)
    counts = {(r["client"], r["status"]): r["count"] for r in log["clients"]}
    assert counts[("testclient", 401)] == 201 and counts[("testclient", 403)] == 1
    assert len(log["samples"]) == audit.samples_per_window  # sampled, not every one
    assert all(len(s["path"]) <= 201 and len(s["reason"] or "") <= 301 for s in log["samples"])
    assert all(tokens[("team-a", "read")] not in json.dumps(s) for s in log["samples"])


def test_refused_request_log_keeps_its_newest_samples_only(lib) -> None:
    audit = AccessAudit(lib, flush_interval_s=0, samples_per_window=1000, keep_samples=25)
    c = TestClient(create_app(lib, audit=audit))
    for i in range(40):
        c.get(f"/api/v1/namespaces/default/skills?x={i}", headers=_h("sbk_wrong"))
    samples = lib.access_denials(limit=1000)["samples"]
    assert len(samples) == 25


def test_access_log_names_token_ids_never_tokens(client, tokens, caplog) -> None:
    secret = tokens[("team-a", "read")]
    token_id = TokenRegistry(client.app.state.store).lookup(secret).id
    with caplog.at_level(logging.INFO, logger="skillbank.serve.access"):
        client.get("/api/v1/namespaces/team-a/skills", headers=_h(secret))
        client.get("/api/v1/namespaces/team-b/skills", headers=_h(secret))
        client.get("/api/v1/whoami")
        _login(client, secret)
        client.get("/")
    lines = [r.getMessage() for r in caplog.records if r.name == "skillbank.serve.access"]
    assert any(f"GET /api/v1/namespaces/team-a/skills 200 token={token_id}" in x for x in lines)
    assert any(f"GET /api/v1/namespaces/team-b/skills 403 token={token_id}" in x for x in lines)
    assert any("GET /api/v1/whoami 401 token=-" in x for x in lines)
    assert any(f"GET / 200 token={token_id}" in x for x in lines)
    assert all(secret not in x for x in lines)


def test_cli_lists_refused_requests(lib, tmp_path, capsys) -> None:
    from skillbank.cli import main

    c = TestClient(create_app(lib, audit=AccessAudit(lib, flush_interval_s=0)))
    c.get("/api/v1/whoami")
    assert main(["tokens", "denied", "--library", str(tmp_path / "lib.db"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clients"][0]["count"] == 1 and out["samples"][0]["path"] == "/api/v1/whoami"


# -- 4. names and references --------------------------------------------------------------------


def test_reserved_aliases_in_any_case_need_admin(client, lib, tokens) -> None:
    lib.put_version(V1, namespace="team-a")
    w, a = _h(tokens[("team-a", "write")]), _h(tokens[("team-a", "admin")])
    for alias in ("Promoted", "CANARY", "canary", "pRoMoTeD"):
        r = client.put(f"/api/v1/namespaces/team-a/skills/total/aliases/{alias}", headers=w,
                       json={"version": 1, "expected_generation": None})
        assert r.status_code == 403, alias
    assert lib.list_aliases(namespace="team-a") == []
    assert client.put("/api/v1/namespaces/team-a/skills/total/aliases/Latest", headers=a,
                      json={"version": 1, "expected_generation": None}).status_code == 422


def test_references_into_another_namespace_are_refused_like_missing_ones(client, lib, tokens) -> None:
    theirs, _ = lib.put_version(V1, namespace="team-b")
    w = _h(tokens[("team-a", "write")])
    foreign = client.post("/api/v1/namespaces/team-a/versions", headers=w,
                          json={"source": V2, "provenance": {"parent_version_id": theirs.id}})
    missing = client.post("/api/v1/namespaces/team-a/versions", headers=w,
                          json={"source": V2, "provenance": {"parent_version_id": "f" * 32}})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace(theirs.id, "ID") == missing.json()["detail"].replace("f" * 32, "ID")
    assert lib.list_versions(namespace="team-a") == []
    mine, _ = lib.put_version(V1, namespace="team-a")
    r = client.put("/api/v1/namespaces/team-a/skills/total/aliases/stable", headers=w,
                   json={"version": theirs.id, "expected_generation": None})
    assert r.status_code in (404, 422) and "team-b" not in r.text
    with pytest.raises(NotFoundError):
        lib.put_version(V2, namespace="team-a", provenance=Provenance(parent_version_id=theirs.id))
    assert lib.put_version(V2, namespace="team-a", provenance=Provenance(parent_version_id=mine.id))[1]


def test_login_needs_its_csrf_value_and_a_same_origin_post(client, tokens) -> None:
    secret = tokens[("team-a", "read")]
    r = client.post("/login", data={"token": secret}, follow_redirects=False)
    assert r.status_code == 403 and "skillbank_token" not in r.headers.get("set-cookie", "")
    client.get("/login")
    value = client.cookies.get(LOGIN_CSRF_COOKIE)
    r = client.post("/login", data={"token": secret, "csrf": value}, headers={"Origin": "https://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/login", data={"token": secret, "csrf": "x" + value}, follow_redirects=False)
    assert r.status_code == 403
    client.get("/login")
    r = client.post("/login", data={"token": secret, "csrf": client.cookies.get(LOGIN_CSRF_COOKIE)},
                    follow_redirects=False)
    assert r.status_code == 303 and "skillbank_token=" in r.headers["set-cookie"]


def test_logout_is_a_post_with_the_session_s_csrf(client, tokens) -> None:
    _login(client, tokens[("team-a", "read")])
    assert client.get("/logout").status_code == 405
    assert client.get("/", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf": "forged"}, follow_redirects=False).status_code == 403
    page = client.get("/").text
    csrf = re.search(r'action="/logout"><input type="hidden" name="csrf" value="([0-9a-f]+)"', page).group(1)
    r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).status_code == 303


# -- schema migration ---------------------------------------------------------------------------


def _downgrade_to_2(store: Any) -> None:
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE access_samples"))
        conn.execute(text("DROP TABLE access_denials"))
        conn.execute(text("UPDATE schema_version SET version = 2"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_version_2_library_migrates_to_the_refused_request_log(backend, tmp_path, request) -> None:
    from sqlalchemy import inspect, text

    url = str(tmp_path / "old.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    with open_store(url) as store:
        store.put_version(V1)
        _downgrade_to_2(store)
    with open_store(url) as store:
        assert {"access_denials", "access_samples"} <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar_one() == 3
        store.record_access_denials([("1.2.3.4", 401, 2, *(2 * [store.get_version("total").created_at]))], [])
        assert store.access_denials()["clients"][0]["count"] == 2
        assert store.get_version("total").status is VersionStatus.CANDIDATE


# -- 6. bench serve ------------------------------------------------------------------------------


def test_bench_serve_on_sqlite_and_postgres_has_no_errors(postgres_url, tmp_path, capsys) -> None:
    from skillbank.cli import main

    assert main(["bench", "serve", "--clients", "3", "--duration", "1.5", "--skills", "5", "--client-processes", "1",
                 "--library", str(tmp_path / "bench.db"), "--library", postgres_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["backend"] for r in out["results"]] == ["sqlite", "postgresql"]
    for r in out["results"]:
        assert r["errors"] == 0, r["error_examples"]
        assert r["requests"] > 0 and r["throughput_rps"] > 0 and r["latency"]["p99_ms"] >= r["latency"]["p50_ms"] > 0
        assert set(r["by_op"]) == {"retrieve", "record_call", "save", "read_events", "get_alias"}
        assert r["bottleneck"]
    assert out["results"][1]["library"].startswith("postgresql://")
    assert out["machine"]["cpus"] and out["machine"]["load_avg_1_5_15"]
    assert main(["bench", "serve", "--library", str(tmp_path / "bench.db"), "--duration", "1"]) == 1  # not empty


def test_skillbank_serve_writes_its_access_log_and_flushes_refusals_on_stop(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from http_server import free_port

    db, log = tmp_path / "served.db", tmp_path / "access.log"
    with open_store(db) as store:
        secret, tok = TokenRegistry(store).create("default", "read")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "skillbank.cli", "serve", "--library", str(db), "--port", str(port),
                             "--runs-dir", str(tmp_path / "runs"), "--access-log", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/whoami", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/whoami", headers=_h(secret)).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/namespaces/x/skills", headers=_h(secret)).status_code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    text = log.read_text()
    assert f"GET /api/v1/whoami 200 token={tok.id} client=127.0.0.1" in text
    assert f"GET /api/v1/namespaces/x/skills 403 token={tok.id}" in text and secret not in text
    with open_store(db) as store:  # the refusals pending in memory were written when the server stopped
        counts = {(r["client"], r["status"]): r["count"] for r in store.access_denials()["clients"]}
    assert counts == {("127.0.0.1", 401): 1, ("127.0.0.1", 403): 1}
