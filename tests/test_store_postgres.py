"""PostgreSQL as a library, through the faces a user meets: `SKILLBANK_LIBRARY`, the CLI,
export/import between backends, and `bench store --library`.

The store's own suite (tests/test_store.py) already runs on both backends; these cover
what sits on top of it. The server is a real one (tests/pg_server.py).
"""

from __future__ import annotations

import json

import pytest

from skillbank.bench.store import run_bench
from skillbank.cli import main
from skillbank.store import open_store

SRC = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_on_postgres_through_the_environment(capsys, postgres_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SKILLBANK_LIBRARY", postgres_url)
    f = tmp_path / "total.py"
    f.write_text(SRC)
    code, out, err = _run(capsys, "skills", "add", str(f), "--json")
    assert code == 0, err
    assert json.loads(out)["version"]["name"] == "total"
    code, out, err = _run(capsys, "skills", "alias", "set", "total", "promoted", "1", "--json")
    assert code == 0, err
    with open_store(postgres_url) as store:
        assert store.get_version("total", "promoted").source == SRC
        assert store.engine.dialect.name == "postgresql"


def test_export_from_sqlite_import_into_postgres_is_exact(capsys, postgres_url, tmp_path) -> None:
    lite = str(tmp_path / "lib.db")
    with open_store(lite) as s:
        v, _ = s.put_version(SRC, actor="me")
        s.set_alias("total", "promoted", v.version, expected_generation=None, actor="me")
        s.record_call(v.id, ok=True, latency_s=0.01)
    out = tmp_path / "export"
    assert _run(capsys, "skills", "export", str(out), "--library", lite)[0] == 0
    code, _, err = _run(capsys, "skills", "import", str(out), "--library", postgres_url)
    assert code == 0, err
    with open_store(lite) as a, open_store(postgres_url) as b:
        sa, sb = a.snapshot(), b.snapshot()
        assert sa.versions == sb.versions
        assert sa.aliases == sb.aliases
        assert sa.events == sb.events
        assert sa.call_stats == sb.call_stats


def test_bench_store_on_postgres(postgres_url) -> None:
    result = run_bench(versions=40, names=5, reads=20, lists=2, library=postgres_url)
    assert result["backend"] == "postgresql"
    for key in ("put", "get_by_alias", "list_latest", "list_text_search"):
        assert result[key]["n"] > 0 and 0 < result[key]["median_ms"] <= result[key]["p95_ms"]
    with open_store(postgres_url) as store:
        assert len(store.list_versions(latest_only=False)) == 40


def test_bench_store_refuses_a_library_that_is_not_empty(capsys, postgres_url) -> None:
    with open_store(postgres_url) as store:
        store.put_version(SRC)
    code, _, err = _run(capsys, "bench", "store", "--versions", "5", "--library", postgres_url)
    assert code == 1 and "must name an empty library" in err
    with open_store(postgres_url) as store:
        assert len(store.list_versions(latest_only=False)) == 1  # nothing written


def test_unreachable_server_is_a_one_line_error(capsys) -> None:
    code, _, err = _run(capsys, "skills", "ls", "--library", "postgresql://nobody@127.0.0.1:1/none")
    assert code != 0
    assert err.startswith("error:") and "\n" not in err.strip()
    assert "Traceback" not in err
