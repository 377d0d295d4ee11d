"""Lockstep batching: the requests that arrive together decode as one batch, which ends
with its longest reply.

`LockstepBatcher` gathers concurrent `submit` calls of the agent runner's scenario
threads into one batch; `LockstepDecoder` decodes a batch over the model runner
(`skillbank.llm.model_runner.ModelRunner`).

**Decoding.** Each prompt's remaining tokens are prefilled one row at a time (on a CPU a
batched prefill is no faster per token). The rows' caches are then copied, left-padded,
into preallocated buffers and decoded together: one forward pass per step for all open
rows, a 2-D padding mask, per-row positions. When a quarter of the rows have stopped, the
batch is compacted to the open rows. Greedy decoding gives the same tokens as a forward
pass over the whole text (up to floating-point summation order).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from skillbank.llm.model_runner import ModelRunner, Sample


class LockstepDecoder:
    """Greedy or sampled batched decoding of prompts over `runner`, every row stopping on
    its own."""

    def __init__(self, runner: ModelRunner):
        self.runner = runner

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 seed: int) -> list[tuple[list[int], bool]]:
        """Per prompt: the generated token ids (up to and including the token that ended the
        reply) and whether the model's EOS ended it. Sampling draws from torch's RNG
        seeded with `seed` for the batch."""
        return [(s.ids, s.eos) for s in self.sample(prompts, max_new_tokens=max_new_tokens,
                                                     temperature=temperature, seed=seed)]

    def sample(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[Sample]:
        """`generate`'s replies with their prompt ids and the generated ids' log-probs."""
        runner = self.runner
        torch = runner.torch
        with runner.lock, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            all_ids = [list(runner.tokenizer(p)["input_ids"]) for p in prompts]
            with runner.output_head(all_ids):
                return self._decode(all_ids, max_new_tokens, temperature)

    def _decode(self, all_ids: list[list[int]], max_new_tokens: int, temperature: float) -> list[Sample]:
        runner = self.runner
        torch = runner.torch
        eos = runner.tokenizer.eos_token_id
        rows = [runner.prefill(ids) for ids in all_ids]
        n = len(all_ids)
        lengths = [len(ids) for ids in all_ids]
        # One padding column more than needed: with a padding mask that is not all ones,
        # transformers' SDPA path attends a single query per key/value head group (its
        # unmasked path falls back to `enable_gqa`, 8x slower per full-attention layer
        # on CPU when decoding one row).
        width = max(lengths) + 1
        capacity = width + max_new_tokens
        layers = []
        for layer in range(len(rows[0][0])):
            k0, v0 = rows[0][0][layer]
            buf_k = k0.new_zeros((n, k0.shape[1], capacity, k0.shape[3]))
            buf_v = v0.new_zeros((n, v0.shape[1], capacity, v0.shape[3]))
            for i, (kv, _) in enumerate(rows):
                k, v = kv[layer]
                buf_k[i, :, width - lengths[i] : width] = k[0]
                buf_v[i, :, width - lengths[i] : width] = v[0]
            layers.append(runner.buffer_layer(layer, buf_k, buf_v, width))
        cache = runner.new_cache(layers)
        mask = torch.zeros((n, capacity), dtype=torch.long)
        for i in range(n):
            mask[i, width - lengths[i] : width] = 1
        positions = torch.tensor(lengths, dtype=torch.long)
        last = torch.cat([logits for _, logits in rows], dim=0)
        del rows  # the per-row prefill states now live in the buffers

        generated: list[list[int]] = [[] for _ in range(n)]
        logprobs: list[list[float]] = [[] for _ in range(n)]
        finished = [False] * n
        eos_hit = [False] * n
        open_rows = list(range(n))  # batch row -> prompt index
        step = 0
        token, logp = runner.sample(last, temperature)
        while True:
            scores = logp.tolist()
            for b, i in enumerate(open_rows):
                if finished[i]:
                    continue
                t = int(token[b])
                generated[i].append(t)
                logprobs[i].append(scores[b])
                if eos is not None and t == eos:
                    finished[i] = eos_hit[i] = True
                elif len(generated[i]) >= max_new_tokens or runner.is_done(generated[i]):
                    finished[i] = True
                if finished[i]:
                    runner.pool_reply(all_ids[i], generated[i], layers, b,
                                     torch.arange(width - lengths[i], width + len(generated[i]) - 1))
            still = [b for b, i in enumerate(open_rows) if not finished[i]]
            if not still:
                break
            if len(still) <= 0.75 * len(open_rows):
                index = torch.tensor(still, dtype=torch.long)
                for layer in layers:
                    layer.select(index)
                mask, positions, token = mask[index], positions[index], token[index]
                open_rows = [open_rows[b] for b in still]
            column = width + step
            mask[:, column] = 1
            logits = runner.forward(token.unsqueeze(1), attention_mask=mask[:, : column + 1], cache=cache,
                                    position_ids=(positions + step).unsqueeze(1), logits_to_keep=1)
            token, logp = runner.sample(logits[:, -1, :].float(), temperature)
            step += 1
        runner.stats.batches += 1
        runner.stats.generated_tokens += sum(len(g) for g in generated)
        runner.trim_heap()
        return [Sample(all_ids[i], generated[i], eos_hit[i], logprobs[i]) for i in range(n)]


R = TypeVar("R")


class _Request:
    __slots__ = ("done", "error", "prompt", "result", "seed")

    def __init__(self, prompt: str, seed: int):
        self.prompt = prompt
        self.seed = seed
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class LockstepBatcher(Generic[R]):
    """Gathers concurrent `generate` calls into one batched generation.

    Callers are the agent runner's scenario threads, each registered as a stream. A batch
    runs when as many requests wait as there are open streams (capped at `max_batch`), or
    when the oldest has waited `max_wait_s` (a stream may be busy in the sandbox).
    Whichever caller finds the batch ready runs it (`run`: prompts and seeds to results,
    one per prompt, of whatever type `run` gives); the others wait for their results.
    """

    def __init__(self, run: Callable[[list[str], list[int]], list[R]], max_batch: int,
                 max_wait_s: float):
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._busy = False
        self.streams = 0
        self.batch_sizes: list[int] = []

    def open_stream(self) -> None:
        with self._cond:
            self.streams += 1

    def close_stream(self) -> None:
        with self._cond:
            self.streams -= 1
            self._cond.notify_all()

    def submit(self, prompt: str, seed: int) -> R:
        request = _Request(prompt, seed)
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
        while True:
            batch: list[_Request] = []
            with self._cond:
                while not request.done:
                    target = min(self.max_batch, max(1, self.streams))
                    now = time.monotonic()
                    if not self._busy and self._pending and (len(self._pending) >= target or now >= deadline):
                        batch = self._pending[: self.max_batch]
                        del self._pending[: len(batch)]
                        self._busy = True
                        break
                    self._cond.wait(timeout=None if self._busy else max(0.001, deadline - now))
            if request.done:
                if request.error is not None:
                    raise request.error
                assert request.result is not None
                result: R = request.result
                return result
            try:
                results = self._run([r.prompt for r in batch], [r.seed for r in batch])
                for r, result in zip(batch, results):
                    r.result = result
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for r in batch:
                    r.error = exc
            finally:
                with self._cond:
                    for r in batch:
                        r.done = True
                    self.batch_sizes.append(len(batch))
                    self._busy = False
                    self._cond.notify_all()
