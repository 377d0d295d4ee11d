import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import Message, PolicyError, estimate_prompt_tokens, estimate_tokens
from skillbank.llm.openai_compat import DEFAULT_BASE_URL, OpenAIConfig, OpenAIPolicy

MESSAGES = [Message("system", "You write Python."), Message("user", "Add 2 and 3.")]


def ok_body(text="```python\nprint(5)\n```", usage=True):
    body = {"model": "served-model", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                  "finish_reason": "stop"}]}
    if usage:
        body["usage"] = {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29}
    return body


class Script:
    """A MockTransport handler that answers from a list and records every request."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def make(script, sleeps=None, **config):
    config = {"base_url": "http://fake.test/v1/", "model": "m", "api_key": "sk-test", **config}
    return OpenAIPolicy(
        OpenAIConfig(**config),
        transport=httpx.MockTransport(script),
        sleep=(sleeps.append if sleeps is not None else (lambda s: None)),
        environ={},
    )


def test_request_shape_auth_and_usage():
    script = Script(httpx.Response(200, json=ok_body()))
    completion = make(script, temperature=0.3, max_tokens=77, stop=("\n```\n",)).generate(MESSAGES)
    (request,) = script.requests
    assert request.method == "POST" and str(request.url) == "http://fake.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "m",
        "messages": [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "Add 2 and 3."}],
        "temperature": 0.3,
        "max_tokens": 77,
        "stop": ["\n```\n"],
    }
    assert completion.text == "```python\nprint(5)\n```"
    assert (completion.prompt_tokens, completion.completion_tokens) == (21, 8)
    assert completion.extra["finish_reason"] == "stop" and completion.extra["tokens_estimated"] is False


def test_missing_usage_falls_back_to_the_estimate():
    text = "x = 1\nprint(x)"
    completion = make(Script(httpx.Response(200, json=ok_body(text, usage=False)))).generate(MESSAGES)
    assert completion.completion_tokens == estimate_tokens(text) == 4
    assert completion.prompt_tokens == estimate_prompt_tokens(MESSAGES)
    assert completion.extra["tokens_estimated"] is True


def test_retries_500_then_succeeds_with_exponential_backoff():
    sleeps = []
    script = Script(
        httpx.Response(500, json={"error": {"message": "overloaded"}}),
        httpx.Response(503, text="busy"),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=ok_body("done")),
    )
    completion = make(script, sleeps, backoff_s=0.5).generate(MESSAGES)
    assert completion.text == "done" and len(script.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_429_honours_retry_after_capped():
    sleeps = []
    script = Script(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "slow down"}}),
        httpx.Response(429, headers={"Retry-After": "100"}),
        httpx.Response(200, json=ok_body("after rate limit")),
    )
    assert make(script, sleeps, max_backoff_s=10).generate(MESSAGES).text == "after rate limit"
    assert sleeps == [3.0, 10.0]


def test_no_retry_on_400_and_the_server_message_is_shown():
    script = Script(httpx.Response(400, json={"error": {"message": "max_tokens is too large"}}))
    sleeps = []
    with pytest.raises(PolicyError, match=r"refused the request: HTTP 400: max_tokens is too large"):
        make(script, sleeps).generate(MESSAGES)
    assert len(script.requests) == 1 and sleeps == []


def test_gives_up_after_max_retries_naming_the_last_problem():
    script = Script(*[httpx.Response(502, text="bad gateway")] * 3)
    sleeps = []
    with pytest.raises(PolicyError, match=r"failed after 3 attempt\(s\): HTTP 502: bad gateway"):
        make(script, sleeps, max_retries=2).generate(MESSAGES)
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_malformed_success_bodies_are_policy_errors():
    with pytest.raises(PolicyError, match="not JSON"):
        make(Script(httpx.Response(200, text="<html>"))).generate(MESSAGES)
    with pytest.raises(PolicyError, match="no choices"):
        make(Script(httpx.Response(200, json={"choices": []}))).generate(MESSAGES)


def test_environment_supplies_url_model_and_key():
    config = OpenAIConfig().resolved(
        {"OPENAI_BASE_URL": "http://b/v1", "SKILLBANK_OPENAI_BASE_URL": "http://a/v1/",
         "SKILLBANK_OPENAI_MODEL": "env-model", "OPENAI_API_KEY": "env-key"}
    )
    assert (config.base_url, config.model, config.api_key) == ("http://a/v1", "env-model", "env-key")
    config = OpenAIConfig(model="explicit").resolved({"OPENAI_BASE_URL": "http://b/v1"})
    assert (config.base_url, config.model, config.api_key) == ("http://b/v1", "explicit", None)
    assert OpenAIConfig(model="m").resolved({}).base_url == DEFAULT_BASE_URL


def test_no_key_sends_no_authorization_header():
    script = Script(httpx.Response(200, json=ok_body()))
    make(script, api_key=None).generate(MESSAGES)
    assert "authorization" not in script.requests[0].headers


@pytest.mark.parametrize(
    ("kwargs", "error", "problem"),
    [({"timeout_s": 0}, ValidationError, "timeout_s"), ({"max_retries": -1}, ValidationError, "max_retries"),
     ({"max_tokens": 0}, ValidationError, "max_tokens"), ({"temperature": -0.1}, ValidationError, "temperature")],
)
def test_bad_config_values(kwargs, error, problem):
    with pytest.raises(error, match=problem):
        OpenAIConfig(model="m", **kwargs)


def test_bad_base_url_and_missing_model():
    with pytest.raises(ConfigError, match="must start with http"):
        OpenAIConfig(base_url="localhost:8000", model="m").resolved({})
    with pytest.raises(ConfigError, match="no model"):
        OpenAIConfig(base_url="http://x/v1").resolved({})


# A real socket, to check timeouts and connection errors as httpx really raises them.
class _SlowThenFast(BaseHTTPRequestHandler):
    delays: list[float] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.rfile.read(length)
        delay = self.delays.pop(0) if self.delays else 0.0
        time.sleep(delay)
        body = json.dumps(ok_body("from server")).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (_SlowThenFast,), {"delays": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, handler
    httpd.shutdown()
    httpd.server_close()


def test_timeout_is_retried_then_reported(server):
    httpd, handler = server
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    handler.delays[:] = [1.0]
    config = OpenAIConfig(base_url=url, model="m", timeout_s=0.2, max_retries=1, backoff_s=0.0)
    with OpenAIPolicy(config, environ={}) as policy:
        assert policy.generate(MESSAGES).text == "from server"  # first attempt timed out
    handler.delays[:] = [1.0, 1.0]
    config = OpenAIConfig(base_url=url, model="m", timeout_s=0.2, max_retries=1, backoff_s=0.0)
    with OpenAIPolicy(config, environ={}) as policy, pytest.raises(PolicyError, match=r"timed out after 0.2s"):
        policy.generate(MESSAGES)


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    config = OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=2, backoff_s=0.25)
    with OpenAIPolicy(config, sleep=sleeps.append, environ={}) as policy:
        with pytest.raises(PolicyError, match=r"failed after 3 attempt\(s\): connection failed \(ConnectError"):
            policy.generate(MESSAGES)
    assert sleeps == [0.25, 0.5]
