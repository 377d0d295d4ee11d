"""`LocalConfig`: the settings of the local policy (`skillbank.llm.local.LocalPolicy`),
checked when built, and the weight type its ``"auto"`` dtype resolves to on this CPU."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from skillbank.errors import ValidationError
from skillbank.llm.model_files import ADAPTER_DEFAULT

#: Weight types of the transformers backend (`LocalConfig.dtype`); "auto" resolves with
#: `resolve_dtype`.
DTYPES = ("auto", "float32", "bfloat16")
#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); False when
    the flags cannot be read (not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def resolve_dtype(dtype: str) -> str:
    """``"auto"`` is bfloat16 on a CPU with native bfloat16 arithmetic, else float32."""
    if dtype == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return dtype


@dataclass(frozen=True)
class LocalConfig:
    """Settings of a `LocalPolicy`.

    Attributes:
        model_path: None for the bundled Gemma 3 270M; else a ``.gguf`` file or a
            transformers checkpoint directory (e.g. an SFT model with merged weights).
        adapter_path: ``"default"``: the SFT adapter shipped in the package
            (transformers backend; the llama.cpp backend has none and runs the base
            model); ``"none"`` or None: the base model; else a peft LoRA adapter directory
            (transformers) or a GGUF LoRA file (llama.cpp). Default ``"default"``.
        backend: ``"transformers"`` (default) or ``"llama_cpp"`` (needs ``llama_cpp``
            importable; not part of any extra).
        max_new_tokens: the completion budget per turn. Default 512.
        temperature: 0 is greedy decoding; above 0 samples from the full softmax at that
            temperature (no top-k/top-p truncation). Default 0.0.
        seed: sampling seed; call n of a policy uses ``seed + n``, so a run replays
            exactly whatever else uses the global RNG. Default 0.
        threads: CPU threads; None keeps the library's default. For transformers this sets
            torch's process-wide thread count. Default None.
        cache_dir: where the assembled GGUF and the converted checkpoint live. Default
            None: `default_cache_dir()`.
        context_length: the llama.cpp context window (prompt plus reply). Default 8192.
        batch_size: most concurrent episodes generated as one batch (transformers
            backend); 1 turns batching off. Default 16 (a whole apps split's scenarios).
        batch_wait_s: how long a request waits for the other open streams before its
            batch runs without them. Default 0.5.
        dtype: the transformers backend's weights: ``"auto"`` (default: bfloat16 on a
            CPU with AVX-512 BF16 or AMX, else float32), ``"float32"`` or ``"bfloat16"``
            (the adapter is merged in float32 first, then the model is cast; greedy text
            may differ from float32's on a near tie).
        vocab: ``"adapter"`` (default): when the adapter ships a `model_files.VOCAB_FILE` (the
            bundled one does), replies are decoded over its training tokens plus the
            prompt's tokens (see `skillbank.llm.model_runner.ModelRunner`); the base
            model and adapters without the file use the whole vocabulary. ``"full"``:
            always the whole vocabulary.
        batching: how the transformers backend batches concurrent episodes:
            ``"continuous"`` (default; `skillbank.llm.continuous`: a row joins the running
            batch at the next step and leaves when its reply ends; sampled replies use a
            generator seeded per call) or ``"lockstep"`` (the calls that arrive together
            decode as one batch, which ends with its longest reply; `batch_wait_s`).
        speculate: continuous batching, greedy decoding: most tokens a row drafts per
            decoding step by prompt lookup (the text's latest earlier continuation of
            its last tokens; the model keeps those it would have picked, so the text is
            the same). 0 turns drafting off. Default 8.
    """

    model_path: str | Path | None = None
    adapter_path: str | Path | None = ADAPTER_DEFAULT
    backend: Literal["transformers", "llama_cpp"] = "transformers"
    max_new_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    threads: int | None = None
    cache_dir: str | Path | None = None
    context_length: int = 8192
    batch_size: int = 16
    batch_wait_s: float = 0.5
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    vocab: Literal["adapter", "full"] = "adapter"
    batching: Literal["continuous", "lockstep"] = "continuous"
    speculate: int = 8

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValidationError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.batching not in ("continuous", "lockstep"):
            raise ValidationError(f"batching must be 'continuous' or 'lockstep', got {self.batching!r}")
        if not isinstance(self.speculate, int) or isinstance(self.speculate, bool) or self.speculate < 0:
            raise ValidationError(f"speculate must be an integer >= 0, got {self.speculate!r}")
        if self.vocab not in ("adapter", "full"):
            raise ValidationError(f"vocab must be 'adapter' or 'full', got {self.vocab!r}")
        if self.backend not in ("transformers", "llama_cpp"):
            raise ValidationError(f"backend must be 'transformers' or 'llama_cpp', got {self.backend!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens <= 0:
            raise ValidationError(f"max_new_tokens must be a positive integer, got {self.max_new_tokens!r}")
        if not self.temperature >= 0:
            raise ValidationError(f"temperature must be >= 0, got {self.temperature!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ValidationError(f"threads must be a positive integer or None, got {self.threads!r}")
        if not isinstance(self.batch_size, int) or self.batch_size <= 0:
            raise ValidationError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not self.batch_wait_s >= 0:
            raise ValidationError(f"batch_wait_s must be >= 0, got {self.batch_wait_s!r}")
        if not isinstance(self.context_length, int) or self.context_length <= 0:
            raise ValidationError(f"context_length must be a positive integer, got {self.context_length!r}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
