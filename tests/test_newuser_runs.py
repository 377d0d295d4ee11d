"""A new user's first hour, second pass (issue 28, item 12): `runs compare` shows no
retrieval mode for a run without skills and says when two runs are of different worlds;
`runs ls` shows each run's world and start time; `latest~N` names earlier runs. At 80
and 200 columns."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from skillbank import console as consoles
from skillbank.cli import main


@pytest.fixture(params=[80, 200])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(consoles.console, "width", request.param)
    monkeypatch.setattr(consoles.err_console, "width", request.param)
    return request.param


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three small expert runs, oldest first: apps with skills, apps without, support."""
    tmp = tmp_path_factory.mktemp("runs")
    runs_dir = str(tmp / "runs")
    for n, extra in enumerate((["--limit", "3"], ["--limit", "3", "--no-skills"],
                               ["--world", "support", "--split", "test", "--limit", "3"])):
        second = int(time.time())
        assert main(["run", "--runs-dir", runs_dir, "--library", str(tmp / f"lib{n}.db"), "--json", *extra]) == 0
        while int(time.time()) <= second + 1:  # run ids sort by their wall-clock second
            time.sleep(0.05)
    return runs_dir


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_latest_and_latest_n_name_the_runs_newest_first(capsys, runs: str) -> None:
    rows = json.loads(cli(capsys, "runs", "ls", "--runs-dir", runs, "--json"))
    for n, row in enumerate(rows):
        shown = json.loads(cli(capsys, "runs", "show", f"latest~{n}", "--runs-dir", runs, "--json"))
        assert shown["run_id"] == row["run_id"]
    assert json.loads(cli(capsys, "runs", "show", "latest", "--runs-dir", runs, "--json"))["run_id"] == rows[0]["run_id"]
    assert main(["runs", "show", "latest~3", "--runs-dir", runs]) == 1
    assert "latest~2 is the oldest" in capsys.readouterr().err


def test_runs_ls_shows_world_and_start_time(capsys, runs: str, width: int) -> None:
    rows = json.loads(cli(capsys, "runs", "ls", "--runs-dir", runs, "--json"))
    assert [r["world"] for r in rows] == ["support", "apps", "apps"]
    for r in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", r["started_at"]), r["started_at"]
    out = cli(capsys, "runs", "ls", "--runs-dir", runs)
    assert max(len(line) for line in out.splitlines()) <= width
    for r in rows:
        started = r["started_at"][:16].replace("T", " ")
        block = out.split(r["run_id"], 1)[1].split("\n2", 1)[0]  # the run's line, or its block
        assert started in block and r["world"] in block, (width, out)


def test_compare_shows_no_retrieval_mode_for_a_run_without_skills(capsys, runs: str, width: int) -> None:
    data = json.loads(cli(capsys, "runs", "compare", "latest~2", "latest~1", "--runs-dir", runs, "--json"))
    with_skills, without = (data["setup"][data[k]] for k in ("run1", "run2"))
    assert with_skills["retrieval"] == "same-scenario" and without["retrieval"] is None
    assert data["warnings"] == []
    out = cli(capsys, "runs", "compare", "latest~2", "latest~1", "--runs-dir", runs)
    retrieval = next(line for line in out.splitlines() if line.startswith("retrieval"))
    assert "same-scenario" in retrieval and "none (no skills)" in retrieval
    assert retrieval.count("same-scenario") == 1
    assert "different worlds" not in out


def test_compare_of_runs_of_different_worlds_says_so(capsys, runs: str, width: int) -> None:
    data = json.loads(cli(capsys, "runs", "compare", "latest~2", "latest", "--runs-dir", runs, "--json"))
    assert any("different worlds (apps and support)" in w for w in data["warnings"])
    out = cli(capsys, "runs", "compare", "latest~2", "latest", "--runs-dir", runs)
    text = " ".join(out.split())
    assert "the runs are of different worlds (apps and support)" in text
    assert max(len(line) for line in out.splitlines()) <= width
    world = next(line for line in out.splitlines() if line.startswith("world"))
    assert "apps" in world and "support" in world


def test_a_run_records_when_it_started(runs: str) -> None:
    for config in Path(runs).glob("*/config.json"):
        assert "started_at" in json.loads(config.read_text())
