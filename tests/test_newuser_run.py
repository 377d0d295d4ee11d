"""`skillbank run` and `skillbank sandbox exec` as a new user meets them (issue 28, second
pass): the summary's note, the time it reports, SIGTERM, and `sandbox exec`'s exit status."""

from __future__ import annotations

import json
import re
import sys
import time
import types
import warnings
from pathlib import Path

import pytest

from skillbank.cli import main
from skillbank.jobs import APPS_LOCAL_NOTE, EXPERT_NOTE, LOCAL_BASE_NOTE, RunSpec

SRC = Path(__file__).resolve().parents[1] / "src"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _figures(out: str) -> dict[str, str]:
    """The run table's figures: ``name  value`` on one line, or (a table folded to fit
    the terminal) the name on one line and its value indented on the next."""
    rows: dict[str, str] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\S.*?)\s{2,}(\S.*?)\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
        elif line.strip() and not line.startswith(" ") and i + 1 < len(lines) and lines[i + 1].startswith("  "):
            rows[line.strip()] = lines[i + 1].strip()
    return rows


# -- #1: the shipped adapter is not the base model ------------------------------------------


def test_shipped_adapter_run_has_no_base_model_note() -> None:
    # No --adapter is the shipped SFT adapter; str(None) is "None", which once read as "none".
    assert RunSpec(policy="local").note() is None
    assert RunSpec(policy="local", adapter_path="default").note() is None
    assert RunSpec(policy="local", adapter_path="none").note() == LOCAL_BASE_NOTE
    assert RunSpec(policy="local", adapter_path="None").note() == LOCAL_BASE_NOTE
    assert RunSpec(policy="local", adapter_path="none", model_path="m.gguf").note() is None


# -- #15: the apps world's note stays on the apps world ------------------------------------


def test_support_world_expert_note_says_nothing_of_the_apps_model(capsys, tmp_path: Path) -> None:
    assert RunSpec(world="apps").note() == f"{EXPERT_NOTE} {APPS_LOCAL_NOTE}"
    assert RunSpec(world="support").note() == EXPERT_NOTE
    code, out, err = _run(capsys, "run", "--world", "support", "--split", "dev", "--limit", "1", "--json",
                          "--library", str(tmp_path / "l.db"), "--runs-dir", str(tmp_path / "runs"))
    assert code == 0, err
    note = json.loads(out)["note"]
    assert "scripted expert" in note and "--policy local" not in note and "dev task" not in note


# -- #20: the time a run reports includes loading the model ----------------------------------


def test_run_summary_reports_model_load_and_wall_time(capsys, tmp_path: Path, monkeypatch) -> None:
    from skillbank import jobs

    build = jobs.make_run_policy

    def slow_load(*args, **kwargs):
        time.sleep(0.3)  # a model that takes a while to load
        return build(*args, **kwargs)

    monkeypatch.setattr(jobs, "make_run_policy", slow_load)
    common = ["run", "--limit", "1", "--library", str(tmp_path / "l.db"), "--runs-dir", str(tmp_path / "runs")]
    code, out, err = _run(capsys, *common, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["load_s"] >= 0.3 and data["wall_s"] >= data["load_s"] + data["duration_s"]
    config = json.loads((Path(data["run_dir"]) / "config.json").read_text())
    assert config["policy_load_s"] == data["load_s"]
    code, out, err = _run(capsys, *common)
    assert code == 0, err
    rows = _figures(out)
    assert {"time (tasks)", "model load", "wall time"} <= set(rows)
    assert float(rows["model load"].rstrip("s")) >= 0.3
    assert float(rows["wall time"].rstrip("s")) >= float(rows["time (tasks)"].rstrip("s")) + 0.3


def test_an_adapter_load_prints_no_future_warning(tmp_path: Path, monkeypatch) -> None:
    """peft reads transformers' deprecated `is_gradient_checkpointing` while it loads the
    adapter; every local run printed that FutureWarning on stderr."""
    from skillbank.llm import transformers_backend
    from skillbank.llm.local_config import LocalConfig

    class Model:
        def eval(self) -> Model:
            return self

        def merge_and_unload(self) -> Model:
            return self

    def adapter_load(model: Model, path: str) -> Model:
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6. Use "
                      "`is_activation_checkpointing` instead.", FutureWarning, stacklevel=2)
        return model

    fake_transformers = types.SimpleNamespace(
        AutoTokenizer=types.SimpleNamespace(from_pretrained=lambda *a, **k: "tokenizer"),
        AutoModelForCausalLM=types.SimpleNamespace(from_pretrained=lambda *a, **k: Model()))
    fake_torch = types.SimpleNamespace(float32="float32", set_num_threads=lambda n: None)
    monkeypatch.setattr(transformers_backend, "import_transformers", lambda: (fake_torch, fake_transformers))
    monkeypatch.setitem(sys.modules, "peft", types.SimpleNamespace(
        PeftModel=types.SimpleNamespace(from_pretrained=adapter_load)))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    config = LocalConfig(model_path=tmp_path / "model", adapter_path=tmp_path / "adapter", dtype="float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tokenizer = transformers_backend.load_transformers(config)
    assert isinstance(model, Model) and tokenizer == "tokenizer"
    assert [str(w.message) for w in caught] == []


# -- #25: SIGTERM stops a run in order: tests/test_cli_newuser.py
#    (test_a_signal_stops_the_run_in_order, beside Ctrl-C)


# -- #13: `sandbox exec` says how the code ended in its exit status ----------------------------


@pytest.mark.parametrize(("code", "status"), [
    ("print('fine')\n", 0),
    ("raise ValueError('boom')\n", 3),
    ("apis.echo.fail(message='nope')\n", 3),
    ("import os\nos.getpid()\n", 4),
])
def test_sandbox_exec_exit_status_says_how_the_code_ended(capsys, tmp_path: Path, code: str, status: int) -> None:
    script = tmp_path / "script.py"
    script.write_text(code)
    got, out, err = _run(capsys, "sandbox", "exec", str(script))
    assert got == status, out + err


def test_sandbox_exec_timeout_exits_5_without_a_session_that_continues(capsys, tmp_path: Path) -> None:
    script = tmp_path / "spin.py"
    script.write_text("while True:\n    pass\n")
    code, out, err = _run(capsys, "sandbox", "exec", str(script), "--timeout", "1")
    assert code == 5, out + err
    assert "ran longer than 1 s and was stopped" in out
    assert "session" not in out and "new worker" not in out
    code, out, err = _run(capsys, "sandbox", "exec", str(script), "--timeout", "1", "--json")
    assert code == 5 and "session" not in json.loads(out)["error_message"]


def test_sandbox_exec_passing_task_exits_0_and_help_lists_the_statuses(capsys, tmp_path: Path) -> None:
    from skillbank.worlds.registry import make_world

    world = make_world("apps", seed=0)
    task_id = "notes_tag_mentioning-1"
    solution = world.expert_solution(task_id)
    script = tmp_path / "solve.py"
    script.write_text("\n\n".join(solution.skill_sources) + "\n" + solution.call_block)
    code, out, err = _run(capsys, "sandbox", "exec", str(script), "--task", task_id)
    assert code == 0, out + err
    code, out, _ = _run(capsys, "sandbox", "exec", "--help")
    assert code == 0
    for words in ("3 the code raised", "4 the static check refused", "5 it was killed", "6 with --task"):
        assert words in " ".join(out.replace("│", " ").split()), out
