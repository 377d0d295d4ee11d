"""The llama.cpp backend of the local policy (``llama_cpp`` importable; not part of any
extra): a GGUF model, optionally with a GGUF LoRA, one prompt at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from skillbank.errors import ConfigError
from skillbank.llm.local_config import LocalConfig
from skillbank.llm.model_files import ensure_gguf, existing_path, resolve_adapter
from skillbank.llm.template import TURN_MARKERS, find_stop


class LlamaCppBackend:
    """llama.cpp through ``llama_cpp.Llama``, streamed so the code-fence stop can cut early."""

    def __init__(self, config: LocalConfig):
        try:
            import llama_cpp
        except ImportError:
            raise ConfigError(
                "backend 'llama_cpp' needs the llama-cpp-python package; build it with "
                'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" '
                "pip install llama-cpp-python"
            ) from None
        if config.model_path is None:
            model_path = ensure_gguf(config.cache_dir)
        else:
            model_path = existing_path(config.model_path, "model_path")
            if model_path.suffix != ".gguf":
                raise ConfigError(f"backend 'llama_cpp' needs a .gguf model_path, got {model_path}")
        kwargs: dict[str, Any] = {
            "model_path": str(model_path),
            "n_ctx": config.context_length,
            "seed": config.seed,
            "verbose": False,
        }
        if config.threads:
            kwargs["n_threads"] = config.threads
        adapter = resolve_adapter(config.adapter_path, "llama_cpp")
        if adapter is not None:
            if adapter.suffix != ".gguf":
                raise ConfigError(
                    f"backend 'llama_cpp' needs a GGUF LoRA file as adapter_path (a peft directory works "
                    f"with backend 'transformers'): {adapter}"
                )
            kwargs["lora_path"] = str(adapter)
        self.llm = llama_cpp.Llama(**kwargs)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False))

    def prompt_tokens(self, prompt: str) -> int:
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True))

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float, seed: int) -> tuple[str, int, str]:
        stream: Iterator[dict[str, Any]] = self.llm.create_completion(
            prompt,
            max_tokens=max_new_tokens,
            temperature=temperature,
            # llama.cpp truncates with top-k/top-p/min-p by default; sample from the full
            # softmax like the transformers backend does.
            top_k=0,
            top_p=1.0,
            min_p=0.0,
            seed=seed,
            stop=list(TURN_MARKERS),
            stream=True,
        )
        text, finish = "", "length"
        for chunk in stream:
            choice = chunk["choices"][0]
            text += choice.get("text") or ""
            if find_stop(text) is not None:
                finish = "stop"
                break
            if choice.get("finish_reason") == "stop":
                finish = "stop" if find_stop(text) is not None else "eos"
        if finish == "stop" and hasattr(stream, "close"):
            stream.close()  # let llama.cpp release the sequence it was still decoding
        # Stream chunks are not always one token each (llama.cpp holds back text that may
        # start a stop string), so count what was produced with the model's tokenizer.
        return text, self.count_tokens(text), finish
