import json

import pytest

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import Completion, Message, PolicyError, estimate_prompt_tokens, estimate_tokens
from skillbank.llm.replay import ReplayPolicy, load_responses

MESSAGES = [Message("system", "You write Python."), Message("user", "Add 2 and 3.")]


def test_plays_responses_in_order_then_fails_clearly():
    policy = ReplayPolicy(["first", "second"])
    assert [policy.generate(MESSAGES).text, policy.generate(MESSAGES).text] == ["first", "second"]
    assert policy.remaining == 0
    with pytest.raises(PolicyError, match=r"exhausted: all 2 recorded responses .* call 3"):
        policy.generate(MESSAGES)


def test_counts_are_estimated_when_not_recorded():
    text = "```python\nprint(2 + 3)\n```"
    completion = ReplayPolicy([text]).generate(MESSAGES)
    assert completion.completion_tokens == estimate_tokens(text) == -(-len(text) // 4)
    assert completion.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert completion.prompt_tokens == sum(-(-len(m.content) // 4) + 4 for m in MESSAGES)


def test_recorded_counts_win_and_prompts_are_kept():
    policy = ReplayPolicy([{"text": "a", "prompt_tokens": 11, "completion_tokens": 7}, Completion("b", 3, 2)])
    first, second = policy.generate(MESSAGES), policy.generate(MESSAGES[:1])
    assert (first.prompt_tokens, first.completion_tokens) == (11, 7)
    assert (second.text, second.prompt_tokens, second.completion_tokens) == ("b", 3, 2)
    assert policy.prompts == [tuple(MESSAGES), tuple(MESSAGES[:1])]


def test_jsonl_file_mixes_strings_and_objects(tmp_path):
    path = tmp_path / "run.jsonl"
    lines = [json.dumps("plain"), "", json.dumps({"text": "with counts", "completion_tokens": 5})]
    path.write_text("\n".join(lines) + "\n")
    policy = ReplayPolicy.from_jsonl(path)
    assert policy.remaining == 2
    assert policy.generate(MESSAGES).text == "plain"
    assert policy.generate(MESSAGES).completion_tokens == 5
    with pytest.raises(PolicyError):
        policy.generate(MESSAGES)


@pytest.mark.parametrize(
    ("line", "problem"),
    [("{not json", "not valid JSON"), ('{"txt": "x"}', "'text'"), ("42", "string or an object"),
     ('{"text": "x", "prompt_tokens": -1}', "prompt_tokens")],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps("ok") + "\n" + line + "\n")
    with pytest.raises(ValidationError, match=rf"bad.jsonl:2: .*{problem}"):
        load_responses(path)


def test_missing_file_and_single_string_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="replay file not found"):
        ReplayPolicy.from_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(ValidationError, match="not a single string"):
        ReplayPolicy("oops")
