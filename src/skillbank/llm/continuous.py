"""Continuous batching for the local policy: rows join and leave a running batch between
decoding steps, so an episode's next turn does not wait for the longest reply of a
batch it shared.

The runner plays a split's scenarios on threads; each thread's `submit` blocks until its
reply is done. One of the waiting threads drives the decoder at a time: it admits the
requests that have arrived (each prompt is prefilled alone, from the prefix pool of
`skillbank.llm.engine.PrefixCachedGenerator`), runs one decoding step for every open row,
and hands each finished reply to its thread. When the driver's own reply is done it
returns, and another waiting thread takes over.

**Layout.** Rows live in slots of shared key/value buffers (one per layer), all written at
the same column each step; a row's tokens sit right-aligned against that column with
padding before them, masked out. A row joins a free slot when its prompt fits left of the
column; otherwise (no free slot, a prompt longer than the column, or the buffer's end
near) the buffers are rebuilt around the open rows with room to spare. Slots of finished
rows are dropped when no request has come to fill them for a while.

Greedy replies are the tokens `PrefixCachedGenerator.generate` gives (up to floating-point
summation order); sampled replies draw from a generator seeded per request, so a sampled
reply does not depend on which other rows shared its steps.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from skillbank.llm.engine import PrefixCachedGenerator, heap_trimmer

#: Spare columns left of the write column and after the replies' budget, on a rebuild.
_SPARE_LEFT, _SPARE_RIGHT = 512, 1024
#: Steps without a new row after which the slots of finished rows are dropped.
_IDLE_STEPS = 16
#: Decoding steps between two returns of freed heap memory to the system.
_TRIM_STEPS = 64


class _Request:
    __slots__ = ("prompt", "seed", "ids", "generated", "eos", "done", "error", "slot", "start", "generator")

    def __init__(self, prompt: str, seed: int):
        self.prompt = prompt
        self.seed = seed
        self.ids: list[int] = []
        self.generated: list[int] = []
        self.eos = False
        self.done = False
        self.error: BaseException | None = None
        self.slot = -1
        self.start = 0
        self.generator: Any = None


class ContinuousDecoder:
    """Serve `submit(prompt, seed)` calls from many threads over one running batch.

    Args:
        engine: the prefix-cached generator whose model, pool, stop rule and vocabulary
            are used.
        max_rows: most rows decoded at once; later requests wait for a free row.
        max_new_tokens: the reply budget.
        temperature: 0 for greedy decoding.
    """

    def __init__(self, engine: PrefixCachedGenerator, *, max_rows: int, max_new_tokens: int, temperature: float):
        self.engine = engine
        self.torch = engine.torch
        self.max_rows = max_rows
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._cond = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._driving = False
        self._rows: list[_Request | None] = []  # slot -> request
        self._layers: list[Any] = []
        self._mask: Any = None
        self._positions: Any = None
        self._next: Any = None
        self._col = 0
        self._cap = 0
        self._idle = 0
        self._allowed: set[int] = set()
        self._trim = heap_trimmer()
        self.rebuilds = 0
        self.steps = 0
        self.peak_rows = 0

    # -- the callers' side ----------------------------------------------------------------

    def submit(self, prompt: str, seed: int) -> tuple[list[int], bool]:
        """The reply's token ids (up to and including the one that ended it) and whether
        EOS ended it; blocks until then."""
        request = _Request(prompt, seed)
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
        while True:
            with self._cond:
                while not request.done and self._driving:
                    self._cond.wait()
                if request.done:
                    if request.error is not None:
                        raise request.error
                    return request.generated, request.eos
                self._driving = True
            try:
                self._drive(request)
            except BaseException as exc:  # noqa: BLE001 - every open request gets it
                self._fail_all(exc)
            finally:
                with self._cond:
                    self._driving = False
                    self._cond.notify_all()

    def _fail_all(self, exc: BaseException) -> None:
        with self._cond:
            victims = [r for r in self._rows if r is not None] + list(self._pending)
            self._pending.clear()
            for r in victims:
                r.error, r.done = exc, True
            self._rows, self._layers = [], []
            self._cond.notify_all()

    # -- the driver's side ------------------------------------------------------------------

    def _drive(self, mine: _Request) -> None:
        """Admit and step until `mine` is done."""
        torch = self.torch
        engine = self.engine
        with engine._lock, torch.inference_mode():
            if engine.vocab is not None and self._allowed:
                engine._cut_head(self._allowed)
            try:
                while not mine.done:
                    self._admit()
                    if not mine.done and any(r is not None for r in self._rows):
                        self._step()
            finally:
                engine._restore_head()

    def _take_pending(self) -> list[_Request]:
        with self._cond:
            room = self.max_rows - sum(r is not None for r in self._rows)
            taken = []
            while self._pending and len(taken) < room:
                taken.append(self._pending.popleft())
            return taken

    def _admit(self) -> None:
        engine = self.engine
        torch = self.torch
        joining = self._take_pending()
        if not joining:
            self._idle += 1
            if self._idle >= _IDLE_STEPS and any(r is None for r in self._rows):
                self._rebuild([])  # drop the slots nobody came for
            return
        self._idle = 0
        for request in joining:
            request.ids = list(engine.tokenizer(request.prompt)["input_ids"])
            if self.temperature > 0:
                request.generator = torch.Generator().manual_seed(request.seed)
        if engine.vocab is not None:
            wanted = engine._allowed_tokens([r.ids for r in joining]) | self._allowed
            if wanted != self._allowed or engine._allowed is None:
                self._allowed = wanted
                engine._cut_head(wanted)
        states = []
        for request in joining:
            kv, logits = engine._prefill(request.ids)
            first = self._pick(logits, [request])
            if self._record(request, int(first[0])):
                self._finish(request, kv=kv)
            else:
                states.append((request, kv))
        if not states:
            return
        free = [slot for slot, r in enumerate(self._rows) if r is None]
        longest = max(len(r.ids) for r, _ in states)
        fits = (len(free) >= len(states) and longest < self._col
                and self._col + self.max_new_tokens <= self._cap)
        if not fits:
            self._rebuild(states)
            return
        for (request, kv), slot in zip(states, free):
            self._place(request, kv, slot)

    def _place(self, request: _Request, kv: list[tuple[Any, Any]], slot: int) -> None:
        n = len(request.ids)
        request.slot, request.start = slot, self._col - n
        for layer, (k, v) in zip(self._layers, kv):
            layer.buf_k[slot, :, request.start : self._col] = k[0]
            layer.buf_v[slot, :, request.start : self._col] = v[0]
        self._mask[slot] = 0
        self._mask[slot, request.start : self._col] = 1
        self._positions[slot] = n
        self._next[slot] = request.generated[-1]
        self._rows[slot] = request
        self.peak_rows = max(self.peak_rows, sum(r is not None for r in self._rows))

    def _rebuild(self, joining: list[tuple[_Request, list[tuple[Any, Any]]]]) -> None:
        """New buffers holding the open rows (moved, same relative layout) and `joining`."""
        torch = self.torch
        engine = self.engine
        staying = [r for r in self._rows if r is not None]
        spans = [self._col - r.start for r in staying] + [len(r.ids) for r, _ in joining]
        if not spans:
            self._rows, self._layers, self._col, self._cap = [], [], 0, 0
            return
        # At least one padding column before every row (see PrefixCachedGenerator._decode).
        col = max(spans) + 1 + (_SPARE_LEFT if joining else 0)
        cap = col + self.max_new_tokens + _SPARE_RIGHT
        rows = len(staying) + len(joining)
        template = joining[0][1] if joining else None
        layers = []
        for i in range(len(self._layers) if self._layers else len(template or [])):
            old = self._layers[i] if self._layers else None
            like = old.buf_k if old is not None else template[i][0]  # type: ignore[index]
            shape = (rows, like.shape[1], cap, like.shape[3])
            buf_k, buf_v = like.new_zeros(shape), like.new_zeros(shape)
            for j, r in enumerate(staying):
                span = self._col - r.start
                buf_k[j, :, col - span : col] = old.buf_k[r.slot, :, r.start : self._col]
                buf_v[j, :, col - span : col] = old.buf_v[r.slot, :, r.start : self._col]
            layers.append(engine._buffer_layer(i, buf_k, buf_v, col))
        mask = torch.zeros((rows, cap), dtype=torch.long)
        positions = torch.zeros(rows, dtype=torch.long)
        nxt = torch.zeros(rows, dtype=torch.long)
        for j, r in enumerate(staying):
            span = self._col - r.start
            mask[j, col - span : col] = 1
            positions[j] = self._positions[r.slot]
            nxt[j] = self._next[r.slot]
            r.slot, r.start = j, col - span
        self._layers, self._mask, self._positions, self._next = layers, mask, positions, nxt
        self._rows = list(staying) + [None] * len(joining)
        self._col, self._cap = col, cap
        self.rebuilds += 1
        self._trim()
        for j, (request, kv) in enumerate(joining):
            self._place(request, kv, len(staying) + j)

    def _step(self) -> None:
        torch = self.torch
        if self._col + 1 > self._cap:  # cannot happen while every row keeps its budget
            self._rebuild([])
        col = self._col
        self._mask[:, col] = 1
        cache = self.engine._Cache(layers=self._layers)
        out = self.engine.model(input_ids=self._next.unsqueeze(1), attention_mask=self._mask[:, : col + 1],
                                cache=cache, position_ids=self._positions.unsqueeze(1), use_cache=True,
                                logits_to_keep=1)
        self._col += 1
        self._positions += 1
        self.steps += 1
        if self.steps % _TRIM_STEPS == 0:
            self._trim()
        live = [(slot, r) for slot, r in enumerate(self._rows) if r is not None]
        logits = out.logits[:, -1, :].float()
        picked = self._pick(logits[[slot for slot, _ in live]], [r for _, r in live])
        for (slot, request), token in zip(live, picked.tolist()):
            self._next[slot] = token
            if self._record(request, token):
                self._finish(request)

    def _pick(self, logits: Any, requests: list[_Request]) -> Any:
        torch = self.torch
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            index = torch.cat([torch.multinomial(probs[i : i + 1], 1, generator=r.generator).view(1)
                               for i, r in enumerate(requests)])
        else:
            index = logits.argmax(dim=-1)
        allowed = self.engine._allowed
        return index if allowed is None else allowed[index]

    def _record(self, request: _Request, token: int) -> bool:
        """Append `token` to the reply; whether the reply is now over."""
        request.generated.append(token)
        eos = self.engine.tokenizer.eos_token_id
        if eos is not None and token == eos:
            request.eos = True
            return True
        return len(request.generated) >= self.max_new_tokens or self.engine.is_done(request.generated)

    def _finish(self, request: _Request, kv: list[tuple[Any, Any]] | None = None) -> None:
        engine = self.engine
        engine.stats.generated_tokens += len(request.generated)
        if kv is None:  # left the batch: pool what was fed
            engine._pool_reply(request.ids, request.generated, self._layers, request.slot, request.start)
            self._rows[request.slot] = None
        with self._cond:
            request.done = True
            self._cond.notify_all()
