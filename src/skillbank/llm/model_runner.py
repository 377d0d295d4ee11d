"""The model runner of the local model's decoders: what the schedulers
(`skillbank.llm.lockstep`, `skillbank.llm.continuous`) ask of the model.

`ModelRunner` prefills a prompt from the prefix pool (`skillbank.llm.prefix_pool`: only
the tokens after the longest pooled prefix run through the model), runs a forward pass
over buffer layers (`skillbank.llm.attention`), picks the next token (greedy or sampled),
pools a finished reply's states, and cuts the output head to a vocabulary. The schedulers
decide which rows run and where their states sit; the runner holds the lock that lets
one of them use the model at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from skillbank.llm.attention import buffer_layer_class, use_packed_attention
from skillbank.llm.prefix_pool import PoolStats, PrefixPool


@dataclass
class Sample:
    """One decoded reply, as the schedulers hand it back: the prompt's token ids, the
    generated ids (up to and including the one that ended the reply), whether the model's
    EOS ended it, and each generated id's log-probability under the distribution it was
    drawn from (`ModelRunner.sample`)."""

    prompt_ids: list[int]
    ids: list[int]
    eos: bool
    logprobs: list[float]


def heap_trimmer() -> Callable[[], Any]:
    """glibc's ``malloc_trim``, or a no-op elsewhere. Key/value states of different
    lifetimes, allocated by whichever thread generates, fragment glibc's heap: a
    continuous-batching dev run's resident memory grew past 24 GiB with under 2 GiB of
    live tensors. Returning the free pages
    every few dozen steps, and serving blocks of 4 MiB and more from mmap (returned
    whole when freed), keeps it near the live size."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    try:  # blocks of 4 MiB and more (a row's states per layer) straight from mmap
        libc.mallopt(ctypes.c_int(-3), ctypes.c_int(4 << 20))  # M_MMAP_THRESHOLD
    except AttributeError:
        pass
    return lambda: trim(0)


class ModelRunner:
    """A causal LM run for the decoders, with a prefix pool and an optional vocabulary.

    Args:
        model: a transformers causal LM (or a peft wrapper) whose forward takes ``cache``,
            ``attention_mask``, ``position_ids`` and ``logits_to_keep``.
        tokenizer: its tokenizer; prompts are tokenised with special tokens (BOS).
        is_done: given a row's generated token ids, whether its reply has ended (the
            caller's stop rule; EOS and the token budget are checked by the schedulers).
        pool: the prefix pool; one with ``max_bytes=0`` turns caching off.
        vocab: None: the model's whole vocabulary. Else the token ids a reply may use
            (an SFT adapter's training tokens): each batch's output head is cut to these,
            the batch's prompt tokens and EOS, so a decoding step skips the rest of the
            head (262k rows for Gemma 3: most of a step at small batches). Greedy text
            changes only where the full vocabulary's argmax lies outside the set;
            sampling draws from the softmax over the set.

    A model on transformers' ``sdpa`` attention is switched to
    `skillbank.llm.attention.PACKED_ATTENTION` (see `use_packed_attention`; the same
    results, for training too).

    Callers hold `lock` (and torch's inference mode) around a decoding run.
    """

    def __init__(self, model: Any, tokenizer: Any, is_done: Callable[[list[int]], bool], *,
                 pool: PrefixPool, vocab: Sequence[int] | None = None):
        import torch
        from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

        self.torch = torch
        self._Cache, self._DynamicCache = Cache, DynamicCache
        self._BufferLayer = buffer_layer_class(DynamicLayer)
        self.model = model
        self.tokenizer = tokenizer
        self.is_done = is_done
        config = getattr(model, "config", None)
        text_config = config.get_text_config(decoder=True) if config is not None else None
        layer_types = getattr(text_config, "layer_types", None) or []
        window = getattr(text_config, "sliding_window", None)
        #: Per model layer: its sliding window, or None for a full-attention layer.
        self.windows: list[int | None] = [window if kind == "sliding_attention" and window else None
                                          for kind in layer_types]
        self.windows += [None] * (getattr(text_config, "num_hidden_layers", 0) - len(self.windows))
        # Gemma-style models take a mask per layer type (a dict), which drafted decoding
        # (`skillbank.llm.continuous`) needs when some layers slide.
        self.takes_custom_masks = (not any(self.windows)
                                   or str(getattr(text_config, "model_type", "")).startswith("gemma3"))
        use_packed_attention(model)
        self.pool = pool
        self.vocab = frozenset(int(t) for t in vocab) if vocab is not None else None
        self.lock = threading.Lock()
        self._trim = heap_trimmer()
        self._allowed: Any = None
        self._full_head: Any = None
        self.stats = PoolStats()

    def trim_heap(self) -> None:
        """Return freed heap memory to the system (see `heap_trimmer`)."""
        self._trim()

    # -- the prompt ---------------------------------------------------------------------

    def prefill(self, ids: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
        """The row's per-layer states for `ids` and the logits after its last token."""
        torch = self.torch
        entry, shared = self.pool.lookup(ids) if self.pool.max_bytes > 0 else (None, 0)
        reuse = min(shared, len(ids) - 1)  # at least one token runs, for the next-token logits
        # Any: the model may hand back a cache of its own; every layer of either holds keys and values.
        cache: Any
        if entry is not None and reuse > 0:
            cache = self._DynamicCache(ddp_cache_data=[(k[:, :, :reuse], v[:, :, :reuse]) for k, v in entry.kv])
        else:
            reuse, cache = 0, self._DynamicCache()
        todo = torch.tensor([ids[reuse:]], dtype=torch.long)
        positions = torch.arange(reuse, len(ids), dtype=torch.long).unsqueeze(0)
        out = self.model(input_ids=todo, cache=cache, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.stats.prompt_tokens += len(ids)
        self.stats.reused_tokens += reuse
        self.stats.prefilled_tokens += len(ids) - reuse
        cache = out.cache if getattr(out, "cache", None) is not None else cache
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        # Pooled at once, so the next rows of this batch share it (the system prompt); the
        # tensors are not written to again, and the reply's entry replaces this one.
        self.pool.store(list(ids), kv)
        return kv, out.logits[:, -1, :].float()

    def pool_reply(self, ids: list[int], generated: list[int], layers: list[Any], row: int, columns: Any) -> None:
        """Pool a prompt and its reply: every token fed to the model so far (all but the
        last generated one), whose states sit in batch row `row` of the buffer layers at
        `columns` (an index tensor, in order, at least as many as were fed; a row may have
        unused columns between its tokens)."""
        if self.pool.max_bytes <= 0:
            return
        fed = len(generated) - 1
        index = columns[: len(ids) + fed]  # indexing copies: the pooled states outlive the buffers
        kv = [(layer.buf_k[row : row + 1, :, index], layer.buf_v[row : row + 1, :, index]) for layer in layers]
        self.pool.store(ids + generated[:fed], kv)

    # -- decoding steps -----------------------------------------------------------------

    def buffer_layer(self, index: int, keys: Any, values: Any, length: int) -> Any:
        """A buffer layer for model layer `index` (windowed if that layer slides)."""
        window = self.windows[index] if index < len(self.windows) else None
        return self._BufferLayer(keys, values, length, window)

    def new_cache(self, layers: list[Any]) -> Any:
        """A transformers cache over `layers` (buffer layers)."""
        return self._Cache(layers=layers)

    def forward(self, input_ids: Any, *, attention_mask: Any, cache: Any, position_ids: Any,
                logits_to_keep: int) -> Any:
        """The logits of the last `logits_to_keep` positions of a decoding step, the step's
        keys and values written into `cache`."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask, cache=cache, position_ids=position_ids,
                          use_cache=True, logits_to_keep=logits_to_keep).logits

    def pick(self, logits: Any, temperature: float, generators: Sequence[Any] | None = None) -> Any:
        """The next token id per row of `logits`: the argmax at temperature 0, else a draw
        from the softmax at `temperature`, from torch's global RNG, or with `generators`
        from each row's own generator."""
        index, _ = self._choose(logits, temperature, generators)
        return index if self._allowed is None else self._allowed[index]

    def sample(self, logits: Any, temperature: float, generators: Sequence[Any] | None = None) -> tuple[Any, Any]:
        """`pick`'s tokens (the same draw) and each one's log-probability under the
        distribution it was drawn from: ``log_softmax(logits / temperature)`` at the
        token, of ``logits`` itself when greedy; over the cut head's tokens when the head
        is cut (see `cut_head`). Sampling reads it off the draw's probabilities; greedy
        decoding pays one log-sum-exp per row."""
        torch = self.torch
        index, probs = self._choose(logits, temperature, generators)
        if probs is not None:  # sampled: the draw's own probabilities, no further pass over the head
            logprobs = torch.log(probs.gather(-1, index.unsqueeze(-1)).squeeze(-1))
        else:  # greedy: one log-sum-exp over the head (a cut head by default: a few thousand rows)
            logprobs = logits.gather(-1, index.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        return (index if self._allowed is None else self._allowed[index]), logprobs

    def _choose(self, logits: Any, temperature: float, generators: Sequence[Any] | None) -> tuple[Any, Any]:
        """(index into the logits' last dimension per row, the probabilities it was drawn
        from, or None when greedy)."""
        torch = self.torch
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
            if generators is None:
                index = torch.multinomial(probs, 1).squeeze(-1)
            else:
                index = torch.cat([torch.multinomial(probs[i : i + 1], 1, generator=g).view(1)
                                   for i, g in enumerate(generators)])
            return index, probs
        return logits.argmax(dim=-1), None

    # -- the output head ----------------------------------------------------------------

    def allowed_tokens(self, all_ids: Sequence[Sequence[int]]) -> set[int]:
        """The vocabulary and the prompts' tokens and EOS (call with `vocab` set)."""
        assert self.vocab is not None
        allowed = set(self.vocab)
        for ids in all_ids:
            allowed.update(ids)
        if self.tokenizer.eos_token_id is not None:
            allowed.add(int(self.tokenizer.eos_token_id))
        return allowed

    @property
    def head_cut(self) -> bool:
        """Whether the output head is cut to a set of tokens now."""
        return self._allowed is not None

    def cut_head(self, allowed: set[int]) -> None:
        """Replace the model's output head by its rows for `allowed` (`pick` maps the
        picked index back to a token id); `restore_head` puts the full head back."""
        torch = self.torch
        if self._full_head is None:
            self._full_head = self.model.get_output_embeddings()
        head = self._full_head
        allowed_t = torch.tensor(sorted(t for t in allowed if 0 <= t < head.weight.shape[0]), dtype=torch.long)
        cut = torch.nn.Linear(head.weight.shape[1], len(allowed_t), bias=head.bias is not None,
                              dtype=head.weight.dtype)
        cut.weight = torch.nn.Parameter(head.weight.detach().index_select(0, allowed_t), requires_grad=False)
        if head.bias is not None:
            cut.bias = torch.nn.Parameter(head.bias.detach().index_select(0, allowed_t), requires_grad=False)
        self.model.set_output_embeddings(cut)
        self._allowed = allowed_t

    def restore_head(self) -> None:
        if self._full_head is not None:
            self.model.set_output_embeddings(self._full_head)
        self._full_head = None
        self._allowed = None

    @contextmanager
    def output_head(self, all_ids: list[list[int]]) -> Iterator[None]:
        """With a `vocab`, the model's output head cut to the batch's allowed tokens."""
        if self.vocab is None:
            yield
            return
        self.cut_head(self.allowed_tokens(all_ids))
        try:
            yield
        finally:
            self.restore_head()
