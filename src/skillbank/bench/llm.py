"""`skillbank bench llm`: prefill and generation speed of the local model (Gemma 3 270M
through transformers), single-stream and batched, base and with an adapter.

Per configuration (adapter × batch size) the bench runs `repeats` generations of
`new_tokens` tokens from prompts of about `prompt_tokens` tokens (agent-shaped text: the
system prompt of a real train task, so the token mix is the one a run sees), and reports
medians and ranges:

- ``prefill_ms``: one forward pass over the batch's prompts (what the first token costs);
  ``prefill_tok_s``: prompt tokens of the whole batch per second;
- ``decode_ms_per_step``: one decoding step for the whole batch, from a timed
  ``generate`` of `new_tokens` tokens minus the prefill; ``gen_tok_s``: generated tokens
  of the whole batch per second (batch × steps / decode time);
- ``speedup_vs_batch1``: batched generation throughput over single-stream, same run;
- with several ``--dtype`` values, ``gen_vs_float32`` and ``prefill_vs_float32``: the
  throughput over the float32 row of the same adapter and batch, same run.

Generation runs with stopping disabled (every row produces exactly `new_tokens` tokens), so
batches are comparable.

With ``--turns N`` the bench also plays agent-shaped episodes through the backend the
agent uses: the largest batch of prompts (a train task's system prompt and start message
each), N turns, each turn's reply (stopping on, as in a run) followed by a fixed
observation of about 300 tokens. It plays them twice, with the prefix cache and without
(every prompt run whole, as ``model.generate`` does), and reports each turn's wall time,
the replies' agreement and ``cache_speedup``: uncached time over cached time, same run.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import typer

from skillbank.console import console, emit
from skillbank.console import table as new_table
from skillbank.errors import ValidationError


def _prompts(n: int, prompt_tokens: int, tokenizer: Any) -> list[str]:
    """`n` distinct agent-shaped prompts of `prompt_tokens` tokens each: a real train
    task's system prompt and start message, then (when that is too short, as a later
    turn's prompt is) turns of a docs-reading block and its observation, the prompt's
    tail kept."""
    from skillbank.agent.config import AgentConfig
    from skillbank.agent.prompt import render_start, render_system
    from skillbank.llm.base import Message
    from skillbank.llm.template import render_prompt
    from skillbank.worlds.apps import AppsWorld

    tasks = AppsWorld(seed=0).tasks("train")
    out = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        messages = [Message("system", render_system(task, [], AgentConfig())), Message("user", render_start(task))]
        text = render_prompt(messages)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        turn = 1
        while len(ids) < prompt_tokens:
            other = tasks[(i + turn) % len(tasks)]
            messages += [Message("assistant", "```python\nprint(apis.api_docs.show_app_descriptions())\n```"),
                         Message("user", "Output:\n" + render_system(other, [], AgentConfig()))]
            text = render_prompt(messages)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            turn += 1
        out.append(tokenizer.decode(ids[-prompt_tokens:]))
    return out


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def _measure(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, repeats: int) -> dict[str, Any]:
    import torch

    inputs = tokenizer(prompts, return_tensors="pt", padding=True)
    batch, width = inputs["input_ids"].shape
    real_tokens = int(inputs["attention_mask"].sum())
    prefill, total = [], []
    with torch.inference_mode():
        model(**inputs)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            model(**inputs, logits_to_keep=1)
            prefill.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                           pad_token_id=tokenizer.pad_token_id)
            total.append((time.perf_counter() - t) * 1000)
    p = statistics.median(prefill)
    decode = [max(1e-6, t - p) / new_tokens for t in total]
    return {
        "batch": batch,
        "prompt_tokens": real_tokens // batch,
        "padded_width": width,
        "new_tokens": new_tokens,
        "prefill_ms": _stats(prefill),
        "prefill_tok_s": round(real_tokens / (p / 1000), 1),
        "decode_ms_per_step": _stats(decode),
        "gen_tok_s": round(batch / (statistics.median(decode) / 1000), 2),
        "generate_ms": _stats(total),
    }


_OBSERVATION = ("Output:\n" + "\n".join(
    f"{{'id': {i}, 'title': 'Note {i}', 'tags': ['work', 'later'], 'body': 'Budget review with the team, week {i}.'}}"
    for i in range(12)))


def _measure_turns(model: Any, tokenizer: Any, batch: int, turns: int, new_tokens: int) -> dict[str, Any]:
    """Episodes of `turns` turns for `batch` rows, with and without the prefix cache."""
    from skillbank.agent.config import AgentConfig
    from skillbank.agent.prompt import render_start, render_system
    from skillbank.llm.base import Message
    from skillbank.llm.template import find_stop, render_prompt
    from skillbank.llm.transformers_backend import TransformersBackend
    from skillbank.worlds.apps import AppsWorld

    tasks = AppsWorld(seed=0).tasks("train")[:batch]
    out: dict[str, Any] = {"batch": batch, "turns": turns, "new_tokens": new_tokens}
    replies = {}
    for mode, pool in (("uncached", 0), ("cached", None)):
        backend = TransformersBackend(model, tokenizer, pool_bytes=pool)
        histories = [[Message("system", render_system(t, [], AgentConfig())), Message("user", render_start(t))]
                     for t in tasks]
        times, texts, lengths = [], [], []
        for _ in range(turns):
            prompts = [render_prompt(h) for h in histories]
            lengths.append(max(len(tokenizer(p)["input_ids"]) for p in prompts))
            t = time.perf_counter()
            results = backend.generate_batch(prompts, max_new_tokens=new_tokens, temperature=0.0, seeds=[0] * batch)
            times.append(round((time.perf_counter() - t) * 1000, 1))
            for h, (text, _, _) in zip(histories, results):
                cut = find_stop(text)
                reply = text if cut is None else text[:cut]
                texts.append(reply)
                h += [Message("assistant", reply), Message("user", _OBSERVATION)]
        replies[mode] = texts
        out[f"{mode}_turn_ms"] = times
        out[f"{mode}_ms"] = round(sum(times), 1)
        if pool is None:
            out["reused_prompt_tokens"] = round(backend.engine.stats.reuse, 3)
    out["max_prompt_tokens"] = lengths
    out["same_replies"] = f"{sum(a == b for a, b in zip(replies['cached'], replies['uncached']))}/{len(replies['cached'])}"
    out["cache_speedup"] = round(out["uncached_ms"] / out["cached_ms"], 2)
    return out


def run_bench(*, batches: list[int], adapters: list[str], prompt_tokens: int, new_tokens: int,
              repeats: int, dtypes: tuple[str, ...] = ("float32",), turns: int = 0) -> dict[str, Any]:
    from skillbank.llm.local_config import LocalConfig
    from skillbank.llm.transformers_backend import load_transformers

    rows: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    loads = {}
    for adapter in adapters:
        for dtype in dtypes:
            t = time.perf_counter()
            model, tokenizer = load_transformers(LocalConfig(adapter_path=adapter, dtype=dtype))  # type: ignore[arg-type]
            loads[adapter if len(dtypes) == 1 else f"{adapter}/{dtype}"] = round((time.perf_counter() - t) * 1000, 1)
            tokenizer.padding_side = "left"
            prompts = _prompts(max(batches), prompt_tokens, tokenizer)
            base = None
            for b in batches:
                row = {"adapter": adapter, "dtype": dtype, **_measure(model, tokenizer, prompts[:b], new_tokens, repeats)}
                base = row["gen_tok_s"] if b == 1 else base
                row["speedup_vs_batch1"] = round(row["gen_tok_s"] / base, 2) if base else None
                reference = next((r for r in rows if r["adapter"] == adapter and r["batch"] == b
                                  and r["dtype"] == "float32"), None)
                if reference is not None and dtype != "float32":
                    row["gen_vs_float32"] = round(row["gen_tok_s"] / reference["gen_tok_s"], 2)
                    row["prefill_vs_float32"] = round(row["prefill_tok_s"] / reference["prefill_tok_s"], 2)
                rows.append(row)
            if turns:
                episodes.append({"adapter": adapter, "dtype": dtype,
                                 **_measure_turns(model, tokenizer, max(batches), turns, max(new_tokens, 64))})
            del model
    import torch

    return {"model": "gemma-3-270m", "threads": torch.get_num_threads(), "repeats": repeats,
            "load_ms": loads, "rows": rows, **({"episodes": episodes} if turns else {})}


def _render(data: dict[str, Any]) -> None:
    table = new_table(title=f"local model speed ({data['model']}, {data['threads']} threads, medians of {data['repeats']})")
    for col in ("adapter", "dtype", "batch", "prompt tok", "prefill ms", "prefill tok/s", "decode ms/step", "gen tok/s",
                "vs batch 1"):
        table.add_column(col, justify="right")
    for r in data["rows"]:
        table.add_row(r["adapter"], r["dtype"], str(r["batch"]), str(r["prompt_tokens"]), f"{r['prefill_ms']['median']:.0f}",
                      f"{r['prefill_tok_s']:.0f}", f"{r['decode_ms_per_step']['median']:.0f}", f"{r['gen_tok_s']:.1f}",
                      f"{r['speedup_vs_batch1']:.2f}x" if r["speedup_vs_batch1"] else "-")
    console.print(table)
    for e in data.get("episodes", []):
        console.print(f"episodes ({e['adapter']}, {e['dtype']}, batch {e['batch']}, {e['turns']} turns, prompts up to "
                      f"{max(e['max_prompt_tokens'])} tokens): {e['uncached_ms'] / 1000:.1f} s whole prompts, "
                      f"{e['cached_ms'] / 1000:.1f} s with the prefix cache ({e['cache_speedup']:.2f}x, "
                      f"{e['reused_prompt_tokens']:.0%} of prompt tokens reused; same replies {e['same_replies']})")


def command(
    batches: str = typer.Option("1,4,8", help="Batch sizes, comma-separated."),
    adapter: str = typer.Option("none,default", help="Adapters: none (base model), default (the shipped one) or a path; comma-separated."),
    prompt_tokens: int = typer.Option(512, min=8, help="Prompt length per row, in tokens."),
    new_tokens: int = typer.Option(32, min=1, help="Tokens generated per row."),
    repeats: int = typer.Option(3, min=1, help="Timed repetitions per configuration."),
    dtype: str = typer.Option("float32", help="Weights: float32, bfloat16 or both, comma-separated (float32 first is the baseline)."),
    turns: int = typer.Option(0, min=0, help="Also play episodes of this many turns (the largest batch), with and without the prefix cache."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    try:
        batch_list = [int(b) for b in batches.split(",") if b.strip()]
    except ValueError:
        raise ValidationError(f"--batches must be integers separated by commas, got {batches!r}") from None
    if not batch_list or min(batch_list) < 1:
        raise ValidationError(f"--batches must be positive, got {batches!r}")
    if 1 not in batch_list:
        batch_list = [1, *batch_list]
    adapters = [a.strip() for a in adapter.split(",") if a.strip()]
    from skillbank.llm.local_config import DTYPES

    dtypes = tuple(dict.fromkeys(d.strip() for d in dtype.split(",") if d.strip()))
    bad = [d for d in dtypes if d not in DTYPES or d == "auto"]
    if bad or not dtypes:
        raise ValidationError(f"--dtype must be float32 and/or bfloat16, got {dtype!r}")
    data = run_bench(batches=sorted(set(batch_list)), adapters=adapters, prompt_tokens=prompt_tokens,
                     new_tokens=new_tokens, repeats=repeats, dtypes=tuple(sorted(dtypes, key=lambda d: d != "float32")),
                     turns=turns)
    emit(data, as_json, _render)
