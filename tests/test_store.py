"""The SQLite library store: round trips, idempotent puts, CAS aliases, events, stats,
export/import, migrations and `open_store` locations."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from skillbank.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from skillbank.skill import SkillParseError
from skillbank.store import EventType, Provenance, VersionStatus, open_store, resolve_url
from skillbank.store.portable import METADATA_FILE, export_library, import_library
from skillbank.store.schema import SCHEMA_VERSION
from skillbank.store.sql import SqlLibraryStore

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x is not None)\n"
V3 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return int(sum(xs))\n"
OTHER = "import re\n\ndef words(text: str) -> list[str]:\n    '''Split text into words.'''\n    return re.findall(r'\\w+', text)\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path):
    """The same suite on both backends: an SQLite file and a database on a real PostgreSQL server."""
    if request.param == "sqlite":
        s = open_store(tmp_path / "lib" / "library.db")
    else:
        s = open_store(request.getfixturevalue("postgres_url"))
    yield s
    s.close()


def test_put_and_get_round_trip(store) -> None:
    prov = Provenance(created_by="agent", task_id="t1", episode_id="e1", run_id="r1", scenario_id="s1", query="sum them")
    sv, created = store.put_version(V1, provenance=prov)
    assert created and sv.version == 1 and sv.name == "total" and sv.status is VersionStatus.CANDIDATE
    got = store.get_version("total")
    assert got == sv
    assert store.get_version_by_id(sv.id) == sv
    assert store.get_version("total", 1) == sv and store.get_version("total", "1") == sv
    assert got.provenance == prov
    assert got.signature == "def total(xs: list[int]) -> int"
    assert got.input_schema["properties"]["xs"] == {"type": "array", "items": {"type": "integer"}}
    assert got.created_at.tzinfo is not None


def test_put_is_idempotent_on_content(store, tmp_path: Path) -> None:
    a, created_a = store.put_version(V1)
    reformatted = V1.replace("    return sum(xs)", "    return   sum( xs )  # same")
    b, created_b = store.put_version(reformatted)
    assert created_a and not created_b and a == b
    assert len(store.history("total")) == 1
    assert [e.type for e in store.events()] == ["created"]
    with store.engine.connect() as raw:
        assert raw.exec_driver_sql("select count(*) from versions").scalar_one() == 1


def test_versions_number_and_link_and_update_event(store) -> None:
    v1, _ = store.put_version(V1)
    v2, _ = store.put_version(V2, provenance=Provenance(created_by="agent", failure_log="TypeError: None"), actor="agent")
    assert v2.version == 2 and v2.provenance.parent_version_id == v1.id
    assert [e.type for e in store.events(name="total")] == ["created", "created", "updated"]
    upd = store.events(type=EventType.UPDATED)[0]
    assert upd.payload["from_version"] == 1 and upd.payload["failure_log"] == "TypeError: None"
    assert upd.actor == "agent" and upd.version_id == v2.id
    assert [v.version for v in store.history("total")] == [1, 2]
    with pytest.raises(NotFoundError, match="no version 9 \\(latest is 2\\)"):
        store.get_version("total", 9)
    with pytest.raises(NotFoundError, match="no skill 'nope'"):
        store.get_version("nope")
    with pytest.raises(NotFoundError, match="parent version 'missing'"):
        store.put_version(V3, provenance=Provenance(parent_version_id="missing"))
    assert len(store.history("total")) == 2  # the refused put left nothing behind


def test_bad_source_raises_and_writes_nothing(store) -> None:
    store.put_version(V1)
    before = store.events()
    with pytest.raises(SkillParseError):
        store.put_version("x = 1\n")
    with pytest.raises(ValidationError, match="invalid namespace"):
        store.put_version(V2, namespace="bad ns")
    assert store.events() == before and len(store.list_versions(latest_only=False)) == 1


def test_same_source_in_two_namespaces_is_two_versions(store) -> None:
    a, _ = store.put_version(V1, namespace="team-a")
    b, created = store.put_version(V1, namespace="team-b")
    assert created and a.id != b.id and a.version == b.version == 1
    assert set(store.namespaces()) == {"default", "team-a", "team-b"}
    assert store.list_versions() == []
    assert [v.namespace for v in store.list_versions(namespace=None)] == ["team-a", "team-b"]


def test_alias_compare_and_set(store) -> None:
    v1, _ = store.put_version(V1)
    v2, _ = store.put_version(V2)
    a = store.set_alias("total", "promoted", 1, expected_generation=None, actor="gov")
    assert (a.version, a.generation, a.version_id) == (1, 1, v1.id)
    assert store.get_version("total", "promoted") == v1
    with pytest.raises(ConflictError, match="alias 'promoted' of skill 'total' moved: expected generation none.*actual 1"):
        store.set_alias("total", "promoted", 2, expected_generation=None, actor="gov")
    with pytest.raises(ConflictError, match="expected generation 7, actual 1"):
        store.set_alias("total", "promoted", 2, expected_generation=7, actor="gov")
    b = store.set_alias("total", "promoted", 2, expected_generation=1, actor="gov", reason="passed gate")
    assert (b.version, b.generation) == (2, 2)
    with pytest.raises(ConflictError, match="expected generation 1, actual 2"):
        store.set_alias("total", "promoted", 1, expected_generation=1, actor="gov")
    assert store.get_version("total", "promoted") == v2
    # alias to alias and to a version id
    store.set_alias("total", "canary", "promoted", expected_generation=None, actor="gov")
    store.set_alias("total", "stable", v1.id, expected_generation=None, actor="gov")
    assert {x.alias: x.version for x in store.list_aliases("total")} == {"canary": 2, "promoted": 2, "stable": 1}
    moves = store.events(type="alias_moved")
    assert len(moves) == 4  # refused moves leave no event
    assert moves[1].payload == {"alias": "promoted", "from_version": 1, "from_version_id": v1.id, "to_version": 2, "generation": 2}
    assert moves[1].reason == "passed gate"
    for bad in ("7", "latest", "has space", ""):
        with pytest.raises(ValidationError, match="invalid alias"):
            store.set_alias("total", bad, 1, expected_generation=None, actor="gov")
    with pytest.raises(NotFoundError, match="no alias 'nightly'"):
        store.get_version("total", "nightly")
    assert store.get_alias("total", "nightly") is None


def test_list_filters(store) -> None:
    store.put_version(V1)
    v2, _ = store.put_version(V2)
    w, _ = store.put_version(OTHER, provenance=Provenance(query="Find the WORDS in a note"))
    store.set_status(w.id, VersionStatus.PROMOTED, actor="gov")
    store.set_alias("total", "promoted", 1, expected_generation=None, actor="gov")
    assert [v.ref for v in store.list_versions()] == ["total@2", "words@1"]
    assert [v.ref for v in store.list_versions(latest_only=False)] == ["total@1", "total@2", "words@1"]
    assert [v.ref for v in store.list_versions(status=VersionStatus.PROMOTED)] == ["words@1"]
    assert [v.ref for v in store.list_versions(status=[VersionStatus.CANDIDATE])] == ["total@2"]
    assert [v.ref for v in store.list_versions(alias="promoted")] == ["total@1"]
    assert [v.ref for v in store.list_versions(text="words in")] == ["words@1"]  # query text, any case
    assert [v.ref for v in store.list_versions(text="is not none")] == ["total@2"]  # source
    assert [v.ref for v in store.list_versions(text="%")] == []  # LIKE wildcards are literal
    assert len(store.list_versions(latest_only=False, limit=2)) == 2
    assert v2.status is VersionStatus.CANDIDATE


def test_set_status_records_event(store) -> None:
    v, _ = store.put_version(V1)
    out = store.set_status(v.id, VersionStatus.QUARANTINED, actor="redteam", reason="writes files")
    assert out.status is VersionStatus.QUARANTINED and store.get_version("total").status is VersionStatus.QUARANTINED
    ev = store.events(type="status_changed")
    assert len(ev) == 1 and ev[0].payload == {"version": 1, "from": "candidate", "to": "quarantined"}
    assert ev[0].reason == "writes files"
    store.set_status(v.id, VersionStatus.QUARANTINED, actor="redteam")
    assert len(store.events(type="status_changed")) == 1  # no change, no event
    with pytest.raises(NotFoundError):
        store.set_status("nope", VersionStatus.RETIRED, actor="x")


def test_events_queries(store) -> None:
    v, _ = store.put_version(V1)
    store.record_event(EventType.EVALUATED, name="total", version_id=v.id, actor="gov", payload={"passed": 3, "failed": 0})
    mid = dt.datetime.now(dt.timezone.utc)
    e = store.record_event("called", version_id=v.id, actor="agent", reason="task 7")
    assert e.name == "total" and e.type == "called"
    store.put_version(OTHER)
    assert [x.type for x in store.events()] == ["created", "evaluated", "called", "created"]
    assert [x.type for x in store.events(name="total")] == ["created", "evaluated", "called"]
    assert [x.type for x in store.events(type=["called", "evaluated"])] == ["evaluated", "called"]
    assert [x.type for x in store.events(since=mid)] == ["called", "created"]
    assert [x.type for x in store.events(until=mid)] == ["created", "evaluated"]
    assert [x.type for x in store.events(limit=2)] == ["called", "created"]
    assert store.events(type="evaluated")[0].payload == {"passed": 3, "failed": 0}
    ids = [x.id for x in store.events()]
    assert ids == sorted(ids) and len(set(ids)) == 4
    with pytest.raises(ValidationError, match="invalid event type"):
        store.record_event("Not A Type", actor="x")
    with pytest.raises(ValidationError, match="not JSON-serialisable"):
        store.record_event("called", actor="x", payload={"f": object()})
    with pytest.raises(NotFoundError):
        store.record_event("called", version_id="nope", actor="x")


def test_call_stats_accumulate(store) -> None:
    v, _ = store.put_version(V1)
    assert store.call_stats(v.id).calls == 0
    for ok, lat in [(True, 0.5), (False, 0.25), (True, 0.125)]:
        store.record_call(v.id, ok=ok, latency_s=lat)
    s = store.call_stats(v.id)
    assert (s.calls, s.successes, s.failures, s.total_latency_s) == (3, 2, 1, 0.875)
    with pytest.raises(NotFoundError):
        store.record_call("nope", ok=True, latency_s=0.1)


def test_diff(store) -> None:
    store.put_version(V1)
    store.put_version(V2)
    store.set_alias("total", "promoted", 2, expected_generation=None, actor="x")
    d = store.diff("total", 1, "promoted")
    assert d.startswith("--- total@1\n+++ total@2\n")
    assert "-    return sum(xs)\n" in d and "+    return sum(x for x in xs if x is not None)\n" in d
    assert store.diff("total", 1, 1) == ""


def test_export_import_round_trip_is_exact(store, tmp_path: Path) -> None:
    v1, _ = store.put_version(V1, provenance=Provenance(created_by="agent", task_id="t", scenario_id="s", query="q"))
    store.put_version(V2, provenance=Provenance(failure_log="boom\nline 2"))
    w, _ = store.put_version(OTHER, namespace="team")
    store.set_status(w.id, VersionStatus.PROMOTED, actor="gov")
    store.set_alias("total", "promoted", 1, expected_generation=None, actor="gov")
    store.record_call(v1.id, ok=True, latency_s=0.3)
    store.record_event("evaluated", version_id=v1.id, actor="gov", payload={"score": [1, 2]})
    out = tmp_path / "export"
    counts = export_library(store, out)
    assert counts == {"versions": 3, "aliases": 1, "events": 7}
    assert (out / "default" / "total" / "v2.py").read_text() == V2
    assert (out / METADATA_FILE).is_file()
    other = open_store(tmp_path / "other.db")
    try:
        import_library(other, out)
        assert other.snapshot() == store.snapshot()
        # the imported library keeps working: new ids continue after the imported ones
        ev = other.record_event("called", version_id=v1.id, actor="x")
        assert ev.id == max(e.id for e in store.events(namespace=None)) + 1
        # importing the same export again merges: every version is already there
        before = other.snapshot()
        report = import_library(other, out)
        assert report["merged"] and report["versions"] == 0 and report["skipped"] == 3
        assert report["conflicts"] == [] and other.snapshot() == before
    finally:
        other.close()
    with pytest.raises(ConflictError, match="not empty"):
        export_library(store, out)


def test_import_rejects_tampered_or_missing_exports(store, tmp_path: Path) -> None:
    store.put_version(V1)
    out = tmp_path / "export"
    export_library(store, out)
    (out / "default" / "total" / "v1.py").write_text(V3)
    target = open_store(tmp_path / "t.db")
    try:
        with pytest.raises(ValidationError, match="does not match its metadata"):
            import_library(target, out)
        with pytest.raises(NotFoundError, match="is not a skillbank export"):
            import_library(target, tmp_path)
        assert target.list_versions(namespace=None) == [] and target.events(namespace=None) == []
    finally:
        target.close()


def test_schema_version_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "lib.db"
    s = open_store(path)
    s.put_version(V1)
    s.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("select version from schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert raw.execute("pragma journal_mode").fetchone()[0] == "wal"
        raw.execute("update schema_version set version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ConfigError, match="newer than this skillbank supports"):
        open_store(path)
    with sqlite3.connect(path) as raw:
        raw.execute("update schema_version set version = ?", (SCHEMA_VERSION,))
    s = open_store(f"sqlite:///{path}")
    assert s.get_version("total").version == 1
    s.close()


def test_open_store_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = open_store(None)
    s.close()
    assert (tmp_path / ".skillbank" / "library.db").is_file()
    assert resolve_url("sqlite:///:memory:") == "sqlite:///:memory:"
    with pytest.raises(ConfigError, match="unsupported library URL"):
        resolve_url("mysql://x/y")
    with pytest.raises(ConfigError, match="is a directory"):
        resolve_url(tmp_path)
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        with pytest.raises(ConfigError, match="needs psycopg"):
            open_store("postgresql://localhost/skills")
    else:
        assert resolve_url("postgresql://localhost/skills") == "postgresql+psycopg://localhost/skills"
    s = open_store(tmp_path / "x.db")
    assert isinstance(s, SqlLibraryStore)
    s.close()


def test_stats_are_sql_counts(store) -> None:
    v1, _ = store.put_version(V1)
    store.put_version(V2)
    w, _ = store.put_version(OTHER, namespace="team", status=VersionStatus.PROMOTED)
    store.set_status(v1.id, VersionStatus.QUARANTINED, actor="gov")
    store.set_alias("total", "promoted", 2, expected_generation=None, actor="gov")
    got = store.stats()
    assert got["versions"] == 2 and got["skills"] == 1 and got["aliases"] == 1
    assert got["by_status"]["quarantined"] == 1 and got["by_status"]["candidate"] == 1
    assert got["events"] == len(store.events())
    everywhere = store.stats(namespace=None)
    assert everywhere["versions"] == 3 and everywhere["skills"] == 2 and everywhere["by_status"]["promoted"] == 1


def test_changes_since_names_touched_skills_with_all_their_versions(store) -> None:
    start = store.changes_since(None).cursor
    v1, _ = store.put_version(V1)
    store.put_version(OTHER, namespace="team")
    ch = store.changes_since(start)
    assert ch.names == ("total",) and [v.id for v in ch.versions] == [v1.id]
    if store.engine.dialect.name == "sqlite":
        assert store.changes_since(ch.cursor).names == ()
    else:
        # PostgreSQL commits ids out of order, so the reader looks a little behind its
        # cursor: it may name a skill again (idempotent), never miss one.
        assert set(store.changes_since(ch.cursor).names) <= {"total"}
    store.put_version(V2)
    store.set_status(v1.id, VersionStatus.RETIRED, actor="gov")
    ch2 = store.changes_since(ch.cursor)
    assert ch2.names == ("total",) and [(v.version, v.status) for v in ch2.versions] == [
        (1, VersionStatus.RETIRED), (2, VersionStatus.CANDIDATE)]
    cursor, visible = store.retrievable_versions(statuses=[VersionStatus.CANDIDATE])
    assert cursor == ch2.cursor and [v.version for v in visible] == [2]


def test_bench_store_reports_listing_stats_and_cursor_reads() -> None:
    from skillbank.bench.store import run_bench

    result = run_bench(versions=40, names=5, reads=20, lists=4)
    for key in ("list_all_versions", "stats", "changes_since_5_events"):
        assert result[key]["n"] > 0 and result[key]["median_ms"] > 0
    assert result["list_all_versions"]["rows"] == 40
