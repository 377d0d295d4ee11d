"""The configuration of an SFT run (`skillbank train sft --config FILE.toml`).

The TOML file holds the fields of `SftConfig` at its top level, e.g.::

    data = "sft-data"            # a directory written by `skillbank data sft`
    out_dir = "runs/sft-gemma"
    max_length = 2048
    lora_r = 16
    max_minutes = 40

Relative paths are taken from the current directory (as command-line paths are), so a
config checked into a repository works from its root. Unknown keys are an error.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from skillbank.errors import ConfigError, ValidationError

PRECISIONS = ("bf16", "fp32")
GRADIENTS = ("truncated", "full")
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class SftConfig:
    """One LoRA SFT run.

    Attributes:
        data: records from `skillbank data sft` (a directory or its records.jsonl).
        out_dir: the run directory: checkpoints, metrics.jsonl, loss.png, the adapter.
        model_path: None for the bundled Gemma 3 270M (its converted checkpoint), else a
            transformers checkpoint directory.
        variants: which record variants to train on (``skills``, ``no-skills``).
        max_length: records longer than this many tokens are dropped (never cut: a cut
            record would teach text the agent never shows).
        max_examples: keep at most this many records (after a seeded shuffle); None: all.
        epochs: passes over the kept records.
        lora_r, lora_alpha, lora_dropout, target_modules: the LoRA adapter.
        learning_rate: peak AdamW learning rate, after `warmup_steps` linear warmup, then
            linear decay to 10% over the planned optimizer steps.
        grad_accum: records per optimizer step (one record per forward pass).
        weight_decay, max_grad_norm: AdamW decay and gradient clipping.
        max_minutes: wall-time budget; training stops (and saves) when it is spent.
        save_every: optimizer steps between checkpoints (resume picks up the last).
        seed: shuffling and LoRA initialisation.
        threads: torch CPU threads; None keeps torch's default.
        precision: ``bf16`` runs the forward and backward passes under bfloat16 autocast
            (the adapter's weights, the optimizer and the loss stay float32; on CPUs with
            AVX-512 BF16 a 1.7k-token record trains ~1.4x faster); ``fp32`` does not.
        gradient: ``truncated`` feeds the context (system prompt, observations) through
            the KV cache without a gradient, ``full`` back-propagates through it too
            (exact, slower); see `example_loss`.
    """

    data: str
    out_dir: str
    model_path: str | None = None
    variants: tuple[str, ...] = ("skills", "no-skills")
    max_length: int = 2048
    max_examples: int | None = None
    epochs: float = 1.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    learning_rate: float = 2e-4
    warmup_steps: int = 5
    grad_accum: int = 4
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_minutes: float = 40.0
    save_every: int = 10
    seed: int = 0
    threads: int | None = None
    precision: str = "bf16"
    gradient: str = "truncated"

    def __post_init__(self) -> None:
        positive = ("max_length", "lora_r", "lora_alpha", "grad_accum", "save_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        if self.max_examples is not None and (not isinstance(self.max_examples, int) or self.max_examples <= 0):
            raise ValidationError(f"max_examples must be a positive integer or absent, got {self.max_examples!r}")
        if not self.epochs > 0:
            raise ValidationError(f"epochs must be positive, got {self.epochs!r}")
        if not self.learning_rate > 0:
            raise ValidationError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not self.max_minutes > 0:
            raise ValidationError(f"max_minutes must be positive, got {self.max_minutes!r}")
        if not 0 <= self.lora_dropout < 1:
            raise ValidationError(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ValidationError(f"threads must be a positive integer or absent, got {self.threads!r}")
        if not self.target_modules:
            raise ValidationError("target_modules must name at least one module")
        if self.precision not in PRECISIONS:
            raise ValidationError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.gradient not in GRADIENTS:
            raise ValidationError(f"gradient must be one of {', '.join(GRADIENTS)}, got {self.gradient!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SftConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown SFT config key(s): {', '.join(unknown)}; expected some of {', '.join(sorted(names))}")
        missing = [k for k in ("data", "out_dir") if k not in data]
        if missing:
            raise ConfigError(f"the SFT config needs {' and '.join(missing)}")
        values = dict(data)
        for key in ("variants", "target_modules"):
            if key in values:
                if not isinstance(values[key], list) or not all(isinstance(v, str) for v in values[key]):
                    raise ConfigError(f"{key} must be a list of strings")
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"bad SFT config: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}


def load_config(path: str | Path) -> SftConfig:
    """Read a TOML file into an `SftConfig`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"no SFT config at {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return SftConfig.from_dict(data)
