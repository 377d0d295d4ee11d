"""A served library (``--library https://...``) where its REST API has no route: `skills
import` and `skills export` fail with a one-line error before anything is read or
written (they used to crash with AttributeError), and the remote store answers every
other `LibraryStore` call: through the API where it can, with a clear error where not."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
pytest.importorskip("uvicorn", reason="the REST API needs the `web` extra (uvicorn)")

from http_server import serve_in_thread
from skillbank.cli import main
from skillbank.errors import ConfigError
from skillbank.serve.app import create_app
from skillbank.serve.tokens import TokenRegistry
from skillbank.store import VersionStatus, open_store
from skillbank.store.http import HttpLibraryStore
from skillbank.store.portable import export_library

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"


@pytest.fixture()
def served(tmp_path: Path):
    """(url, the served store, an admin token of namespace default)."""
    store = open_store(tmp_path / "served.db")
    with serve_in_thread(create_app(store)) as url:
        yield url, store, TokenRegistry(store).create("default", "admin")[0]
    store.close()


def test_import_into_a_served_library_fails_cleanly_and_writes_nothing(served, tmp_path, monkeypatch, capsys) -> None:
    url, store, token = served
    with open_store(tmp_path / "local.db") as local:
        local.put_version(V1)
        export_library(local, tmp_path / "export")
    before = (store.list_versions(latest_only=False), store.events(namespace=None))
    monkeypatch.setenv("SKILLBANK_TOKEN", token)
    assert main(["skills", "import", str(tmp_path / "export"), "--library", url]) == 1
    err = capsys.readouterr().err
    assert "served library" in err and "no bulk export or import" in err and "Traceback" not in err
    assert (store.list_versions(latest_only=False), store.events(namespace=None)) == before


def test_export_of_a_served_library_fails_cleanly_and_makes_no_directory(served, tmp_path, monkeypatch, capsys) -> None:
    url, store, token = served
    store.put_version(V1)
    monkeypatch.setenv("SKILLBANK_TOKEN", token)
    assert main(["skills", "export", str(tmp_path / "out"), "--library", url]) == 1
    assert "no bulk export or import" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_remote_store_answers_the_rest_of_the_interface(served) -> None:
    url, store, token = served
    with HttpLibraryStore(url, token) as remote:
        v1, _ = remote.put_version(V1, actor="bot")
        remote.put_version(V2, actor="bot")
        remote.set_alias("total", "stable", 1, expected_generation=None, actor="bot")
        assert remote.event_types() == store.event_types()
        assert remote.event_types(namespace=None) == store.event_types(namespace=None)
        local_stats = store.stats()
        assert remote.stats() == local_stats and local_stats["versions"] == 2 and local_stats["aliases"] == 1
        assert remote.stats(namespace=None) == store.stats(namespace=None)
        # no embedding cache for clients: every lookup misses, nothing is kept
        assert remote.put_embeddings("m", 2, {"h": b"\0" * 8}) == 0
        assert remote.get_embeddings("m", ["h"]) == {}
        with pytest.raises(ConfigError, match="removing an alias is not possible on a served library"):
            remote.remove_alias("total", "stable", actor="bot")
        with pytest.raises(ConfigError, match="deleting a skill is not possible on a served library"):
            remote.delete_skill("total", actor="bot")
    assert store.get_alias("total", "stable") is not None
    assert [v.status for v in store.history("total")] == [VersionStatus.CANDIDATE, VersionStatus.CANDIDATE]
    assert store.get_version_by_id(v1.id) == v1
