"""The prefix-cached batched decoder of the transformers backend: it gives the text a
plain ``model.generate`` gives, reuses exactly the shared token prefix of earlier prompts
(an episode's previous turn, another episode's system prompt), stays within its memory
bound, and the auto dtype follows the CPU's flags."""

from __future__ import annotations

import pytest

from skillbank.llm.base import Message
from skillbank.llm.local_config import LocalConfig, cpu_has_bf16, resolve_dtype
from skillbank.llm.template import find_stop, render_prompt, render_reply
from skillbank.llm.transformers_backend import TransformersBackend

SYSTEM = Message("system", "You write Python and nothing else, ever. Read the docs first, then act.")
TASKS = ["Add one and two, then print it.", "List three apps.", "Say hi."]


@pytest.fixture(scope="module")
def tiny():
    from _sft_util import tiny_pair

    return tiny_pair(seed=5)


def _reference(model, tok, prompt: str, max_new_tokens: int) -> str:
    """Greedy text from transformers' own generate over the whole prompt, cut at the stop."""
    import torch

    ids = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    cut = find_stop(text)
    return text if cut is None else text[:cut]


def _cut(text: str) -> str:
    cut = find_stop(text)
    return text if cut is None else text[:cut]


def test_greedy_text_equals_transformers_generate(tiny):
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    prompts = [render_prompt([SYSTEM, Message("user", t)]) for t in TASKS]
    batched = backend.generate_batch(prompts, max_new_tokens=20, temperature=0.0, seeds=[0] * 3)
    assert [_cut(text) for text, _, _ in batched] == [_reference(model, tok, p, 20) for p in prompts]
    # The three prompts share the system prompt: rows after the first reused it.
    assert backend.engine.stats.reused_tokens > 0


def test_a_second_turn_reuses_the_first_and_gives_the_uncached_text(tiny):
    model, tok = tiny
    cached, plain = TransformersBackend(model, tok), TransformersBackend(model, tok, pool_bytes=0)
    histories = [[SYSTEM, Message("user", t)] for t in TASKS]
    for turn in range(3):
        prompts = [render_prompt(h) for h in histories]
        before = cached.engine.stats.reused_tokens
        got = cached.generate_batch(prompts, max_new_tokens=16, temperature=0.0, seeds=[0] * 3)
        want = plain.generate_batch(prompts, max_new_tokens=16, temperature=0.0, seeds=[0] * 3)
        assert [g[0] for g in got] == [w[0] for w in want]
        if turn > 0:
            # Each row's previous prompt (and most of its reply) came from the cache.
            previous = sum(len(tok(render_prompt(h[:-2]))["input_ids"]) for h in histories)
            assert cached.engine.stats.reused_tokens - before >= previous
        for h, (text, _, _) in zip(histories, got):
            h.extend([Message("assistant", _cut(text)), Message("user", f"Output:\n{turn}")])
    assert plain.engine.stats.reused_tokens == 0
    assert plain.engine.cached_tokens == 0


def test_only_the_shared_token_prefix_is_reused(tiny):
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    first = render_prompt([SYSTEM, Message("user", "Add one and two, then print it.")])
    second = render_prompt([SYSTEM, Message("user", "Add three and two, then print it.")])
    backend.generate(first, max_new_tokens=4, temperature=0.0, seed=0)
    a, b = tok(first)["input_ids"], tok(second)["input_ids"]
    shared = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    before = backend.engine.stats.reused_tokens
    text = backend.generate(second, max_new_tokens=12, temperature=0.0, seed=0)[0]
    assert backend.engine.stats.reused_tokens - before == shared
    assert _cut(text) == _reference(model, tok, second, 12)


def test_the_pool_stays_within_its_bound(tiny):
    model, tok = tiny
    probe = TransformersBackend(model, tok)
    probe.generate(render_prompt([SYSTEM, Message("user", TASKS[0])]), max_new_tokens=4, temperature=0.0, seed=0)
    one = sum(e.nbytes for e in probe.engine.pool.entries)
    assert len(probe.engine.pool.entries) == 1  # the prompt's entry was replaced by prompt + reply
    bound = int(one * 2.5)
    backend = TransformersBackend(model, tok, pool_bytes=bound)
    for i in range(6):
        backend.generate(render_prompt([SYSTEM, Message("user", f"Task {i}: " + TASKS[i % 3])]), max_new_tokens=4,
                         temperature=0.0, seed=0)
        assert sum(e.nbytes for e in backend.engine.pool.entries) <= bound
    assert 1 <= len(backend.engine.pool.entries) <= 2  # the oldest were evicted
    backend.engine.clear()
    assert backend.engine.cached_tokens == 0


def test_sampling_replays_with_its_seed(tiny):
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    prompts = [render_prompt([SYSTEM, Message("user", t)]) for t in TASKS]
    one = backend.generate_batch(prompts, max_new_tokens=12, temperature=1.5, seeds=[7] * 3)
    two = TransformersBackend(model, tok).generate_batch(prompts, max_new_tokens=12, temperature=1.5, seeds=[7] * 3)
    assert one == two
    other = backend.generate_batch(prompts, max_new_tokens=12, temperature=1.5, seeds=[8] * 3)
    assert other != one


def test_render_reply_then_next_prompt_extends_the_cached_tokens(tiny):
    """The agent's next prompt starts with the previous prompt and the reply: most of the
    reply's tokens are reused, not just the prompt's."""
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    history = [SYSTEM, Message("user", TASKS[0])]
    text = _cut(backend.generate(render_prompt(history), max_new_tokens=16, temperature=0.0, seed=0)[0])
    nxt = render_prompt(history) + render_reply(text)
    before = backend.engine.stats.reused_tokens
    backend.generate(nxt + "<|user|>\nOutput:\n3\n<|end|>\n<|assistant|>\n", max_new_tokens=4,
                     temperature=0.0, seed=0)
    assert backend.engine.stats.reused_tokens - before >= len(tok(render_prompt(history))["input_ids"])


def test_auto_dtype_follows_the_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "a"
    with_bf16.write_text("processor : 0\nflags : fpu sse2 avx512f avx512_bf16\n")
    without = tmp_path / "b"
    without.write_text("processor : 0\nflags : fpu sse2 avx2\n")
    assert cpu_has_bf16(with_bf16) is True
    assert cpu_has_bf16(without) is False
    assert cpu_has_bf16(tmp_path / "missing") is False
    assert resolve_dtype("float32") == "float32" and resolve_dtype("bfloat16") == "bfloat16"
    assert resolve_dtype("auto") in ("float32", "bfloat16")
    assert LocalConfig().dtype == "auto"


def test_a_vocabulary_cut_keeps_the_text_and_bounds_the_tokens(tiny):
    model, tok = tiny
    prompts = [render_prompt([SYSTEM, Message("user", t)]) for t in TASKS]
    full = TransformersBackend(model, tok).generate_batch(prompts, max_new_tokens=16, temperature=0.0, seeds=[0] * 3)
    produced = {t for ids, _ in TransformersBackend(model, tok).engine.generate(
        prompts, max_new_tokens=16, temperature=0.0, seed=0) for t in ids}
    # Every token the full vocabulary chose is allowed: the same greedy text.
    kept = TransformersBackend(model, tok, vocab=sorted(produced))
    assert kept.generate_batch(prompts, max_new_tokens=16, temperature=0.0, seeds=[0] * 3) == full
    assert model.get_output_embeddings().weight.shape[0] == len(tok)  # the head is restored
    # A vocabulary without them: replies use only it, the prompts' tokens and EOS.
    prompt_ids = {t for p in prompts for t in tok(p)["input_ids"]}
    outside = sorted(set(range(len(tok))) - produced - prompt_ids)[:40]
    assert outside
    cut = TransformersBackend(model, tok, vocab=outside)
    assert cut.generate_batch(prompts, max_new_tokens=16, temperature=0.0, seeds=[0] * 3) != full
    allowed = {*outside, *prompt_ids, tok.eos_token_id}
    for temperature in (0.0, 2.0):
        rows = cut.engine.generate(prompts, max_new_tokens=16, temperature=temperature, seed=1)
        assert all(set(ids) <= allowed for ids, _ in rows)
        assert any(set(ids) - prompt_ids for ids, _ in rows)  # the vocabulary's own tokens were used


def test_the_adapter_vocabulary_file(tmp_path):
    from skillbank.errors import ConfigError
    from skillbank.llm.model_files import BUNDLED_ADAPTER, VOCAB_FILE, adapter_vocab

    assert adapter_vocab(None) is None
    assert adapter_vocab(tmp_path) is None  # an adapter without the file: the whole vocabulary
    (tmp_path / VOCAB_FILE).write_text('{"token_ids": [3, 1, 2]}')
    assert adapter_vocab(tmp_path) == [3, 1, 2]
    (tmp_path / VOCAB_FILE).write_text('{"token_ids": [3, -1]}')
    with pytest.raises(ConfigError, match="vocab.json is not a token list"):
        adapter_vocab(tmp_path)
    (tmp_path / VOCAB_FILE).write_text("not json")
    with pytest.raises(ConfigError, match="vocab.json is not a token list"):
        adapter_vocab(tmp_path)
    shipped = adapter_vocab(BUNDLED_ADAPTER)
    assert shipped is not None and 1000 < len(shipped) < 5000  # of Gemma 3's 262,144
    with pytest.raises(Exception, match="vocab must be 'adapter' or 'full'"):
        LocalConfig(vocab="small")
    with pytest.raises(Exception, match="batching must be 'continuous' or 'lockstep'"):
        LocalConfig(batching="eager")
    with pytest.raises(Exception, match="speculate must be an integer >= 0"):
        LocalConfig(speculate=-1)


def test_sliding_window_layers_decode_as_transformers_does(tiny):
    """Gemma 3's layout (sliding-window layers, one key/value head) with a window far
    shorter than the prompts: the engine's windowed views give generate's text."""
    import torch
    import transformers

    _, tok = tiny
    model = _tiny_gemma(tok)
    backend = TransformersBackend(model, tok)
    assert [w for w in backend.engine.runner.windows] == [8, 8, None, 8]
    histories = [[SYSTEM, Message("user", t)] for t in TASKS]
    for turn in range(2):  # the second turn decodes from cached prefixes
        prompts = [render_prompt(h) for h in histories]
        got = backend.generate_batch(prompts, max_new_tokens=20, temperature=0.0, seeds=[0] * 3)
        assert [_cut(text) for text, _, _ in got] == [_reference(model, tok, p, 20) for p in prompts]
        for h, (text, _, _) in zip(histories, got):
            h.extend([Message("assistant", _cut(text)), Message("user", f"Output:\n{turn}")])
    assert backend.engine.stats.reused_tokens > 0


def _tiny_gemma(tok):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.Gemma3TextConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=1, head_dim=16, sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        max_position_embeddings=4096, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, initializer_range=0.02,  # larger ranges collapse to one token
    )
    return transformers.Gemma3ForCausalLM(config).eval()


def _episodes(policy, starts, turns: int, *, stagger: float = 0.0) -> dict[int, list[str]]:
    """Each start message played for `turns` turns on its own thread (a scenario of the
    runner), the observation fixed; thread i starts after i * `stagger` seconds."""
    import threading
    import time

    replies: dict[int, list[str]] = {}

    def play(i: int) -> None:
        time.sleep(i * stagger)
        with policy.stream():
            history = [SYSTEM, Message("user", starts[i])]
            out = []
            for turn in range(turns):
                text = policy.generate(history).text
                out.append(text)
                history += [Message("assistant", text), Message("user", f"Output:\n{turn} {i}")]
            replies[i] = out

    threads = [threading.Thread(target=play, args=(i,)) for i in range(len(starts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return replies


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_continuous_batching_replies_as_one_at_a_time(tiny, arch):
    """Episodes on threads join and leave one running batch (staggered, of different
    lengths, more than it has rows): every reply is the one a lone call gives."""
    import time

    from skillbank.llm.local import LocalPolicy

    model, tok = tiny
    if arch == "gemma3":
        model = _tiny_gemma(tok)
    starts = [*TASKS, "Print the sum of 2 and 40, then stop.", "Read the docs of the notes app."]
    config = LocalConfig(max_new_tokens=14, batch_size=3)
    alone = _episodes(LocalPolicy(LocalConfig(max_new_tokens=14, batch_size=1),
                                  backend=TransformersBackend(model, tok, pool_bytes=0)), starts, 3)
    policy = LocalPolicy(config, backend=TransformersBackend(model, tok))
    step = policy._continuous._step

    def slow_step():  # a step as slow as a real model's, so that rows overlap on any machine
        time.sleep(0.01)
        step()

    policy._continuous._step = slow_step
    together = _episodes(policy, starts, 3, stagger=0.03)
    assert together == alone
    decoder = policy._continuous
    assert decoder is not None and decoder.peak_rows == 3  # rows shared steps, never more than 3
    assert decoder.rebuilds >= 1 and decoder.steps > 0
    assert all(r is None for r in decoder._rows)  # every row left
    assert len({tuple(v) for v in alone.values()}) > 1


def test_continuous_sampling_depends_on_the_call_not_the_batch(tiny):
    import threading

    model, tok = tiny
    prompts = [render_prompt([SYSTEM, Message("user", t)]) for t in TASKS]

    def decoder():
        return TransformersBackend(model, tok).continuous(max_rows=4, max_new_tokens=12, temperature=1.5)

    lone = decoder().submit(prompts[0], 5)
    crowd = decoder()
    got: dict[int, tuple[list[int], bool]] = {}

    def call(i: int) -> None:
        got[i] = crowd.submit(prompts[i], 5 + i)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got[0] == lone  # the same prompt and seed, whatever shared its steps
    assert decoder().submit(prompts[0], 6) != lone  # another seed, another sample
    assert crowd.peak_rows >= 1 and len(got) == 3


def test_a_failing_model_fails_every_open_call_and_the_decoder_recovers(tiny, monkeypatch):
    from skillbank.llm.base import PolicyError
    from skillbank.llm.local import LocalPolicy

    model, tok = tiny
    policy = LocalPolicy(LocalConfig(max_new_tokens=8, batch_size=3), backend=TransformersBackend(model, tok))
    real = policy._continuous._step
    calls = {"n": 0}

    def broken():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("out of memory (simulated)")
        real()

    monkeypatch.setattr(policy._continuous, "_step", broken)
    errors = []

    def play(i):
        with policy.stream():
            try:
                policy.generate([SYSTEM, Message("user", TASKS[i])])
            except PolicyError as exc:
                errors.append(str(exc))

    import threading

    threads = [threading.Thread(target=play, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors and all("out of memory (simulated)" in e for e in errors)
    with policy.stream():
        assert policy.generate([SYSTEM, Message("user", TASKS[0])]).completion_tokens > 0


def test_a_draft_is_what_followed_the_latest_earlier_match():
    from skillbank.llm.continuous import _Drafter

    drafter = _Drafter([5, 6, 7, 5, 6, 8, 5, 6])
    assert drafter.draft(3) == [8, 5, 6]  # (5, 6) last came before 8, not 7
    drafter.extend([8, 5])
    assert drafter.draft(2) == [6, 8]  # (6, 8, 5) matched whole
    assert _Drafter([1, 2, 3]).draft(4) == []  # nothing repeats yet
    assert _Drafter([4, 4]).draft(5) == [4]  # a draft may run into the text's end


def test_packed_attention_computes_what_sdpa_does(tiny):
    """Several queries under a mask, one key/value head for four query heads: the packed
    path (query heads folded into the query axis) gives sdpa's logits."""
    import torch

    from skillbank.llm.attention import PACKED_ATTENTION, use_packed_attention

    _, tok = tiny
    model = _tiny_gemma(tok)
    ids = torch.tensor([tok("Read the docs of the notes app, then print them all.")["input_ids"]])
    width = ids.shape[1]
    keep = torch.ones(1, width, dtype=torch.long)
    keep[0, 3] = 0  # a hole: not the plain causal mask, so sdpa gets a mask either way
    mask = (keep.bool().unsqueeze(1) & torch.ones(width, width, dtype=torch.bool).tril()).unsqueeze(1)
    mask[0, 0, 3, 3] = True  # every query sees itself
    masks = {"full_attention": mask, "sliding_attention": mask}
    with torch.inference_mode():
        model.set_attn_implementation("sdpa")
        plain = model(input_ids=ids, attention_mask=masks).logits
        assert use_packed_attention(model) and model.config._attn_implementation == PACKED_ATTENTION
        packed = model(input_ids=ids, attention_mask=masks).logits
    assert torch.allclose(plain, packed, atol=1e-5)
    model.set_attn_implementation("eager")
    assert not use_packed_attention(model)  # only sdpa is replaced


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_drafted_steps_give_the_replies_of_plain_steps(tiny, arch, monkeypatch):
    """Continuous batching with drafts (prompt lookup) against one call at a time without:
    the same replies, with drafted tokens both kept and refused, and the columns refused
    drafts leave behind squeezed out by rebuilds (a low limit, so it happens often) while
    rows keep decoding, Gemma's sliding windows (8 tokens here) counted by position."""
    import skillbank.llm.continuous as continuous
    from skillbank.llm.local import LocalPolicy

    model, tok = tiny
    if arch == "gemma3":
        model = _tiny_gemma(tok)
    monkeypatch.setattr(continuous, "_HOLE_LIMIT", 8)
    starts = [*TASKS, "Print the sum of 2 and 40, then stop."]
    alone = _episodes(LocalPolicy(LocalConfig(max_new_tokens=40, batch_size=1),
                                  backend=TransformersBackend(model, tok, pool_bytes=0)), starts, 2)
    policy = LocalPolicy(LocalConfig(max_new_tokens=40, batch_size=3, speculate=6),
                         backend=TransformersBackend(model, tok))
    together = _episodes(policy, starts, 2, stagger=0.03)
    assert together == alone
    decoder = policy._continuous
    assert decoder.speculate == 6
    assert decoder.accepted < decoder.drafted  # drafts refused
    if arch == "gemma3":  # the tiny Llama rarely repeats itself; this one does
        assert decoder.accepted > 10  # and kept
    assert decoder.squeezes > 0
    assert all(r is None for r in decoder._rows)
    plain = LocalPolicy(LocalConfig(max_new_tokens=40, batch_size=3, speculate=0),
                        backend=TransformersBackend(model, tok))
    assert _episodes(plain, starts, 2, stagger=0.03) == alone
    assert plain._continuous.drafted == 0
    if arch == "gemma3":  # kept drafts save steps
        assert plain._continuous.steps > decoder.steps


def test_sampling_or_a_model_without_layer_masks_turns_drafting_off(tiny):
    model, tok = tiny
    backend = TransformersBackend(model, tok)
    assert backend.continuous(max_rows=2, max_new_tokens=4, temperature=0.0, speculate=4).speculate == 4
    assert backend.continuous(max_rows=2, max_new_tokens=4, temperature=0.7, speculate=4).speculate == 0
    backend.engine.runner.takes_custom_masks = False  # e.g. a sliding-window model that takes one mask
    assert backend.continuous(max_rows=2, max_new_tokens=4, temperature=0.0, speculate=4).speculate == 0
