"""Two store guarantees no test used to pin down (issue 27's mutation audit), on SQLite
and PostgreSQL, directly and over the REST API:

- `retrievable_versions(run_id=...)` returns the served versions plus the candidates of
  *that* run only. The agent filters again in memory, which hid a store that returned
  every run's candidates; the REST route hands back what the store gives, so it must be
  right there.
- The change cursor covers its newest event: `changes_since` reports a skill whose only
  change is the newest event of the log, and its cursor is that event's id.

Each test fails on the mutation it names (checked by hand: dropping the ``run_id``
condition from the SQL, and reading events ``< head`` instead of ``<= head``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skillbank.store import Provenance, VersionStatus, open_store


def _src(name: str) -> str:
    return f"def {name}() -> int:\n    '''{name}.'''\n    return 1\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[Any]:
    url = str(tmp_path / "lib.db") if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = open_store(url)
    s.create_namespace("team")
    yield s
    s.close()


@pytest.fixture()
def remote(store) -> Iterator[Any]:
    """The same library through `skillbank serve`'s API, with a read token of default."""
    pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
    from http_server import serve_in_thread
    from skillbank.serve.app import create_app
    from skillbank.serve.tokens import TokenRegistry
    from skillbank.store.http import HttpLibraryStore

    token = TokenRegistry(store).create("default", "read")[0]
    with serve_in_thread(create_app(store)) as url, HttpLibraryStore(url, token) as client:
        yield client


def _runs_library(store: Any) -> dict[str, str]:
    ids = {}
    ids["promoted"] = store.put_version(_src("shared"), status=VersionStatus.PROMOTED)[0].id
    ids["canary"] = store.put_version(_src("trial"), status=VersionStatus.CANARY)[0].id
    ids["run-1"] = store.put_version(_src("mine"), provenance=Provenance(run_id="run-1"))[0].id
    ids["run-2"] = store.put_version(_src("theirs"), provenance=Provenance(run_id="run-2"))[0].id
    ids["no-run"] = store.put_version(_src("loose"))[0].id
    # run-1's retired version and run-1's candidate in another namespace: neither served
    retired = store.put_version(_src("old"), provenance=Provenance(run_id="run-1"))[0]
    store.set_status(retired.id, VersionStatus.RETIRED, actor="t")
    store.put_version(_src("elsewhere"), namespace="team", provenance=Provenance(run_id="run-1"))
    return ids


def _expected(ids: dict[str, str], run: str | None) -> set[str]:
    return {ids["promoted"], ids["canary"]} | ({ids[run]} if run else set())


def test_retrievable_versions_returns_only_the_run_s_own_candidates(store) -> None:
    ids = _runs_library(store)
    for run in ("run-1", "run-2", None):
        _, got = store.retrievable_versions(run_id=run)
        assert {v.id for v in got} == _expected(ids, run), run
    _, none = store.retrievable_versions(run_id="run-3")
    assert {v.id for v in none} == _expected(ids, None)


def test_retrievable_route_filters_by_run_too(store, remote) -> None:
    ids = _runs_library(store)
    for run in ("run-1", "run-2", None):
        _, got = remote.retrievable_versions(statuses=[VersionStatus.PROMOTED, VersionStatus.CANARY], run_id=run)
        assert {v.id for v in got} == _expected(ids, run), run


def _newest_is_a_lone_change(store: Any) -> tuple[int, Any]:
    store.put_version(_src("first"))
    store.put_version(_src("second"))
    start = store.changes_since(None).cursor
    # exactly one event, the newest of the whole log, touching a skill nothing else touched since `start`
    store.set_alias("second", "stable", 1, expected_generation=None, actor="t")
    (newest,) = store.events(namespace=None, limit=1)
    assert (newest.type, newest.name) == ("alias_moved", "second")
    return start, newest


def test_change_cursor_reports_its_newest_event(store) -> None:
    start, newest = _newest_is_a_lone_change(store)
    ch = store.changes_since(start)
    assert ch.cursor == newest.id and ch.names == ("second",)
    assert [v.name for v in ch.versions] == ["second"]
    assert store.changes_since(newest.id - 1).names == ("second",)
    assert store.changes_since(newest.id) == type(ch)(newest.id, (), ())
    assert store.retrievable_versions()[0] == newest.id


def test_change_cursor_over_rest_reports_its_newest_event(store, remote) -> None:
    start, newest = _newest_is_a_lone_change(store)
    ch = remote.changes_since(start)
    assert ch.cursor == newest.id and ch.names == ("second",)
    assert remote.changes_since(newest.id - 1).names == ("second",)
    assert remote.changes_since(newest.id).names == ()
