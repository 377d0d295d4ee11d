"""The GRPO trainer on a tiny randomly initialised model built here (no hub): the update
raises the probability of the rewarded reply, gradients reach only the policy's tokens,
and a short run over the real world writes metrics, a curve and a checkpoint it resumes
from."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (the `local` extra)")
transformers = pytest.importorskip("transformers", reason="training needs transformers (the `local` extra)")
peft = pytest.importorskip("peft", reason="training needs peft (the `local` extra)")

from skillbank.llm.base import Message  # noqa: E402
from skillbank.llm.template import END_OF_TURN, ROLE_HEADERS  # noqa: E402
from skillbank.rl.chains import PolicyTurn, make_chains  # noqa: E402
from skillbank.rl.grpo import group_advantages  # noqa: E402
from skillbank.rl.trainer import (  # noqa: E402
    SageConfig,
    SageTrainer,
    grpo_update,
    in_process_player,
    load_config,
    reply_logprobs,
    rollout_config,
)

WORDS = ["pick", "one", "alpha", "beta", "gamma", "done", "ok", "```python", "```", "print(1)"]


def tiny_model_and_tokenizer(seed: int = 0):
    """A 2-layer Llama over a word-level vocabulary that knows the chat template's markers."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "[PAD]": 1, "[EOS]": 2}
    for w in [END_OF_TURN, *ROLE_HEADERS.values(), *WORDS]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                     eos_token="[EOS]")
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=512, pad_token_id=1, eos_token_id=2, bos_token_id=2)
    model = transformers.LlamaForCausalLM(config)
    lora = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                           task_type="CAUSAL_LM")
    return peft.get_peft_model(model, lora), tokenizer


PROMPT = (Message("user", "pick one"),)


def _prob(model, tokenizer, reply: str) -> float:
    with torch.no_grad():
        return float(torch.exp(reply_logprobs(model, tokenizer, [PolicyTurn(PROMPT, reply)], 512).sum()))


def test_reward_favouring_one_reply_raises_its_probability() -> None:
    model, tokenizer = tiny_model_and_tokenizer()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
    replies = ["alpha", "beta", "gamma"]

    def share() -> float:  # P(alpha) among the three replies the policy samples from
        probs = [_prob(model, tokenizer, r) for r in replies]
        return probs[0] / sum(probs)

    before = share()
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        probs = torch.tensor([_prob(model, tokenizer, r) for r in replies])
        picks = torch.multinomial(probs / probs.sum(), 8, replacement=True, generator=gen).tolist()
        rewards = [1.0 if replies[i] == "alpha" else 0.0 for i in picks]
        adv = group_advantages(rewards, 8)
        rows = [([PolicyTurn(PROMPT, replies[i])], float(a)) for i, a in zip(picks, adv)]
        grpo_update(model, tokenizer, rows, opt, num_rollouts=8)
    after = share()
    assert after > before + 0.3, (before, after)  # from about 1/3 to about 3/4


def test_gradients_reach_only_the_policys_tokens() -> None:
    model, tokenizer = tiny_model_and_tokenizer()
    captured = {}

    def hook(_module, _inputs, output):
        output.retain_grad()
        captured["logits"] = output

    handle = model.get_output_embeddings().register_forward_hook(hook)
    try:
        turn = PolicyTurn((Message("system", "pick one"), Message("user", "alpha beta gamma")), "alpha beta")
        lp = reply_logprobs(model, tokenizer, [turn], 512)
        (-lp.sum()).backward()
    finally:
        handle.remove()
    grad = captured["logits"].grad[0]  # positions x vocab
    n_reply = len(tokenizer("alpha beta\n" + END_OF_TURN + "\n", add_special_tokens=False)["input_ids"])
    assert lp.numel() == n_reply
    per_position = grad.abs().sum(dim=1)
    # position p predicts token p+1: only the last n_reply predictions are the reply's
    assert torch.all(per_position[: -n_reply - 1] == 0)
    assert torch.all(per_position[-n_reply - 1: -1] > 0)


def test_zero_advantage_rows_change_nothing() -> None:
    model, tokenizer = tiny_model_and_tokenizer()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    stats = grpo_update(model, tokenizer, [([PolicyTurn(PROMPT, "alpha")], 0.0)] * 4, opt, num_rollouts=4)
    assert stats["policy_tokens"] == 0
    after = [p for p in model.parameters() if p.requires_grad]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_config_from_toml(tmp_path) -> None:
    p = tmp_path / "sage.toml"
    p.write_text('[sage]\nsteps = 3\ngroup_size = 2\nreward = "outcome_only"\n')
    cfg = load_config(p, out_dir=str(tmp_path / "out"))
    assert (cfg.steps, cfg.group_size, cfg.reward, cfg.out_dir) == (3, 2, "outcome_only", str(tmp_path / "out"))
    p.write_text("stepz = 3\n")
    with pytest.raises(Exception, match="unknown key"):
        load_config(p)
    p.write_text('reward = "bogus"\n')
    with pytest.raises(Exception, match="unknown mode"):
        load_config(p)


@pytest.mark.slow
def test_short_run_over_the_real_world_writes_and_resumes(tmp_path) -> None:
    from skillbank.sandbox import SandboxConfig, SandboxPool
    from skillbank.worlds.apps import AppsWorld

    model, tokenizer = tiny_model_and_tokenizer()
    world = AppsWorld(seed=0)
    cfg = SageConfig(out_dir=str(tmp_path / "run"), steps=2, group_size=2, max_turns=1, max_new_tokens=6,
                     temperature=1.0, learning_rate=1e-3)
    chains = make_chains(world, "train", k=2, seed=0)
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        player = in_process_player(world, lambda host, task_id: pool.session(host, task_id=task_id), rollout_config(cfg))
        trainer = SageTrainer(cfg, model, tokenizer, player, chains)
        metrics = trainer.train()
        assert [m.step for m in metrics] == [1, 2]
        # a garbage-writing model gives no code: every task earns -1, every advantage is 0
        assert all(m.reward == -1.0 and m.policy_tokens == 0 for m in metrics)
        rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 2 and rows[0]["rollout_s"] > 0
        assert (tmp_path / "run" / "reward_curve.png").read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
        with pytest.raises(Exception, match="already holds a run"):
            SageTrainer(cfg, model, tokenizer, player, chains).train()
        more = SageConfig(**{**cfg.__dict__, "steps": 3})
        resumed = SageTrainer(more, model, tokenizer, player, chains)
        assert [m.step for m in resumed.train(resume=True)] == [3]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3


def test_cli_train_sage_config_errors_are_one_line(capsys, tmp_path) -> None:
    from skillbank.cli import main

    assert main(["train", "sage", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "no config file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 0\n")
    assert main(["train", "sage", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "steps must be at least 1" in err


def test_a_reused_batch_is_clipped_against_the_sampling_policy() -> None:
    """With old log-probs far below the current ones (ratio > 1 + eps) and a positive
    advantage, the clipped objective gives no gradient; a None entry means ratio 1."""
    model, tokenizer = tiny_model_and_tokenizer()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    turns = [PolicyTurn(PROMPT, "alpha")]
    with torch.no_grad():
        lp = reply_logprobs(model, tokenizer, turns, 512)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    grpo_update(model, tokenizer, [(turns, 1.0)], opt, num_rollouts=1, old_logprobs=[lp - 5.0])
    assert all(torch.equal(a, b) for a, b in zip(before, [p for p in model.parameters() if p.requires_grad]))
    grpo_update(model, tokenizer, [(turns, 1.0)], opt, num_rollouts=1, old_logprobs=[None])
    assert not all(torch.equal(a, b) for a, b in zip(before, [p for p in model.parameters() if p.requires_grad]))
