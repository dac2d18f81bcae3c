"""LoRA and full fine-tuning on a random tiny Llama and the tiny GPT: base weights untouched,
merge equivalence, adapter save/reload; task generators seeded and train/test disjoint;
chat rendering. One slow smoke test on SmolLM2 itself."""

import copy

import pytest
import torch

from qmml.supervised.llm.bpe import ByteTokenizer
from qmml.supervised.llm.config import GPTConfig
from qmml.supervised.llm.finetune import (
    FinetuneConfig,
    LoraSettings,
    adapter_bytes,
    add_lora,
    finetune,
    logits_of,
    merge_check,
    merge_dlogit_fp32,
    rounding_dlogit_fp32,
    trainable_share,
)
from qmml.supervised.llm.load import tiny_llama
from qmml.supervised.llm.model import GPT
from qmml.supervised.llm.prompts import render_answer, render_chat, task_messages
from qmml.supervised.llm.tasks import TASKS, get_task


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _examples(tok, n=8):
    task = get_task("date")
    return [render_answer(tok, task_messages(task, i), i.answer) for i in task.items(n, 0, "train")]


@pytest.mark.parametrize("which", ["llama", "gpt"])
def test_lora_leaves_base_weights_untouched_and_merges_exactly(which, tmp_path):
    if which == "llama":
        lm = tiny_llama(0)
        model, tok = lm.model, lm.tokenizer
    else:
        model = GPT(GPTConfig(257, block_size=512, n_layer=2, n_head=4, n_embd=64))
        tok = ByteTokenizer()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    peft_model = add_lora(model, LoraSettings(rank=4, targets=("q_proj", "v_proj")))
    n_train, n_all = trainable_share(peft_model)
    assert 0 < n_train < 0.1 * n_all
    run = finetune(peft_model, tok, _examples(tok), FinetuneConfig(steps=4, lr=1e-2))
    assert run.step_loss.shape == (4,) and run.cpu_s_per_step > 0
    after = peft_model.get_base_model().state_dict()
    for k, v in base.items():  # the frozen weights, now under .base_layer
        key = k if k in after else k.replace(".weight", ".base_layer.weight")
        assert torch.equal(after[key], v), k
    lora_b = [p for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b)  # it did learn something
    probe = torch.tensor([_examples(tok, 1)[0][0]])
    peft_model.save_pretrained(str(tmp_path / "adapter"), save_embedding_layers=False)
    assert adapter_bytes(tmp_path / "adapter") > 0
    assert merge_dlogit_fp32(peft_model, probe) < 1e-4
    merged, dlogit = merge_check(peft_model, probe, float64=which == "gpt")
    assert dlogit < (1e-10 if which == "gpt" else 1e-4)
    assert not any("lora" in n for n, _ in merged.named_parameters())


def test_adapter_reloads_to_the_same_logits(tmp_path):
    from peft import PeftModel

    lm = tiny_llama(1)
    peft_model = add_lora(copy.deepcopy(lm.model), LoraSettings(rank=2))
    finetune(peft_model, lm.tokenizer, _examples(lm.tokenizer), FinetuneConfig(steps=2, lr=1e-2))
    peft_model.save_pretrained(str(tmp_path), save_embedding_layers=False)
    again = PeftModel.from_pretrained(tiny_llama(1).model, str(tmp_path)).eval()
    probe = torch.arange(20)[None]
    assert torch.allclose(logits_of(peft_model.eval(), probe), logits_of(again, probe))


def test_full_finetune_is_seeded():
    def run():
        model = GPT(GPTConfig(257, block_size=512, n_layer=1, n_head=2, n_embd=16))
        r = finetune(model, ByteTokenizer(), _examples(ByteTokenizer()), FinetuneConfig(steps=3))
        return model, r

    (m1, r1), (m2, r2) = run(), run()
    assert (r1.step_loss == r2.step_loss).all() and r1.step_loss.shape == (3,)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))


def test_bad_lora_targets_name_the_choices():
    with pytest.raises(ValueError, match="q_proj"):
        add_lora(tiny_llama(0).model, LoraSettings(targets=("c_attn",)))
    with pytest.raises(ValueError, match="rank"):
        LoraSettings(rank=0)


def test_float64_merge_check_sees_a_wrong_merge(monkeypatch):
    """The float64 check can read exactly 0 on a small model (per-layer differences of
    ~1e-15 vanish in the logits), so show that it is not blind: a merge off by 1e-6 in one
    weight shows up, and the float32 rounding floor is measured above zero."""
    lm = tiny_llama(0)
    peft_model = add_lora(lm.model, LoraSettings(rank=4, targets=("q_proj", "v_proj")))
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(0))
    probe = torch.tensor([_examples(lm.tokenizer, 1)[0][0]])
    assert rounding_dlogit_fp32(copy.deepcopy(peft_model), probe) > 0
    good = merge_check(copy.deepcopy(peft_model), probe, float64=True)[1]
    real = peft_model.merge_and_unload

    def off_by_a_little(*args, **kwargs):
        merged = real(*args, **kwargs)
        with torch.no_grad():
            merged.model.layers[0].self_attn.q_proj.weight[0, 0] += 1e-6
        return merged

    monkeypatch.setattr(peft_model, "merge_and_unload", off_by_a_little, raising=False)
    bad = merge_check(peft_model, probe, float64=True)[1]
    assert good < 1e-12 < 1e-9 < bad


@pytest.mark.parametrize("name", sorted(TASKS))
def test_tasks_are_seeded_and_train_test_disjoint(name):
    task = TASKS[name]
    n = 20 if name == "capital" else 50  # 62 countries, half of them held out
    a, b = task.items(n, 7, "train"), task.items(n, 7, "train")
    assert a == b and a != task.items(n, 8, "train")
    train = {i.key for s in range(5) for i in task.items(n, s, "train")}
    test = {i.key for s in range(5) for i in task.items(20, s, "test")}
    assert train and test and not train & test
    assert all(task.well_formed(i.answer) for i in a)
    with pytest.raises(ValueError, match="split"):
        task.items(1, 0, "val")


def test_date_answers_and_unknown_task():
    item = get_task("date").items(1, 0)[0]
    y, _, d = item.key.split("-")
    assert item.answer.startswith(f"{int(d)} ") and item.answer.endswith(y)
    with pytest.raises(ValueError, match="choose from"):
        get_task("dates")


def test_chat_rendering_masks_the_prompt():
    tok = tiny_llama(0).tokenizer
    task = get_task("units")
    item, shots = task.items(1, 0, "test")[0], task.items(3, 0)
    msgs = task_messages(task, item, shots=shots, system=False)
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 3 + ["user"]
    ids, n_prompt = render_answer(tok, msgs, item.answer)
    assert ids[:n_prompt] == render_chat(tok, msgs)
    assert item.answer in tok.decode(ids[n_prompt:])
    byte_ids, n = render_answer(ByteTokenizer(), msgs, item.answer)
    assert byte_ids[-1] == ByteTokenizer.eos_token_id and n < len(byte_ids)


@pytest.mark.slow
def test_smollm2_lora_smoke():
    from qmml.supervised.llm.evals import generate_text
    from qmml.supervised.llm.load import load_smollm2

    lm = load_smollm2()
    task = get_task("date")
    peft_model = add_lora(lm.model, LoraSettings(rank=8, targets=("q_proj", "v_proj")))
    n_train, n_all = trainable_share(peft_model)
    assert 0.003 < n_train / n_all < 0.004  # ~0.34%
    run = finetune(peft_model, lm.tokenizer, _examples(lm.tokenizer, 4), FinetuneConfig(steps=2))
    assert run.step_loss.shape == (2,)
    item = task.items(1, 0, "test")[0]
    text = generate_text(peft_model, lm.tokenizer, task_messages(task, item), max_new_tokens=8)
    assert isinstance(text, str) and text
    probe = torch.tensor([_examples(lm.tokenizer, 1)[0][0]])
    fp32 = merge_dlogit_fp32(peft_model, probe)  # float32 rounding alone: ~1e-4 on 30 layers
    _, exact = merge_check(peft_model, probe, float64=True)
    print(f"SmolLM2 merge: max |dlogit| float32 {fp32:.2e}, float64 {exact:.2e}")
    assert exact < 1e-4 and fp32 < 1e-3
