"""Operation detection from a block's AST and a hand-made execution result, and the
prompt helpers (code extraction, observation clipping)."""

from __future__ import annotations

from skillbank.agent.config import AgentConfig
from skillbank.agent.operations import OperationKind as K
from skillbank.agent.operations import OperationTracker, analyze_block
from skillbank.agent.prompt import PromptSkill, extract_code, render_observation, render_skill
from skillbank.sandbox.types import ExecutionResult, FrameInfo

OK = ExecutionResult(ok=True)


def fail_at(line: int, *functions: str, message: str = "boom") -> ExecutionResult:
    frames = (FrameInfo("<block-1>", line, "<module>"),) + tuple(FrameInfo("<block-1>", 1, f) for f in functions)
    return ExecutionResult(ok=False, error_type="RuntimeError", error_message=message,
                           traceback=f"Traceback...\nRuntimeError: {message}", frames=frames)


def ops(tracker, code, result, turn=0):
    return [(o.kind, o.name, o.ok) for o in tracker.observe(turn, analyze_block(code), result)]


def test_analyze_block_separates_definitions_from_calls():
    a = analyze_block("import json\n\ndef f(x):\n    return g(x)\n\ny = f(1)\nprint(h)\n")
    assert a.defined == ("f",)
    assert a.function_refs["f"] >= {"g", "x"}
    assert {"f", "print", "h"} <= a.references() and "g" not in a.references()
    assert analyze_block("def f(:\n").syntax_error is not None


def test_failure_before_a_call_means_the_call_did_not_happen():
    t = OperationTracker({})
    code = "def f():\n    return 1\n\nx = 1 / 0\ny = f()\n"
    assert ops(t, code, fail_at(4)) == [(K.DEFINED, "f", None)]


def test_statements_before_the_failure_ran_without_error():
    t = OperationTracker({})
    code = "def f():\n    return 1\n\ny = f()\nz = 1 / 0\n"
    assert ops(t, code, fail_at(5)) == [(K.CREATE, "f", True)]
    assert [c.name for c in t.save_candidates(True)] == ["f"]
    assert t.save_candidates(False) == []


def test_function_on_the_traceback_failed_and_later_redefinition_is_an_update():
    t = OperationTracker({})
    code = "def f():\n    raise RuntimeError('boom')\n\ny = f()\n"
    assert ops(t, code, fail_at(4, "f")) == [(K.CREATE, "f", False)]
    assert t.save_candidates(True) == []
    fixed = "def f():\n    return 2\n\ny = f()\n"
    got = t.observe(1, analyze_block(fixed), OK)
    assert [(o.kind, o.ok) for o in got] == [(K.UPDATE, True)]
    assert "boom" in got[0].failure_log
    (cand,) = t.save_candidates(True)
    assert cand.failure_log == got[0].failure_log


def test_redefining_a_working_function_is_a_create_not_an_update():
    t = OperationTracker({})
    ops(t, "def f():\n    return 1\nf()\n", OK)
    assert ops(t, "def f():\n    return 2\nf()\n", OK, turn=1) == [(K.CREATE, "f", True)]


def test_private_helpers_are_not_save_candidates():
    t = OperationTracker({})
    ops(t, "def _h():\n    return 1\n\ndef f():\n    return _h()\n\nf()\n", OK)
    assert [c.name for c in t.save_candidates(True)] == ["f"]


def test_last_call_decides_saving():
    t = OperationTracker({})
    ops(t, "def f(x):\n    return 1 / x\nf(1)\n", OK)
    ops(t, "f(0)\n", fail_at(1, "f"), turn=1)
    assert t.save_candidates(True) == []


def test_syntax_error_and_static_refusal_change_nothing():
    t = OperationTracker({})
    assert ops(t, "def f(:\n", ExecutionResult(ok=False, error_type="SyntaxError")) == []
    refused = ExecutionResult(ok=False, static_errors=("import of 'os' is not allowed",))
    assert ops(t, "def f():\n    return 1\nf()\n", refused) == []
    assert not t.is_known("f")


def test_extract_code_variants():
    assert extract_code("Sure.\n```python\nx = 1\n```\n").code == "x = 1\n"
    assert extract_code("```py\ny = 2\n```").code == "y = 2\n"
    two = extract_code("```python\na = 1\n```\nand\n```python\nb = 2\n```")
    assert two.code == "a = 1\n" and two.blocks_found == 2
    cut = extract_code("Thinking\n```python\nz = 3\n")  # generation stopped mid-block
    assert cut.code == "z = 3\n"
    none = extract_code("The answer is 4.")
    assert none.code is None and "no code block" in none.problem
    empty = extract_code("```python\n\n```")
    assert empty.code is None and "empty" in empty.problem


def test_observation_is_clipped_head_and_tail():
    config = AgentConfig(max_stdout_chars=100, max_traceback_lines=2)
    result = ExecutionResult(ok=False, stdout="A" * 500 + "END", error_type="KeyError", error_message="'x'",
                             traceback="line1\nline2\nline3\nKeyError: 'x'")
    obs = render_observation(result, config, extra_blocks=1)
    assert "characters cut" in obs and obs.count("A") < 120 and "END" in obs
    assert "line1" not in obs and "KeyError: 'x'" in obs
    assert "only the first of your 2 code blocks ran" in obs
    assert render_observation(ExecutionResult(ok=True), config) == "Executed without output."


def test_long_skill_sources_show_signature_and_docstring_only():
    long_src = "def f(a: int) -> int:\n    \"\"\"Doc.\"\"\"\n" + "    a += 1\n" * 40 + "    return a\n"
    shown = render_skill(PromptSkill("f", "def f(a: int) -> int", "Doc.", long_src), AgentConfig())
    assert "def f(a: int) -> int:" in shown and "Doc." in shown and "a += 1" not in shown
    short = render_skill(PromptSkill("g", "def g()", None, "def g():\n    return 1\n"), AgentConfig())
    assert "return 1" in short
