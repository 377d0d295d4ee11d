"""Errors a new user meets (issue 28, second pass): a read-only library, a typo in a skill
name or a task id, the flag the user typed, a file that is not a skill; and what a core
install and `bench retrieval --help` promise."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillbank.cli import main
from skillbank.store import open_store

ROOT = Path(__file__).resolve().parents[1]
V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total_of(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- a read-only library: one line naming it, before anything runs ----------------------


def _unprivileged() -> list[str]:
    """The prefix that runs a command without the power to write read-only files: none for
    an ordinary user; for root (containers, CI), root without its capabilities."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    prefix = [setpriv or "setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
    if setpriv is None or subprocess.run([*prefix, "true"], check=False, capture_output=True).returncode != 0:
        pytest.skip("running as root, and setpriv cannot drop root's power to write read-only files")
    return prefix


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([*_unprivileged(), sys.executable, "-m", "skillbank.cli", *args], check=False,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture()
def read_only_library(tmp_path: Path) -> Iterator[Path]:
    """A library holding total@1, its file read-only."""
    path = tmp_path / "lib" / "library.db"
    with open_store(path) as store:
        store.put_version(V1, actor="test")
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    yield path
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.parent.chmod(stat.S_IRWXU)


def _versions(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        return raw.execute("select count(*) from versions").fetchone()[0]


def _assert_read_only_error(proc: subprocess.CompletedProcess[str], path: Path) -> None:
    line = one_error_line(proc.stderr)
    assert proc.returncode == 1, proc.stderr
    assert f"library '{path}' is read-only" in line, line
    assert "OperationalError" not in line and "INSERT" not in line and "internal error" not in line


def test_a_read_only_library_refuses_skills_add_and_alias_set_in_one_line(read_only_library, tmp_path) -> None:
    new = tmp_path / "total_of.py"
    new.write_text(V2)
    _assert_read_only_error(_cli("skills", "add", str(new), "--library", str(read_only_library)), read_only_library)
    _assert_read_only_error(_cli("skills", "alias", "set", "total", "canary", "1", "--library",
                                 str(read_only_library)), read_only_library)
    assert _versions(read_only_library) == 1
    # Reading it still works.
    listed = _cli("skills", "ls", "--library", str(read_only_library))
    assert listed.returncode == 0 and "total@1" in listed.stdout, listed.stderr
    # A read-only directory (SQLite's -wal and -shm files cannot be made) is named the same way.
    read_only_library.chmod(stat.S_IRUSR | stat.S_IWUSR)
    read_only_library.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    _assert_read_only_error(_cli("skills", "add", str(new), "--library", str(read_only_library)), read_only_library)


def test_a_read_only_library_stops_a_run_before_its_first_task(read_only_library, tmp_path) -> None:
    runs = tmp_path / "runs"
    proc = _cli("run", "--policy", "expert", "--limit", "2", "--runs-dir", str(runs), "--library",
                str(read_only_library))
    _assert_read_only_error(proc, read_only_library)
    assert proc.stdout == "" and not any(runs.glob("*/config.json"))  # no run started, none played


def test_open_store_writable_checks_without_changing_anything(tmp_path) -> None:
    path = tmp_path / "library.db"
    with open_store(path) as store:
        store.put_version(V1, actor="test")
        before = (len(store.events(namespace=None)), store.stats())
    with open_store(path, writable=True) as store:
        assert (len(store.events(namespace=None)), store.stats()) == before


# -- did you mean, the flag typed, the file named ------------------------------------------


def test_a_mistyped_skill_name_gets_the_closest_names(capsys, tmp_path) -> None:
    lib = str(tmp_path / "lib.db")
    for text, name in ((V1, "total.py"), (V2, "total_of.py")):
        (tmp_path / name).write_text(text)
        assert run(capsys, "skills", "add", str(tmp_path / name), "--library", lib)[0] == 0
    for args in (("skills", "show", "totl"), ("skills", "show", "totl@1"), ("skills", "history", "totl"),
                 ("skills", "diff", "totl", "1", "2"), ("skills", "rm", "totl", "--yes"),
                 ("skills", "events", "totl"), ("skills", "alias", "set", "totl", "canary", "1"),
                 ("skills", "alias", "rm", "totl", "canary")):
        code, _, err = run(capsys, *args, "--library", lib)
        line = one_error_line(err)
        assert code == 1 and "'totl'" in line and line.endswith("did you mean 'total' or 'total_of'?"), (args, line)
    # Nothing close, or a name that exists (the version is what is missing): no guess.
    code, _, err = run(capsys, "skills", "show", "zzzz", "--library", lib)
    assert code == 1 and "did you mean" not in one_error_line(err)
    code, _, err = run(capsys, "skills", "show", "total@7", "--library", lib)
    assert code == 1 and "did you mean" not in one_error_line(err)


def test_a_mistyped_task_id_gets_the_closest_ids(capsys) -> None:
    code, _, err = run(capsys, "world", "show", "notes_tag_mentionin-1")
    line = one_error_line(err)
    assert code == 1 and line.startswith("error: no task 'notes_tag_mentionin-1' in the apps world; did you mean "
                                         "'notes_tag_mentioning-1'")
    code, _, err = run(capsys, "world", "show", "zzz")
    assert code == 1 and "did you mean" not in one_error_line(err)


def test_a_policy_flag_is_named_as_the_user_types_it(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "run", "--policy", "expert", "--adapter", "none", "--runs-dir", str(tmp_path / "runs"),
                       "--library", str(tmp_path / "lib.db"))
    assert code == 1 and one_error_line(err) == "error: --adapter applies to --policy local, not 'expert'"


def test_skills_add_names_the_file_of_a_syntax_error(capsys, tmp_path) -> None:
    bad = tmp_path / "err.txt"
    bad.write_text("this is not python(\n")
    code, _, err = run(capsys, "skills", "add", str(bad), "--library", str(tmp_path / "lib.db"))
    assert code == 1 and one_error_line(err).startswith("error: err.txt: line 1, column 18: syntax error")
    assert not (tmp_path / "lib.db").exists()


def test_a_role_is_named_with_its_article(tmp_path) -> None:
    pytest.importorskip("fastapi", reason="the REST API needs the `web` extra (fastapi)")
    from fastapi.testclient import TestClient

    from skillbank.serve.app import create_app
    from skillbank.serve.tokens import TokenRegistry

    with open_store(tmp_path / "lib.db") as store:
        store.put_version(V1, actor="test")
        write = TokenRegistry(store).create("default", "write", label="w")[0]
        r = TestClient(create_app(store)).post("/api/v1/namespaces/default/skills/total/promote",
                                               headers={"Authorization": f"Bearer {write}"}, json={"version": 1})
    assert r.status_code == 403 and "this needs an 'admin' token; this one is 'write'" in r.json()["detail"]


# -- what a core install and `bench retrieval --help` promise -----------------------------


def test_hypothesis_is_a_core_dependency_and_pinned() -> None:
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"hypothesis\b", dep) for dep in core)  # every red-team fuzzes, as README says
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert any(p.startswith("hypothesis==") for p in pins) and any(p.startswith("sortedcontainers==") for p in pins)


def test_bench_retrieval_help_says_the_defaults_take_minutes(capsys) -> None:
    code, out, _ = run(capsys, "bench", "retrieval", "--help")
    text = " ".join(out.replace("│", " ").split())  # the option's help, unwrapped from rich's box
    assert code == 0 and "The defaults take several minutes" in text and "--real-encode-max 0" in text
