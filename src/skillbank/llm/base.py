"""The `Policy` protocol every backend implements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from skillbank.errors import SkillbankError
from skillbank.worlds.base import Task

# The token estimate for policies without a tokenizer of their own (replay, an
# OpenAI-compatible server that omits `usage`): one token per 4 characters, rounded up,
# the usual rule of thumb for English and code under BPE tokenizers, plus 4 tokens of
# framing per message (role and separators, as chat templates add). The expert policy
# uses the same rule, so counts from scripted and served policies are comparable.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


class PolicyError(SkillbankError):
    """A policy could not produce a completion: the server kept failing or refused the
    request, a replay ran out of recorded responses, the model produced nothing usable."""


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EpisodeInfo:
    """What a policy may know at the start of a task: scripted policies need it."""

    task: Task
    skill_names: tuple[str, ...] = ()  # skills loaded into this task's session


class Policy(Protocol):
    name: str

    def start_episode(self, info: EpisodeInfo) -> None: ...

    def generate(self, messages: Sequence[Message]) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...


def estimate_tokens(text: str) -> int:
    """Estimated token count of `text`: ceil(len(text) / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """Estimated prompt size: each message's content estimate plus 4 tokens of framing."""
    return sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
