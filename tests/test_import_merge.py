"""`skills import` into a non-empty library: merge with conflicts reported, atomic,
clean errors for bad exports, no empty library left behind by a failed import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillbank.cli import main
from skillbank.errors import ValidationError
from skillbank.store import EventType, VersionStatus, open_store
from skillbank.store.portable import METADATA_FILE, export_library, import_into, import_library

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x is not None)\n"
V3 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return int(sum(xs))\n"
WORDS = "def words(text: str) -> list[str]:\n    '''Split text.'''\n    return text.split()\n"


@pytest.fixture()
def exported(tmp_path: Path) -> Path:
    """An export holding total@1 (promoted alias), total@2 and words@1."""
    src = open_store(tmp_path / "src.db")
    try:
        v1, _ = src.put_version(V1)
        src.put_version(V2)
        w, _ = src.put_version(WORDS)
        src.set_status(w.id, VersionStatus.PROMOTED, actor="gov")
        src.set_alias("total", "promoted", 1, expected_generation=None, actor="gov")
        src.record_call(v1.id, ok=True, latency_s=0.5)
        export_library(src, tmp_path / "export")
    finally:
        src.close()
    return tmp_path / "export"


def test_merge_skips_same_content_renumbers_new_and_reports_alias_conflicts(tmp_path: Path, exported: Path) -> None:
    lib = open_store(tmp_path / "lib.db")
    try:
        lib.put_version(V1)  # same content as the export's total@1: skipped
        lib.put_version(V3)  # total@2 here differs from the export's total@2
        lib.set_alias("total", "promoted", 2, expected_generation=None, actor="me")
        cursor = lib.changes_since(None).cursor
        report = import_library(lib, exported)
        assert report["merged"] is True
        assert report["versions"] == 2 and report["skipped"] == 1
        # the export's total@2 lands as total@3: numbers here are never reused
        assert report["renumbered"] == ["default/total@2 stored as @3"]
        assert len(report["conflicts"]) == 1 and "total@promoted" in report["conflicts"][0]
        assert "kept version 2" in report["conflicts"][0]
        # not silently overwritten
        assert lib.get_version("total", "promoted").source == V3
        assert lib.get_version("total", 3).source == V2
        assert lib.get_version("total", 3).provenance.parent_version_id == lib.get_version("total", 1).id
        words = lib.get_version("words")
        assert words.status is VersionStatus.PROMOTED and words.version == 1
        # the imported history follows the new ids, and every skill that gained versions
        # has an event a cursor reader sees
        changes = lib.changes_since(cursor)
        assert set(changes.names) == {"total", "words"}
        imported = lib.events(type=EventType.IMPORTED.value)
        assert {(e.name, tuple(e.payload["versions"])) for e in imported} == {("total", (3,)), ("words", (1,))}
        created = [e for e in lib.events(name="words", type="created")]
        assert len(created) == 1 and created[0].version_id == words.id
        # a second import of the same export changes nothing but reports the same conflict
        before = lib.snapshot()
        again = import_library(lib, exported)
        assert again["versions"] == 0 and again["skipped"] == 3 and len(again["conflicts"]) == 1
        assert lib.snapshot() == before
    finally:
        lib.close()


def test_merge_adds_missing_alias_and_call_stats_of_new_versions(tmp_path: Path, exported: Path) -> None:
    lib = open_store(tmp_path / "lib.db")
    try:
        lib.put_version(WORDS, status=VersionStatus.PROMOTED)
        report = import_library(lib, exported)
        assert report["conflicts"] == [] and report["aliases"] == 1 and report["versions"] == 2
        assert lib.get_version("total", "promoted").source == V1
        assert lib.call_stats(lib.get_version("total", 1).id).calls == 1
        moved = lib.events(name="total", type=EventType.ALIAS_MOVED.value)
        assert moved[-1].actor == "import" and moved[-1].payload["to_version"] == 1  # after the export's own history
    finally:
        lib.close()


def _edit_meta(export: Path, change) -> None:
    path = export / METADATA_FILE
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_alias_naming_an_unknown_version_is_a_one_line_error_and_changes_nothing(tmp_path: Path, exported: Path) -> None:
    _edit_meta(exported, lambda m: m["aliases"][0].update(version_id="f" * 32))
    lib = open_store(tmp_path / "lib.db")
    try:
        lib.put_version(V3)
        before = lib.snapshot()
        with pytest.raises(ValidationError, match="names version id 'f+', which the export does not hold"):
            import_library(lib, exported)
        assert lib.snapshot() == before
    finally:
        lib.close()


def test_failure_midway_rolls_the_whole_import_back(tmp_path: Path, exported: Path, monkeypatch) -> None:
    from skillbank.store import sql

    lib = open_store(tmp_path / "lib.db")
    try:
        lib.put_version(V3)
        before = lib.snapshot()
        real = sql._insert_batches
        calls = {"n": 0}

        def failing(conn, table, rows):
            calls["n"] += 1
            if table is sql.t.events:
                raise RuntimeError("disk full")
            return real(conn, table, rows)

        monkeypatch.setattr(sql, "_insert_batches", failing)
        with pytest.raises(RuntimeError, match="disk full"):
            import_library(lib, exported)
        assert calls["n"] >= 3  # versions and stats were written before the failure
        assert lib.snapshot() == before
    finally:
        lib.close()


def test_failed_import_leaves_no_new_library_behind(tmp_path: Path, exported: Path, capsys) -> None:
    _edit_meta(exported, lambda m: m["aliases"][0].update(version_id="f" * 32))
    target = tmp_path / "new" / "deeper" / "lib.db"
    with pytest.raises(ValidationError):
        import_into(target, exported)
    assert not (tmp_path / "new").exists()
    # the same through the CLI: one error line, exit 1, nothing created
    code = main(["skills", "import", str(exported), "--library", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and "which the export does not hold" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_failed_import_into_an_existing_library_keeps_the_file(tmp_path: Path, exported: Path) -> None:
    target = tmp_path / "lib.db"
    lib = open_store(target)
    lib.put_version(V3)
    lib.close()
    _edit_meta(exported, lambda m: m["versions"][0].update(content_hash="0" * 64))
    with pytest.raises(ValidationError, match="does not match its metadata"):
        import_into(target, exported)
    lib = open_store(target)
    try:
        assert [v.source for v in lib.list_versions()] == [V3]
    finally:
        lib.close()


def test_successful_import_into_a_new_path_is_exact(tmp_path: Path, exported: Path) -> None:
    report = import_into(tmp_path / "fresh" / "lib.db", exported)
    assert report["merged"] is False and report["versions"] == 3 and report["aliases"] == 1
    lib = open_store(tmp_path / "fresh" / "lib.db")
    try:
        assert lib.get_version("total", "promoted").source == V1
    finally:
        lib.close()
