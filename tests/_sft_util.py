"""Tiny models and tokenizers built locally (no hub) for the SFT and batching tests."""

from __future__ import annotations

from typing import Any

CORPUS = [
    "<|system|>\n<|user|>\n<|assistant|>\n<|end|>\n```python\nprint(answer)\n```\n",
    "def f(x):\n    return x + 1\napis.supervisor.complete_task(answer=answer)\n",
    "The library already has a skill; I will call it. First I will read the docs.\n",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;!?()[]{}<>|=+*/\"'`#@$%&^~\\\n",
]


def tiny_tokenizer(tokenizers: Any, transformers: Any, vocab_size: int = 400) -> Any:
    """A byte-level BPE tokenizer trained on a few lines: every text round-trips."""
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<bos>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", bos)])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                                pad_token="<pad>")
    fast.padding_side = "left"
    return fast


def tiny_model(transformers: Any, torch: Any, tokenizer: Any, seed: int = 0) -> Any:
    """A randomly initialised two-layer Llama-shaped causal LM for `tokenizer`."""
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        initializer_range=0.5,  # large enough that a LoRA on a random model moves the logits
    )
    model = transformers.LlamaForCausalLM(config)
    model.eval()
    return model


def tiny_pair(seed: int) -> tuple[Any, Any]:
    """(tiny model, its tokenizer); skips the test when the local extra is absent."""
    import pytest

    torch = pytest.importorskip("torch", reason="torch (local extra) is not installed")
    transformers = pytest.importorskip("transformers", reason="transformers (local extra) is not installed")
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers (local extra) is not installed")
    tok = tiny_tokenizer(tokenizers, transformers)
    return tiny_model(transformers, torch, tok, seed=seed), tok
