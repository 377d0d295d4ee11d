"""Sandbox behaviour: results, sessions, isolation between tasks, limits, CLI."""

from __future__ import annotations

import json
import os
import warnings

import pytest
from typer.testing import CliRunner

from skillbank.cli import app as cli_app
from skillbank.cli import main as cli_main
from skillbank.errors import ValidationError
from skillbank.sandbox import (
    EchoHost,
    SandboxConfig,
    SandboxDegradedWarning,
    SandboxError,
    SandboxPool,
    StaticCheckError,
    check_source,
    find_problems,
    probe,
)
from skillbank.sandbox._lockdown import build_seccomp_program


class RecordingHost:
    def __init__(self):
        self.calls = []

    def call(self, app, api, **kwargs):
        self.calls.append((app, api, kwargs))
        if api == "boom":
            raise LookupError(f"no such thing: {kwargs.get('what')}")
        if api == "weird":
            return object()
        return {"app": app, "api": api, **kwargs}


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(SandboxConfig(workers=2, timeout_s=3.0, api_call_budget=5, stdout_limit_bytes=1000)) as p:
        yield p


# -- static check ----------------------------------------------------------------------


def test_static_check_messages_name_the_problem_and_line():
    with pytest.raises(StaticCheckError) as info:
        check_source("x = 1\nimport os\n")
    (message,) = info.value.errors
    assert message.startswith("line 2: import of 'os' is not allowed here; allowed modules: ")
    assert "collections" in message and "textwrap" in message


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("().__class__", "'__class__'"),
        ("type(e).__name__.__class__", "'__class__'"),
        ("x.__subclasses__()", "'__subclasses__'"),
        ("f.__globals__", "'__globals__'"),
        ("g.gi_frame", "'gi_frame'"),
        ("c.cr_frame", "'cr_frame'"),
        ("t.tb_frame", "'tb_frame'"),
        ("fr.f_globals", "'f_globals'"),
        ("eval('1')", "'eval'"),
        ("exec('1')", "'exec'"),
        ("compile('1', 'x', 'eval')", "'compile'"),
        ("open('f')", "'open'"),
        ("__import__('os')", "'__import__'"),
        ("globals()", "'globals'"),
        ("vars()", "'vars'"),
        ("breakpoint()", "'breakpoint'"),
        ("input()", "'input'"),
        ("'{0.__class__}'.format(1)", "walks attributes"),
        ("'{x.__init__.__globals__}'.format_map({})", "walks attributes"),
        ("getattr(x, '__class__')", "getattr()"),
        ("from subprocess import run", "'subprocess'"),
        ("import os.path", "'os.path'"),
    ],
)
def test_static_check_refuses(code, fragment):
    problems = find_problems(code)
    assert problems and any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "code",
    [
        "import json, math\nfrom collections import Counter\nCounter('aab')",
        "'{0} and {name}'.format(1, name='x')",
        "'{0.real}'.format(1)",
        "def f(x):\n    return x.items()\n",
        "class A:\n    def __init__(self):\n        self.x = 1\n",
        "class B(A):\n    def __init__(self):\n        super().__init__()\nB.__name__",
    ],
)
def test_static_check_allows_plain_code(code):
    check_source(code)


def test_static_check_allowlist_is_configurable():
    check_source("import os", allowed_imports=["os"])
    with pytest.raises(StaticCheckError):
        check_source("import json", allowed_imports=["os"])


def test_check_source_rejects_non_string():
    with pytest.raises(ValidationError, match="source must be a str"):
        check_source(b"x = 1")  # type: ignore[arg-type]


# -- results ---------------------------------------------------------------------------


def test_result_has_stdout_trailing_value_and_functions(pool):
    with pool.session(EchoHost(), task_id="r1") as s:
        r = s.run("def double(x):\n    return 2 * x\nprint('hello')\ndouble(21)")
    assert r.ok and r.stdout == "hello\n" and r.result_repr == "42"
    assert r.defined_functions == ("double",)
    assert r.duration_s > 0 and r.error_type is None


def test_multiline_and_non_expression_endings(pool):
    with pool.session(EchoHost(), task_id="r2") as s:
        assert s.run("x = [1,\n     2,\n     3]\nsum(\n  x\n)").result_repr == "6"
        assert s.run("y = 5").result_repr is None
        assert s.run("for i in range(3):\n    y += i\n# done").result_repr is None
        assert s.run("y  # a comment\n\n").result_repr == "8"
        assert s.run("None").result_repr is None


def test_exception_traceback_shows_only_agent_frames(pool):
    with pool.session(EchoHost(), task_id="r3") as s:
        loaded = s.preload({"divide": "def divide(a, b):\n    return a / b\n"})
        assert loaded["divide"].ok and loaded["divide"].defined_functions == ("divide",)
        r = s.run("x = 1\ndivide(x, 0)")
    assert not r.ok and r.error_type == "ZeroDivisionError"
    assert [(f.filename, f.lineno, f.function) for f in r.frames] == [("<block-1>", 2, "<module>"), ("<skill:divide>", 2, "divide")]
    assert r.failing_functions == ("divide",)
    assert 'File "<block-1>", line 2' in r.traceback and 'File "<skill:divide>", line 2, in divide' in r.traceback
    assert "skillbank" not in r.traceback and "_worker" not in r.traceback


def test_syntax_error_is_reported_with_line(pool):
    with pool.session(EchoHost(), task_id="r4") as s:
        r = s.run("x = 1\nif x\n    pass\n")
    assert not r.ok and r.error_type == "SyntaxError" and "line 2" in r.error_message


def test_static_failure_result(pool):
    with pool.session(EchoHost(), task_id="r5") as s:
        r = s.run("import socket\nsocket.socket()")
    assert not r.ok and r.error_type == "StaticCheckError"
    assert r.static_errors and r.static_errors[0].startswith("line 1: import of 'socket'")


def test_block_numbers_increase(pool):
    with pool.session(EchoHost(), task_id="r6") as s:
        s.run("1")
        s.run("2")
        r = s.run("raise ValueError('third')")
    assert r.frames[0].filename == "<block-3>"


# -- apis ------------------------------------------------------------------------------


def test_api_calls_reach_host_and_are_recorded(pool):
    host = RecordingHost()
    with pool.session(host, task_id="a1") as s:
        r = s.run("r = apis.shop.search(q='tea', page=2)\nr['q'], r['page']")
    assert r.ok and r.result_repr == "('tea', 2)"
    assert host.calls == [("shop", "search", {"q": "tea", "page": 2})]
    (call,) = r.api_calls
    assert (call.app, call.api, call.arguments, call.ok, call.error) == ("shop", "search", {"q": "tea", "page": 2}, True, None)
    assert call.duration_s >= 0


def test_host_errors_come_back_as_api_error(pool):
    with pool.session(RecordingHost(), task_id="a2") as s:
        r = s.run("apis.shop.boom(what='x')")
        caught = s.run("try:\n    apis.shop.boom(what='y')\nexcept Exception as e:\n    out = (type(e).__name__, str(e))\nout")
    assert r.error_type == "ApiError" and r.error_message == "no such thing: x"
    assert r.api_calls[0].ok is False and r.api_calls[0].error == "no such thing: x"
    assert caught.result_repr == "('ApiError', 'no such thing: y')"


def test_non_json_host_result_is_an_api_error(pool):
    with pool.session(RecordingHost(), task_id="a3") as s:
        r = s.run("apis.shop.weird()")
    assert r.error_type == "ApiError" and "not JSON-serialisable" in r.error_message


def test_non_serialisable_arguments_are_refused_in_the_worker(pool):
    host = RecordingHost()
    with pool.session(host, task_id="a4") as s:
        r = s.run("apis.shop.search(q={1, 2})")
    assert r.error_type == "TypeError" and "argument 'q' is a set" in r.error_message
    assert host.calls == []


def test_api_budget_per_execution(pool):
    host = RecordingHost()
    with pool.session(host, task_id="a5") as s:
        r = s.run("for i in range(100):\n    apis.shop.ping(i=i)")
        again = s.run("apis.shop.ping(i=-1)")
    assert r.error_type == "ApiBudgetExceeded" and "budget of 5" in r.error_message
    assert len(r.api_calls) == 5 and len(host.calls) == 6
    assert again.ok  # the budget is per execution


def test_apis_is_restored_after_being_overwritten(pool):
    with pool.session(EchoHost(), task_id="a6") as s:
        assert s.run("apis = None").ok
        r = s.run("apis.echo.echo(back=True)")
    assert r.ok and r.result_repr == "{'back': True}"


# -- sessions and isolation ------------------------------------------------------------


def test_namespace_persists_within_a_task_and_reset_clears_it(pool):
    with pool.session(EchoHost(), task_id="s1") as s:
        s.preload({"greet": "def greet():\n    return 'hi'\n"})
        s.run("counter = 41")
        assert s.run("counter + 1").result_repr == "42"
        s.reset()
        r = s.run("counter")
        assert r.error_type == "NameError"
        assert s.run("greet()").result_repr == "'hi'"  # skills survive a reset
        s.reset(keep_skills=False)
        assert s.run("greet()").error_type == "NameError"


def test_nothing_leaks_between_tasks():
    config = SandboxConfig(workers=1, static_check=False)
    with SandboxPool(config) as p:
        with p.session(EchoHost(), task_id="t1") as s:
            first_pid = s.worker_pid
            s.run("secret = 'task one'\nimport builtins\nbuiltins.leak = 'x'\nbuiltins.len = lambda x: -1")
        with p.session(EchoHost(), task_id="t2") as s:
            assert s.worker_pid != first_pid  # a worker serves one task
            r = s.run("import builtins\n(globals().get('secret'), hasattr(builtins, 'leak'), len([1, 2]))")
    assert r.ok and r.result_repr == "(None, False, 2)"


def test_default_gives_each_task_a_fresh_process(pool):
    with pool.session(EchoHost(), task_id="f1") as s:
        first = s.worker_pid
    seen = set()
    for i in range(3):
        with pool.session(EchoHost(), task_id=f"f{i + 2}") as s:
            seen.add(s.worker_pid)
    assert first not in seen


def test_timeout_kills_and_session_continues_fresh(pool):
    with pool.session(EchoHost(), task_id="k1") as s:
        s.preload({"helper": "def helper():\n    return 7\n"})
        s.run("state = 1")
        before = s.worker_pid
        r = s.run("while True:\n    pass")
        assert r.killed == "timeout" and r.error_type == "TimeoutError" and not r.ok
        assert "fresh namespace" in r.error_message
        assert r.duration_s >= 3.0 and r.extra["replace_s"] < 2.0
        assert s.worker_pid != before
        after = s.run("helper()")
        assert after.ok and after.result_repr == "7"
        assert after.extra["new_worker"] is True and after.extra["reloaded_skills"] == ["helper"]
        assert s.run("state").error_type == "NameError"
    assert not os.path.exists(f"/proc/{before}/cmdline") or b"_zygote" not in open(f"/proc/{before}/cmdline", "rb").read()


def test_memory_limit_reports_memory_kill():
    with SandboxPool(SandboxConfig(workers=1, address_space_bytes=256 << 20)) as p:
        with p.session(EchoHost(), task_id="m1") as s:
            r = s.run("x = bytearray(1 << 30)")
            assert r.killed == "memory" and r.error_type == "MemoryError"
            assert s.run("1 + 1").result_repr == "2"


def test_crash_reports_crash():
    with SandboxPool(SandboxConfig(workers=1, static_check=False)) as p:
        with p.session(EchoHost(), task_id="c1") as s:
            r = s.run("import os\nos._exit(3)")
            assert r.killed == "crash" and r.extra["exit_status"].get("exit") == 3
            assert s.run("'alive'").result_repr == "'alive'"


def test_stdout_is_capped_with_a_marker(pool):
    with pool.session(EchoHost(), task_id="o1") as s:
        r = s.run("for i in range(1000):\n    print('line', i)")
    assert r.ok and r.stdout_truncated and "output truncated" in r.stdout
    assert len(r.stdout.encode()) < 1000 + 200 and r.stdout.startswith("line 0\n")


def test_workers_are_locked_down(pool):
    layers = pool.layers
    kernel = probe()
    if kernel["seccomp"]:
        assert layers["seccomp"] == "active" and layers["no_new_privs"] == "active"
    if kernel["landlock_abi"]:
        assert layers["landlock"] == "active"
    assert layers["rlimits"] == "active"


def test_missing_required_layer_is_an_error(monkeypatch):
    # A layer name the kernel can report but that we force missing: simulate by
    # requiring a layer and checking the decision logic directly.
    p = SandboxPool.__new__(SandboxPool)
    p.config = SandboxConfig(required_layers=("landlock",))
    with pytest.raises(SandboxError, match="landlock"):
        p._check_layers({"rlimits": "active", "no_new_privs": "active", "seccomp": "active", "landlock": "missing: test"})
    p.config = SandboxConfig()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        p._check_layers({"rlimits": "active", "no_new_privs": "active", "seccomp": "missing: x", "landlock": "missing: y"})
    assert any(issubclass(w.category, SandboxDegradedWarning) and "seccomp is missing: x" in str(w.message) for w in caught)


def test_seccomp_program_jumps_fit():
    program = build_seccomp_program(os.getpid())
    assert len(program) % 8 == 0 and 0 < len(program) // 8 < 4096


def test_close_kills_everything():
    p = SandboxPool(SandboxConfig(workers=2))
    s = p.session(EchoHost(), task_id="z")
    pids = p.worker_pids() + [p.zygote_pid]
    p.close()
    p.close()  # idempotent
    for pid in pids:
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        assert stat.rsplit(")", 1)[1].split()[0] == "Z" or b"_zygote" not in open(f"/proc/{pid}/cmdline", "rb").read()
    with pytest.raises(SandboxError, match="closed"):
        s.run("1")
    with pytest.raises(SandboxError, match="closed"):
        p.session(EchoHost())


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"workers": 0}, "workers"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"allowed_imports": "os"}, "allowed_imports"),
        ({"allowed_imports": ["os path"]}, "not a module name"),
        ({"address_space_bytes": 1}, "address_space_bytes"),
        ({"required_layers": ("magic",)}, "magic"),
    ],
)
def test_config_validation(kwargs, fragment):
    with pytest.raises(ValidationError, match=fragment):
        SandboxConfig(**kwargs)


def test_bad_inputs_are_clear(pool):
    with pytest.raises(ValidationError, match="host must have"):
        pool.session(object())
    with pool.session(EchoHost()) as s:
        with pytest.raises(ValidationError, match="code must be a str"):
            s.run(b"1")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="not a Python identifier"):
            s.preload({"bad name": "x = 1"})


# -- CLI -------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_exec_json(tmp_path):
    f = tmp_path / "prog.py"
    f.write_text("print('out')\napis.echo.echo(a=1)\napis.echo.fail(message='nope')\n")
    res = runner.invoke(cli_app, ["sandbox", "exec", str(f), "--json"])
    assert res.exit_code == 3, res.output  # the code raised (an API error)
    data = json.loads(res.output)
    assert data["ok"] is False and data["stdout"] == "out\n"
    assert data["error_type"] == "ApiError" and data["error_message"] == "nope"
    assert [c["api"] for c in data["api_calls"]] == ["echo", "fail"]


def test_cli_exec_static_check_toggle(tmp_path):
    f = tmp_path / "prog.py"
    f.write_text("import os\nos.getpid() > 0")
    on = json.loads(runner.invoke(cli_app, ["sandbox", "exec", str(f), "--json"]).output)
    off = json.loads(runner.invoke(cli_app, ["sandbox", "exec", str(f), "--json", "--no-static-check"]).output)
    assert on["error_type"] == "StaticCheckError"
    assert off["ok"] is True and off["result_repr"] == "True"


def test_cli_exec_killed_run_exits_5(tmp_path):
    f = tmp_path / "spin.py"
    f.write_text("while True:\n    pass\n")
    res = runner.invoke(cli_app, ["sandbox", "exec", str(f), "--json", "--timeout", "1"])
    assert res.exit_code == 5 and json.loads(res.output)["killed"] == "timeout"


def test_cli_exec_missing_file_is_one_line_error(tmp_path, capsys):
    code = cli_main(["sandbox", "exec", str(tmp_path / "missing.py")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: no such file:") and err.count("\n") == 1


def test_doctor_json():
    res = runner.invoke(cli_app, ["doctor", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data["active"]) | set(data["missing"]) == {"rlimits", "no_new_privs", "namespaces", "uid", "landlock", "seccomp"}
    assert data["kernel"]["seccomp"] == probe()["seccomp"]


def test_workers_do_not_inherit_the_parents_secrets(monkeypatch):
    # API keys in the parent's environment must not reach agent code, which could print
    # them into an observation (and so into a prompt sent to a model server).
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-agents")
    monkeypatch.setenv("SKILLBANK_TEST_SECRET", "s3cr3t-value")
    code = (
        "import os\n"
        "found = [v for v in os.environ.values() if 's3cr3t' in v or 'sk-not' in v]\n"
        "try:\n"
        "    found.append(open('/proc/self/environ', 'rb').read().decode('latin-1'))\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        "    found.append(open(f'/proc/{os.getppid()}/environ', 'rb').read().decode('latin-1'))\n"
        "except OSError:\n"
        "    pass\n"
        "print(sorted(os.environ))\n"
        "found"
    )
    with SandboxPool(SandboxConfig(workers=1, static_check=False)) as fresh:
        with fresh.session(RecordingHost(), task_id="env") as s:
            r = s.run(code)
    assert r.ok, r.error_message
    assert "s3cr3t" not in (r.result_repr or "") and "sk-not" not in (r.result_repr or "")
    assert "OPENAI_API_KEY" not in r.stdout and "SKILLBANK_TEST_SECRET" not in r.stdout
