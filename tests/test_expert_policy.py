"""The scripted expert policy on the fake world."""

from __future__ import annotations

import pytest
from test_agent_fakes import FakeWorld

from skillbank.agent.operations import analyze_block
from skillbank.agent.prompt import extract_code
from skillbank.errors import ValidationError
from skillbank.llm.base import EpisodeInfo, Message
from skillbank.llm.expert import ExpertPolicy

MSGS = [Message("system", "x" * 400), Message("user", "go")]


def replies(policy, n):
    return [policy.generate(MSGS) for _ in range(n)]


def test_without_skills_it_explores_then_creates():
    world = FakeWorld()
    p = ExpertPolicy(world)
    p.start_episode(EpisodeInfo(task=world.task("count-1")))
    first, second = replies(p, 2)
    for c in (first, second):
        head = c.text.split("```")[0]
        assert head.strip() and head.strip()[-1] in ".:"  # a sentence of reasoning first
    assert "api_docs" in extract_code(first.text).code
    code = extract_code(second.text).code
    a = analyze_block(code)
    assert a.defined == ("count_notes",) and "count_notes" in a.references()
    assert "complete_task" in code


def test_with_skills_loaded_it_only_calls():
    world = FakeWorld()
    p = ExpertPolicy(world)
    p.start_episode(EpisodeInfo(task=world.task("count-2"), skill_names=("count_notes", "other")))
    (c,) = replies(p, 1)
    code = extract_code(c.text).code
    assert analyze_block(code).defined == () and "count_notes" in code


def test_a_failed_use_is_followed_by_a_rewrite_then_giving_up():
    world = FakeWorld()
    p = ExpertPolicy(world)
    p.start_episode(EpisodeInfo(task=world.task("count-2"), skill_names=("count_notes",)))
    _, update, give_up, again = replies(p, 4)
    assert analyze_block(extract_code(update.text).code).defined == ("count_notes",)
    assert 'status="fail"' in extract_code(give_up.text).code and again.text == give_up.text


def test_token_estimate_is_documented_rule():
    world = FakeWorld()
    p = ExpertPolicy(world)
    assert p.count_tokens("") == 0 and p.count_tokens("abcd") == 1 and p.count_tokens("abcde") == 2
    p.start_episode(EpisodeInfo(task=world.task("count-1")))
    (c,) = replies(p, 1)
    assert c.completion_tokens == p.count_tokens(c.text)
    assert c.prompt_tokens == sum(p.count_tokens(m.content) + 4 for m in MSGS)


def test_generate_before_start_is_a_clear_error():
    with pytest.raises(ValidationError, match="start_episode"):
        ExpertPolicy(FakeWorld()).generate(MSGS)
