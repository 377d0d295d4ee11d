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
    assert html.count("<h3>") == 2  # a per-scenario table for each run


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
