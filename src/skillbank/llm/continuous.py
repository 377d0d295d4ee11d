"""Continuous batching for the local policy: rows join and leave a running batch between
decoding steps, so an episode's next turn does not wait for the longest reply of a
batch it shared.

The agent runner plays a split's scenarios on threads; each thread's `submit` blocks until its
reply is done. One of the waiting threads drives the decoder at a time: it admits the
requests that have arrived (each prompt is prefilled alone, from the prefix pool, by
`skillbank.llm.model_runner.ModelRunner.prefill`), runs one decoding step for every open row,
and hands each finished reply to its thread. When the driver's own reply is done it
returns, and another waiting thread takes over.

**Layout.** Rows live in slots of shared key/value buffers (one per layer), all written at
the same column each step; a row's tokens sit right-aligned against that column with
padding before them, masked out. A row joins a free slot when its prompt fits left of the
column; otherwise (no free slot, a prompt longer than the column, or the buffer's end
near) the buffers are rebuilt around the open rows with room to spare. Slots of finished
rows are dropped when no request has come to fill them for a while.

**Drafted steps** (greedy decoding, ``speculate > 0``). An agent's model repeats itself:
a failing reply is often written again token for token, code re-uses the names of the API
docs in its prompt. Before a step, each row looks up the last few tokens of its text
(prompt and reply so far) at their latest earlier occurrence and drafts the tokens that
followed there (prompt lookup decoding). The step then feeds every row its next token and
its draft at once, and keeps each row's drafted tokens up to the first one the model
would not have picked, plus the model's own pick after them: several tokens for one
forward pass, the same tokens as one at a time. Rows keep writing at a shared column, so
a row's rejected draft leaves unused columns among its tokens; the decoder then builds
the attention masks itself (per row: its own tokens, and for sliding-window layers its
last ``window`` tokens by position, not by column), and a rebuild squeezes the unused
columns out once they pile up. A draft is as long as a budget of tokens per step allows
(more rows, shorter drafts), at most ``speculate``.

Greedy replies are the tokens `skillbank.llm.lockstep.LockstepDecoder` gives (up to
floating-point summation order); sampled replies draw from a generator seeded per request,
so a sampled reply does not depend on which other rows shared its steps.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from skillbank.llm.model_runner import ModelRunner, Sample

#: Spare columns left of the write column and after the replies' budget, on a rebuild.
_SPARE_LEFT, _SPARE_RIGHT = 512, 1024
#: Steps without a new row after which the slots of finished rows are dropped.
_IDLE_STEPS = 16
#: Decoding steps between two returns of freed heap memory to the system.
_TRIM_STEPS = 64
#: Tokens a drafted step feeds at most, over all rows (a draft is cut to fit).
_STEP_TOKENS = 64
#: N-gram lengths a draft is looked up by, longest first.
_NGRAMS = (3, 2, 1)
#: Unused columns a row may collect before a rebuild squeezes them out.
_HOLE_LIMIT = 256


class _Drafter:
    """Prompt lookup for one row: where each n-gram of its text last occurred."""

    __slots__ = ("last", "seq")

    def __init__(self, ids: list[int]):
        self.seq: list[int] = []
        self.last: dict[tuple[int, ...], int] = {}
        self.extend(ids)

    def extend(self, tokens: list[int]) -> None:
        seq, last = self.seq, self.last
        for token in tokens:
            seq.append(token)
            end = len(seq) - 1  # the n-grams ending just before `token` are followed by it
            for n in _NGRAMS:
                if end >= n:
                    last[tuple(seq[end - n : end])] = end

    def draft(self, k: int) -> list[int]:
        """Up to `k` tokens that followed the latest earlier occurrence of the text's
        longest matching suffix."""
        seq = self.seq
        for n in _NGRAMS:
            if len(seq) >= n:
                follow = self.last.get(tuple(seq[-n:]))
                if follow is not None:
                    return seq[follow : follow + k]
        return []


class _Request:
    __slots__ = (
        "done",
        "drafter",
        "eos",
        "error",
        "generated",
        "generator",
        "ids",
        "logprobs",
        "prompt",
        "seed",
        "slot",
        "start",
    )

    def __init__(self, prompt: str, seed: int):
        self.prompt = prompt
        self.seed = seed
        self.ids: list[int] = []
        self.generated: list[int] = []
        self.logprobs: list[float] = []
        self.eos = False
        self.done = False
        self.error: BaseException | None = None
        self.slot = -1
        self.start = 0
        self.generator: Any = None
        self.drafter: _Drafter | None = None


class ContinuousDecoder:
    """Serve `submit(prompt, seed)` calls from many threads over one running batch.

    Args:
        runner: the model runner whose model, pool, stop rule and vocabulary are used.
        max_rows: most rows decoded at once; later requests wait for a free row.
        max_new_tokens: the reply budget.
        temperature: 0 for greedy decoding.
        speculate: most drafted tokens a row feeds per step (see the module docstring);
            0, sampling (``temperature > 0``) or a model with sliding-window layers that
            does not take a mask per layer type turn drafting off.
    """

    def __init__(self, runner: ModelRunner, *, max_rows: int, max_new_tokens: int, temperature: float,
                 speculate: int = 0):
        self.runner = runner
        self.torch = runner.torch
        self.max_rows = max_rows
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.speculate = speculate if temperature == 0 and runner.takes_custom_masks else 0
        windows = [w for w in runner.windows if w]
        self._window = min(windows) if windows else None
        self._colpos: Any = None  # slot x column -> position id of the token written there
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
        self.rebuilds = 0
        self.steps = 0
        self.peak_rows = 0
        self.drafted = 0  # draft tokens fed
        self.accepted = 0  # draft tokens kept
        self.squeezes = 0  # rebuilds that squeezed out unused columns

    # -- the callers' side ----------------------------------------------------------------

    def submit(self, prompt: str, seed: int) -> tuple[list[int], bool]:
        """The reply's token ids (up to and including the one that ended it) and whether
        EOS ended it; blocks until then."""
        sample = self.sample(prompt, seed)
        return sample.ids, sample.eos

    def sample(self, prompt: str, seed: int) -> Sample:
        """`submit`'s reply with its prompt ids and the generated ids' log-probs."""
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
                    return Sample(request.ids, request.generated, request.eos, request.logprobs)
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
        runner = self.runner
        with runner.lock, torch.inference_mode():
            if runner.vocab is not None and self._allowed:
                runner.cut_head(self._allowed)
            try:
                while not mine.done:
                    self._admit()
                    if not mine.done and any(r is not None for r in self._rows):
                        self._step()
            finally:
                runner.restore_head()

    def _take_pending(self) -> list[_Request]:
        with self._cond:
            room = self.max_rows - sum(r is not None for r in self._rows)
            taken: list[_Request] = []
            while self._pending and len(taken) < room:
                taken.append(self._pending.popleft())
            return taken

    def _admit(self) -> None:
        runner = self.runner
        torch = self.torch
        joining = self._take_pending()
        if not joining:
            self._idle += 1
            if self._idle >= _IDLE_STEPS and any(r is None for r in self._rows):
                self._rebuild([])  # drop the slots nobody came for
            return
        self._idle = 0
        for request in joining:
            request.ids = list(runner.tokenizer(request.prompt)["input_ids"])
            if self.temperature > 0:
                request.generator = torch.Generator().manual_seed(request.seed)
            if self.speculate:
                request.drafter = _Drafter(request.ids)
        if runner.vocab is not None:
            wanted = runner.allowed_tokens([r.ids for r in joining]) | self._allowed
            if wanted != self._allowed or not runner.head_cut:
                self._allowed = wanted
                runner.cut_head(wanted)
        states = []
        for request in joining:
            kv, logits = runner.prefill(request.ids)
            first, logp = self._pick(logits, [request])
            if self._record(request, int(first[0]), float(logp[0])):
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
        self._colpos[slot, request.start : self._col] = self.torch.arange(n)
        self._positions[slot] = n
        self._next[slot] = request.generated[-1]
        self._rows[slot] = request
        self.peak_rows = max(self.peak_rows, sum(r is not None for r in self._rows))

    def _columns(self, request: _Request) -> Any:
        """The columns holding `request`'s tokens, in order (its unused columns skipped)."""
        torch = self.torch
        span = self._mask[request.slot, request.start : self._col]
        if int(self._positions[request.slot]) == len(span):
            return torch.arange(request.start, self._col)
        return torch.nonzero(span, as_tuple=True)[0] + request.start

    def _rebuild(self, joining: list[tuple[_Request, list[tuple[Any, Any]]]]) -> None:
        """New buffers holding the open rows (moved, their unused columns squeezed out)
        and `joining`."""
        torch = self.torch
        runner = self.runner
        staying = [r for r in self._rows if r is not None]
        columns = [self._columns(r) for r in staying]
        spans = [len(c) for c in columns] + [len(r.ids) for r, _ in joining]
        if not spans:
            self._rows, self._layers, self._col, self._cap = [], [], 0, 0
            return
        # At least one padding column before every row (see LockstepDecoder._decode).
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
            for j, (r, index) in enumerate(zip(staying, columns)):
                assert old is not None, "rows stay only in buffers that already exist"
                buf_k[j, :, col - len(index) : col] = old.buf_k[r.slot, :, index]
                buf_v[j, :, col - len(index) : col] = old.buf_v[r.slot, :, index]
            layers.append(runner.buffer_layer(i, buf_k, buf_v, col))
        mask = torch.zeros((rows, cap), dtype=torch.long)
        colpos = torch.zeros((rows, cap), dtype=torch.long)
        positions = torch.zeros(rows, dtype=torch.long)
        nxt = torch.zeros(rows, dtype=torch.long)
        for j, (r, index) in enumerate(zip(staying, columns)):
            span = len(index)
            mask[j, col - span : col] = 1
            colpos[j, col - span : col] = self._colpos[r.slot, index]
            positions[j] = self._positions[r.slot]
            nxt[j] = self._next[r.slot]
            r.slot, r.start = j, col - span
        self._layers, self._mask, self._positions, self._next = layers, mask, positions, nxt
        self._colpos = colpos
        self._rows = list(staying) + [None] * len(joining)
        self._col, self._cap = col, cap
        self.rebuilds += 1
        self.runner.trim_heap()
        for j, (request, kv) in enumerate(joining):
            self._place(request, kv, len(staying) + j)

    def _drafts(self, live: list[tuple[int, _Request]]) -> dict[_Request, list[int]]:
        """Per row, the tokens to feed after its next one (none when not drafting)."""
        if not self.speculate:
            return {}
        k = min(self.speculate, max(_STEP_TOKENS // max(len(live), 1) - 1, 1))
        drafts = {}
        for _, r in live:
            room = self.max_new_tokens - len(r.generated) - 1  # tokens the reply may take after the next
            if r.drafter is not None and room > 0:
                draft = r.drafter.draft(min(k, room))
                if draft:
                    drafts[r] = draft
        return drafts

    def _masks(self, col: int, width: int, live: list[tuple[int, _Request]]) -> Any:
        """Attention masks for `width` tokens per row written from column `col` on: each
        row sees its own tokens (causally within the step); a sliding layer's view
        starts at the first column any row's window needs, and its mask keeps each row's
        last ``window`` positions. Sets the sliding layers' view start."""
        torch = self.torch
        end = col + width
        seen = self._mask[:, :end].bool()
        seen[:, col:end] = True
        steps = torch.arange(width)
        causal = torch.arange(end).unsqueeze(0) <= (col + steps).unsqueeze(1)  # width x end
        full = (seen.unsqueeze(1) & causal.unsqueeze(0)).unsqueeze(1)  # rows x 1 x width x end
        if self._window is None:
            return full
        window = self._window
        # First column a live row's window needs: its first token within `window` of the
        # step's first query.
        rows = torch.tensor([slot for slot, _ in live], dtype=torch.long)
        inside = self._mask[rows, :col].bool() & (
            self._colpos[rows, :col] > (self._positions[rows] - window).unsqueeze(1))
        found = inside.any(dim=1)
        first = int(inside.long().argmax(dim=1)[found].min()) if bool(found.any()) else col
        query = (self._positions.unsqueeze(1) + steps).unsqueeze(2)  # rows x width x 1
        near = (query - self._colpos[:, first:end].unsqueeze(1)) < window  # rows x width x (end - first)
        sliding = full[:, :, :, first:] & near.unsqueeze(1)
        for layer in self._layers:
            if layer.window is not None:
                layer.view_start = first
        return {"full_attention": full, "sliding_attention": sliding}

    def _step(self) -> None:
        torch = self.torch
        live = [(slot, r) for slot, r in enumerate(self._rows) if r is not None]
        drafts = self._drafts(live)
        width = 1 + max((len(d) for d in drafts.values()), default=0)
        holes = max(self._col - r.start - int(self._positions[slot]) for slot, r in live)
        if self._col + width > self._cap or holes > _HOLE_LIMIT:
            self.squeezes += holes > 0
            self._rebuild([])
            live = [(slot, r) for slot, r in enumerate(self._rows) if r is not None]
        col = self._col
        feed = self._next.unsqueeze(1).repeat(1, width)
        for request, draft in drafts.items():
            feed[request.slot, 1 : 1 + len(draft)] = torch.tensor(draft, dtype=torch.long)
        positions = self._positions.unsqueeze(1) + torch.arange(width)
        self._colpos[:, col : col + width] = positions
        if self.speculate:  # rows may have unused columns: the masks are built here
            mask = self._masks(col, width, live)
        else:
            self._mask[:, col] = 1
            mask = self._mask[:, : col + 1]
        cache = self.runner.new_cache(self._layers)
        logits = self.runner.forward(feed, attention_mask=mask, cache=cache, position_ids=positions,
                                     logits_to_keep=width).float()
        self._col += width
        self.steps += 1
        if self.steps % _TRIM_STEPS == 0:
            self.runner.trim_heap()
        tokens_t, logp_t = self._pick(logits[[slot for slot, _ in live]].reshape(len(live) * width, -1),
                                      [r for _, r in live for _ in range(width)])
        picked = tokens_t.view(len(live), width).tolist()
        scores = logp_t.view(len(live), width).tolist()
        for (slot, request), tokens, row_scores in zip(live, picked, scores):
            draft = drafts.get(request, [])
            self.drafted += len(draft)
            fed, over = 0, False
            for j, token in enumerate(tokens):
                fed = j + 1  # the token fed at step offset j was real: its pick counts
                over = self._record(request, token, row_scores[j])
                if over or j >= len(draft) or draft[j] != token:
                    break
            self.accepted += fed - 1
            self._mask[slot, col : col + fed] = 1
            self._mask[slot, col + fed : col + width] = 0
            self._positions[slot] += fed
            self._next[slot] = tokens[fed - 1]
            if over:
                self._finish(request)

    def _pick(self, logits: Any, requests: list[_Request]) -> tuple[Any, Any]:
        """The next token per row of `logits` and its log-prob; a sampled row draws from
        its request's generator."""
        return self.runner.sample(logits, self.temperature, [r.generator for r in requests])

    def _record(self, request: _Request, token: int, logprob: float) -> bool:
        """Append `token` (drawn with `logprob`) to the reply; whether the reply is now over."""
        request.generated.append(token)
        request.logprobs.append(logprob)
        if request.drafter is not None:
            request.drafter.extend([token])
        eos = self.runner.tokenizer.eos_token_id
        if eos is not None and token == eos:
            request.eos = True
            return True
        return len(request.generated) >= self.max_new_tokens or self.runner.is_done(request.generated)

    def _finish(self, request: _Request, kv: list[tuple[Any, Any]] | None = None) -> None:
        runner = self.runner
        runner.stats.generated_tokens += len(request.generated)
        if kv is None:  # left the batch: pool what was fed
            runner.pool_reply(request.ids, request.generated, self._layers, request.slot, self._columns(request))
            self._rows[request.slot] = None
        with self._cond:
            request.done = True
            self._cond.notify_all()
