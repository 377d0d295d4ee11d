"""A policy served by any OpenAI-compatible chat-completions server (OpenAI, vLLM,
llama.cpp's server, Ollama, LM Studio, ...), spoken to directly with httpx.

Settings come from `OpenAIConfig`; any of base URL, model and key left as None is read
from the environment:

- base URL: ``SKILLBANK_OPENAI_BASE_URL``, then ``OPENAI_BASE_URL``, then
  ``https://api.openai.com/v1``;
- model: ``SKILLBANK_OPENAI_MODEL`` (required one way or the other);
- key: ``OPENAI_API_KEY``; with no key no ``Authorization`` header is sent, which is what
  local servers expect.

Failures that may pass (HTTP 429 and 5xx, connection errors, timeouts) are retried with
exponential backoff (`backoff_s` doubling per attempt, capped at `max_backoff_s`; a
numeric ``Retry-After`` header wins when the server sends one). Other 4xx responses are a
problem with the request and fail at once with the server's message.

Token counts come from the response's ``usage`` field; a server that omits it gets the
shared estimate of `skillbank.llm.base`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import httpx

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import (
    Completion,
    EpisodeInfo,
    Message,
    PolicyError,
    estimate_prompt_tokens,
    estimate_tokens,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# 429 (rate limit) and 5xx may pass; any other 4xx will fail the same way again.
_RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class OpenAIConfig:
    """Settings of an `OpenAIPolicy`.

    Attributes:
        base_url: the server's API root, e.g. ``http://127.0.0.1:8000/v1``. Default None:
            from the environment (see the module docstring).
        model: the model name the server knows. Default None: ``SKILLBANK_OPENAI_MODEL``.
        api_key: sent as ``Authorization: Bearer <key>``. Default None: ``OPENAI_API_KEY``,
            or no header at all.
        timeout_s: per-request timeout in seconds (connect, read, write, pool). Default 60.
        max_retries: retries after the first attempt for 429/5xx/connection errors and
            timeouts. Default 4.
        temperature: sampling temperature; 0 asks for greedy decoding. Default 0.0.
        max_tokens: completion budget per turn; 1,500 is the paper's per-step limit.
        backoff_s: the first retry's delay; each later one doubles it. Default 0.5.
        max_backoff_s: the cap on any single delay, Retry-After included. Default 20.
        stop: stop sequences passed to the server. Default none.
        seed: sent as the request's ``seed`` (servers that support it sample
            reproducibly); None sends none. Default None.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 4
    temperature: float = 0.0
    max_tokens: int = 1500
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValidationError(f"timeout_s must be positive, got {self.timeout_s!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValidationError(f"max_retries must be a non-negative integer, got {self.max_retries!r}")
        if not self.temperature >= 0:
            raise ValidationError(f"temperature must be >= 0, got {self.temperature!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens <= 0:
            raise ValidationError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValidationError("backoff_s and max_backoff_s must be >= 0")
        if isinstance(self.stop, str):
            # A bare string would otherwise become a tuple of single characters.
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))

    def resolved(self, environ: Mapping[str, str] | None = None) -> OpenAIConfig:
        """This config with base URL, model and key filled in from the environment."""
        env = os.environ if environ is None else environ
        base_url = (
            self.base_url
            or env.get("SKILLBANK_OPENAI_BASE_URL")
            or env.get("OPENAI_BASE_URL")
            or DEFAULT_BASE_URL
        )
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"OpenAI base URL must start with http:// or https://, got {base_url!r}")
        model = self.model or env.get("SKILLBANK_OPENAI_MODEL")
        if not model:
            raise ConfigError("no model for the openai policy: pass model=... or set SKILLBANK_OPENAI_MODEL")
        api_key = self.api_key or env.get("OPENAI_API_KEY") or None
        return replace(self, base_url=base_url.rstrip("/"), model=model, api_key=api_key)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _server_message(response: httpx.Response) -> str:
    """The server's own explanation, from an OpenAI-style error body when there is one."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return response.text.strip()[:300]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


class OpenAIPolicy:
    """`Policy` backed by ``POST {base_url}/chat/completions``.

    `transport` and `sleep` exist for tests (an ``httpx.MockTransport``, a no-op sleep).
    """

    name = "openai"

    def __init__(
        self,
        config: OpenAIConfig | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ):
        self.config = (config or OpenAIConfig()).resolved(environ)
        self._sleep = sleep
        assert self.config.base_url is not None, "resolved() always fills in the base URL"
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        self._client = httpx.Client(
            base_url=self.config.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.config.timeout_s),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_episode(self, info: EpisodeInfo) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def request_body(self, messages: Sequence[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }
        if self.config.stop:
            body["stop"] = list(self.config.stop)
        if self.config.seed is not None:
            body["seed"] = self.config.seed
        return body

    def generate(self, messages: Sequence[Message]) -> Completion:
        if not messages:
            raise ValidationError("generate needs at least one message")
        body = self.request_body(messages)
        start = time.perf_counter()
        response = self._post_with_retries(body)
        latency = time.perf_counter() - start
        return self._completion(response, messages, latency)

    def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.config.base_url}/chat/completions"
        attempts = self.config.max_retries + 1
        last_problem = ""
        for attempt in range(attempts):
            delay = min(self.config.max_backoff_s, self.config.backoff_s * 2**attempt)
            try:
                response = self._client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                last_problem = f"timed out after {self.config.timeout_s:g}s"
            except httpx.TransportError as exc:
                last_problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                if response.status_code < 300:
                    try:
                        payload = response.json()
                    except ValueError:
                        raise PolicyError(f"{url} returned a body that is not JSON") from None
                    if not isinstance(payload, dict):
                        raise PolicyError(f"{url} returned JSON that is not an object")
                    return payload
                message = _server_message(response)
                if response.status_code not in _RETRY_STATUS:
                    raise PolicyError(f"{url} refused the request: HTTP {response.status_code}: {message}")
                last_problem = f"HTTP {response.status_code}: {message}"
                server_delay = _retry_after(response)
                if server_delay is not None:
                    delay = min(self.config.max_backoff_s, server_delay)
            if attempt + 1 < attempts:
                self._sleep(delay)
        raise PolicyError(f"{url} failed after {attempts} attempt(s): {last_problem}")

    def _completion(
        self, payload: dict[str, Any], messages: Sequence[Message], latency: float
    ) -> Completion:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            raise PolicyError("the server's response has no choices")
        choice = choices[0]
        message = choice.get("message") if isinstance(choice, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        if text is None:
            text = ""  # a server may send null content with finish_reason "length"
        if not isinstance(text, str):
            raise PolicyError("the server's response has no message content string")
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        estimated = not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int)
        if not isinstance(prompt_tokens, int):
            prompt_tokens = estimate_prompt_tokens(messages)
        if not isinstance(completion_tokens, int):
            completion_tokens = estimate_tokens(text)
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency,
            extra={
                "model": payload.get("model", self.config.model),
                "finish_reason": choice.get("finish_reason"),
                "tokens_estimated": estimated,
            },
        )
