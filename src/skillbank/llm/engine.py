"""Batched decoding with a prefix cache, for the transformers backend.

An agent's prompt grows by one reply and one observation a turn, and every prompt starts
with the same system prompt. ``model.generate`` re-reads the whole prompt each turn, so an
episode's prefill cost grows with the square of its turns. `PrefixCachedGenerator` keeps
the key/value states of the prompts it has seen (a small LRU pool bounded in bytes): a new
prompt is tokenised, the pool entry sharing its longest token prefix is found (its own
episode's previous turn, or any episode for the system prompt), and only the tokens after
that prefix are run through the model. The comparison is on token ids, so it stays exact
when the text re-tokenises differently at a turn's boundary: the cache is used only up to
the first differing token.

**Decoding.** Each prompt's remaining tokens are prefilled one row at a time (on a CPU a
batched prefill is no faster per token). The rows' caches are then copied, left-padded,
into preallocated buffers and decoded together: one forward pass per step for all open
rows, a 2-D padding mask, per-row positions. When a quarter of the rows have stopped, the
batch is compacted to the open rows. Greedy decoding gives the same tokens as a forward
pass over the whole text (up to floating-point summation order).

The pool assumes the model's weights do not change while it lives (`clear` empties it:
the RL trainer builds a fresh backend for every rollout step instead).

**Layers.** Every layer is cached in full, including Gemma 3's sliding-window layers: a
cropped sliding cache could not be reused from an earlier, shorter prefix. While decoding,
a sliding layer attends over its last window only (most of the decoding step's attention
cost at a few thousand tokens). Memory is about 37 KB a token for Gemma 3 270M in
float32 (18 layers, one 256-wide key/value head), half in bfloat16.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: Default bound of the prefix pool (bytes of cached keys and values).
DEFAULT_POOL_BYTES = 2 << 30


@dataclass
class _Entry:
    ids: list[int]
    kv: list[tuple[Any, Any]]  # per layer: keys, values [1, heads, len(ids), head_dim]
    nbytes: int
    used: int = 0


@dataclass
class PoolStats:
    """What the prefix pool saved: prompt tokens seen and tokens read from the cache."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    prefilled_tokens: int = 0
    generated_tokens: int = 0
    batches: int = 0

    @property
    def reuse(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    # Compare in blocks first: prompts share thousands of tokens.
    i = 0
    block = 256
    while i + block <= n and a[i:i + block] == b[i:i + block]:
        i += block
    while i < n and a[i] == b[i]:
        i += 1
    return i


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


#: The attention implementation `use_packed_attention` gives a model.
PACKED_ATTENTION = "skillbank_sdpa"


def _packed_sdpa(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                 scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' SDPA attention, except for several queries under a mask on a model
    whose query heads share key/value heads (grouped-query attention): there the heads of
    a group are folded into the query axis and attend the shared keys once, where
    transformers repeats the keys and values for every head (a copy of the whole cached
    view, per layer and step). Gemma 3 270M has 4 query heads on one key/value head."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    queries = query.shape[2]
    if (groups == 1 or queries == 1 or attention_mask is None or attention_mask.dim() != 4
            or attention_mask.shape[1] != 1 or dropout or kwargs.get("softcap") is not None
            or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    batch, heads, _, dim = query.shape
    folded = query.reshape(batch, heads // groups, groups * queries, dim)
    mask = attention_mask[:, :, :, : key.shape[-2]].repeat(1, 1, groups, 1)
    out = torch.nn.functional.scaled_dot_product_attention(folded, key, value, attn_mask=mask, scale=scaling)
    return out.reshape(batch, heads, queries, value.shape[-1]).transpose(1, 2).contiguous(), None


def use_packed_attention(model: Any) -> bool:
    """Switch a model on transformers' ``sdpa`` attention to `_packed_sdpa` (same masks,
    same results up to summation order); whether it did."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(PACKED_ATTENTION, _packed_sdpa)
    AttentionMaskInterface.register(PACKED_ATTENTION, sdpa_mask)
    try:
        model.set_attn_implementation(PACKED_ATTENTION)
    except (AttributeError, ValueError):
        return False
    return True


def _buffer_layer_class(base: type) -> type:
    class BufferLayer(base):  # type: ignore[misc, valid-type]
        """A cache layer over a preallocated buffer: `update` writes the new states in
        place and returns views, instead of concatenating every step.

        With a `window` (a sliding-window layer) the buffer still holds every token (the
        pool keeps them for later prompts), but attention sees only the last ``window``
        positions, as transformers' own sliding layer does: the mask is sized by
        `get_mask_sizes`, which the model asks before it runs the layers.
        """

        def __init__(self, keys: Any, values: Any, length: int, window: int | None = None):
            super().__init__()
            self.buf_k, self.buf_v, self.length = keys, values, length
            self.window = window
            self.is_sliding = window is not None
            # Set by a caller that builds its own masks: the first column attention sees.
            self.view_start: int | None = None
            self.device = keys.device
            self.is_initialized = True
            self._views(0)

        def _start(self) -> int:
            if self.view_start is not None:
                return self.view_start
            return 0 if self.window is None else max(self.length - self.window + 1, 0)

        def _views(self, start: int) -> None:
            self.keys = self.buf_k[:, :, start : self.length]
            self.values = self.buf_v[:, :, start : self.length]

        def get_seq_length(self) -> int:
            return self.length

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            start = self._start()
            return self.length - start + query_length, start

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            start = self._start()
            n = key_states.shape[-2]
            self.buf_k[:, :, self.length : self.length + n] = key_states
            self.buf_v[:, :, self.length : self.length + n] = value_states
            self.length += n
            self._views(start)
            return self.keys, self.values

        def select(self, rows: Any) -> None:
            self.buf_k = self.buf_k.index_select(0, rows)
            self.buf_v = self.buf_v.index_select(0, rows)
            self._views(self._start())

    return BufferLayer


class PrefixCachedGenerator:
    """Greedy or sampled batched decoding for a causal LM, with a prefix cache (see the
    module docstring).

    Args:
        model: a transformers causal LM (or a peft wrapper) whose forward takes ``cache``,
            ``attention_mask``, ``position_ids`` and ``logits_to_keep``.
        tokenizer: its tokenizer; prompts are tokenised with special tokens (BOS).
        is_done: given a row's generated token ids, whether its reply has ended (the
            caller's stop rule; EOS and the token budget are checked here).
        pool_bytes: bound of the prefix pool; 0 turns caching off.
        vocab: None: the model's whole vocabulary. Else the token ids a reply may use
            (an SFT adapter's training tokens): each batch's output head is cut to these,
            the batch's prompt tokens and EOS, so a decoding step skips the rest of the
            head (262k rows for Gemma 3: most of a step at small batches). Greedy text
            changes only where the full vocabulary's argmax lies outside the set;
            sampling draws from the softmax over the set.

    A model on transformers' ``sdpa`` attention is switched to `PACKED_ATTENTION` (see
    `use_packed_attention`; the same results, for training too).
    """

    def __init__(self, model: Any, tokenizer: Any, is_done: Callable[[list[int]], bool], *,
                 pool_bytes: int = DEFAULT_POOL_BYTES, vocab: Sequence[int] | None = None):
        import torch
        from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

        self.torch = torch
        self._Cache, self._DynamicCache = Cache, DynamicCache
        self._BufferLayer = _buffer_layer_class(DynamicLayer)
        self.model = model
        self.tokenizer = tokenizer
        self.is_done = is_done
        config = getattr(model, "config", None)
        text_config = config.get_text_config(decoder=True) if config is not None else None
        layer_types = getattr(text_config, "layer_types", None) or []
        window = getattr(text_config, "sliding_window", None)
        self._windows = [window if kind == "sliding_attention" and window else None for kind in layer_types]
        self._windows += [None] * (getattr(text_config, "num_hidden_layers", 0) - len(self._windows))
        # Gemma-style models take a mask per layer type (a dict), which drafted decoding
        # (`skillbank.llm.continuous`) needs when some layers slide.
        self.takes_custom_masks = (not any(self._windows)
                                    or str(getattr(text_config, "model_type", "")).startswith("gemma3"))
        use_packed_attention(model)
        self.pool_bytes = pool_bytes
        self.vocab = frozenset(int(t) for t in vocab) if vocab is not None else None
        self._pool: list[_Entry] = []
        self._clock = 0
        self._lock = threading.Lock()
        self._trim = heap_trimmer()
        self._allowed: Any = None
        self._full_head: Any = None
        self.stats = PoolStats()

    # -- the pool -----------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every cached prefix (call it after the model's weights change)."""
        with self._lock:
            self._pool.clear()

    @property
    def cached_tokens(self) -> int:
        return sum(len(e.ids) for e in self._pool)

    def _lookup(self, ids: list[int]) -> tuple[_Entry | None, int]:
        best, best_len = None, 0
        for entry in self._pool:
            n = _common_prefix(entry.ids, ids)
            if n > best_len:
                best, best_len = entry, n
        if best is not None:
            self._clock += 1
            best.used = self._clock
        return best, best_len

    def _store(self, ids: list[int], kv: list[tuple[Any, Any]]) -> None:
        if self.pool_bytes <= 0 or not ids:
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if nbytes > self.pool_bytes:
            return
        # An entry that is a prefix of the new one is served by the new one as well.
        self._pool = [e for e in self._pool if not (len(e.ids) <= len(ids) and ids[: len(e.ids)] == e.ids)]
        self._clock += 1
        self._pool.append(_Entry(ids, kv, nbytes, self._clock))
        while sum(e.nbytes for e in self._pool) > self.pool_bytes:
            self._pool.remove(min(self._pool, key=lambda e: e.used))

    # -- generation ---------------------------------------------------------------------

    def _prefill(self, ids: list[int]) -> tuple[list[tuple[Any, Any]], Any]:
        """The row's per-layer states for `ids` and the logits after its last token."""
        torch = self.torch
        entry, shared = self._lookup(ids) if self.pool_bytes > 0 else (None, 0)
        reuse = min(shared, len(ids) - 1)  # at least one token runs, for the next-token logits
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
        self._store(list(ids), kv)
        return kv, out.logits[:, -1, :].float()

    def _pick(self, logits: Any, temperature: float) -> Any:
        torch = self.torch
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
            index = torch.multinomial(probs, 1).squeeze(-1)
        else:
            index = logits.argmax(dim=-1)
        return index if self._allowed is None else self._allowed[index]

    def _allowed_tokens(self, all_ids: Sequence[Sequence[int]]) -> set[int]:
        """The vocabulary and the prompts' tokens and EOS (call with `vocab` set)."""
        assert self.vocab is not None
        allowed = set(self.vocab)
        for ids in all_ids:
            allowed.update(ids)
        if self.tokenizer.eos_token_id is not None:
            allowed.add(int(self.tokenizer.eos_token_id))
        return allowed

    def _cut_head(self, allowed: set[int]) -> None:
        """Replace the model's output head by its rows for `allowed` (`_pick` maps the
        picked index back to a token id); `_restore_head` puts the full head back."""
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

    def _restore_head(self) -> None:
        if self._full_head is not None:
            self.model.set_output_embeddings(self._full_head)
        self._full_head = None
        self._allowed = None

    @contextmanager
    def _head(self, all_ids: list[list[int]]) -> Iterator[None]:
        """With a `vocab`, the model's output head cut to the batch's allowed tokens."""
        if self.vocab is None:
            yield
            return
        self._cut_head(self._allowed_tokens(all_ids))
        try:
            yield
        finally:
            self._restore_head()

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                 seed: int) -> list[tuple[list[int], bool]]:
        """Per prompt: the generated token ids (up to and including the token that ended the
        reply) and whether the model's EOS ended it. Sampling draws from torch's RNG
        seeded with `seed` for the batch."""
        torch = self.torch
        with self._lock, torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)
            return self._generate(prompts, max_new_tokens, temperature)

    def _generate(self, prompts: Sequence[str], max_new_tokens: int,
                  temperature: float) -> list[tuple[list[int], bool]]:
        all_ids = [list(self.tokenizer(p)["input_ids"]) for p in prompts]
        with self._head(all_ids):
            return self._decode(all_ids, max_new_tokens, temperature)

    def _decode(self, all_ids: list[list[int]], max_new_tokens: int,
                temperature: float) -> list[tuple[list[int], bool]]:
        torch = self.torch
        eos = self.tokenizer.eos_token_id
        rows = [self._prefill(ids) for ids in all_ids]
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
            layers.append(self._buffer_layer(layer, buf_k, buf_v, width))
        cache = self._Cache(layers=layers)
        mask = torch.zeros((n, capacity), dtype=torch.long)
        for i in range(n):
            mask[i, width - lengths[i] : width] = 1
        positions = torch.tensor(lengths, dtype=torch.long)
        last = torch.cat([logits for _, logits in rows], dim=0)
        del rows  # the per-row prefill states now live in the buffers

        generated: list[list[int]] = [[] for _ in range(n)]
        finished = [False] * n
        eos_hit = [False] * n
        open_rows = list(range(n))  # batch row -> prompt index
        step = 0
        token = self._pick(last, temperature)
        while True:
            for b, i in enumerate(open_rows):
                if finished[i]:
                    continue
                t = int(token[b])
                generated[i].append(t)
                if eos is not None and t == eos:
                    finished[i] = eos_hit[i] = True
                elif len(generated[i]) >= max_new_tokens or self.is_done(generated[i]):
                    finished[i] = True
                if finished[i]:
                    self._pool_reply(all_ids[i], generated[i], layers, b,
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
            out = self.model(input_ids=token.unsqueeze(1), attention_mask=mask[:, : column + 1], cache=cache,
                             position_ids=(positions + step).unsqueeze(1), use_cache=True, logits_to_keep=1)
            token = self._pick(out.logits[:, -1, :].float(), temperature)
            step += 1
        self.stats.batches += 1
        self.stats.generated_tokens += sum(len(g) for g in generated)
        self._trim()
        return [(generated[i], eos_hit[i]) for i in range(n)]

    def _buffer_layer(self, index: int, keys: Any, values: Any, length: int) -> Any:
        """A buffer layer for model layer `index` (windowed if that layer slides)."""
        window = self._windows[index] if index < len(self._windows) else None
        return self._BufferLayer(keys, values, length, window)

    def _pool_reply(self, ids: list[int], generated: list[int], layers: list[Any], row: int, columns: Any) -> None:
        """Pool a prompt and its reply: every token fed to the model so far (all but the
        last generated one), whose states sit in batch row `row` of the buffer layers at
        `columns` (an index tensor, in order, at least as many as were fed; a row may have
        unused columns between its tokens)."""
        if self.pool_bytes <= 0:
            return
        fed = len(generated) - 1
        index = columns[: len(ids) + fed]  # indexing copies: the pooled states outlive the buffers
        kv = [(layer.buf_k[row : row + 1, :, index], layer.buf_v[row : row + 1, :, index]) for layer in layers]
        self._store(ids + generated[:fed], kv)
