"""Build a policy by name: ``make_policy("openai" | "local" | "replay" | "expert", **options)``.

Options per name:

- ``openai``: the fields of `OpenAIConfig` (or ``config=OpenAIConfig(...)``), plus
  ``transport`` for tests;
- ``local``: the fields of `LocalConfig` (or ``config=LocalConfig(...)``);
- ``replay``: ``responses=[...]`` or ``path="recorded.jsonl"``;
- ``expert``: ``world=<World>``.

Backends are imported when asked for, so naming one never pays for another's imports.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol, TypeVar

from skillbank.errors import ValidationError
from skillbank.llm.base import Policy

POLICY_NAMES = ("openai", "local", "replay", "expert")


def _reject_unknown(name: str, options: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValidationError(
            f"unknown option(s) for policy {name!r}: {', '.join(unknown)}; expected some of {', '.join(allowed)}"
        )


class _Config(Protocol):
    """A backend's config class: a dataclass that names its fields (`OpenAIConfig`, `LocalConfig`)."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]: ...


_C = TypeVar("_C", bound=_Config)


def _build_config(name: str, config_cls: type[_C], options: dict[str, Any], extra: tuple[str, ...] = ()) -> _C:
    fields = config_cls.field_names()
    _reject_unknown(name, options, ("config", *fields, *extra))
    config = options.pop("config", None)
    settings = {k: options.pop(k) for k in fields if k in options}
    if config is not None:
        if settings:
            raise ValidationError(f"policy {name!r}: pass either config=... or individual settings, not both")
        if not isinstance(config, config_cls):
            raise ValidationError(f"policy {name!r}: config must be a {config_cls.__name__}, got {type(config).__name__}")
        return config
    return config_cls(**settings)


def make_policy(name: str, **options: Any) -> Policy:
    """A policy of the backend `name`, configured from `options` (see the module docstring)."""
    if name == "openai":
        from skillbank.llm.openai_compat import OpenAIConfig, OpenAIPolicy

        config = _build_config(name, OpenAIConfig, options, extra=("transport",))
        return OpenAIPolicy(config, **options)
    if name == "local":
        from skillbank.llm.local import LocalPolicy
        from skillbank.llm.local_config import LocalConfig

        return LocalPolicy(_build_config(name, LocalConfig, options))
    if name == "replay":
        from skillbank.llm.replay import ReplayPolicy

        _reject_unknown(name, options, ("responses", "path"))
        if ("responses" in options) == ("path" in options):
            raise ValidationError("policy 'replay' needs exactly one of responses=[...] or path=...")
        if "path" in options:
            return ReplayPolicy.from_jsonl(options["path"])
        return ReplayPolicy(options["responses"])
    if name == "expert":
        _reject_unknown(name, options, ("world",))
        if "world" not in options:
            raise ValidationError("policy 'expert' needs world=<World>: it plays that world's reference solutions")
        from skillbank.llm.expert import ExpertPolicy

        return ExpertPolicy(world=options["world"])
    raise ValidationError(f"unknown policy {name!r}; expected one of {', '.join(POLICY_NAMES)}")


#: Settings never written to a run's record.
_SECRET_FIELDS = frozenset({"api_key"})


def describe_policy(policy: Any) -> dict[str, Any]:
    """What a run must record to be reproduced: the policy's name and its resolved
    settings (model, base URL, adapter, temperature, token budget, seed, ...), secrets
    left out."""
    described: dict[str, Any] = {"name": getattr(policy, "name", type(policy).__name__)}
    config = getattr(policy, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        for f in dataclasses.fields(config):
            if f.name in _SECRET_FIELDS:
                continue
            value = getattr(config, f.name)
            described[f.name] = str(value) if isinstance(value, Path) else (
                list(value) if isinstance(value, tuple) else value)
    for attr in ("path", "source_path"):
        if isinstance(getattr(policy, attr, None), (str, Path)):
            described[attr] = str(getattr(policy, attr))
    return described
