"""The `Policy` protocol every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from skillbank.worlds.base import Task


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
