"""The `Policy` protocol every backend implements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

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


#: Who speaks a `Message`.
Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class SampledTokens:
    """What a policy that decodes itself sampled for one reply: the data RL trains on.

    ``prompt_ids`` are the tokens the model read (the rendered prompt, BOS first, never
    truncated); ``completion_ids`` every token it sampled, in order, up to and including
    the one that ended the reply (a closing fence's token, a turn marker's, EOS), so
    possibly more than `Completion.text` shows; ``logprobs[i]`` is the log-probability
    ``completion_ids[i]`` had under the distribution it was drawn from: the softmax of the
    logits divided by ``temperature`` (of the logits themselves when ``temperature`` is 0,
    greedy). ``truncated``: the reply hit the token budget before it ended.
    """

    prompt_ids: tuple[int, ...]
    completion_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    temperature: float
    truncated: bool = False

    def __post_init__(self) -> None:
        if len(self.completion_ids) != len(self.logprobs):
            raise ValueError(f"{len(self.completion_ids)} completion ids but {len(self.logprobs)} log-probs")


@dataclass(frozen=True)
class Completion:
    """A reply. ``tokens``: the sampled ids and their log-probs, from a policy that
    decodes itself (the local model); None from a server, a script or a replay."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    tokens: SampledTokens | None = None


@dataclass(frozen=True)
class EpisodeInfo:
    """What a policy may know at the start of a task: scripted policies need it."""

    task: Task
    skill_names: tuple[str, ...] = ()  # skills loaded into this task's session


class Policy(Protocol):
    """What the agent needs of a policy. A policy may also have the optional members of
    `BatchingPolicy`, `DecodingReport` and `ClosablePolicy`; their users check for them
    with ``isinstance`` and fall back to the documented default."""

    name: str

    def start_episode(self, info: EpisodeInfo) -> None: ...

    def generate(self, messages: Sequence[Message]) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class BatchingPolicy(Protocol):
    """Optional members of a policy that serves several episodes at once (the batching
    local model). Without them a policy serves one episode at a time."""

    @property
    def max_concurrency(self) -> int:
        """How many episodes it serves at once (1: no batching); the runner plays that
        many scenarios on threads, and the run's sandbox pool has a worker for each."""
        ...

    def stream(self) -> AbstractContextManager[None]:
        """Entered by each thread that will call `generate` repeatedly (one scenario's
        tasks), so the policy knows how many requests to wait for."""
        ...


@runtime_checkable
class DecodingReport(Protocol):
    """Optional member of a policy whose decoder reports its figures (the local model);
    the run's summary carries them as ``decoding``. Without it: no figures."""

    def decoding_stats(self) -> dict[str, Any] | None: ...


@runtime_checkable
class ClosablePolicy(Protocol):
    """Optional member of a policy that holds resources (a connection pool); whoever
    made the policy closes it once the run ended. Without it there is nothing to close."""

    def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """Estimated token count of `text`: ceil(len(text) / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """Estimated prompt size: each message's content estimate plus 4 tokens of framing."""
    return sum(estimate_tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
