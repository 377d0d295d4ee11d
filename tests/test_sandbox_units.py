"""Sandbox v3: every preloaded skill is a unit of its own (a worker of its own), and the
parent attributes every API call and every skill call from what it saw.

Each test is written for a class of attack from a skill in the shared library (load-time
code, a shared namespace, reaching the recorder, planting a thread) and asserts what the
*other* code (the task's, another skill's) and the parent's records see afterwards. The
tests that need the static check off (so the skill really gets `builtins`, `threading`,
`os`) run the kernel boundary on its own, as a skill that got past the check would.
"""

from __future__ import annotations

import json
import os
import time
import warnings

import pytest

from skillbank.governance.recorder import calls_of, recording_sessions
from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool, _protocol
from skillbank.sandbox import pool as pool_module


class CountingHost(EchoHost):
    """The echo host, counting the calls that reached it (the world's side of the boundary)."""

    def __init__(self) -> None:
        super().__init__()
        self.reached: list[tuple[str, str, dict]] = []

    def call(self, app, api, **kwargs):
        self.reached.append((app, api, kwargs))
        return super().call(app, api, **kwargs)


@pytest.fixture(scope="module")
def pool():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, timeout_s=5)) as p:
            yield p


@pytest.fixture(scope="module")
def open_pool():
    """The static check off: skill code gets the real modules, as one past the check would."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, timeout_s=5, static_check=False)) as p:
            yield p


# -- class 1: load-time code --------------------------------------------------------------

LOAD_TIME = {
    "decorator": "def _hook(f):\n    apis.echo.echo(stage='load')\n    return f\n\n@_hook\ndef grab():\n    return 1\n",
    "default": "def grab(x=apis.echo.echo(stage='load')):\n    return 1\n",
    "annotation": "def grab(x: apis.echo.echo(stage='load') = 1):\n    return 1\n",
    "statement": "apis.echo.echo(stage='load')\n\ndef grab():\n    return 1\n",
}


@pytest.mark.parametrize("kind", sorted(LOAD_TIME))
def test_load_time_code_is_refused_before_anything_runs(pool, open_pool, kind):
    for p in (pool, open_pool):
        host = CountingHost()
        with p.session(host, task_id=f"load-{kind}") as s:
            loaded = s.preload({"grab": LOAD_TIME[kind]})
            assert not loaded["grab"].ok and loaded["grab"].error_type == "StaticCheckError"
            assert "loaded" in loaded["grab"].error_message or "load" in loaded["grab"].error_message
            r = s.run("grab")
            assert r.error_type == "NameError"  # no stub: the skill is not callable
        assert host.reached == []  # nothing reached the world


def test_an_api_call_while_a_skill_is_being_defined_is_refused_by_the_parent(open_pool, monkeypatch):
    # The second line: were the load-time rule to miss a construct, the parent still
    # refuses API calls from a skill's worker until the definition is over.
    monkeypatch.setattr(pool_module, "load_time_problems", lambda source: [])
    host = CountingHost()
    with open_pool.session(host, task_id="define") as s:
        assert s.preload({"grab": LOAD_TIME["decorator"]})["grab"].ok
        r = s.run("try:\n    grab()\nexcept SkillError as e:\n    print(e)\n'after'")
    assert r.ok and r.result_repr == "'after'"
    assert "could not be defined" in r.stdout and "while being defined" in r.stdout
    assert host.reached == []
    assert [c.ok for c in r.skill_calls] == [False]


def test_a_skill_is_defined_only_when_called_and_again_after_a_worker_replacement(open_pool):
    host = CountingHost()
    with open_pool.session(host, task_id="lazy") as s:
        s.preload({"ping": "def ping():\n    return apis.echo.echo(n=1)\n"})
        assert s.skill_worker_pids() == {}  # preloading ran nothing
        s.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")  # the task's worker dies
        assert host.reached == []  # the replacement defined nothing either
        assert s.run("ping()").ok and len(host.reached) == 1


# -- class 2: one shared namespace ----------------------------------------------------------

HOSTILE = (
    "import builtins\n\n"
    "def spoil():\n"
    "    builtins.len = lambda x: -1\n"
    "    builtins.sum = lambda x: 'sum'\n"
    "    globals()['apis'] = None\n"
    "    g = globals()\n"
    "    g['helper'] = lambda: 'hijacked'\n"
    "    return 'spoiled'\n"
)
HELPER = "def helper():\n    return [len([1, 2]), sum([1, 2]), apis.echo.echo(who='helper')['who']]\n"


def test_a_skill_cannot_rebind_builtins_apis_or_another_skill_for_other_code(open_pool):
    host = CountingHost()
    with open_pool.session(host, task_id="shared") as s:
        assert all(r.ok for r in s.preload({"spoil": HOSTILE, "helper": HELPER}).values())
        assert s.run("spoil()").result_repr == "'spoiled'"
        r = s.run("[len([1, 2]), sum([1, 2]), helper(), apis.echo.echo(who='task')['who']]")
    assert r.ok and r.result_repr == "[2, 3, [2, 3, 'helper'], 'task']"


def test_a_skill_sees_no_object_of_the_task_or_of_another_skill(open_pool):
    probe = (
        "import gc, sys\n\n"
        "def probe():\n"
        "    found = set()\n"
        "    for obj in gc.get_objects():\n"
        "        if isinstance(obj, dict) and ('secret' in obj or 'other_state' in obj):\n"
        "            found.add('namespace')\n"
        "    main = sys.modules.get('__main__')\n"
        "    return sorted(found) + sorted(k for k in vars(main) if k in ('secret', 'other'))\n"
    )
    other = "def other():\n    other_state = 'x'\n    return other_state\n"
    with open_pool.session(EchoHost(), task_id="see") as s:
        s.preload({"probe": probe, "other": other})
        r = s.run("secret = 'task data'\nother()\nprobe()")
    assert r.ok and r.result_repr == "[]"


def test_a_thread_a_skill_starts_does_not_outlive_its_call(open_pool):
    planter = (
        "import threading, time\n\n"
        "def plant():\n"
        "    def spin():\n"
        "        while True:\n"
        "            time.sleep(0.001)\n"
        "    threading.Thread(target=spin, daemon=True).start()\n"
        "    return threading.active_count()\n"
    )
    with open_pool.session(EchoHost(), task_id="thread") as s:
        s.preload({"plant": planter})
        first = s.run("plant()")
        assert first.ok and first.result_repr == "2"
        assert s.skill_worker_pids() == {}  # the worker that kept the thread is gone
        again = s.run("plant()")  # a fresh definition, not the old process
        assert again.ok and again.result_repr == "2"


def test_skills_keep_their_own_state_within_a_task_and_start_fresh_after_a_reset(pool):
    counter = "def bump(state={'n': 0}):\n    state['n'] += 1\n    return state['n']\n"
    with pool.session(EchoHost(), task_id="state") as s:
        s.preload({"bump": counter})
        assert [s.run("bump()").result_repr for _ in range(3)] == ["1", "2", "3"]
        pid = s.skill_worker_pids()["bump"]
        s.reset()
        assert s.run("bump()").result_repr == "1" and s.skill_worker_pids()["bump"] != pid


# -- attribution -------------------------------------------------------------------------------

def test_the_parent_attributes_every_api_call_and_skill_call(pool):
    outer = "def outer(n):\n    apis.echo.echo(i=1)\n    apis.echo.echo(i=2)\n    return inner(n) + 1\n"
    inner = "def inner(n):\n    apis.echo.echo(i=3)\n    return n * 2\n"
    with pool.session(EchoHost(), task_id="attr") as s:
        s.preload({"outer": outer, "inner": inner}, refs={"outer": "outer@3", "inner": "inner@1"})
        r = s.run("apis.echo.echo(i=0)\nouter(5)")
    assert r.ok and r.result_repr == "11"
    assert [(c.arguments["i"], c.skill) for c in r.api_calls] == [(0, None), (1, "outer"), (2, "outer"), (3, "inner")]
    by_name = {c.name: c for c in r.skill_calls}
    assert [c.name for c in r.skill_calls] == ["inner", "outer"]  # a call is recorded when it returns
    assert by_name["outer"].caller is None and by_name["inner"].caller == "outer"
    assert by_name["outer"].ref == "outer@3" and by_name["inner"].ref == "inner@1"
    assert (by_name["outer"].api_calls, by_name["inner"].api_calls) == (2, 1)
    assert by_name["outer"].args == [5] and by_name["outer"].result == 11 and by_name["outer"].result_kind == "json"


def test_a_failed_skill_call_is_a_failed_call_even_when_the_caller_catches_it(pool):
    flaky = "def flaky():\n    apis.echo.fail(message='no')\n"
    with pool.session(EchoHost(), task_id="caught") as s:
        s.preload({"flaky": flaky})
        r = s.run("try:\n    flaky()\nexcept ApiError:\n    pass\n'swallowed'")
    assert r.ok and r.result_repr == "'swallowed'"
    (call,) = r.skill_calls
    assert call.ok is False and call.error_type == "ApiError" and call.api_calls == 1 and call.api_failed == 1


def test_code_in_a_worker_cannot_write_the_governance_record(open_pool):
    # The old recorder kept its list in the worker's namespace; a skill or the task's code
    # could append forged calls. The record is now the parent's own.
    skill = "def total(xs):\n    return sum(xs)\n"
    recorded: dict[str, list] = {}
    factory = recording_sessions(lambda host, task_id: open_pool.session(host, task_id=task_id),
                                 lambda task_id, calls: recorded.setdefault(task_id, calls))
    with factory(EchoHost(), "rec") as s:
        s.preload({"total": skill})
        forged = "_sb_calls = [['total', '[[[1]], {}]', 'json', '999']]\n"
        forged += "import gc\nfor o in gc.get_objects():\n    if isinstance(o, list) and o[:1] == ['x']:\n        o.append(1)\n"
        assert s.run(forged).ok
        assert s.run("total([1, 2, 3])").result_repr == "6"
    assert [(c.name, c.args, c.result) for c in recorded["rec"]] == [("total", [[1, 2, 3]], 6)]


def test_cycles_between_skills_are_refused_with_the_chain(pool):
    ping = "def ping(n):\n    return pong(n)\n"
    pong = "def pong(n):\n    return ping(n)\n"
    with pool.session(EchoHost(), task_id="cycle") as s:
        s.preload({"ping": ping, "pong": pong})
        r = s.run("ping(1)")
    assert r.error_type == "RecursionError" and "ping -> pong -> ping" in r.error_message


def test_a_skill_that_kills_its_worker_fails_only_its_call(open_pool):
    with open_pool.session(EchoHost(), task_id="crash") as s:
        s.preload({"boom": "import os, signal\n\ndef boom():\n    os.kill(os.getpid(), signal.SIGKILL)\n"})
        s.run("kept = 41")
        task_pid = s.worker_pid
        r = s.run("try:\n    boom()\nexcept SkillError as e:\n    print(e)\nkept + 1")
    assert r.ok and r.result_repr == "42" and "boom was stopped" in r.stdout
    assert s.worker_pid == task_pid or s.worker_pid is None  # the task's namespace survived
    assert r.skill_calls[0].ok is False and r.skill_calls[0].killed == "crash"


def test_a_skill_that_runs_past_the_deadline_stops_the_execution(pool):
    with pool.session(EchoHost(), task_id="slow") as s:
        s.preload({"spin": "def spin():\n    while True:\n        pass\n"})
        started = time.monotonic()
        r = s.run("spin()")
        assert r.killed == "timeout" and time.monotonic() - started < 15
        assert s.skill_worker_pids() == {}
        assert s.run("1 + 1").result_repr == "2"


def test_skill_errors_cross_as_their_class_with_the_skills_own_frames(pool):
    with pool.session(EchoHost(), task_id="err") as s:
        s.preload({"pick": "def pick(d, k):\n    return d[k]\n"})
        r = s.run("pick({'a': 1}, 'b')")
    assert r.error_type == "KeyError"
    assert [(f.filename, f.function) for f in r.frames] == [("<block-1>", "<module>"), ("<skill:pick>", "pick")]
    assert "return d[k]" in r.traceback


def test_arguments_and_results_cross_as_json_data_only(pool):
    with pool.session(EchoHost(), task_id="json") as s:
        s.preload({"ident": "def ident(x):\n    return x\n", "aset": "def aset():\n    return {1, 2}\n"})
        assert s.run("ident({'a': [1, 2.5, None, True]})").result_repr == "{'a': [1, 2.5, None, True]}"
        assert s.run("ident({1, 2})").error_type == "TypeError"
        assert s.run("aset()").error_type == "TypeError"
        assert s.run("ident(float('nan'))").error_type == "TypeError"


# -- frames: strict JSON ----------------------------------------------------------------------

@pytest.mark.parametrize("body", [b'{"op":"api","x":NaN}', b'{"x":Infinity}', b'[-Infinity]'])
def test_frames_with_non_finite_numbers_are_refused(body):
    with pytest.raises(_protocol.ProtocolError, match="not a JSON value"):
        _protocol.decode(body)
    with pytest.raises(ValueError):
        _protocol.encode({"x": float("inf")})


def test_a_non_finite_api_argument_is_a_clear_error_and_output_stays_json(pool, tmp_path):
    with pool.session(EchoHost(), task_id="nan") as s:
        r = s.run("apis.echo.echo(x=float('nan'))")
    assert r.error_type == "TypeError" and "NaN" in r.error_message
    json.dumps(r.error_message, allow_nan=False)


def test_skill_units_leave_no_process_behind(pool):
    with pool.session(EchoHost(), task_id="reap") as s:
        s.preload({"one": "def one():\n    return 1\n"})
        s.run("one()")
        pid = s.skill_worker_pids()["one"]
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert pid not in pool.worker_pids()


def test_calls_of_keeps_successful_calls_only(pool):
    with pool.session(EchoHost(), task_id="calls") as s:
        s.preload({"half": "def half(x):\n    return 1 / x if x else 1 / 0\n"})
        s.run("half(4)")
        s.run("try:\n    half(0)\nexcept ZeroDivisionError:\n    pass")
        assert [(c.name, c.args, c.result) for c in calls_of(s)] == [("half", [4], 0.25)]
        assert len(s.skill_calls) == 2


# -- class 4: the parent decides from what it saw -----------------------------------------------

def test_a_worker_that_sends_itself_sigxcpu_is_not_reported_as_the_cpu_limit(open_pool):
    with open_pool.session(EchoHost(), task_id="fake-xcpu") as s:
        r = s.run("import os, signal\nos.kill(os.getpid(), signal.SIGXCPU)")
    assert r.killed == "crash" and "CPU" not in r.error_message
    assert r.extra["exit_status"].get("signal") == 24 and r.extra["exit_status"]["cpu_s"] < 1.0


def test_the_cpu_budget_is_the_tasks_not_each_workers():
    # RLIMIT_CPU is per process, and a replaced worker starts a fresh one: without the
    # parent's own account one task could spend the limit again after every kill.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, timeout_s=20, cpu_seconds=2, static_check=False)) as p:
            with p.session(EchoHost(), task_id="cpu") as s:
                first = s.run("while True:\n    pass")
                assert first.killed == "timeout" and "CPU-seconds limit" in first.error_message, (first.error_message, first.extra)
                assert first.extra["exit_status"]["cpu_s"] >= 1.7
                assert s.cpu_seconds >= 1.7
                second = s.run("1 + 1")
    assert second.ok is False and "CPU budget" in second.error_message


def test_a_skill_workers_cpu_counts_against_its_task():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=1, timeout_s=20, cpu_seconds=2)) as p:
            with p.session(EchoHost(), task_id="cpu-skill") as s:
                s.preload({"burn": "def burn():\n    n = 0\n    while True:\n        n += 1\n"})
                r = s.run("try:\n    burn()\nexcept SkillError as e:\n    print(e)")
                assert "CPU-seconds limit" in r.stdout and r.skill_calls[0].killed == "timeout"
                assert s.run("1 + 1").error_message.startswith("this task has used up its CPU budget")


# -- class 3: kernel budgets are per worker -------------------------------------------------------

@pytest.fixture(scope="module")
def two_workers():
    """Two tenants at once (the other fixtures hold one worker)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SandboxPool(SandboxConfig(workers=2, timeout_s=10, static_check=False)) as p:
            yield p


def test_each_worker_has_its_own_uid_and_budgets(two_workers):
    probe = ("import os, resource\n(os.getuid(), resource.getrlimit(resource.RLIMIT_NPROC)[0], "
             "resource.getrlimit(resource.RLIMIT_SIGPENDING)[0], resource.getrlimit(resource.RLIMIT_MSGQUEUE)[0])")
    with two_workers.session(EchoHost(), task_id="uid-a") as a, two_workers.session(EchoHost(), task_id="uid-b") as b:
        ua, ub = eval(a.run(probe).result_repr), eval(b.run(probe).result_repr)  # noqa: S307 - our own tuples
    if os.geteuid() == 0:  # as a normal user each worker has a user namespace of its own instead
        assert ua[0] != ub[0]
    assert ua[1:] == ub[1:] == (64, 64, 0)


def test_a_thread_bomb_stops_at_the_workers_task_limit(two_workers):
    bomb = (
        "import threading, time\n"
        "started, error = 0, None\n"
        "stop = threading.Event()\n"
        "try:\n"
        "    for _ in range(2000):\n"
        "        threading.Thread(target=stop.wait, daemon=True).start()\n"
        "        started += 1\n"
        "except RuntimeError as exc:\n"
        "    error = str(exc)\n"
        "stop.set()\n"
        "(started, error)"
    )
    with two_workers.session(EchoHost(), task_id="bomb") as s, two_workers.session(EchoHost(), task_id="other") as other:
        started, error = eval(s.run(bomb).result_repr)  # noqa: S307 - our own tuple
        assert started < 64 and "thread" in error
        assert other.run("import threading\nt = threading.Thread(target=lambda: None)\nt.start()\nt.join()\n'ok'"
                         ).result_repr == "'ok'"


# -- class 5: the static check refuses classes, not spellings -------------------------------------

from skillbank.sandbox.static import find_problems, needs_full_check  # noqa: E402

MUST_REFUSE = {
    "computed getattr": "name = 'x'\nname = '__cl' + 'ass__'\ngetattr((), name)",
    "getattr of a call": "def f(o, n):\n    return getattr(o, n.upper())\n",
    "folded getattr": "getattr((), '_' + '_class__')",
    "f-string folded getattr": "getattr((), f\"{'__'}class__\")",
    "joined getattr": "getattr((), ''.join(['__cl', 'ass__']))",
    "hasattr computed": "def probe(o, n):\n    return hasattr(o, n)\n",
    "attrgetter dunder": "import operator\noperator.attrgetter('a.__class__')(1)",
    "attrgetter computed": "from operator import attrgetter\ndef f(n):\n    return attrgetter(n)\n",
    "methodcaller dunder": "import operator\noperator.methodcaller('__subclasses__')",
    "format template variable": "def f(t, x):\n    return t.format(x)\n",
    "format template built": "('{0.__cl' + 'ass__}').format(1)",
    "format template reassigned": "t = '{}'\nt = '{0.__class__}'\nt.format(1)",
    "str.format computed": "def f(t):\n    return str.format(t, 1)\n",
    "format_map walk": "'{x.__class__}'.format_map({'x': 1})",
    "Formatter": "import string\nstring.Formatter().get_field('0', [1], {})",
    "typing.sys": "import typing\ntyping.sys",
    "re.enum.sys": "import re\nre.enum.sys.modules",
    "collections.abc walk": "import collections\ncollections.abc.sys",
    "gc attribute": "import json\njson.gc",
    "module builtins": "import functools\nfunctools.builtins",
}

MUST_PASS = {
    "apis dynamic api": "name = 'show_profile'\ngetattr(apis.supervisor, name)()",
    "literal format": "'{} items, {total:.2f}'.format(3, total=2.5)",
    "template constant": "template = 'Hello {name}'\ntemplate.format(name='ava')",
    "f-string": "x = 3\nf'{x} and {x + 1}'",
    "getattr literal": "import datetime\ngetattr(datetime.date(2020, 1, 1), 'year')",
    "attrgetter literal": "import operator\nsorted([{'a': 1}], key=operator.itemgetter('a'))",
}


@pytest.mark.parametrize("case", sorted(MUST_REFUSE))
def test_the_static_check_refuses_each_class(case):
    source = MUST_REFUSE[case]
    assert find_problems(source), case
    # The worker's pre-scan must send it to the walk (this fails if either is weakened).
    assert needs_full_check(source, [compile(source, "<t>", "exec", dont_inherit=True)]), case


@pytest.mark.parametrize("case", sorted(MUST_PASS))
def test_ordinary_code_written_differently_passes(case):
    assert find_problems(MUST_PASS[case]) == (), case


def test_a_refused_walk_is_refused_in_a_real_worker(pool):
    with pool.session(EchoHost(), task_id="static") as s:
        for source in (MUST_REFUSE["computed getattr"], MUST_REFUSE["typing.sys"], MUST_REFUSE["format template built"]):
            assert s.run(source).error_type == "StaticCheckError", source
        assert s.run(MUST_PASS["apis dynamic api"]).error_type != "StaticCheckError"
