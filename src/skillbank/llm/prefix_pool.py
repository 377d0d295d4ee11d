"""The prefix pool: key/value states of the prompts the model has seen, looked up by their
longest shared token prefix.

An agent's prompt grows by one reply and one observation a turn, and every prompt starts
with the same system prompt. ``model.generate`` re-reads the whole prompt each turn, so an
episode's prefill cost grows with the square of its turns. The pool keeps the key/value
states of the prompts seen (a small LRU pool bounded in bytes): a new prompt is tokenised,
the pool entry sharing its longest token prefix is found (its own episode's previous turn,
or any episode for the system prompt), and only the tokens after that prefix are run
through the model (`skillbank.llm.model_runner.ModelRunner.prefill`). The comparison is on token
ids, so it stays exact when the text re-tokenises differently at a turn's boundary: the
cache is used only up to the first differing token.

The pool assumes the model's weights do not change while it lives (`clear` empties it:
the RL trainer builds a fresh backend for every rollout step instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Default bound of the prefix pool (bytes of cached keys and values).
DEFAULT_POOL_BYTES = 2 << 30


@dataclass
class PoolEntry:
    """A pooled token sequence and its states; `used` is the pool's clock at its last use."""

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


class PrefixPool:
    """An LRU pool of token sequences and their per-layer key/value states, bounded in
    bytes. Not locked: its owner (`skillbank.llm.model_runner.ModelRunner`) serialises use.

    Args:
        max_bytes: bound of the cached keys and values; 0 turns caching off.
    """

    def __init__(self, max_bytes: int = DEFAULT_POOL_BYTES):
        self.max_bytes = max_bytes
        self._entries: list[PoolEntry] = []
        self._clock = 0

    @property
    def entries(self) -> list[PoolEntry]:
        """The pooled entries (a copy of the list)."""
        return list(self._entries)

    @property
    def cached_tokens(self) -> int:
        return sum(len(e.ids) for e in self._entries)

    def clear(self) -> None:
        """Forget every cached prefix."""
        self._entries.clear()

    def lookup(self, ids: list[int]) -> tuple[PoolEntry | None, int]:
        """The entry sharing the longest token prefix with `ids` and that prefix's length
        (None, 0 when none shares a token); the entry counts as used."""
        best, best_len = None, 0
        for entry in self._entries:
            n = _common_prefix(entry.ids, ids)
            if n > best_len:
                best, best_len = entry, n
        if best is not None:
            self._clock += 1
            best.used = self._clock
        return best, best_len

    def store(self, ids: list[int], kv: list[tuple[Any, Any]]) -> None:
        """Pool `ids` with their states, evicting the least recently used entries past the
        bound; a sequence larger than the whole bound is not pooled."""
        if self.max_bytes <= 0 or not ids:
            return
        nbytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)
        if nbytes > self.max_bytes:
            return
        # An entry that is a prefix of the new one is served by the new one as well.
        self._entries = [e for e in self._entries if not (len(e.ids) <= len(ids) and ids[: len(e.ids)] == e.ids)]
        self._clock += 1
        self._entries.append(PoolEntry(ids, kv, nbytes, self._clock))
        while sum(e.nbytes for e in self._entries) > self.max_bytes:
            self._entries.remove(min(self._entries, key=lambda e: e.used))
