"""The transformers backend of the local policy: the model loaded on the CPU (an adapter
merged into its weights, the weights cast to the configured dtype) and decoded by the
prefix-cached engine (`skillbank.llm.engine`), one prompt, a lockstep batch, or a
continuous batch at a time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from skillbank.errors import ConfigError
from skillbank.llm.continuous import ContinuousDecoder
from skillbank.llm.engine import PrefixCachedGenerator
from skillbank.llm.local_config import LocalConfig, resolve_dtype
from skillbank.llm.model_files import (
    INSTALL_HINT,
    ensure_checkpoint,
    existing_path,
    import_transformers,
    resolve_adapter,
)
from skillbank.llm.model_runner import Sample
from skillbank.llm.prefix_pool import DEFAULT_POOL_BYTES
from skillbank.llm.template import find_stop


def load_transformers(config: LocalConfig) -> tuple[Any, Any]:
    """(model, tokenizer) for `config` through transformers, in eval mode, with the adapter
    (if any) merged into the weights."""
    torch, transformers = import_transformers()
    adapter = resolve_adapter(config.adapter_path)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path is not a peft adapter directory (no adapter_config.json): {adapter}")
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.model_path is None:
        directory, extra = ensure_checkpoint(config.cache_dir), {}
    else:
        path = existing_path(config.model_path, "model_path")
        if path.is_file():
            if path.suffix != ".gguf":
                raise ConfigError(f"model_path must be a .gguf file or a checkpoint directory: {path}")
            directory, extra = path.parent, {"gguf_file": path.name}
        elif (path / "config.json").is_file():
            directory, extra = path, {}
        else:
            raise ConfigError(f"model_path is not a checkpoint directory (no config.json): {path}")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), **extra)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32, **extra)
    if adapter is not None:
        try:
            import peft
        except ImportError:
            raise ConfigError(f"a LoRA adapter needs peft: {INSTALL_HINT}") from None
        # Merged into the base weights: generation then costs what the base model costs.
        with warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing` (a FutureWarning
            # on every local run's stderr); the model is for inference, so it does not matter.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            model = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    if resolve_dtype(config.dtype) == "bfloat16":
        model = model.to(torch.bfloat16)
    model.eval()
    return model, tokenizer


class TransformersBackend:
    """Greedy or sampled decoding of one prompt or a batch, with a prefix cache
    (`skillbank.llm.engine.PrefixCachedGenerator`): each turn runs only the tokens its
    prompt does not share with a prompt seen before, and a batch decodes its rows together,
    each stopping on its own (the reply-end check runs per row).

    Args:
        model, tokenizer: a transformers causal LM and its tokenizer. The cache assumes
            the weights stay fixed while the backend lives.
        pool_bytes: bound of the prefix cache; 0 turns it off (every prompt is run whole).
        vocab: token ids replies are decoded over (with each prompt's own tokens); None:
            the whole vocabulary.
    """

    def __init__(self, model: Any, tokenizer: Any, *, pool_bytes: int | None = None,
                 vocab: Sequence[int] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # Decoding each open reply every step is quadratic, but replies are a few hundred
        # tokens and one forward pass costs far more than the decodes.
        self.engine = PrefixCachedGenerator(
            model, tokenizer, lambda ids: find_stop(tokenizer.decode(ids, skip_special_tokens=True)) is not None,
            pool_bytes=DEFAULT_POOL_BYTES if pool_bytes is None else pool_bytes, vocab=vocab,
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt)["input_ids"])

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float, seed: int) -> tuple[str, int, str]:
        return self.generate_batch([prompt], max_new_tokens=max_new_tokens, temperature=temperature, seeds=[seed])[0]

    def generate_batch(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                       seeds: Sequence[int]) -> list[tuple[str, int, str]]:
        """(raw text, tokens generated, finish reason) per prompt. Sampling seeds the
        batch with ``seeds[0]``, so a sampled batch replays only with the same prompts."""
        return [self.reply(s.ids, s.eos) for s in self.sample_batch(prompts, max_new_tokens=max_new_tokens,
                                                                    temperature=temperature, seeds=seeds)]

    def sample_batch(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float,
                     seeds: Sequence[int]) -> list[Sample]:
        """`generate_batch`'s replies as token ids: each prompt's ids, the generated ids and
        their log-probs (`reply` turns one into text)."""
        return self.engine.sample(list(prompts), max_new_tokens=max_new_tokens, temperature=temperature,
                                  seed=seeds[0] if seeds else 0)

    def reply(self, new_ids: list[int], eos_hit: bool) -> tuple[str, int, str]:
        """(raw text, tokens generated, finish reason) of a row's generated ids."""
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        finish = "stop" if find_stop(text) is not None else ("eos" if eos_hit else "length")
        return text, len(new_ids), finish

    def continuous(self, *, max_rows: int, max_new_tokens: int, temperature: float,
                   speculate: int = 0) -> ContinuousDecoder:
        """A `skillbank.llm.continuous.ContinuousDecoder` over this backend's engine."""
        return self.engine.continuous(max_rows=max_rows, max_new_tokens=max_new_tokens, temperature=temperature,
                                      speculate=speculate)
