"""`skillbank report`: one self-contained HTML file with plots, for a run or two compared."""

from __future__ import annotations

import base64
import json
import re
import sys
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="reports need matplotlib (the `web` extra)")

from skillbank.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("runs")
    for extra in ([], ["--no-skills"]):
        proc = subprocess.run(
            [sys.executable, "-m", "skillbank.cli", "run", "--policy", "expert", "--split", "dev", "--limit", "6",
             "--library", str(runs_dir / "lib.db"), "--runs-dir", str(runs_dir), "--json", *extra],
            capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
    return runs_dir


def _pngs(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_report_of_two_runs_is_self_contained_with_plots(capsys, two_runs, tmp_path) -> None:
    ids = sorted(p.name for p in two_runs.iterdir() if p.is_dir())
    out = tmp_path / "report.html"
    assert main(["report", *ids, "--runs-dir", str(two_runs), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs"] == ids
    html = out.read_text()
    pngs = _pngs(html)
    assert len(pngs) >= 3 and all(p.startswith(b"\x89PNG") for p in pngs)
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    assert "skills" in html and "no skills" in html  # both runs labelled
    assert html.count("<th>all passed</th>") == 2  # a per-scenario table for each run


def test_report_draws_a_training_reward_curve(capsys, two_runs, tmp_path) -> None:
    run_id = sorted(p.name for p in two_runs.iterdir() if p.is_dir())[0]
    metrics = two_runs / run_id / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps({"step": i, "reward": i / 10}) for i in range(5)) + "\n")
    try:
        out = tmp_path / "r.html"
        assert main(["report", run_id, "--runs-dir", str(two_runs), "--out", str(out)]) == 0
        assert 'alt="reward_' in out.read_text()
    finally:
        metrics.unlink()


def test_report_errors_are_one_line(capsys, two_runs, tmp_path) -> None:
    assert main(["report", "nosuch", "--runs-dir", str(two_runs), "--out", str(tmp_path / "x.html")]) == 1
    assert capsys.readouterr().err.startswith("error:")
    assert main(["report", "a", "b", "c", "--runs-dir", str(two_runs)]) == 1
    assert "not 3" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


# -- issue 28, item 11: plots to be read, a governance section, the failed tasks ----------

from skillbank.serve.report import (
    STUB,
    RunData,
    build_figures,
    failed_tasks,
    governance_view,
    per_scenario,
    render_report,
)


def _episode(task: str, scenario: str, ok: bool, steps: int = 2, tokens: int = 100, ops: tuple[str, ...] = ()) -> dict:
    tests = [{"name": "task completed", "passed": True, "message": "ok", "kind": "guard"},
             {"name": "answer", "passed": ok, "message": "correct" if ok else "expected 3, got 2", "kind": "answer"}]
    return {"task_id": task, "scenario_id": scenario, "success": ok, "stop_reason": "completed" if ok else "max_steps",
            "completion_tokens": tokens, "grade_tests": tests, "save_errors": [],
            "turns": [{"operations": [{"kind": k} for k in ops]}] + [{}] * (steps - 1)}


GOVERNANCE = {
    "mode": "on", "policy": "default", "evaluated": 3, "redteamed": 3, "promoted": 1, "canaried": 0, "rolled_back": 1,
    "quarantined": 1, "regressions_blocked": 0, "gate_blocked": 4, "conflicts": 0, "errors": 0,
    "decisions": [
        {"action": "promoted", "name": "pay_bill", "version": 1, "from_version": None, "generation": 1,
         "reason": "gate passed: 3 successful calls on 3 tasks, suite and red-team clean"},
        {"action": "rolled_back", "name": "pay_bill", "version": 1, "from_version": 2, "generation": 3,
         "reason": "automatic: canary failed 4 of 5 calls"},
    ],
    "versions": [
        {"ref": "pay_bill@1", "gate_checks": 3, "gate_blocked": 2, "evaluation": "2/2 cases passed",
         "redteam": "0 finding(s), worst none", "gate": "passed", "gate_reasons": [], "status": "promoted"},
        {"ref": "pay_bill@2", "gate_checks": 1, "gate_blocked": 0, "evaluation": "2/2 cases passed",
         "redteam": "0 finding(s), worst none", "gate": "passed", "gate_reasons": [], "status": "retired"},
        {"ref": "wipe_inbox@1", "gate_checks": 0, "gate_blocked": 0, "evaluation": "1/1 cases passed",
         "redteam": "1 finding(s), worst high", "quarantine_reason": "red-team: undeclared_effect: deletes mail",
         "status": "quarantined"},
        {"ref": "count_events@1", "gate_checks": 2, "gate_blocked": 2, "evaluation": "1/1 cases passed",
         "redteam": "0 finding(s), worst none", "gate": "blocked",
         "gate_reasons": ["1 successful call(s), needs 3"], "status": "candidate"},
    ],
}


def _run(run_id: str, episodes: list[dict], governance: dict | None = GOVERNANCE, skills: bool = True) -> RunData:
    summary = {"tgc": sum(e["success"] for e in episodes) / len(episodes), "sgc": 0.0, "mean_steps": 2.0,
               "mean_tokens": 100.0, "governance": governance}
    return RunData(run_id, f"expert · dev · {'skills' if skills else 'no skills'}", {"with_skills": skills},
                   summary, episodes, Path("/nonexistent"))


# Played in this order (not alphabetical); 'zeta_refund' passes nothing.
EPISODES = [
    _episode("zeta_refund-1", "zeta_refund", False, steps=4, tokens=300, ops=("create",)),
    _episode("zeta_refund-2", "zeta_refund", False, steps=4, tokens=280),
    _episode("alpha_pay-1", "alpha_pay", True, ops=("create",)),
    _episode("alpha_pay-2", "alpha_pay", True, ops=("use",)),
    _episode("mid_count-1", "mid_count", True, ops=("use",)),
    _episode("mid_count-2", "mid_count", False, steps=3),
]


def _labels(ticks) -> list[str]:
    return [t.get_text() for t in ticks]


def test_scenario_bars_are_named_in_the_tables_order_and_zero_shows_a_stub() -> None:
    run = _run("r1", EPISODES)
    table = [row["scenario"] for row in per_scenario(run)]
    assert table == ["zeta_refund", "alpha_pay", "mid_count"]
    fig = build_figures([run], only="scenarios")["scenarios"]
    ax = fig.axes[0]
    assert _labels(ax.get_yticklabels()) == table  # names, not an index; the table's order, top first
    assert ax.yaxis_inverted()
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == [STUB, 100.0, 50.0]  # 0% is drawn as a stub, not as nothing
    stub = ax.patches[0]
    assert stub.get_hatch() and stub.get_edgecolor() == ax.patches[1].get_facecolor()  # hatched, in its run's colour
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["0/2", "2/2 all", "1/2"]


def test_steps_and_tokens_are_per_scenario_with_names_not_a_task_index() -> None:
    run = _run("r1", EPISODES)
    fig = build_figures([run], only="steps_tokens")["steps_tokens"]
    a1, a2 = fig.axes
    assert _labels(a1.get_yticklabels()) == ["zeta_refund", "alpha_pay", "mid_count"]
    assert [bar.get_width() for bar in a1.patches] == [4.0, 2.0, 2.5]
    assert [bar.get_width() for bar in a2.patches] == [290.0, 100.0, 100.0]
    assert a1.get_xlabel() and a2.get_xlabel()


def test_skills_plot_names_the_scenarios_on_its_task_axis() -> None:
    fig = build_figures([_run("r1", EPISODES)], only="skills")["skills"]
    ax = fig.axes[0]
    assert _labels(ax.get_xticklabels()) == ["zeta_refund", "alpha_pay", "mid_count"]
    assert list(ax.get_xticks()) == [1.5, 3.5, 5.5]  # under the middle of each scenario's tasks
    created, used = ax.get_lines()[:2]
    assert list(created.get_ydata()) == [1, 1, 2, 2, 2, 2] and list(used.get_ydata()) == [0, 0, 0, 1, 2, 2]


def test_legends_sit_outside_the_data_and_text_is_readable() -> None:
    runs = [_run("r1", EPISODES), _run("r2", EPISODES[::-1], governance=None, skills=False)]
    figs = build_figures(runs)
    assert set(figs) == {"scenarios", "steps_tokens", "skills"}
    for name, fig in figs.items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert legends, name  # two runs: each figure says which is which
        if name != "skills":  # one plain swatch per run, whatever its first bar looks like
            assert [t.get_text() for t in legends[0].get_texts()] == [r.label for r in runs]
            assert all(not h.get_hatch() for h in legends[0].legend_handles)
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                assert not box.overlaps(ax.get_window_extent(renderer)), name
        for ax in fig.axes:
            for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
                assert label.get_fontsize() >= 9, (name, label.get_text())
            assert ax.title.get_fontsize() >= 11


def test_pngs_are_saved_whole_with_nothing_clipped(tmp_path) -> None:
    """The saved PNG is large enough to hold every label: a tight bounding box grows the
    image around text that reaches past the figure's edge."""
    import io

    from PIL import Image

    runs = [_run("r1", EPISODES)]
    from skillbank.serve.report import run_figures

    png = run_figures(runs, only="scenarios")["scenarios"]
    fig = build_figures(runs, only="scenarios")["scenarios"]
    fig.canvas.draw()
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    width, height = Image.open(io.BytesIO(png)).size
    assert width >= tight.width * 100 / 72 * 0.98 and height >= tight.height * 100 / 72 * 0.98


def test_governance_view_says_what_happened_to_each_version_and_why() -> None:
    g = governance_view(_run("r1", EPISODES))
    assert ("quarantined", 1) in g["counts"] and ("rolled back", 1) in g["counts"]
    by = {v["ref"]: v for v in g["versions"]}
    assert by["wipe_inbox@1"]["ended"] == "quarantined"
    assert by["wipe_inbox@1"]["why"] == "red-team: undeclared_effect: deletes mail"
    assert by["count_events@1"]["why"] == "gate blocked: 1 successful call(s), needs 3"
    assert by["pay_bill@1"]["why"] == "promoted again when v2 was rolled back"
    assert by["pay_bill@2"]["why"] == "rolled back: automatic: canary failed 4 of 5 calls"
    assert by["pay_bill@2"]["ended"] == "rolled back / retired"
    assert by["pay_bill@1"]["gate"] == "passed on check 3"
    assert by["count_events@1"]["gate"] == "blocked (2 of 2 checks)" and by["pay_bill@1"]["redteam"] == "no finding"
    assert [m["action"] for m in g["moves"]] == ["promoted", "rolled back"]
    assert [v["status"] for v in g["versions"]] == ["quarantined", "retired", "candidate", "promoted"]
    off = governance_view(_run("r2", EPISODES, governance=None, skills=False))
    assert "without skills" in off["note"] and not off["versions"]


def test_failed_tasks_list_the_grades_failed_checks_in_run_order() -> None:
    failed = failed_tasks(_run("r1", EPISODES))
    assert [f["task"] for f in failed] == ["zeta_refund-1", "zeta_refund-2", "mid_count-2"]
    assert failed[0]["reasons"] == ["answer: expected 3, got 2"] and failed[0]["stop"] == "max_steps"


def test_report_has_governance_and_failed_task_sections() -> None:
    page = render_report([_run("r1", EPISODES)])
    gov = page[page.index('<section id="governance">'):page.index('<section id="failed">')]
    assert "wipe_inbox@1" in gov and "red-team: undeclared_effect: deletes mail" in gov
    assert "automatic: canary failed 4 of 5 calls" in gov and "gate blocked: 1 successful call(s), needs 3" in gov
    failed = page[page.index('<section id="failed">'):page.index("<h2>Figures</h2>")]
    assert "3 of 6 task(s) failed" in failed and failed.count("answer: expected 3, got 2") == 3
    assert "zeta_refund-1" in failed and "alpha_pay-1" not in failed


def test_a_real_governed_runs_report_tells_its_governance(capsys, two_runs, tmp_path) -> None:
    ids = sorted(p.name for p in two_runs.iterdir() if p.is_dir())
    out = tmp_path / "report.html"
    assert main(["report", *ids, "--runs-dir", str(two_runs), "--out", str(out)]) == 0
    page = out.read_text()
    gov = page[page.index('<section id="governance">'):page.index('<section id="failed">')]
    assert "evaluated" in gov and "<h4>Versions this run saved or used" in gov and "gate" in gov
    assert "governance did not run beside this run (the run played without skills)" in gov
    summary = json.loads((two_runs / ids[0] / "summary.json").read_text())
    refs = [v["ref"] for v in summary["governance"]["versions"]]
    assert refs and all(ref in gov for ref in refs)
    assert "task(s) passed" in page or "task(s) failed" in page


def test_a_long_runs_scenario_names_do_not_overlap() -> None:
    """75 tasks over 25 scenarios: every scenario is named on each plot, no two names overlap."""
    names = [f"{app}_scenario_with_a_long_name_{i}" for i, app in enumerate(["music", "wallet", "splitbill"] * 9)][:25]
    episodes = [_episode(f"{n}-{k}", n, k != 1, ops=("use",) if k else ("create",)) for n in names for k in range(3)]
    figs = build_figures([_run("long", episodes)])
    for name, axis in (("scenarios", "y"), ("steps_tokens", "y"), ("skills", "x")):
        fig = figs[name]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        labels = fig.axes[0].get_yticklabels() if axis == "y" else fig.axes[0].get_xticklabels()
        assert _labels(labels) == names, name
        boxes = [label.get_window_extent(renderer) for label in labels]
        assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), name
