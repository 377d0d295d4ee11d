"""The SFT trainer on a tiny randomly initialised model built locally (no hub): the
segmented loss equals the full-sequence loss, a two-example dataset is overfit within a
few steps (the greedy reply becomes the target), checkpoints resume, configs load."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="torch (local extra) is not installed")
transformers = pytest.importorskip("transformers", reason="transformers (local extra) is not installed")
peft = pytest.importorskip("peft", reason="peft (local extra) is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers (local extra) is not installed")

from _sft_util import tiny_model, tiny_tokenizer  # noqa: E402

from skillbank.errors import ConfigError, ValidationError  # noqa: E402
from skillbank.llm.base import Message  # noqa: E402
from skillbank.llm.local import LocalPolicy  # noqa: E402
from skillbank.llm.local_config import LocalConfig  # noqa: E402
from skillbank.llm.transformers_backend import TransformersBackend  # noqa: E402
from skillbank.train.sft_config import SftConfig, load_config  # noqa: E402
from skillbank.train.sft_data import SftRecord, write_sft  # noqa: E402
from skillbank.train.sft_tokens import encode_messages  # noqa: E402
from skillbank.train.sft_trainer import example_loss, loss_segments, train_sft  # noqa: E402

TARGETS = ["```python\nprint('hi')\n```", "```python\nprint(1 + 2)\n```"]
PROMPTS = [
    [Message("system", "You write Python."), Message("user", "Say hi.")],
    [Message("system", "You write Python."), Message("user", "Add one and two.")],
]


def _record(i: int, messages: list[Message]) -> SftRecord:
    return SftRecord(id=f"r{i}", seed=0, split="train", variant="skills", task_id=f"t{i}", scenario_id="s",
                     index_in_scenario=i, operations=(), messages=tuple(messages))


@pytest.fixture
def tok():
    return tiny_tokenizer(tokenizers, transformers)


@pytest.fixture
def data_dir(tmp_path):
    records = [_record(i, [*p, Message("assistant", t)]) for i, (p, t) in enumerate(zip(PROMPTS, TARGETS))]
    write_sft(records, {}, tmp_path / "data")
    return tmp_path / "data"


def _config(data_dir, out, **kw):
    base = dict(data=str(data_dir), out_dir=str(out), lora_r=8, lora_alpha=16, learning_rate=2e-2, warmup_steps=1,
                grad_accum=1, epochs=20, save_every=5, target_modules=("q_proj", "k_proj", "v_proj", "o_proj",
                                                                        "gate_proj", "up_proj", "down_proj"))
    return SftConfig(**{**base, **kw})


def test_segmented_loss_equals_the_full_sequence_loss(tok):
    model = tiny_model(transformers, torch, tok)
    messages = [*PROMPTS[0], Message("assistant", TARGETS[0]), Message("user", "Again, with an observation."),
                Message("assistant", TARGETS[1])]
    example = encode_messages(messages, tok)
    runs = loss_segments(example.labels)
    assert sum(trains for *_, trains in runs) == 2  # two replies, two trained runs
    assert sum(e - s for s, e, t in runs if t) == example.loss_tokens
    full = example_loss(model, example, torch, prefix_grad=True)
    segmented = example_loss(model, example, torch)
    assert abs(float(full.detach()) - float(segmented.detach())) < 1e-4
    segmented.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "gradient"), [("bf16", "truncated"), ("fp32", "full")])
def test_a_tiny_model_overfits_two_examples(tok, data_dir, tmp_path, precision, gradient):
    model = tiny_model(transformers, torch, tok)
    config = _config(data_dir, tmp_path / "run", precision=precision, gradient=gradient)
    result = train_sft(config, model=model, tokenizer=tok)
    assert result.stopped == "done" and result.records_seen == 40 and result.optimizer_steps == 40
    assert result.last_loss < 0.1 * result.first_loss
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
    # The adapter, loaded onto a fresh copy of the same base, replies with the targets.
    base = tiny_model(transformers, torch, tok)
    tuned = peft.PeftModel.from_pretrained(base, str(tmp_path / "run" / "adapter"))
    tuned.eval()
    policy = LocalPolicy(LocalConfig(max_new_tokens=30, batch_size=1), backend=TransformersBackend(tuned, tok))
    assert [policy.generate(p).text for p in PROMPTS] == TARGETS
    # The adapter's vocabulary: every token of its training records; decoding over it
    # gives the same replies.
    from skillbank.llm.model_files import adapter_vocab
    from skillbank.train.sft_trainer import prepare_examples

    vocab = adapter_vocab(tmp_path / "run" / "adapter")
    assert vocab == sorted({t for e in prepare_examples(config, tok)[0] for t in e.input_ids})
    assert len(vocab) < len(tok)
    cut = LocalPolicy(LocalConfig(max_new_tokens=30, batch_size=1), backend=TransformersBackend(tuned, tok, vocab=vocab))
    assert [cut.generate(p).text for p in PROMPTS] == TARGETS


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint(tok, data_dir, tmp_path):
    config = _config(data_dir, tmp_path / "run", epochs=4, save_every=1)

    def interrupt(done, planned, loss):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_sft(config, model=tiny_model(transformers, torch, tok), tokenizer=tok, on_progress=interrupt)
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state == {"step": 3, "records_seen": 3}
    result = train_sft(config, model=tiny_model(transformers, torch, tok), tokenizer=tok)
    assert result.records_seen == 8 and result.optimizer_steps == 8
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))
    with pytest.raises(ConfigError, match="different config"):
        train_sft(_config(data_dir, tmp_path / "run", epochs=5), model=tiny_model(transformers, torch, tok),
                  tokenizer=tok)


def test_config_loads_from_toml_and_rejects_bad_keys(tmp_path):
    (tmp_path / "sft.toml").write_text('data = "d"\nout_dir = "o"\nlora_r = 4\nvariants = ["skills"]\n')
    config = load_config(tmp_path / "sft.toml")
    assert config.lora_r == 4 and config.variants == ("skills",)
    assert config.data == "d" and config.out_dir == "o"  # relative to the current directory
    (tmp_path / "bad.toml").write_text('data = "d"\nout_dir = "o"\nlora_rank = 4\n')
    with pytest.raises(ConfigError, match="unknown SFT config key.*lora_rank"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "neg.toml").write_text('data = "d"\nout_dir = "o"\nlora_r = 0\n')
    with pytest.raises(ValidationError, match="lora_r must be a positive integer"):
        load_config(tmp_path / "neg.toml")
    with pytest.raises(ConfigError, match="needs data"):
        SftConfig.from_dict({"out_dir": "o"})
    assert (config.precision, config.gradient) == ("bf16", "truncated")  # the defaults
    with pytest.raises(ValidationError, match="precision must be one of bf16, fp32, got 'fp16'"):
        SftConfig.from_dict({"data": "d", "out_dir": "o", "precision": "fp16"})
    with pytest.raises(ValidationError, match="gradient must be one of truncated, full"):
        SftConfig.from_dict({"data": "d", "out_dir": "o", "gradient": "none"})


def test_bf16_autocast_loss_is_close_to_the_fp32_loss(tok):
    # bf16 autocast changes the matmuls, not the objective: same loss within bf16 rounding.
    model = tiny_model(transformers, torch, tok)
    example = encode_messages([*PROMPTS[0], Message("assistant", TARGETS[0])], tok)
    exact = float(example_loss(model, example, torch).detach())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = example_loss(model, example, torch)
    assert rounded.dtype == torch.float32  # the loss itself stays float32
    assert abs(float(rounded.detach()) - exact) < 0.05 * exact


def test_cli_trains_from_a_toml_config(tok, data_dir, tmp_path, capsys, monkeypatch):
    from skillbank.cli import main

    model_dir = tmp_path / "tiny-model"
    tiny_model(transformers, torch, tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sft.toml").write_text(
        f'data = "{data_dir.name}"\nout_dir = "run"\nmodel_path = "tiny-model"\nepochs = 2.0\ngrad_accum = 2\n'
        'learning_rate = 0.02\nlora_r = 4\ntarget_modules = ["q_proj", "v_proj"]\n'
    )
    assert main(["train", "sft", "--config", "sft.toml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["records_seen"] == 4 and out["optimizer_steps"] == 2 and out["stopped"] == "done"
    assert (tmp_path / "run" / "adapter" / "adapter_config.json").is_file()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lora_r"] == 4
    assert main(["train", "sft", "--config", "missing.toml"]) != 0
