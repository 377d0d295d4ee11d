"""A new user's first hour (issue 10): one test per bug found trying skillbank from a
fresh clone, and the commands that were expected but missing. Through
`skillbank.cli.main`, with a few real subprocesses (Ctrl-C, 80 columns)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skillbank.cli import main
from skillbank import console as consoles

V1 = "def total(xs: list[int]) -> int:\n    '''Sum of xs.'''\n    return sum(xs)\n"
V2 = "def total(xs: list[int]) -> int:\n    '''Sum of xs, skipping None.'''\n    return sum(x for x in xs if x)\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str):
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture()
def lib(tmp_path: Path) -> str:
    return str(tmp_path / "lib" / "library.db")


@pytest.fixture()
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80-column terminal, as the issue's user had."""
    monkeypatch.setattr(consoles.console, "width", 80)
    monkeypatch.setattr(consoles.err_console, "width", 80)


def add(capsys, lib: str, tmp_path: Path, source: str, *extra: str, name: str = "skill.py"):
    path = tmp_path / name
    path.write_text(source)
    return run_json(capsys, "skills", "add", str(path), "--library", lib, *extra)


# -- bug 1: Rich markup applied to text that is not ours ------------------------------


def test_markup_in_data_and_errors_prints_verbatim(capsys, lib, tmp_path: Path, narrow) -> None:
    src = "def tag(x: str = '[bold]b[/bold]') -> str:\n    '''Wrap in [local] brackets.'''\n    return x\n"
    add(capsys, lib, tmp_path, src, "--actor", "[red]mallory[/red]")
    code, out, _ = run(capsys, "skills", "ls", "--library", lib)
    assert code == 0 and "[bold]b[/bold]" in out and "[red]mallory[/red]" in out
    code, out, _ = run(capsys, "skills", "show", "tag", "--library", lib)
    assert code == 0 and "'[bold]b[/bold]'" in out and "[local]" in out and "[default]" in out
    run(capsys, "skills", "alias", "set", "tag", "promoted", "1", "--reason", "see [local] and [/]", "--library", lib)
    code, out, _ = run(capsys, "skills", "events", "tag", "--library", lib)
    assert code == 0 and "see [local] and" in out and "[/]" in out
    # errors naming user input keep their brackets
    code, _, err = run(capsys, "skills", "show", "x[local]", "--library", lib)
    assert code == 1 and "'x[local]'" in one_error_line(err)
    code, _, err = run(capsys, "world", "show", "no[such]task")
    assert code == 1 and "no[such]task" in one_error_line(err)


def test_markup_in_sandbox_errors_prints_verbatim(capsys, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text('raise ValueError("bad [local] value")\n')
    code, out, _ = run(capsys, "sandbox", "exec", str(script))
    assert code == 3  # the code raised
    lines = out.splitlines()
    assert "ValueError: bad [local] value" in lines and not any("bad  value" in line for line in lines)


def test_install_hints_keep_their_extras(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillbank.commands import world
    from skillbank.errors import ConfigError

    def missing(*args, **kwargs):
        raise ConfigError("the local policy needs torch: pip install 'skillbank[local]'")

    monkeypatch.setattr(world, "_world", missing)
    code, _, err = run(capsys, "world", "apps")
    assert code == 1 and one_error_line(err).endswith("pip install 'skillbank[local]'")


# -- bug 2: run --namespace bad/ns ------------------------------------------------------


def test_run_with_a_bad_namespace_fails_up_front(capsys, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code, _, err = run(capsys, "run", "--namespace", "bad/ns", "--limit", "1", "--runs-dir", str(runs),
                       "--library", str(tmp_path / "lib.db"))
    assert code == 1 and "--namespace" in one_error_line(err) and "'bad/ns'" in err
    assert not runs.exists() and not (tmp_path / "lib.db").exists()


def test_agent_refuses_a_bad_namespace_and_traces_unstorable_saves(tmp_path: Path) -> None:
    from test_agent_fakes import FakeWorld, RecordingReplay, block

    from skillbank.agent.library import RunLibrary
    from skillbank.agent.loop import SkillAgent
    from skillbank.errors import ValidationError
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.store import open_store

    store = open_store(tmp_path / "lib.db")
    try:
        with pytest.raises(ValidationError, match="invalid namespace 'bad/ns'"):
            SkillAgent(RecordingReplay([]), RunLibrary(store, None, run_id="r", namespace="bad/ns"), None)
        # A function named like a builtin runs fine but is no storable skill: the trace says so.
        code = ("def sorted(xs):\n    return list(xs)\n\nanswer = len(sorted([1, 2, 3]))\n"
                "apis.supervisor.complete_task(answer=answer)")
        world = FakeWorld()
        with SandboxPool(SandboxConfig(workers=1)) as pool:
            agent = SkillAgent(RecordingReplay([block(code)]), RunLibrary(store, None, run_id="r"),
                               lambda host, task_id: pool.session(host, task_id=task_id))
            episode = agent.play(world.start("count-1"))
        assert episode.self_reported == "success" and episode.saved == ()
        assert len(episode.save_errors) == 1 and episode.save_errors[0].startswith("sorted: ")
        assert "shadows" in episode.save_errors[0]
    finally:
        store.close()


def test_run_reports_candidates_that_could_not_be_saved(capsys, tmp_path: Path) -> None:
    from test_agent_fakes import block

    code = "def sorted(xs):\n    return list(xs)\n\nsorted([2, 1])\napis.supervisor.complete_task(answer=None)"
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps(block(code)) + "\n")
    args = ["run", "--policy", "replay", "--responses", str(replies), "--limit", "1",
            "--runs-dir", str(tmp_path / "runs"), "--library", str(tmp_path / "l.db")]
    data = run_json(capsys, *args)
    assert data["skills_saved"] == 0 and data["unsaved_candidates"] == 1
    replies.write_text(json.dumps(block(code)) + "\n")
    code_, out, _ = run(capsys, *args)
    assert code_ == 0 and "1 function(s) that earned a save were not storable skills" in " ".join(out.split())


# -- bug 3: read-only commands never create a library ----------------------------------


@pytest.mark.parametrize("args", [
    ["skills", "ls"], ["skills", "show", "total"], ["skills", "history", "total"], ["skills", "diff", "total", "1", "2"],
    ["skills", "events"], ["skills", "alias", "ls"], ["skills", "rm", "total", "--yes"],
    ["skills", "alias", "rm", "total", "promoted"],
])
def test_read_commands_on_a_missing_library_fail_and_create_nothing(capsys, tmp_path: Path, args) -> None:
    where = tmp_path / "nonexistent" / "dir" / "x.db"
    code, _, err = run(capsys, *args, "--library", str(where))
    assert code == 1 and "no library at" in one_error_line(err)
    assert not (tmp_path / "nonexistent").exists()


def test_export_of_a_missing_library_creates_nothing(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "skills", "export", str(tmp_path / "out"), "--library", f"sqlite:///{tmp_path}/none/x.db")
    assert code == 1 and "no library at" in one_error_line(err)
    assert not (tmp_path / "none").exists() and not (tmp_path / "out").exists()


def test_failed_import_leaves_no_library_behind(capsys, lib, tmp_path: Path) -> None:
    # An export whose alias names a version it does not hold (bug 6: was a raw FOREIGN KEY error).
    add(capsys, lib, tmp_path, V1)
    run(capsys, "skills", "alias", "set", "total", "promoted", "1", "--library", lib)
    out = tmp_path / "export"
    assert run(capsys, "skills", "export", str(out), "--library", lib)[0] == 0
    meta_path = out / "skillbank-library.json"
    meta = json.loads(meta_path.read_text())
    meta["aliases"][0]["version_id"] = "f" * 32
    meta_path.write_text(json.dumps(meta))
    target = tmp_path / "new" / "deeper" / "other.db"
    code, _, err = run(capsys, "skills", "import", str(out), "--library", str(target))
    line = one_error_line(err)
    assert code == 1 and "which the export does not hold" in line and "internal error" not in line
    assert not (tmp_path / "new").exists()
    # an import from something that is no export at all
    code, _, err = run(capsys, "skills", "import", str(tmp_path / "missing"), "--library", str(target))
    assert code == 1 and "does not exist" in one_error_line(err) and not (tmp_path / "new").exists()


# -- bug 4: nothing a user copies is truncated ----------------------------------------------

LONG_NAME = "summarise_every_quarterly_transaction_by_counterparty_and_currency"
LONG_SOURCE = (
    f"def {LONG_NAME}(transactions: list[dict], currency_of_the_report: str = 'EUR') -> dict:\n"
    "    '''Totals per counterparty.'''\n"
    "    return {t['counterparty']: sum(x['amount'] for x in transactions if x['counterparty'] == t['counterparty'] "
    "and x.get('currency', currency_of_the_report) == currency_of_the_report) for t in transactions}\n"
)


def test_long_names_and_source_are_never_cut(capsys, lib, tmp_path: Path, narrow) -> None:
    add(capsys, lib, tmp_path, LONG_SOURCE)
    code, out, _ = run(capsys, "skills", "show", LONG_NAME, "--source", "--library", lib)
    assert code == 0 and out == LONG_SOURCE
    code, out, _ = run(capsys, "skills", "show", LONG_NAME, "--library", lib)
    assert code == 0 and LONG_SOURCE.splitlines()[2] in out.splitlines()  # piped: exact lines
    code, out, _ = run(capsys, "skills", "ls", "--library", lib)
    assert code == 0 and "…" not in out and f"{LONG_NAME}@1" in out.replace("\n", "").replace(" ", "")
    v2 = LONG_SOURCE.replace("'EUR'", "'USD'")
    add(capsys, lib, tmp_path, v2, name="v2.py")
    code, out, _ = run(capsys, "skills", "diff", LONG_NAME, "1", "2", "--library", lib)
    assert code == 0 and "-" + LONG_SOURCE.splitlines()[0] in out.splitlines()
    assert "+" + v2.splitlines()[0] in out.splitlines()


def test_tables_fold_instead_of_ellipsis(capsys, narrow) -> None:
    code, out, _ = run(capsys, "world", "docs", "wallet", "send_money")
    assert code == 0 and "…" not in out
    for name in ("access_token", "receiver_email", "amount_cents", "payment_card_id"):
        assert name in out  # parameter names stay whole
    code, out, _ = run(capsys, "world", "tasks", "--split", "test_challenge")
    assert code == 0 and "…" not in out
    from skillbank.worlds.registry import make_world

    for task in make_world("apps", seed=0).tasks("test_challenge"):
        assert task.id in out  # ids stay whole on one line


def test_runs_ls_keeps_run_ids_and_figures_whole(capsys, tmp_path: Path, narrow) -> None:
    runs = str(tmp_path / "runs")
    data = run_json(capsys, "run", "--limit", "2", "--runs-dir", runs, "--library", str(tmp_path / "lib.db"))
    code, out, _ = run(capsys, "runs", "ls", "--runs-dir", runs)
    assert code == 0 and "…" not in out
    # At 80 columns a run that does not fit one line is a block of its own (id first).
    block = out[out.index(data["run_id"]):]
    assert "100.0%" in block and "finished" in block


# -- bug 5: skills add checks with the sandbox and honours --status -----------------------


def test_add_refuses_what_the_sandbox_refuses(capsys, lib, tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("import os\n\ndef cwd() -> str:\n    return os.getcwd()\n")
    code, _, err = run(capsys, "skills", "add", str(path), "--library", lib)
    line = one_error_line(err)
    assert code == 1 and "sandbox refuses" in line and "'os'" in line
    assert not Path(lib).exists()


def test_add_with_status_on_stored_source_changes_the_status(capsys, lib, tmp_path: Path) -> None:
    first = add(capsys, lib, tmp_path, V1)
    assert first["version"]["status"] == "candidate"
    again = add(capsys, lib, tmp_path, V1, "--status", "promoted")
    assert again["created"] is False and again["version"]["status"] == "promoted"
    assert again["status_changed"] == {"from": "candidate", "to": "promoted"}
    events = run_json(capsys, "skills", "events", "total", "--type", "status_changed", "--library", lib)
    assert len(events) == 1 and events[0]["payload"]["to"] == "promoted"
    same = add(capsys, lib, tmp_path, V1, "--status", "promoted")
    assert same["status_changed"] is None
    assert len(run_json(capsys, "skills", "events", "total", "--type", "status_changed", "--library", lib)) == 1


# -- bug 6: one-line errors where "internal error" was ------------------------------------


@pytest.mark.parametrize("runs_dir", ["/proc/runs", "file"])
def test_run_with_an_unwritable_runs_dir_is_a_one_line_error(capsys, tmp_path: Path, runs_dir: str) -> None:
    if runs_dir == "file":
        runs_dir = str(tmp_path / "a-file")
        Path(runs_dir).write_text("x")
    code, out, err = run(capsys, "run", "--limit", "1", "--runs-dir", runs_dir, "--library", str(tmp_path / "l.db"))
    line = one_error_line(err)
    assert code == 1 and "--runs-dir" in line and "internal error" not in line and out == ""


@pytest.mark.parametrize("args, fragment", [
    (["skills", "export", "/proc/no/such/dir"], "cannot export to '/proc/no/such/dir'"),
    (["runs", "ls", "--runs-dir", "FILE"], "is a file, not a directory of runs"),
    (["skills", "ls", "--limit", "abc"], "'--limit': not an integer"),
    (["skills", "ls", "--limit", "0"], "'--limit': must be at least 1"),
    (["run", "--temperature", "hot"], "'--temperature': not a number"),
    (["sandbox", "exec", "x.py", "--timeout", "-1"], "'--timeout': must be at least"),
])
def test_audit_of_the_commands_finds_one_line_errors(capsys, lib, tmp_path: Path, args, fragment) -> None:
    add(capsys, lib, tmp_path, V1)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    args = [str(a_file) if a == "FILE" else a for a in args]
    if args[0] == "skills":
        args += ["--library", lib]
    code, _, err = run(capsys, *args)
    line = one_error_line(err)
    assert code in (1, 2) and fragment in line and "Input should" not in line and "internal error" not in line


# -- bug 7: one convention for the benches --------------------------------------------------


def _walk_keys(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}.{k}", k, v
            yield from _walk_keys(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_keys(v, f"{path}[{i}]")


def _check_convention(data: dict) -> None:
    timed = 0
    for where, key, value in _walk_keys(data):
        assert not key.endswith(("_s", "_us")) or key.endswith("per_s"), f"{where}: times are in ms"
        assert "median" not in key or key.endswith("_ms"), f"{where}: a median is a time in ms"
        if key == "median_ms" or key.endswith("median_ms"):
            timed += 1
    assert timed > 0


@pytest.mark.parametrize("args", [
    ["store", "--versions", "60", "--names", "6", "--reads", "10", "--lists", "2"],
    ["retrieval", "--sizes", "200", "--modes", "query-ngram,none", "--queries", "3"],
    ["sandbox", "--iterations", "3", "--replacements", "1"],
])
def test_benches_share_one_convention(capsys, args) -> None:
    code, out, err = run(capsys, "bench", *args)
    assert code == 0, err
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)  # a summary for people by default
    assert "median" in out
    _check_convention(run_json(capsys, "bench", *args))


@pytest.mark.slow
def test_world_bench_follows_the_convention(capsys) -> None:
    _check_convention(run_json(capsys, "bench", "world", "--split", "dev", "--repeats", "1"))


# -- bug 8: the smaller ones ---------------------------------------------------------------


def test_debug_shows_the_traceback_without_telling_to_rerun(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillbank.commands import world

    def broken(*args, **kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(world, "_world", broken)
    code, _, err = run(capsys, "world", "apps")
    assert code == 2 and one_error_line(err.replace("internal error", "error: internal error", 1)) and "--debug" in err
    code, _, err = run(capsys, "--debug", "world", "apps")
    assert code == 2 and "Traceback" in err and "RuntimeError: kaput" in err and "rerun with --debug" not in err


def test_events_of_an_unknown_skill_or_type_are_errors(capsys, lib, tmp_path: Path) -> None:
    add(capsys, lib, tmp_path, V1)
    code, _, err = run(capsys, "skills", "events", "nosuch", "--library", lib)
    assert code == 1 and "no skill 'nosuch'" in one_error_line(err)
    code, _, err = run(capsys, "skills", "events", "--type", "bogus", "--library", lib)
    line = one_error_line(err)
    assert code == 1 and "unknown event type 'bogus'" in line and "created" in line
    # a type some writer invented is known once it is in the log
    from skillbank.store import open_store

    store = open_store(lib)
    store.record_event("canary.checked", name="total", actor="gov")
    store.close()
    assert len(run_json(capsys, "skills", "events", "--type", "canary.checked", "--library", lib)) == 1


def test_sandbox_exec_on_a_directory_says_so(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "sandbox", "exec", str(tmp_path))
    assert code == 1 and "is a directory" in one_error_line(err)
    code, _, err = run(capsys, "sandbox", "exec", str(tmp_path / "none.py"))
    assert code == 1 and "no such file" in one_error_line(err)


@pytest.mark.parametrize("ref", ["total@-1", "total@0", "total@a b", "total@1.5"])
def test_bad_version_references_are_named(capsys, lib, tmp_path: Path, ref: str) -> None:
    add(capsys, lib, tmp_path, V1)
    code, _, err = run(capsys, "skills", "show", ref, "--library", lib)
    line = one_error_line(err)
    assert code == 1 and "not a version number" in line and "has no alias" not in line


def test_diff_and_alias_set_check_their_references(capsys, lib, tmp_path: Path) -> None:
    add(capsys, lib, tmp_path, V1)
    code, _, err = run(capsys, "skills", "diff", "total", "1", "--library", lib, "--", "-1")
    assert code == 1 and "invalid version '-1'" in one_error_line(err)
    code, _, err = run(capsys, "skills", "alias", "set", "total", "promoted", "--library", lib, "--", "-1")
    assert code == 1 and "invalid version '-1'" in one_error_line(err)


@pytest.mark.parametrize("args, flag", [
    (["--policy", "replay"], "--responses"),
    (["--policy", "openai"], "--model"),
    (["--policy", "expert", "--model", "m"], "--model applies to --policy openai"),
    (["--policy", "expert", "--temperature", "0.5"], "--temperature applies to --policy local or openai"),
    (["--policy", "replay", "--responses", "r.jsonl", "--max-tokens", "5"], "--max-tokens applies"),
    (["--policy", "robot"], "--policy: unknown policy 'robot'"),
])
def test_run_errors_name_flags_not_python_arguments(capsys, monkeypatch, tmp_path: Path, args, flag) -> None:
    monkeypatch.delenv("SKILLBANK_OPENAI_MODEL", raising=False)
    code, _, err = run(capsys, "run", *args, "--runs-dir", str(tmp_path / "r"), "--library", str(tmp_path / "l.db"))
    line = one_error_line(err)
    assert code == 1 and flag in line and "=" not in line.split(":", 1)[1].replace("'", "")
    assert not (tmp_path / "r").exists()


def test_usage_errors_are_ours_in_one_line(capsys, lib) -> None:
    code, _, err = run(capsys, "skills", "ls", "--status", "bogus[x]", "--library", lib)
    line = one_error_line(err)
    assert code == 2 and "Value error" not in line and "'bogus[x]' is not one of" in line
    assert "skillbank skills ls --help" in line


def test_alias_set_to_its_current_version_changes_nothing(capsys, lib, tmp_path: Path) -> None:
    add(capsys, lib, tmp_path, V1)
    first = run_json(capsys, "skills", "alias", "set", "total", "promoted", "1", "--library", lib)
    before = run_json(capsys, "skills", "events", "total", "--library", lib)
    again = run_json(capsys, "skills", "alias", "set", "total", "promoted", "1", "--library", lib)
    assert again["generation"] == first["generation"] == 1
    assert run_json(capsys, "skills", "events", "total", "--library", lib) == before
    # a stale writer is still refused even when it asks for the current target
    code, _, err = run(capsys, "skills", "alias", "set", "total", "promoted", "1", "--expect", "7", "--library", lib)
    assert code == 1 and "expected generation 7, actual 1" in one_error_line(err)


def test_a_failed_run_is_listed_as_failed(capsys, tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps("I will think about it first.") + "\n")  # then the replay runs dry
    runs = str(tmp_path / "runs")
    code, _, err = run(capsys, "run", "--policy", "replay", "--responses", str(replies), "--limit", "1",
                       "--runs-dir", runs, "--library", str(tmp_path / "l.db"))
    assert code == 1 and one_error_line(err)
    (listed,) = run_json(capsys, "runs", "ls", "--runs-dir", runs)
    assert listed["status"] == "failed" and listed["finished"] is False and listed["error"]
    shown = run_json(capsys, "runs", "show", "latest", "--runs-dir", runs)
    assert shown["status"] == "failed" and shown["failure"]["error"] == listed["error"]


# -- expected and missing ---------------------------------------------------------------


def test_version(capsys) -> None:
    import skillbank

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"skillbank {skillbank.__version__}\n"


def test_skills_rm_and_alias_rm_log_events(capsys, lib, tmp_path: Path) -> None:
    add(capsys, lib, tmp_path, V1)
    add(capsys, lib, tmp_path, V2, name="v2.py")
    run(capsys, "skills", "alias", "set", "total", "promoted", "2", "--library", lib)
    run(capsys, "skills", "alias", "set", "total", "canary", "1", "--library", lib)
    gone = run_json(capsys, "skills", "alias", "rm", "total", "canary", "--reason", "done", "--library", lib)
    assert gone["alias"] == "canary" and gone["version"] == 1
    assert [a["alias"] for a in run_json(capsys, "skills", "alias", "ls", "total", "--library", lib)] == ["promoted"]
    code, _, err = run(capsys, "skills", "alias", "rm", "total", "canary", "--library", lib)
    assert code == 1 and "no alias 'canary'" in one_error_line(err)
    code, _, err = run(capsys, "skills", "rm", "total", "--library", lib)  # stdin is no terminal
    assert code == 1 and "--yes" in one_error_line(err)
    deleted = run_json(capsys, "skills", "rm", "total", "--yes", "--actor", "me", "--library", lib)
    assert deleted["deleted"] == ["total@1", "total@2"]
    assert run_json(capsys, "skills", "ls", "--library", lib) == []
    events = run_json(capsys, "skills", "events", "total", "--library", lib)
    assert [e["type"] for e in events][-2:] == ["alias_removed", "deleted"]
    assert events[-1]["payload"]["versions"] == [1, 2] and events[-1]["payload"]["aliases"] == ["promoted"]
    with sqlite3.connect(lib) as raw:
        assert raw.execute("select count(*) from call_stats").fetchone() == (0,)
        assert raw.execute("select count(*) from aliases").fetchone() == (0,)


def test_runs_show_task_and_runs_compare(capsys, tmp_path: Path) -> None:
    runs, lib_path = str(tmp_path / "runs"), str(tmp_path / "l.db")
    with_skills = run_json(capsys, "run", "--limit", "3", "--runs-dir", runs, "--library", lib_path)
    without = run_json(capsys, "run", "--limit", "3", "--no-skills", "--runs-dir", runs, "--library", lib_path)
    episode = run_json(capsys, "runs", "show", with_skills["run_id"], "--task", "calendar_cancel_day-2",
                       "--runs-dir", runs)
    assert episode["task_id"] == "calendar_cancel_day-2" and episode["loaded"]
    assert episode["loaded"][0] in episode["system_prompt"]  # the injected skill is in the prompt
    assert episode["turns"] and episode["turns"][0]["code"] and "observation" in episode["turns"][0]
    assert episode["grade_tests"] and all(t["passed"] for t in episode["grade_tests"])
    code, out, _ = run(capsys, "runs", "show", with_skills["run_id"], "--task", "calendar_cancel_day-2",
                       "--runs-dir", runs)
    assert code == 0 and "system prompt" in out and "observation" in out and "pass" in out
    code, _, err = run(capsys, "runs", "show", with_skills["run_id"], "--task", "nope", "--runs-dir", runs)
    assert code == 1 and "no episode of task 'nope'" in one_error_line(err)

    cmp_ = run_json(capsys, "runs", "compare", with_skills["run_id"], without["run_id"], "--runs-dir", runs)
    figures = cmp_["figures"]
    assert figures["tgc"]["run1"] == with_skills["tgc"] and figures["tgc"]["run2"] == without["tgc"]
    assert figures["mean_tokens"]["delta"] == pytest.approx(without["mean_tokens"] - with_skills["mean_tokens"])
    assert figures["skills_used"]["run1"] > 0 == figures["skills_used"]["run2"]
    assert cmp_["setup"][without["run_id"]]["with_skills"] is False
    code, out, _ = run(capsys, "runs", "compare", with_skills["run_id"], without["run_id"], "--runs-dir", runs)
    assert code == 0 and "mean tokens" in out and with_skills["run_id"] in out


def test_run_config_records_what_reproduces_it(capsys, tmp_path: Path) -> None:
    from test_agent_fakes import block

    replies = tmp_path / "replies.jsonl"
    replies.write_text(json.dumps(block("apis.supervisor.complete_task(answer=None)")) + "\n")
    runs = str(tmp_path / "runs")
    data = run_json(capsys, "run", "--policy", "replay", "--responses", str(replies), "--limit", "1", "--seed", "3",
                    "--runs-dir", runs, "--library", str(tmp_path / "l.db"))
    config = json.loads((Path(data["run_dir"]) / "config.json").read_text())
    import skillbank

    assert config["seed"] == 3 and config["skillbank_version"] == skillbank.__version__
    assert config["policy_config"]["name"] == "replay" and config["retrieval"] == "same-scenario"
    assert config["python"] and config["top_k"] == 5


def test_model_policies_take_sampling_flags_and_record_them() -> None:
    from skillbank.jobs import policy_options as _policy_options
    from skillbank.llm.registry import describe_policy, make_policy

    flags = {"--model-path": None, "--adapter": None, "--base-url": "http://127.0.0.1:1/v1", "--model": "m",
             "--responses": None, "--temperature": 0.7, "--max-tokens": 64, "--dtype": None, "--vocab": None,
             "--batching": None, "--speculate": None}
    options = _policy_options("openai", flags, seed=11)
    assert options == {"base_url": "http://127.0.0.1:1/v1", "model": "m", "seed": 11, "temperature": 0.7,
                       "max_tokens": 64}
    policy = make_policy("openai", api_key="sk-secret", **options)
    try:
        body = policy.request_body([])
        assert body["seed"] == 11 and body["temperature"] == 0.7 and body["max_tokens"] == 64
        described = describe_policy(policy)
        assert described["model"] == "m" and described["base_url"] == "http://127.0.0.1:1/v1"
        assert described["seed"] == 11 and "api_key" not in described and "sk-secret" not in json.dumps(described)
    finally:
        policy.close()
    local = _policy_options("local", {**flags, "--base-url": None, "--model": None, "--adapter": "a",
                                      "--dtype": "bfloat16", "--vocab": "full", "--batching": "lockstep",
                                      "--speculate": 0}, seed=5)
    assert local == {"adapter_path": "a", "seed": 5, "temperature": 0.7, "max_new_tokens": 64, "dtype": "bfloat16",
                     "vocab": "full", "batching": "lockstep", "speculate": 0}
    from skillbank.errors import ValidationError

    with pytest.raises(ValidationError, match="--speculate applies to --policy local"):
        _policy_options("openai", {**flags, "--speculate": 4}, seed=5)


def test_progress_reports_the_current_task_and_turn() -> None:
    from test_agent_fakes import FakeWorld, RecordingReplay

    from skillbank.jobs import WatchedPolicy as _WatchedPolicy
    from skillbank.llm.base import EpisodeInfo, Message

    seen: list[tuple[str, int]] = []
    inner = RecordingReplay(["one", "two", "three"])
    watched = _WatchedPolicy(inner, lambda task, turn: seen.append((task, turn)))
    world = FakeWorld()
    for task_id, turns in (("count-1", 2), ("count-2", 1)):
        watched.start_episode(EpisodeInfo(task=world.task(task_id)))
        for _ in range(turns):
            watched.generate([Message("user", "go")])
    assert seen == [("count-1", 1), ("count-1", 2), ("count-2", 1)]
    assert watched.name == inner.name


def test_third_party_progress_bars_are_switched_off(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY"):
        monkeypatch.delenv(var, raising=False)
    run(capsys, "--version")
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"


def test_sandbox_exec_against_a_task(capsys, tmp_path: Path) -> None:
    script = tmp_path / "look.py"
    script.write_text('print(apis.supervisor.show_profile()["email"])\n')
    code, out, err = run(capsys, "sandbox", "exec", str(script), "--task", "notes_tag_mentioning-1", "--json")
    assert code == 6, err  # the code ran; the task failed its grade
    data = json.loads(out)
    assert data["ok"] and "@" in data["stdout"] and data["task_id"] == "notes_tag_mentioning-1"
    assert data["grade"]["success"] is False and any(not t["passed"] for t in data["grade"]["tests"])
    assert [c["api"] for c in data["api_calls"]] == ["show_profile"]
    code, _, err = run(capsys, "sandbox", "exec", str(script), "--task", "nope-1")
    assert code == 1 and "no task 'nope-1'" in one_error_line(err)


def test_doctor_checks_extras_and_models(capsys) -> None:
    from skillbank.commands.sandbox import environment_report

    report = environment_report()
    extras = {e["extra"]: e for e in report["extras"]}
    assert {"local", "dev"} <= set(extras)
    assert "torch" in extras["local"]["packages"]
    for e in extras.values():
        assert e["installed"] == (not e["missing"]) and set(e["missing"]) <= set(e["packages"])
    assert {m["model"].split(" ")[0] for m in report["models"]} == {"all-MiniLM-L6-v2", "Gemma"}
    data = run_json(capsys, "doctor")
    assert data["environment"]["extras"] == report["extras"]


# -- Ctrl-C and 80 columns, as a user's shell sees them ---------------------------------------


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), **kw.pop("env", {})}
    return subprocess.Popen([sys.executable, "-m", "skillbank.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.mark.parametrize(("sig", "exit_code", "said", "status", "error"), [
    (signal.SIGINT, 130, "interrupted: run ", "interrupted", "interrupted (Ctrl-C)"),
    # as `timeout` and service managers stop a run
    (signal.SIGTERM, 143, "terminated (SIGTERM): run ", "failed", "terminated (SIGTERM)"),
], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_run_in_order(capsys, tmp_path: Path, sig: int, exit_code: int, said: str, status: str,
                                         error: str) -> None:
    # A server that accepts connections and never answers: the run waits inside a task.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    runs = tmp_path / "runs"
    proc = _cli("run", "--policy", "openai", "--model", "m", "--base-url", f"http://127.0.0.1:{port}/v1",
                "--limit", "2", "--runs-dir", str(runs), "--library", str(tmp_path / "l.db"))
    try:
        deadline = time.monotonic() + 60
        while not list(runs.glob("*/config.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    assert proc.returncode == exit_code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(said) and "stopped after 0 task(s)" in last
    assert "Traceback" not in err
    (failed,) = runs.glob("*/failed.json")
    record = json.loads(failed.read_text())
    assert record["status"] == status and record["error"] == error
    assert not list(runs.glob("*/summary.json"))
    assert main(["runs", "ls", "--runs-dir", str(runs), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == status


def test_listings_at_80_columns_in_a_real_shell(tmp_path: Path) -> None:
    lib_path, runs = str(tmp_path / "l.db"), str(tmp_path / "runs")
    env = {"COLUMNS": "80"}
    proc = _cli("run", "--limit", "3", "--json", "--runs-dir", runs, "--library", lib_path, env=env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    run_id = json.loads(out)["run_id"]
    for args, must in ((["skills", "ls", "--library", lib_path], "cancel_my_events_on@1"),
                       (["runs", "ls", "--runs-dir", runs], run_id),
                       (["world", "tasks", "--split", "dev"], "calendar_cancel_day-1")):
        proc = _cli(*args, env=env)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
        assert must in out
