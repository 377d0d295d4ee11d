"""The host side of the sandbox treats its worker as hostile.

Each test plays a worker (or a tenant) that misbehaves against the parent: frames too
deep to decode, replies it never reads, huge API arguments, a forged result, a
tampered stdout cap, a patched harness; and agent text aimed at the terminal. The
parent must stay up, keep its limits and tell the model what happened.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from skillbank.agent.trace import EpisodeTrace, RunWriter, TurnTrace
from skillbank.bounded import bounded_jsonable, bounded_jsonable_flagged, bounded_repr, terminal_text
from skillbank.cli import app as cli_app
from skillbank.sandbox import EchoHost, SandboxConfig, SandboxPool
from skillbank.sandbox import _protocol
from skillbank.sandbox.static import find_problems, needs_full_check

CORPUS = Path(__file__).parent / "escape_corpus"

# Agent code that finds the worker's end of the socketpair (fd 3 after the zygote's
# closerange) and sends it one raw frame.
SEND_RAW = """
import socket
def send_raw(body):
    for fd in range(3, 10):
        try:
            socket.socket(fileno=fd).sendall(len(body).to_bytes(4, 'big') + body)
        except OSError:
            pass
"""

# Agent code that digs the current execution's sequence number and token out of the
# harness's frame (possible only with the static check off) and forges its result.
FORGE_VALID_DONE = """
import json, sys
frame = sys._getframe()
while frame.f_code.co_name != 'serve':
    frame = frame.f_back
harness = frame.f_locals
body = json.dumps({'op': 'done', 'ok': True, 'seq': harness['seq'], 'token': harness['token'], 'stdout': 'forged\\n'}).encode()
harness['self'].sock.sock.sendall(len(body).to_bytes(4, 'big') + body)
"""


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@pytest.fixture(scope="module")
def raw_pool():
    """Static check off: these tests play a worker whose code got past it."""
    with SandboxPool(SandboxConfig(workers=2, timeout_s=2.0, static_check=False)) as p:
        yield p


# -- frames: size and nesting before decoding ------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab[]{}\"\\,:"),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(alphabet="k[{\"", max_size=3), children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=8))
def test_nesting_measure_matches_the_decoded_depth(value, limit):
    body = json.dumps(value).encode()
    assert _protocol.nesting_exceeds(body, limit) == (_depth(value) > limit)
    # Frames past 8 KiB count brackets another way.
    padded = [value, "p" * 9000]
    assert _protocol.nesting_exceeds(json.dumps(padded).encode(), limit) == (_depth(padded) > limit)


def test_decode_failures_are_protocol_errors():
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' + b"9" * 5000 + b"}", b"\xff\xfe", b"{", b'"\\ud800"x'):
        with pytest.raises(_protocol.ProtocolError):
            _protocol.decode(body)
    assert _protocol.decode(b'{"a":[[1]]}') == {"a": [[1]]}


def test_a_deeply_nested_frame_kills_the_worker_and_the_session_goes_on(raw_pool):
    with raw_pool.session(EchoHost(), task_id="deep") as s:
        first = s.worker_pid
        s.run("x = 1")
        body = "b'{\"op\":\"api\",\"app\":\"echo\",\"api\":\"echo\",\"kwargs\":{\"x\":' + b'[' * 100000 + b']' * 100000 + b'}}'"
        r = s.run(SEND_RAW + f"send_raw({body})\nimport time\ntime.sleep(5)")
        assert r.killed == "crash" and "nests deeper than" in r.error_message
        assert "continues on a new worker" in r.error_message
        assert s.worker_pid != first
        after = s.run("apis.echo.echo(ok=1)")
        assert after.ok and after.result_repr == "{'ok': 1}"


def test_api_arguments_just_under_the_depth_limit_pass(raw_pool):
    with raw_pool.session(EchoHost(), task_id="nested-ok") as s:
        ok = s.run("x = 1\nfor _ in range(30):\n    x = [x]\nlen(str(apis.echo.echo(x=x)))")
        deep = s.run("x = 1\nfor _ in range(60):\n    x = [x]\napis.echo.echo(x=x)")
    assert ok.ok, ok.error_message
    assert deep.killed == "crash" and "nests deeper" in deep.error_message


# -- deadlines on every send ---------------------------------------------------------------


def test_a_worker_that_never_reads_its_replies_cannot_block_the_parent(raw_pool):
    code = (CORPUS / "net_never_reads_reply.py").read_text()
    with raw_pool.session(EchoHost(), task_id="no-read") as s:
        started = time.monotonic()
        r = s.run(code)
        elapsed = time.monotonic() - started
        assert r.killed == "timeout", (r.error_type, r.error_message)
        assert elapsed < raw_pool.config.timeout_s + 1.5
        assert s.run("1 + 1").result_repr == "2"


# -- bounded API records and the traffic budget ----------------------------------------


def test_huge_arguments_are_refused_past_the_traffic_budget_and_records_stay_small():
    config = SandboxConfig(workers=1, api_bytes_budget=3_500_000, api_call_budget=500)
    with SandboxPool(config) as p, p.session(EchoHost(), task_id="huge") as s:
        r = s.run("big = 'x' * 1_000_000\nn = 0\ntry:\n    for _ in range(500):\n        apis.echo.echo(blob=big, tag='t')\n        n += 1\nexcept Exception as e:\n    print(type(e).__name__, e)\nn")
    assert r.ok, r.error_message
    assert r.result_repr == "1"  # 1 MB out and 1 MB back each: the second answer does not fit
    assert r.stdout.startswith("ApiBudgetExceeded apis.echo.echo returned")
    assert "traffic budget" in r.stdout
    assert r.extra["api_traffic_bytes"] > 2_000_000
    assert len(r.api_calls) == 2
    first, second = r.api_calls
    assert first.ok and first.arguments_truncated and first.request_bytes > 1_000_000
    assert first.response_bytes > 1_000_000
    assert first.arguments["tag"] == "t" and len(first.arguments["blob"]) < 1100
    assert not second.ok and "budget" in second.error
    assert sum(len(json.dumps(c.arguments)) for c in r.api_calls) < 10_000


def test_small_arguments_are_recorded_whole(raw_pool):
    with raw_pool.session(EchoHost(), task_id="small") as s:
        r = s.run("apis.echo.echo(a=[1, {'b': 'c'}], d='x' * 100)")
    (call,) = r.api_calls
    assert call.arguments == {"a": [1, {"b": "c"}], "d": "x" * 100}
    assert not call.arguments_truncated and 0 < call.request_bytes < 4096 and call.response_bytes > 0


# -- the parent's own accounting of a block ----------------------------------------------


def test_a_forged_result_without_the_token_ends_the_worker_not_the_block(raw_pool):
    with raw_pool.session(EchoHost(), task_id="forge") as s:
        s.run("x = 1")
        forged = "import json\nsend_raw(json.dumps({'op': 'done', 'ok': True, 'seq': 2, 'stdout': 'forged'}).encode())"
        r = s.run(SEND_RAW + forged + "\nimport time\ntime.sleep(5)")
        assert r.killed == "crash" and "token" in r.error_message
        assert "forged" not in r.stdout
        assert s.run("2 * 3").result_repr == "6"


def _cpu_ticks(pid: int) -> tuple[str, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def test_code_that_forged_its_result_gets_no_time_outside_an_execution(raw_pool):
    with raw_pool.session(EchoHost(), task_id="runs-on") as s:
        r = s.run(FORGE_VALID_DONE + "while True:\n    pass\n")
        # The token was dug out of the harness, so the parent took the forgery...
        assert r.ok and r.stdout == "forged\n"
        pid = s.worker_pid
        # ...but the spinning code is frozen until the next execution,
        time.sleep(0.2)
        state, before = _cpu_ticks(pid)
        time.sleep(0.5)
        assert state == "T" and _cpu_ticks(pid)[1] == before
        # whose own deadline then ends it.
        started = time.monotonic()
        nxt = s.run("1")
        assert nxt.killed == "timeout" and time.monotonic() - started < raw_pool.config.timeout_s + 1.5
        assert s.run("1 + 1").result_repr == "2"


def test_a_late_result_frame_does_not_end_the_next_block(raw_pool):
    with raw_pool.session(EchoHost(), task_id="stale") as s:
        r = s.run(FORGE_VALID_DONE + "import time\ntime.sleep(0.3)\n")
        assert r.ok and r.stdout == "forged\n"
        nxt = s.run("'second'")
        assert nxt.ok and nxt.result_repr == "'second'"
        assert nxt.extra.get("stale_frames_dropped") == 1
        assert s.run("'third'").result_repr == "'third'"


def test_frames_for_later_executions_are_protocol_errors(raw_pool):
    with raw_pool.session(EchoHost(), task_id="future") as s:
        r = s.run(SEND_RAW + "import json\nsend_raw(json.dumps({'op': 'done', 'ok': True, 'seq': 99}).encode())\nimport time\ntime.sleep(5)")
        assert r.killed == "crash" and "another execution" in r.error_message


def test_the_stdout_cap_holds_when_the_worker_lifts_its_own():
    config = SandboxConfig(workers=1, static_check=False, stdout_limit_bytes=1000)
    with SandboxPool(config) as p, p.session(EchoHost(), task_id="cap") as s:
        r = s.run("import sys\nsys.stdout.limit = 1 << 40\nprint('é' * 100_000)")
        plain = s.run("print('x' * 10)")
    assert r.ok and r.stdout_truncated
    assert len(r.stdout.encode()) <= 1000 + 100 and "truncated" in r.stdout
    assert plain.stdout == "x" * 10 + "\n" and not plain.stdout_truncated


def test_long_names_and_lists_from_the_worker_are_cut(raw_pool):
    name = "f" * 5000
    with raw_pool.session(EchoHost(), task_id="names") as s:
        r = s.run(f"def {name}():\n    raise ValueError('x' * 200000)\n{name}()")
    assert r.error_type == "ValueError"
    assert all(len(f.function) <= 201 for f in r.frames)
    assert len(r.error_message) <= raw_pool.config.stdout_limit_bytes + 20


# -- no state between tenants ------------------------------------------------------------


def test_a_tenant_that_patches_the_worker_does_not_reach_a_later_tenant():
    patch = (CORPUS / "walk_tenant_patch_worker.py").read_text()
    with SandboxPool(SandboxConfig(workers=1, static_check=False)) as p:
        with p.session(EchoHost(), task_id="tenant-1") as s:
            first_pid = s.worker_pid
            r = s.run(patch)
            assert r.error_type == "RuntimeError"
            # The patch is real: it changes the tenant's own later executions.
            assert s.run("print('mine')").stdout.startswith("ESCAPED")
        with p.session(EchoHost(), task_id="tenant-2") as s:
            assert s.worker_pid != first_pid
            later = s.run("print('secret-token-of-tenant-2')")
    assert later.ok and later.stdout == "secret-token-of-tenant-2\n"


# -- module views and the static check ---------------------------------------------------


def test_imports_give_views_without_private_names_or_foreign_modules():
    with SandboxPool(SandboxConfig(workers=1)) as p, p.session(EchoHost(), task_id="views") as s:
        # Modules the static check does not name: the views are what hides them.
        hidden = {
            "dataclasses.copy": s.run("import dataclasses\ndataclasses.copy"),
            "fractions.numbers": s.run("import fractions\nfractions.numbers"),
        }
        # Internal modules are refused before the code runs, however they are reached.
        refused = {
            "typing.sys": s.run("import typing\ntyping.sys"),
            "re.enum.sys": s.run("import re\nre.enum.sys"),
            "datetime.sys": s.run("import datetime\ndatetime.sys"),
            "from typing import sys": s.run("from typing import sys"),
            "computed private": s.run("import collections\ngetattr(collections, '_' + 'sys')"),
        }
        fine = s.run(
            "import collections.abc, json, re\nfrom collections import abc, namedtuple\nfrom math import *\n"
            "P = namedtuple('P', 'x y')\n"
            "(isinstance({}, abc.Mapping), collections.abc.Sequence is abc.Sequence, json.loads('[1]'),"
            " re.sub('a', 'b', 'aa'), floor(2.5), P(1, 2)._asdict())"
        )
        refused_import = s.run("import importlib\nimportlib.import_module('o' + 's')")
    for label, r in hidden.items():
        assert r.error_type == "AttributeError" and "in the sandbox" in r.error_message, label
    for label, r in refused.items():
        assert r.error_type == "StaticCheckError", label
    assert fine.ok, fine.error_message
    assert fine.result_repr == "(True, True, [1], 'bb', 2, {'x': 1, 'y': 2})"
    assert refused_import.error_type == "StaticCheckError"


@pytest.mark.parametrize(
    "code",
    [
        "import collections\ncollections._sys.modules['os']",
        "from collections import _sys",
        "x = obj._private",
        "getattr(obj, '_sys')",
        "match obj:\n    case object(_sys=s):\n        pass",
        "match obj:\n    case object(__class__=c):\n        pass",
    ],
)
def test_private_names_are_refused_with_a_line(code):
    problems = find_problems(code)
    assert problems and problems[0].startswith("line ")


def test_own_private_names_and_namedtuple_api_are_allowed():
    assert find_problems("class A:\n    def f(self):\n        return self._x\n    @classmethod\n    def g(cls):\n        return cls._y") == ()
    assert find_problems("p._asdict(); p._replace(x=1); P._fields; P._make([1])") == ()


def _sources() -> list[str]:
    snippets = [p.read_text() for p in sorted(CORPUS.glob("*.py"))]
    snippets += [
        "collections._sys",
        "x = a._b",
        "getattr(a, '_b')",
        "match a:\n    case C(_b=x):\n        pass",
        "'{0._b}'.format(a)",
        "f = lambda: y._z",
        "def f():\n    return g().gi_frame",
        "vars()",
    ]
    return snippets


def test_the_pre_scan_never_skips_code_the_walk_refuses():
    checked = 0
    for source in _sources():
        try:
            code = compile(source, "<t>", "exec", dont_inherit=True)
        except SyntaxError:
            continue
        if find_problems(source):
            checked += 1
            assert needs_full_check(source, [code]), source
    assert checked > 60


# -- bounded views -----------------------------------------------------------------------


def test_bounded_jsonable_survives_depth_cycles_and_size():
    deep: list = []
    node = deep
    for _ in range(100_000):
        node.append([])
        node = node[0]
    out = bounded_jsonable(deep, max_depth=10)
    assert _depth(out) <= 10 and "nested deeper" in json.dumps(out)
    cyclic: dict = {}
    cyclic["self"] = cyclic
    assert "nested deeper" in json.dumps(bounded_jsonable(cyclic, max_depth=5))
    value, cut = bounded_jsonable_flagged({"s": "x" * 100, "l": list(range(100))}, max_str=10, max_items=5)
    assert cut and value["s"].startswith("x" * 10) and "90 more characters" in value["s"]
    assert value["l"][:5] == [0, 1, 2, 3, 4] and "95 more items" in value["l"][5]
    _, cut = bounded_jsonable_flagged(list(range(1000)), max_nodes=100)
    assert cut
    assert bounded_jsonable({"n": 10**5000})["n"].startswith("<int of")
    assert bounded_jsonable_flagged({"a": [1, "b"]}) == ({"a": [1, "b"]}, False)


def test_bounded_repr_and_terminal_text():
    deep: list = []
    node = deep
    for _ in range(10_000):
        node.append([])
        node = node[0]
    assert len(bounded_repr(deep)) < 100
    assert len(bounded_repr("x" * 100_000, max_chars=50)) < 100
    text = terminal_text("a\x1b[2Jb\x07c\rd\x9be\u202ef\ng\th")
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\x9b" not in text and "\u202e" not in text
    assert text == "a\\x1b[2Jb\\x07c\\rd\\x9be\\u202ef\ng\th"


def _episode(arguments: dict) -> EpisodeTrace:
    turn = TurnTrace(
        index=0, prompt_tokens=1, completion_tokens=1, prompt_chars=1, reply="r", code="c", ok=True,
        observation="o", error=None, api_calls=({"app": "supervisor", "api": "complete_task", "arguments": arguments},),
        operations=(), policy_latency_s=0.0, exec_duration_s=0.0,
    )
    return EpisodeTrace(
        episode_id="e", run_id="r", task_id="t", scenario_id="s", index_in_scenario=0, instruction="i",
        retrieved=(), loaded=(), dropped=(), turns=(turn,), stop_reason="completed", self_reported="success",
        saved=(), prompt_tokens=1, completion_tokens=1, duration_s=0.0,
    )


def test_traces_of_deep_agent_data_are_written(tmp_path):
    deep: dict = {}
    node = deep
    for _ in range(5_000):
        node["k"] = {}
        node = node["k"]
    episode = _episode({"answer": deep, "status": "success"})
    data = episode.to_dict()
    assert data["steps"] == 1 and "nested deeper" in json.dumps(data)
    writer = RunWriter(tmp_path, "run-1")
    writer.append_episode(episode)
    line = json.loads((tmp_path / "run-1" / "episodes.jsonl").read_text())
    call = line["turns"][0]["api_calls"][0]
    assert call["app"] == "supervisor" and call["arguments"]["status"] == "success"
    assert _depth(call["arguments"]["answer"]) < 48


def test_traces_keep_ordinary_data_unchanged():
    arguments = {"answer": [1, {"a": "b"}], "status": "success"}
    data = _episode(arguments).to_dict()
    assert data["turns"][0]["api_calls"][0]["arguments"] == arguments
    assert data["turns"][0]["operations"] == [] and data["retrieved"] == []


# -- the CLI -----------------------------------------------------------------------------


def test_exec_prints_agent_text_without_markup_or_escape_sequences():
    res = CliRunner().invoke(cli_app, ["sandbox", "exec", str(CORPUS / "term_markup_escape_injection.py")])
    assert res.exit_code == 3, res.output  # the code raised
    assert "\x1b" not in res.output and "\x07" not in res.output
    assert "[bold red]not markup[/bold red] [/bogus]" in res.output  # the output is not lost
    assert "\\x1b]0;pwned\\x07" in res.output
    assert res.output.count("ValueError: [/bogus]") == 1  # the error line once
    assert "failed in" in res.output


def test_exec_json_of_deep_arguments(tmp_path):
    script = tmp_path / "deep.py"
    script.write_text("x = 1\nfor _ in range(35):\n    x = {'k': x}\napis.echo.echo(x=x)\nprint('[/bogus]')")
    res = CliRunner().invoke(cli_app, ["sandbox", "exec", "--json", str(script)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["ok"] and data["stdout"] == "[/bogus]\n" and data["api_calls"][0]["app"] == "echo"
    human = CliRunner().invoke(cli_app, ["sandbox", "exec", str(script)])
    assert human.exit_code == 0 and "[/bogus]" in human.output and "api echo.echo(" in human.output
