"""A new user's first hour, second pass (issue 28, items 3, 4 and 16): what the CLI
prints at 80 and 200 columns keeps every whole value (ids, numbers, dates, code lines)
unbroken, code is never cut, our styles never reach the user as literal tags, and
every table has the one style of `skillbank.console.table`."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skillbank import console as consoles
from skillbank.cli import main
from skillbank.commands.demo import SKILL_V1, SKILL_V2

SRC = Path(__file__).resolve().parents[1] / "src"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str):
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def whole_in_a_line(value: str, out: str) -> bool:
    return any(value in line for line in out.splitlines())


@pytest.fixture(params=[80, 200])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(consoles.console, "width", request.param)
    monkeypatch.setattr(consoles.err_console, "width", request.param)
    return request.param


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict]:
    """One small run of the expert (its runs dir, its id, its first episodes)."""
    tmp = tmp_path_factory.mktemp("played")
    runs, lib = str(tmp / "runs"), str(tmp / "lib.db")
    assert main(["run", "--limit", "3", "--runs-dir", runs, "--library", lib, "--json"]) == 0
    run_id = next(p.name for p in Path(runs).iterdir() if p.is_dir())
    return runs, run_id, lib


# -- item 3: runs show ---------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_runs_show_keeps_every_cell_whole(capsys, played, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    runs, run_id, _ = played
    capsys.readouterr()
    data = run_json(capsys, "runs", "show", run_id, "--runs-dir", runs)
    monkeypatch.setattr(consoles.console, "width", columns)
    code, out, _ = run(capsys, "runs", "show", run_id, "--runs-dir", runs)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= columns
    for e in data["episodes"]:
        values = [e["task_id"], str(e["completion_tokens"]), e["stop_reason"], *e["loaded"], *e["saved"]]
        for value in values:
            assert whole_in_a_line(value, out), (value, out)
        for turn in e["turns"]:  # the operations (`create:NAME`, `use:NAME`) stay whole too
            for op in turn["operations"]:
                if op["kind"] != "defined":
                    assert whole_in_a_line(f"{op['kind']}:{op['name']}", out), (op, out)
    if columns == 200:  # wide enough: one table row per episode
        for e in data["episodes"]:
            assert sum(e["task_id"] == line.split()[0] for line in out.splitlines() if line.strip()) == 1


def test_an_episode_and_a_solution_show_their_code_whole(capsys, played, width: int) -> None:
    runs, run_id, _ = played
    capsys.readouterr()
    episode = run_json(capsys, "runs", "show", run_id, "--runs-dir", runs, "--task", "calendar_cancel_day-1")
    code, out, _ = run(capsys, "runs", "show", run_id, "--runs-dir", runs, "--task", "calendar_cancel_day-1")
    assert code == 0
    for turn in episode["turns"]:
        for line in (turn["code"] or "").splitlines():
            assert line in out.splitlines(), line
    solved = run_json(capsys, "world", "solve", "calendar_cancel_day-1")
    code, out, _ = run(capsys, "world", "solve", "calendar_cancel_day-1")
    assert code == 0
    for block in solved["blocks"]:
        for line in block["code"].splitlines():
            assert line in out.splitlines(), line


# -- item 4: the demo shows its code whole -------------------------------------------------


def test_demo_prints_code_whole_and_no_trailing_spaces(capsys, width: int) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    lines = out.splitlines()
    for source_line in SKILL_V1.splitlines():
        assert source_line in lines, source_line
    for source_line in SKILL_V2.splitlines()[1:]:
        assert "+" + source_line in lines, source_line  # the diff, line for line
    assert not [line for line in lines if line != line.rstrip()]  # piped: no padding


# -- item 16: world tasks, skills ls, tokens ls, bench --help, redteam ---------------------


def test_world_tasks_gives_instructions_room(capsys, width: int) -> None:
    from skillbank.worlds.registry import make_world

    tasks = make_world("apps", seed=0).tasks("dev")
    code, out, _ = run(capsys, "world", "tasks", "--split", "dev")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= width
    flat = " ".join(out.split())
    for task in tasks:
        assert whole_in_a_line(task.id, out) and " ".join(task.instruction.split()) in flat
    # before: instructions squeezed into 16-22 characters a line; now they get 50 or more
    assert len(out.splitlines()) <= 3 + sum(2 + math.ceil(len(t.instruction) / 50) for t in tasks)
    if width == 200:
        for task in tasks:
            assert len(task.instruction) > 120 or whole_in_a_line(task.instruction, out)


SIGNATURE = "(amount_cents: int, currency: str = 'EUR', places: int = 2) -> str"


def test_skills_ls_keeps_signature_and_date_on_one_line(capsys, tmp_path: Path, width: int) -> None:
    lib = str(tmp_path / "lib.db")
    path = tmp_path / "fmt.py"
    path.write_text(f"def format_money{SIGNATURE}:\n    '''Format money.'''\n    return f'{{amount_cents}} {{currency}}'\n")
    run_json(capsys, "skills", "add", str(path), "--library", lib)
    code, out, _ = run(capsys, "skills", "ls", "--library", lib)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= width
    assert whole_in_a_line(SIGNATURE, out) and whole_in_a_line("format_money@1", out)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", out)  # the date and time not split


def test_tokens_ls_keeps_dates_whole(capsys, tmp_path: Path, width: int) -> None:
    lib = str(tmp_path / "lib.db")
    run_json(capsys, "tokens", "create", "--namespace", "default", "--role", "read", "--label", "ci", "--library", lib)
    rows = run_json(capsys, "tokens", "ls", "--library", lib)
    code, out, _ = run(capsys, "tokens", "ls", "--library", lib)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= width
    assert whole_in_a_line(rows[0]["id"], out) and whole_in_a_line(rows[0]["created_at"], out)


def test_bench_retrieval_help_shows_its_whole_default() -> None:
    from skillbank.retrieval import RETRIEVAL_MODES

    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "skillbank.cli", "bench", "retrieval", "--help"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout
    for mode in RETRIEVAL_MODES:
        assert mode in proc.stdout


CLEAN = "def add_one(x: int) -> int:\n    '''Return x plus one.'''\n    return x + 1\n"
SECRET = ("def fetch_report(day: str) -> str:\n    '''Return the report of `day`.'''\n"
          "    key = \"sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0\"\n    return day + key[:0]\n")


def test_redteam_without_findings_prints_one_line(capsys, tmp_path: Path) -> None:
    lib = str(tmp_path / "lib.db")
    (tmp_path / "a.py").write_text(CLEAN)
    run_json(capsys, "skills", "add", str(tmp_path / "a.py"), "--library", lib)
    code, out, _ = run(capsys, "skills", "redteam", "add_one", "--static-only", "--library", lib)
    assert code == 0 and out == "red-team add_one@1: no findings\n"


# -- the markup found in the governance tables ----------------------------------------------


def test_governance_tables_show_styles_not_tags(capsys, tmp_path: Path, width: int) -> None:
    lib = str(tmp_path / "lib.db")
    (tmp_path / "s.py").write_text(SECRET)
    run_json(capsys, "skills", "add", str(tmp_path / "s.py"), "--library", lib)
    code, out, _ = run(capsys, "skills", "redteam", "fetch_report", "--static-only", "--library", lib)
    assert code == 0 and "quarantined" in out and "[red]" not in out and "[/red]" not in out
    assert whole_in_a_line("secret_in_source", out)

    (tmp_path / "a.py").write_text(CLEAN.replace("x + 1", "x + 2"))
    run_json(capsys, "skills", "add", str(tmp_path / "a.py"), "--library", lib)
    cases = tmp_path / "c.json"
    cases.write_text(json.dumps([{"kwargs": {"x": 1}, "expect": 2}]))
    run_json(capsys, "skills", "cases", "add", "add_one", str(cases), "--library", lib)
    code, out, _ = run(capsys, "skills", "eval", "add_one@1", "--library", lib)
    assert code == 0 and "[red]" not in out and re.search(r"\bno\b", out)
    code, out, _ = run(capsys, "skills", "cases", "ls", "add_one@1", "--library", lib)
    assert code == 0 and "[red]" not in out and "failed" in out


def test_one_table_style_for_every_face() -> None:
    """Every face builds its tables with `skillbank.console.table` (one box style, no
    cut words): none builds a boxed Rich Table itself (a borderless `Table.grid` is
    layout, not a table)."""
    offenders = [str(p.relative_to(SRC)) for p in (SRC / "skillbank").rglob("*.py")
                 if p.name != "console.py" and "from rich.table import" in p.read_text()
                 and re.search(r"\bTable\(", p.read_text())]
    assert offenders == []
