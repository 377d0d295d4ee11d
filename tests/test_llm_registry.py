import json

import httpx
import pytest

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import Message
from skillbank.llm.openai_compat import OpenAIConfig, OpenAIPolicy
from skillbank.llm.registry import POLICY_NAMES, make_policy
from skillbank.llm.replay import ReplayPolicy


def test_unknown_name_lists_the_names():
    with pytest.raises(ValidationError, match="unknown policy 'gpt'; expected one of openai, local, replay, expert"):
        make_policy("gpt")
    assert POLICY_NAMES == ("openai", "local", "replay", "expert")


def test_replay_from_list_and_from_path(tmp_path):
    policy = make_policy("replay", responses=["x"])
    assert isinstance(policy, ReplayPolicy) and policy.generate([Message("user", "q")]).text == "x"
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps("from file") + "\n")
    assert make_policy("replay", path=path).generate([Message("user", "q")]).text == "from file"
    with pytest.raises(ValidationError, match="exactly one of"):
        make_policy("replay")
    with pytest.raises(ValidationError, match="unknown option.*'replay': temperature"):
        make_policy("replay", responses=[], temperature=1.0)


def test_openai_options_become_the_config():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    policy = make_policy(
        "openai", base_url="http://fake/v1", model="m", api_key="k", max_tokens=9, transport=httpx.MockTransport(handler)
    )
    assert isinstance(policy, OpenAIPolicy)
    assert policy.generate([Message("user", "hi")]).text == "ok"
    assert seen[0]["max_tokens"] == 9 and seen[0]["model"] == "m"
    config = OpenAIConfig(base_url="http://fake/v1", model="m2")
    assert make_policy("openai", config=config).config.model == "m2"
    with pytest.raises(ValidationError, match="either config=... or individual settings"):
        make_policy("openai", config=config, model="m3")
    with pytest.raises(ValidationError, match="unknown option.*'openai': modle"):
        make_policy("openai", modle="m")


def test_openai_without_a_model_is_a_config_error(monkeypatch):
    monkeypatch.delenv("SKILLBANK_OPENAI_MODEL", raising=False)
    with pytest.raises(ConfigError, match="SKILLBANK_OPENAI_MODEL"):
        make_policy("openai", base_url="http://fake/v1")


def test_local_rejects_bad_options_before_loading_anything():
    with pytest.raises(ValidationError, match="backend must be 'transformers' or 'llama_cpp'"):
        make_policy("local", backend="vllm")
    with pytest.raises(ValidationError, match="unknown option.*'local': max_tokens"):
        make_policy("local", max_tokens=3)


def test_expert_needs_a_world_and_gets_it(monkeypatch):
    with pytest.raises(ValidationError, match="needs world="):
        make_policy("expert")

    class StubWorld:
        def expert_solution(self, task_id):  # pragma: no cover - not called here
            raise AssertionError

    world = StubWorld()
    policy = make_policy("expert", world=world)
    assert policy.name == "expert" and policy.world is world
