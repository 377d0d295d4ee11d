"""Attention over cached keys and values, for the local model's decoders: a cache layer
over preallocated buffers (`buffer_layer_class`), windowed for sliding-window layers, and
a grouped-query SDPA path that attends shared key/value heads once (`use_packed_attention`).

**Layers.** Every layer is cached in full, including Gemma 3's sliding-window layers: a
cropped sliding cache could not be reused from an earlier, shorter prefix. While decoding,
a sliding layer attends over its last window only (most of the decoding step's attention
cost at a few thousand tokens). Memory is about 37 KB a token for Gemma 3 270M in
float32 (18 layers, one 256-wide key/value head), half in bfloat16.
"""

from __future__ import annotations

from typing import Any

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


def buffer_layer_class(base: type) -> type:
    """The class of cache layers over preallocated buffers, derived from `base`
    (transformers' ``DynamicLayer``, imported by the caller with transformers)."""

    class BufferLayer(base):
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
