"""`skillbank bench sandbox`: the report's shape and that its numbers are measurements."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from skillbank.bench.sandbox import run_bench
from skillbank.cli import app as cli_app


def test_run_bench_reports_medians_and_ratios():
    report = run_bench(iterations=5, replacements=2, warmup=1)
    for case in ("trivial_expression", "skill_3_api_calls", "library_skill_3_api_calls"):
        entry = report["cases"][case]
        medians = {name: t["median_ms"] for name, t in entry["timings"].items()}
        assert medians["in_process_exec"] > 0 and medians["sandbox"] > 0
        assert entry["sandbox_over_exec"] == round(medians["sandbox"] / medians["in_process_exec"], 3)
        assert medians["floor_out_of_process"] > 0
        assert entry["sandbox_over_floor"] == round(medians["sandbox"] / medians["floor_out_of_process"], 3)
        if medians["smolagents"] is None:
            assert entry["smolagents_over_sandbox"] is None and report["notes"]
        else:
            assert entry["smolagents_over_sandbox"] == round(medians["smolagents"] / medians["sandbox"], 3)
    assert 0 < report["worker_replace"]["median_ms"] < 5000
    assert report["worker_replace"]["min_ms"] <= report["worker_replace"]["median_ms"] <= report["worker_replace"]["max_ms"]
    assert set(report["targets"]) == {
        "skill_case_within_1_5x_of_floor",
        "library_skill_within_1_5x_of_floor",
        "skill_case_within_3x_of_exec",
        "skill_case_8x_faster_than_smolagents",
        "worker_replace_under_200ms",
    }


def test_bench_command_prints_json():
    res = CliRunner().invoke(cli_app, ["bench", "sandbox", "--iterations", "3", "--replacements", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["iterations"] == 3


def test_floor_executor_forwards_api_calls_and_exits_cleanly():
    import os

    from skillbank.bench.sandbox import SKILL_3_CALLS, BenchHost, FloorExecutor

    class Counting(BenchHost):
        calls = 0

        def call(self, app, api, **kwargs):
            Counting.calls += 1
            return super().call(app, api, **kwargs)

    floor = FloorExecutor()
    pid = floor._pid
    floor.run(SKILL_3_CALLS.format(i=1), Counting())
    floor.close()
    assert Counting.calls == 3
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:  # pragma: no cover - a leaked child is the failure this guards against
        raise AssertionError("the floor executor's child outlived close()")
