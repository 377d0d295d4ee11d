"""The replay policy: plays recorded responses in order, for tests and for re-running a
recorded trace without a model.

Responses come from a list or a JSONL file. Each JSONL line is either a JSON string (the
response text) or an object ``{"text": ..., "prompt_tokens": ..., "completion_tokens":
...}`` whose counts are optional. Counts that were not recorded are estimated with the
shared rule of `skillbank.llm.base` (ceil(chars / 4), plus 4 per prompt message).

Responses are consumed across episodes: `start_episode` does not rewind, so one replay
can script a whole chain of tasks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import (
    Completion,
    EpisodeInfo,
    Message,
    PolicyError,
    estimate_prompt_tokens,
    estimate_tokens,
)


@dataclass(frozen=True)
class RecordedResponse:
    """One recorded reply; counts are None when the recording did not keep them."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _coerce(item: Any, where: str) -> RecordedResponse:
    if isinstance(item, RecordedResponse):
        return item
    if isinstance(item, str):
        return RecordedResponse(item)
    if isinstance(item, Completion):
        return RecordedResponse(item.text, item.prompt_tokens, item.completion_tokens)
    if isinstance(item, Mapping):
        text = item.get("text")
        if not isinstance(text, str):
            raise ValidationError(f"{where}: a recorded response needs a string 'text' field")
        counts = []
        for key in ("prompt_tokens", "completion_tokens"):
            value = item.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValidationError(f"{where}: '{key}' must be a non-negative integer, got {value!r}")
            counts.append(value)
        return RecordedResponse(text, counts[0], counts[1])
    raise ValidationError(
        f"{where}: a recorded response must be a string or an object with 'text', got {type(item).__name__}"
    )


def load_responses(path: str | Path) -> list[RecordedResponse]:
    """Read a JSONL file of recorded responses (see the module docstring for the format)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"replay file not found: {path}")
    responses = []
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            responses.append(_coerce(item, f"{path}:{lineno}"))
    return responses


class ReplayPolicy:
    """`Policy` that returns recorded responses one per `generate` call, in order."""

    name = "replay"

    def __init__(self, responses: Iterable[str | Mapping[str, Any] | Completion | RecordedResponse]):
        if isinstance(responses, (str, bytes)):
            raise ValidationError("responses must be a list of responses, not a single string")
        self._responses = tuple(_coerce(r, f"response {i}") for i, r in enumerate(responses))
        self._next = 0
        # What each call was asked, so tests can check the prompts the agent built.
        self.prompts: list[tuple[Message, ...]] = []

    @classmethod
    def from_jsonl(cls, path: str | Path) -> ReplayPolicy:
        return cls(load_responses(path))

    @property
    def remaining(self) -> int:
        return len(self._responses) - self._next

    def start_episode(self, info: EpisodeInfo) -> None:
        pass

    def generate(self, messages: Sequence[Message]) -> Completion:
        start = time.perf_counter()
        if self._next >= len(self._responses):
            raise PolicyError(
                f"replay policy exhausted: all {len(self._responses)} recorded responses were "
                f"played and call {self._next + 1} asked for another"
            )
        recorded = self._responses[self._next]
        self._next += 1
        self.prompts.append(tuple(messages))
        return Completion(
            text=recorded.text,
            prompt_tokens=(
                recorded.prompt_tokens
                if recorded.prompt_tokens is not None
                else estimate_prompt_tokens(messages)
            ),
            completion_tokens=(
                recorded.completion_tokens
                if recorded.completion_tokens is not None
                else estimate_tokens(recorded.text)
            ),
            latency_s=time.perf_counter() - start,
            extra={"replay_index": self._next - 1},
        )

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)
