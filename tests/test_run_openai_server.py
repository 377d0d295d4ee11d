"""`skillbank run --policy openai` end to end against a real HTTP server on 127.0.0.1.

The server speaks the OpenAI chat-completions protocol and answers like a model that
knows the apps world's reference solutions: it finds the task in the system prompt and
replies with the expert's code. So the whole path is real (CLI options, HTTP request,
response parsing, usage counts, the loop, the sandbox, grading, saving skills) except
the model itself.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from skillbank.cli import main
from skillbank.llm.base import EpisodeInfo, Message
from skillbank.llm.expert import ExpertPolicy
from skillbank.worlds.apps import AppsWorld


@pytest.fixture(scope="module")
def world():
    return AppsWorld(seed=0)


@pytest.fixture
def server(world):
    tasks = world.tasks("dev")
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            messages = [Message(m["role"], m["content"]) for m in body["messages"]]
            system = messages[0].content
            task = next(t for t in tasks if t.instruction in system)
            # Skills the prompt says are loaded decide between a use and a create.
            loaded = tuple(n for n in world.expert_solution(task.id).skill_names if f"def {n}(" in system)
            expert = ExpertPolicy(world)
            expert.start_episode(EpisodeInfo(task=task, skill_names=loaded))
            replies = [m for m in messages if m.role == "assistant"]
            for _ in range(len(replies)):
                expert.generate(messages)  # advance the expert to this turn
            text = expert.generate(messages).text
            payload = json.dumps({
                "id": "cmpl-test", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1000 + len(replies), "completion_tokens": 77, "total_tokens": 1077},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", requests
    httpd.shutdown()
    httpd.server_close()


def test_run_with_an_openai_compatible_server(server, tmp_path, capsys, monkeypatch):
    url, requests = server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    code = main([
        "run", "--policy", "openai", "--base-url", url, "--model", "test-model",
        "--split", "dev", "--limit", "3", "--json",
        "--library", str(tmp_path / "lib.db"), "--runs-dir", str(tmp_path / "runs"),
    ])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["policy"] == "openai" and data["tasks"] == 3
    assert data["tgc"] == 1.0 and data["sgc"] == 1.0
    assert data["skills_created"] == 1 and data["skills_used"] == 2 and data["skills_saved"] == 1
    # token counts come from the server's `usage`, not an estimate
    assert data["mean_tokens"] == pytest.approx(77 * data["mean_steps"])
    assert requests and all(r["path"] == "/v1/chat/completions" for r in requests)
    assert all(r["auth"] == "Bearer sk-test-key" for r in requests)
    assert all(r["body"]["model"] == "test-model" for r in requests)
    assert requests[0]["body"]["messages"][0]["role"] == "system"
