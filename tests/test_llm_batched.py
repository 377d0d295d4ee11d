"""Batched local generation: left-padded batches give the same greedy text as one prompt at
a time; concurrent `generate` calls from scenario threads are gathered into batches; the
runner plays scenarios concurrently for such a policy and keeps each chain in order."""

from __future__ import annotations

import threading

import pytest

from skillbank.agent.config import RunConfig
from skillbank.agent.runner import run_split
from skillbank.llm.base import Message
from skillbank.llm.expert import ExpertPolicy
from skillbank.llm.local import LocalPolicy
from skillbank.llm.local_config import LocalConfig
from skillbank.llm.transformers_backend import TransformersBackend
from skillbank.retrieval import make_retriever
from skillbank.sandbox import SandboxConfig, SandboxPool
from skillbank.store import open_store
from skillbank.worlds.apps import AppsWorld

PROMPTS = [
    [Message("user", "Say hi.")],
    [Message("system", "You write Python and nothing else, ever."), Message("user", "Add one and two, then print it.")],
    [Message("user", "x")],
    [Message("system", "Be brief."), Message("user", "List three apps."), Message("assistant", "```python\nprint(1)\n```"),
     Message("user", "Output:\n1")],
]


@pytest.fixture(scope="module")
def tiny():
    from _sft_util import tiny_pair

    return tiny_pair(seed=3)


def test_batched_greedy_equals_one_at_a_time(tiny):
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    from skillbank.llm.template import render_prompt

    prompts = [render_prompt(p) for p in PROMPTS]
    single = [backend.generate(p, max_new_tokens=24, temperature=0.0, seed=0) for p in prompts]
    batched = backend.generate_batch(prompts, max_new_tokens=24, temperature=0.0, seeds=[0] * len(prompts))
    assert batched == single
    assert all(n > 0 for _, n, _ in single)
    assert len({text for text, _, _ in single}) > 1  # distinct prompts, distinct replies: the test can fail


def test_bfloat16_weights_load_and_generate(tiny, tmp_path):
    import torch

    from skillbank.llm.template import render_prompt
    from skillbank.llm.transformers_backend import load_transformers

    model, tok = tiny
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = {dtype: load_transformers(LocalConfig(model_path=tmp_path / "m", adapter_path="none", dtype=dtype))
              for dtype in ("float32", "bfloat16")}
    assert next(loaded["float32"][0].parameters()).dtype == torch.float32
    assert next(loaded["bfloat16"][0].parameters()).dtype == torch.bfloat16
    prompts = [render_prompt(p) for p in PROMPTS]
    backend = TransformersBackend(*loaded["bfloat16"])
    batched = backend.generate_batch(prompts, max_new_tokens=12, temperature=0.0, seeds=[0] * len(prompts))
    assert all(n > 0 for _, n, _ in batched)
    # The same weights rounded to bfloat16: the logits stay close to float32's (6% on this
    # deliberately chaotic random model).
    ids = tok(prompts[0], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        exact = loaded["float32"][0](input_ids=ids).logits.float()
        rounded = loaded["bfloat16"][0](input_ids=ids).logits.float()
    assert float((rounded - exact).norm() / exact.norm()) < 0.15  # unrelated logits: ~1.4


def test_concurrent_calls_are_gathered_into_batches(tiny):
    model, tok = tiny
    policy = LocalPolicy(LocalConfig(max_new_tokens=16, batch_size=4, batch_wait_s=5.0, batching="lockstep"),
                         backend=TransformersBackend(model, tok))
    assert policy.max_concurrency == 4
    expected = [policy.generate(p).text for p in PROMPTS]  # no stream open: one at a time
    results: dict[int, str] = {}
    barrier = threading.Barrier(len(PROMPTS))

    def worker(i: int) -> None:
        with policy.stream():
            barrier.wait()
            results[i] = policy.generate(PROMPTS[i]).text

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [results[i] for i in range(len(PROMPTS))] == expected
    assert max(policy._batcher.batch_sizes) > 1
    assert policy._batcher.streams == 0


class ThreadSafeExpert:
    """The expert with per-thread episode state, announcing concurrency like LocalPolicy."""

    name = "expert"
    max_concurrency = 4

    def __init__(self, world):
        self.world = world
        self.local = threading.local()
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def stream(self):
        owner = self

        class _Stream:
            def __enter__(self):
                with owner.lock:
                    owner.active += 1
                    owner.peak = max(owner.peak, owner.active)

            def __exit__(self, *exc):
                with owner.lock:
                    owner.active -= 1

        return _Stream()

    def start_episode(self, info):
        self.local.policy = ExpertPolicy(self.world)
        self.local.policy.start_episode(info)

    def generate(self, messages):
        return self.local.policy.generate(messages)

    def count_tokens(self, text):
        return self.local.policy.count_tokens(text)


def test_runner_plays_scenarios_concurrently_in_chain_order(tmp_path):
    world = AppsWorld(seed=0)
    policy = ThreadSafeExpert(world)
    summaries = {}
    with SandboxPool(SandboxConfig(workers=4)) as pool:
        for name, p in (("concurrent", policy), ("sequential", ExpertPolicy(world))):
            store = open_store(tmp_path / f"{name}.db")
            seen = []
            try:
                summaries[name] = run_split(world, p, store, lambda h, t: pool.session(h, task_id=t),
                                            make_retriever("same-scenario"),
                                            RunConfig(split="dev", limit=12, runs_dir=str(tmp_path / "runs")),
                                            on_episode=lambda ep, done, total: seen.append((ep.task_id, done)))
            finally:
                store.close()
            assert [d for _, d in seen] == list(range(1, 13))
    assert policy.peak > 1
    a, b = summaries["concurrent"], summaries["sequential"]
    assert a.tgc == b.tgc == 1.0
    assert (a.skills_created, a.skills_used, a.skills_saved, a.mean_steps) == \
        (b.skills_created, b.skills_used, b.skills_saved, b.mean_steps)


def test_cli_local_run_defaults_to_fewer_steps_and_takes_a_dtype(tiny, tmp_path, monkeypatch, capsys):
    import json

    from skillbank.cli import main
    from skillbank.jobs import DEFAULT_MAX_STEPS, LOCAL_MAX_STEPS

    model, tok = tiny
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    monkeypatch.chdir(tmp_path)
    common = ["run", "--split", "dev", "--limit", "1", "--governance", "off", "--json"]
    local = ["--policy", "local", "--model-path", "m", "--adapter", "none", "--max-new-tokens", "8"]
    assert main([*common, *local, "--dtype", "bfloat16"]) == 0
    out = json.loads(capsys.readouterr().out)
    config = json.loads((tmp_path / out["run_dir"] / "config.json").read_text())
    assert config["agent"]["max_steps"] == LOCAL_MAX_STEPS < DEFAULT_MAX_STEPS
    assert config["policy_config"]["dtype"] == "bfloat16"
    assert config["policy_config"]["vocab"] == "adapter"
    assert config["policy_config"]["batching"] == "continuous"
    assert config["policy_config"]["speculate"] == 8
    decoding = out["decoding"]  # the decoder's figures reach the summary
    assert decoding["prompt_tokens"] > decoding["reused_tokens"] > 0 and decoding["speculate"] == 8
    assert decoding["steps"] > 0 and decoding["generated_tokens"] >= decoding["steps"]
    saved = json.loads((tmp_path / out["run_dir"] / "summary.json").read_text())
    assert saved["decoding"] == decoding
    assert out["mean_steps"] == LOCAL_MAX_STEPS  # the random model never completes a task
    assert main([*common, *local, "--max-steps", "2", "--vocab", "full", "--batching", "lockstep",
                 "--speculate", "0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mean_steps"] == 2
    recorded = json.loads((tmp_path / out["run_dir"] / "config.json").read_text())["policy_config"]
    assert (recorded["vocab"], recorded["batching"], recorded["speculate"]) == ("full", "lockstep", 0)
    assert "steps" not in out["decoding"]  # lockstep: no continuous decoder
    assert main([*common, *local, "--vocab", "tiny"]) != 0
    assert "vocab must be 'adapter' or 'full'" in capsys.readouterr().err
    assert main([*common]) == 0  # the expert keeps SAGE's 40
    out = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / out["run_dir"] / "config.json").read_text())["agent"]["max_steps"] == DEFAULT_MAX_STEPS
    assert main([*common, "--dtype", "bfloat16"]) != 0
    assert "--dtype applies to --policy local" in capsys.readouterr().err


def test_bench_llm_reports_each_batch_and_dtype(tiny, monkeypatch):
    import torch

    from skillbank.bench import llm as bench_llm

    model, tok = tiny
    loads = []

    def fake_load(config):
        loads.append((config.adapter_path, config.dtype))
        dtype = torch.bfloat16 if config.dtype == "bfloat16" else torch.float32
        return model.to(dtype), tok

    monkeypatch.setattr("skillbank.llm.transformers_backend.load_transformers", fake_load)
    data = bench_llm.run_bench(batches=[1, 2], adapters=["none"], prompt_tokens=16, new_tokens=3, repeats=1,
                               dtypes=("float32", "bfloat16"))
    model.to(torch.float32)
    assert loads == [("none", "float32"), ("none", "bfloat16")]
    rows = data["rows"]
    assert [(r["dtype"], r["batch"]) for r in rows] == [("float32", 1), ("float32", 2), ("bfloat16", 1), ("bfloat16", 2)]
    assert all(r["prefill_tok_s"] > 0 and r["gen_tok_s"] > 0 and r["new_tokens"] == 3 for r in rows)
    assert "gen_vs_float32" not in rows[0]
    for r, ref in zip(rows[2:], rows[:2]):
        assert r["gen_vs_float32"] == round(r["gen_tok_s"] / ref["gen_tok_s"], 2)
    assert rows[1]["speedup_vs_batch1"] == round(rows[1]["gen_tok_s"] / rows[0]["gen_tok_s"], 2)


def test_bench_llm_prompts_reach_the_asked_length(tiny):
    from skillbank.bench.llm import _prompts

    _, tok = tiny
    for length in (16, 5000):  # 5000 is longer than any system prompt: turns are added
        prompts = _prompts(2, length, tok)
        assert all(abs(len(tok(p, add_special_tokens=False)["input_ids"]) - length) <= 2 for p in prompts)
    assert len(set(prompts)) == 2  # long prompts differ, as the scenarios of a batch do


def test_bench_llm_rejects_an_unknown_dtype(capsys):
    from skillbank.cli import main

    assert main(["bench", "llm", "--dtype", "fp16"]) != 0
    assert "--dtype must be float32 and/or bfloat16, got 'fp16'" in capsys.readouterr().err


def test_bench_llm_episodes_compare_the_prefix_cache_with_whole_prompts(tiny, monkeypatch):
    from skillbank.bench import llm as bench_llm

    model, tok = tiny
    monkeypatch.setattr("skillbank.llm.transformers_backend.load_transformers", lambda config: (model, tok))
    data = bench_llm.run_bench(batches=[1, 2], adapters=["none"], prompt_tokens=16, new_tokens=3, repeats=1,
                               turns=3)
    [episode] = data["episodes"]
    assert episode["batch"] == 2 and episode["turns"] == 3
    assert len(episode["cached_turn_ms"]) == len(episode["uncached_turn_ms"]) == 3
    assert episode["max_prompt_tokens"][0] < episode["max_prompt_tokens"][-1]  # the prompts grow by turn
    assert episode["same_replies"] == "6/6"  # float32: the cache changes the speed, not the text
    assert 0.5 < episode["reused_prompt_tokens"] < 1
    assert episode["cache_speedup"] == round(episode["uncached_ms"] / episode["cached_ms"], 2)
    assert "episodes" not in bench_llm.run_bench(batches=[1], adapters=["none"], prompt_tokens=16, new_tokens=2,
                                                 repeats=1)
