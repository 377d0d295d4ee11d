"""`skillbank skills …`, `skillbank demo` and `skillbank bench store`, through
`skillbank.cli.main` (and one real subprocess)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from skillbank.bench.store import run_bench
from skillbank.cli import main

V1 = "import json\n\ndef total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "import json\n\ndef total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(x for x in xs if x)\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str):
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture()
def lib(tmp_path: Path) -> str:
    return str(tmp_path / "lib" / "library.db")


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {"v1": V1, "v2": V2}.items():
        out[name] = tmp_path / f"{name}.py"
        out[name].write_text(text)
    return out


def _rows(path: str) -> dict[str, list[tuple]]:
    with sqlite3.connect(path) as raw:
        return {t: raw.execute(f"select * from {t} order by 1").fetchall()
                for t in ("namespaces", "versions", "aliases", "events", "call_stats")}


def test_add_ls_show_history_diff_events_alias(capsys, lib, files, tmp_path: Path) -> None:
    added = run_json(capsys, "skills", "add", str(files["v1"]), "--library", lib, "--actor", "alice")
    assert added["created"] is True and added["version"]["version"] == 1
    assert added["version"]["provenance"]["created_by"] == "alice"
    again = run_json(capsys, "skills", "add", str(files["v1"]), "--library", lib)
    assert again["created"] is False and again["version"]["id"] == added["version"]["id"]
    log = tmp_path / "fail.txt"
    log.write_text("TypeError: None\n")
    v2 = run_json(capsys, "skills", "add", str(files["v2"]), "--library", lib, "--failure-log", str(log),
                  "--scenario-id", "s1")
    assert v2["version"]["provenance"]["failure_log"] == "TypeError: None\n"
    assert v2["version"]["provenance"]["parent_version_id"] == added["version"]["id"]

    listed = run_json(capsys, "skills", "ls", "--library", lib)
    assert [(v["name"], v["version"]) for v in listed] == [("total", 2)]
    assert len(run_json(capsys, "skills", "ls", "--all-versions", "--library", lib)) == 2

    moved = run_json(capsys, "skills", "alias", "set", "total", "promoted", "1", "--library", lib)
    assert (moved["version"], moved["generation"]) == (1, 1)
    moved = run_json(capsys, "skills", "alias", "set", "total", "promoted", "2", "--library", lib)
    assert (moved["version"], moved["generation"]) == (2, 2)
    code, _, err = run(capsys, "skills", "alias", "set", "total", "promoted", "1", "--expect", "1", "--library", lib)
    assert code == 1 and err.strip() == "error: alias 'promoted' of skill 'total' moved: expected generation 1, actual 2"

    shown = run_json(capsys, "skills", "show", "total@promoted", "--library", lib)
    assert shown["version"]["version"] == 2 and shown["aliases"] == ["promoted"] and shown["version"]["source"] == V2
    assert run_json(capsys, "skills", "show", "total@1", "--library", lib)["version"]["source"] == V1

    hist = run_json(capsys, "skills", "history", "total", "--library", lib)
    assert [(h["version"]["version"], h["aliases"]) for h in hist] == [(1, []), (2, ["promoted"])]

    diff = run_json(capsys, "skills", "diff", "total", "1", "promoted", "--library", lib)
    assert "-    return sum(xs)\n" in diff["diff"] and "+    return sum(x for x in xs if x)\n" in diff["diff"]

    events = run_json(capsys, "skills", "events", "total", "--library", lib)
    assert [e["type"] for e in events] == ["created", "created", "updated", "alias_moved", "alias_moved"]
    only = run_json(capsys, "skills", "events", "--type", "alias_moved", "--limit", "1", "--library", lib)
    assert len(only) == 1 and only[0]["payload"]["generation"] == 2

    # the human renderings run and mention what they show
    code, out, _ = run(capsys, "skills", "show", "total", "--library", lib)
    assert code == 0 and "list[int]" in out and "return sum(x for x in xs if x)" in out
    code, out, _ = run(capsys, "skills", "ls", "--library", lib)
    assert code == 0 and "total@2" in out
    for args in (["history", "total"], ["events"], ["diff", "total", "1", "2"], ["alias", "ls"]):
        code, out, err = run(capsys, "skills", *args, "--library", lib)
        assert code == 0 and out.strip(), (args, err)


BAD_INPUTS = {
    "syntax": (b"def f(:\n    pass\n", "syntax error"),
    "no_function": (b"import os\n", "no function defined"),
    "two_public": (b"def f(): pass\ndef g(): pass\n", "several public functions"),
    "top_level": (b"def f(): pass\nprint('hi')\n", "top-level call is not allowed"),
    "bad_name": ("def ñame(): pass\n".encode(), "invalid skill name"),
    "oversize": (b"def f():\n    return 1\n" + b"#" * 70_000, "over the 65536-byte limit"),
    "not_utf8": (b"def f():\n    return '\xff\xfe'\n", "not valid UTF-8"),
    "empty": (b"", "source is empty"),
}


@pytest.mark.parametrize("case", [*BAD_INPUTS, "missing_file", "directory"])
def test_add_bad_input_fails_with_one_line_and_leaves_library_unchanged(capsys, lib, files, tmp_path: Path, case: str) -> None:
    assert run(capsys, "skills", "add", str(files["v1"]), "--library", lib)[0] == 0
    before_rows = _rows(lib)
    before_bytes = hashlib.sha256(Path(lib).read_bytes()).hexdigest()
    if case == "missing_file":
        target, fragment = tmp_path / "nope.py", "does not exist"
    elif case == "directory":
        target, fragment = tmp_path, "is a directory"
    else:
        data, fragment = BAD_INPUTS[case]
        target = tmp_path / f"{case}.py"
        target.write_bytes(data)
    code, out, err = run(capsys, "skills", "add", str(target), "--library", lib)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert out == ""
    assert _rows(lib) == before_rows
    assert hashlib.sha256(Path(lib).read_bytes()).hexdigest() == before_bytes


def test_bad_add_does_not_create_a_library(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    lib = tmp_path / "fresh" / "library.db"
    code, _, err = run(capsys, "skills", "add", str(bad), "--library", str(lib))
    assert code == 1 and "line 1, column 0: top-level assignment" in err
    assert not lib.exists()


def test_errors_name_the_problem(capsys, lib, files) -> None:
    run(capsys, "skills", "add", str(files["v1"]), "--library", lib)
    for args, fragment in [
        (["show", "nope"], "no skill 'nope' in namespace 'default'"),
        (["show", "total@9"], "no version 9 (latest is 1)"),
        (["show", "total@canary"], "no alias 'canary'"),
        (["show", "total@"], "invalid skill reference"),
        (["history", "nope"], "no skill 'nope'"),
        (["alias", "set", "total", "42", "1"], "invalid alias '42'"),
        (["events", "--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        (["ls", "--library", "mysql://h/db"], "unsupported library URL"),
    ]:
        code, _, err = run(capsys, "skills", *args, *([] if "--library" in args else ["--library", lib]))
        assert code == 1 and err.startswith("error: ") and fragment in err, (args, err)


def test_export_import_round_trip_via_cli(capsys, lib, files, tmp_path: Path) -> None:
    run(capsys, "skills", "add", str(files["v1"]), "--library", lib, "--namespace", "team")
    run(capsys, "skills", "add", str(files["v2"]), "--library", lib, "--namespace", "team")
    run(capsys, "skills", "alias", "set", "total", "promoted", "1", "--library", lib, "--namespace", "team")
    out = tmp_path / "export"
    assert run_json(capsys, "skills", "export", str(out), "--library", lib)["versions"] == 2
    assert sorted(p.name for p in (out / "team" / "total").iterdir()) == ["v1.py", "v2.py"]
    other = str(tmp_path / "other.db")
    assert run_json(capsys, "skills", "import", str(out), "--library", other)["events"] == 4
    theirs, ours = _rows(other), _rows(lib)
    # a namespace's creation time is bookkeeping the export does not carry; names are
    assert [n[0] for n in theirs.pop("namespaces")] == [n[0] for n in ours.pop("namespaces")]
    assert theirs == ours
    again = run_json(capsys, "skills", "import", str(out), "--library", other)
    assert again["merged"] and again["versions"] == 0 and again["skipped"] == 2 and again["conflicts"] == []
    assert _rows(other) == {**theirs, "namespaces": _rows(other)["namespaces"]}


def test_library_from_environment_variable(capsys, lib, files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLBANK_LIBRARY", lib)
    assert run(capsys, "skills", "add", str(files["v1"]))[0] == 0
    assert len(_rows(lib)["versions"]) == 1


def test_subprocess_entry_point(lib, files) -> None:
    exe = Path(sys.executable).parent / "skillbank"
    env = {**os.environ, "SKILLBANK_LIBRARY": lib}
    ok = subprocess.run([str(exe), "skills", "add", str(files["v1"]), "--json"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["version"]["name"] == "total"
    bad = subprocess.run([str(exe), "skills", "show", "missing"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: no skill 'missing' in namespace 'default'"


def test_demo_runs_on_a_given_library(capsys, lib) -> None:
    code, out, err = run(capsys, "demo", "--library", lib)
    assert code == 0, err
    assert "TypeError" in out and "stale writer is refused" in out
    rows = _rows(lib)
    assert len(rows["versions"]) == 2
    assert [r[1] for r in rows["events"]] == [
        "created", "failed", "created", "updated", "alias_moved", "alias_moved", "status_changed"
    ]


def test_bench_store_small_run_reports_every_figure(capsys) -> None:
    result = run_bench(versions=60, names=6, reads=30, lists=3)
    for key in ("put", "get_by_alias", "list_latest", "list_text_search"):
        assert result[key]["n"] > 0 and 0 < result[key]["median_ms"] <= result[key]["p95_ms"]
    assert result["versions"] == 60 and result["puts_per_s"] > 0 and result["list_latest"]["rows"] == 6
    out = run_json(capsys, "bench", "store", "--versions", "20", "--names", "4", "--reads", "10", "--lists", "2")
    assert out["bench"] == "store" and out["put"]["n"] == 20
