"""The decoding engine of the transformers backend: batched decoding with a prefix cache.

It puts together, like nano-vllm's engine, parts that use only each other's public
methods:

- `skillbank.llm.prefix_pool`: the key/value states of the prompts seen, bounded in bytes,
  looked up by their longest shared token prefix;
- `skillbank.llm.model_runner`: the model runner (prefill from the pool, a forward pass over
  buffer layers, picking the next token, the output head cut to a vocabulary), over the
  cache layers and attention of `skillbank.llm.attention`;
- the schedulers: `skillbank.llm.lockstep` (a batch decodes until its longest reply ends)
  and `skillbank.llm.continuous` (rows join and leave a running batch between steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from skillbank.llm.continuous import ContinuousDecoder
from skillbank.llm.lockstep import LockstepDecoder
from skillbank.llm.model_runner import ModelRunner, Sample
from skillbank.llm.prefix_pool import DEFAULT_POOL_BYTES, PoolStats, PrefixPool


class PrefixCachedGenerator:
    """Greedy or sampled batched decoding for a causal LM, with a prefix cache (see the
    module docstring).

    Args:
        model: a transformers causal LM (or a peft wrapper); see `ModelRunner`.
        tokenizer: its tokenizer; prompts are tokenised with special tokens (BOS).
        is_done: given a row's generated token ids, whether its reply has ended (the
            caller's stop rule; EOS and the token budget are checked here).
        pool_bytes: bound of the prefix pool; 0 turns caching off.
        vocab: None: the model's whole vocabulary; else the token ids a reply may use
            (see `ModelRunner`).

    The pool assumes the model's weights do not change while it lives (`clear` empties it).
    """

    def __init__(self, model: Any, tokenizer: Any, is_done: Callable[[list[int]], bool], *,
                 pool_bytes: int = DEFAULT_POOL_BYTES, vocab: Sequence[int] | None = None):
        self.pool = PrefixPool(pool_bytes)
        self.runner = ModelRunner(model, tokenizer, is_done, pool=self.pool, vocab=vocab)
        self.lockstep = LockstepDecoder(self.runner)

    @property
    def stats(self) -> PoolStats:
        """What the pool saved and the decoders generated so far."""
        return self.runner.stats

    @property
    def cached_tokens(self) -> int:
        return self.pool.cached_tokens

    def clear(self) -> None:
        """Forget every cached prefix (call it after the model's weights change)."""
        with self.runner.lock:
            self.pool.clear()

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 seed: int) -> list[tuple[list[int], bool]]:
        """Per prompt: the generated token ids (up to and including the token that ended the
        reply) and whether the model's EOS ended it, decoded in lockstep
        (`LockstepDecoder.generate`). Sampling draws from torch's RNG seeded with `seed`
        for the batch."""
        return self.lockstep.generate(prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    def sample(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float, seed: int) -> list[Sample]:
        """`generate`'s replies with each prompt's token ids and the generated ids'
        log-probs (`skillbank.llm.model_runner.Sample`)."""
        return self.lockstep.sample(prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    def continuous(self, *, max_rows: int, max_new_tokens: int, temperature: float,
                   speculate: int = 0) -> ContinuousDecoder:
        """A continuous-batching decoder over this engine's runner (see `ContinuousDecoder`)."""
        return ContinuousDecoder(self.runner, max_rows=max_rows, max_new_tokens=max_new_tokens,
                                 temperature=temperature, speculate=speculate)
