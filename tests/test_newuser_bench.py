"""A new user's first hour, second pass (issue 28, item 14): `bench retrieval` says what
it is doing (on stderr, never in the --json output); bench tables at 80 columns keep
every number whole; `bench sandbox` explains a missed target, and the README's sandbox
figures are those the bench measures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skillbank import console as consoles
from skillbank.bench import retrieval as bench_retrieval
from skillbank.bench import sandbox as bench_sandbox
from skillbank.bench._stats import render_timings
from skillbank.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(params=[80, 200])
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(consoles.console, "width", request.param)
    monkeypatch.setattr(consoles.err_console, "width", request.param)
    return request.param


def test_bench_retrieval_announces_each_step_on_stderr_only(capsys, width: int) -> None:
    code = main(["bench", "retrieval", "--sizes", "50,100", "--modes", "same-scenario,query-ngram", "--queries", "3",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)  # stdout is the JSON object and nothing else
    assert len(data["results"]) == 4
    steps = [line for line in err.splitlines() if line.startswith("bench retrieval: [")]
    assert [s.split("]")[0] for s in steps] == ["bench retrieval: [1/4", "bench retrieval: [2/4",
                                                 "bench retrieval: [3/4", "bench retrieval: [4/4"]
    assert "query-ngram over 100 skills" in steps[-1]
    main(["bench", "retrieval", "--sizes", "50", "--modes", "none", "--queries", "2"])
    out, err = capsys.readouterr()
    assert "[1/1] none over 50 skills" in err and "[1/1]" not in out


def numbers(text: str) -> list[str]:
    return re.findall(r"\d[\d,]*(?:\.\d+)?(?:-\d[\d,.]*)?x?", text)


def assert_whole(expected: list[str], out: str, width: int) -> None:
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= width, out
    for value in expected:
        assert any(value in line for line in lines), (value, out)


TIMING = {"median_ms": 1234.5678, "min_ms": 0.0228, "p95_ms": 20.13, "max_ms": 57.31, "n": 300}


def test_bench_timing_tables_keep_numbers_whole(capsys, width: int) -> None:
    render_timings("sandbox, skill_3_api_calls (300 runs each)", [
        ("in_process_exec", TIMING, "baseline (no isolation)"),
        ("sandbox", TIMING, "3.771x in-process exec; 1.285x the floor of an out-of-process design with no isolation"),
        ("floor_out_of_process", None, "fork + socketpair + exec, no isolation"),
    ])
    out = capsys.readouterr().out
    assert_whole(["1,234.6", "0.0228-57.3", "20.1", "300", "3.771x", "1.285x"], out, width)


def test_bench_retrieval_table_keeps_numbers_whole(capsys, width: int) -> None:
    rows = [{"mode": mode, "size": size, "k": 5, "index_build_ms": 123456.7, "search_median_ms": 0.65123,
             "search_p95_ms": 1.25432, "search_min_ms": 0.42812, "search_max_ms": 1.2512,
             "query_encoding_median_ms": 11.52 if "embedding" in mode else None,
             "vectors": "synthetic" if "embedding" in mode else ""}
            for mode in ("query-ngram", "skill-embedding") for size in (1_000, 100_000)]
    bench_retrieval._render({"k": 5, "queries": 50, "results": rows,
                             "targets": {"query-ngram_100k_median_ms": 0.651, "target_ms": 5.0, "met": True}})
    out = capsys.readouterr().out
    assert_whole(["100,000", "123,456.7", "0.651", "1.254", "0.428-1.25", "11.52"], out, width)


REPORT = {
    "cases": {"skill_3_api_calls": {
        "sandbox_over_exec": 3.771, "smolagents_over_sandbox": 5.94, "sandbox_over_floor": 1.285,
        "timings": {"in_process_exec": {"median_ms": 0.526}, "floor_out_of_process": {"median_ms": 1.54}}}},
    "worker_replace": {"median_ms": 41.3},
    "targets": {"skill_case_within_3x_of_exec": False, "skill_case_8x_faster_than_smolagents": False,
                "worker_replace_under_200ms": True},
}


def test_bench_sandbox_says_what_each_target_asks_and_why_one_is_missed() -> None:
    lines = bench_sandbox.target_lines(REPORT)
    text = "\n".join(lines)
    assert "within 3x of in-process exec: MISSED (measured 3.771x)" in text
    assert "8x faster than smolagents: MISSED (measured 5.94x)" in text
    assert "within 200 ms: met (measured 41.3 ms)" in text
    why = next(line for line in lines if "why" in line)
    assert "2.928x in-process exec" in why and "1.285x on top of that floor" in why


def test_the_readme_sandbox_figures_are_what_bench_sandbox_measures() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("`skillbank bench sandbox` times three cases"):text.index("How to read them:")]
    for executor in ("in-process `exec`", "the sandbox", "`LocalPythonExecutor`", "*floor*"):
        assert executor in section
    for case in ("defined in the block", "preloaded from the library"):
        assert case in section
    for target in ("1.5x the floor: **missed**", "3x `exec`: **missed**", "8x: **missed**", "under 200 ms: met"):
        assert target in section
    assert "Why they are missed" in section
    # no older sandbox ratio left elsewhere that contradicts the table
    assert "3.7-4.8x faster than smolagents" not in text
