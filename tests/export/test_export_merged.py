"""`expert-cli export merged`: a plain model whose logits equal base + adapter, for LoRA, DoRA
and IA3 adapters our trainer wrote, loaded offline with nothing but transformers."""

from __future__ import annotations

import json

import pytest
import torch


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


@pytest.mark.parametrize("method", ["lora", "dora", "ia3"])
def test_merged_model_equals_base_plus_adapter(method, cli, trained, tiny_llama_dir, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from expertkit.manifest.model import model_slug
    from expertkit.runtime.prompts import build_prompt

    expert = trained(method)
    out = tmp_path / "merged"
    res = cli("export", "merged", expert, "--output", out, "--json")
    assert res.exit_code == 0, res
    payload = json.loads(res.stdout)
    assert payload["method"] == method
    files = set(payload["files"])
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json"} <= files
    assert not files & {"adapter_config.json", "adapter_model.safetensors"}

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()  # plain transformers, no PEFT
    adapter = expert / "weights" / model_slug(str(tiny_llama_dir)) / "final"
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(adapter)).eval()
    ids = torch.tensor([[5, 9, 17, 33, 60, 2, 7, 11]])
    want = _logits(reference, ids)
    torch.testing.assert_close(_logits(merged, ids), want, atol=1e-5, rtol=1e-4)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)).eval()
    assert not torch.allclose(_logits(base, ids), want, atol=1e-4)  # the adapter did change the model

    tokenizer = AutoTokenizer.from_pretrained(str(out))
    messages = [{"role": "user", "content": "list the users"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == build_prompt(messages, None)


def test_merged_refusals_exit_2(cli, trained, tmp_path):
    res = cli("export", "merged", trained("prompt_tuning"), "--output", tmp_path / "pt")
    assert res.exit_code == 2 and "PROMPT_TUNING adapter has no weights to merge" in res.stderr.splitlines()[0]
    res = cli("export", "merged", "expert-a+expert-b", "--output", tmp_path / "comp")
    # without the resolver: refused by name; with it: the resolver's "not installed" error
    assert res.exit_code == 2 and ("composition resolver" in res.stderr or "not installed" in res.stderr)
    res = cli("export", "merged", "expert-nope", "--output", tmp_path / "nope")
    assert res.exit_code == 2 and "expert-nope is not installed" in res.stderr
    assert not any((tmp_path / d).exists() for d in ("pt", "comp", "nope"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    res = cli("export", "merged", trained("lora"), "--output", tmp_path / "full")
    assert res.exit_code == 2 and "exists and is not empty" in res.stderr.splitlines()[0]  # before any loading


def test_a_weighted_chain_folds_to_what_the_multi_adapter_forward_computes(trained, tiny_llama_dir, tmp_path):
    """The arithmetic behind `export merged a:0.7+b:0.3`: two LoRA experts folded one after the
    other equal PEFT's forward with both adapters active, each scaled by its weight (set_scale)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from expertkit.export.compose_merge import check_foldable, fold
    from expertkit.manifest.model import model_slug
    from tests.export.builders import trained_expert

    a = trained("lora") / "weights" / model_slug(str(tiny_llama_dir)) / "final"
    b_root = trained_expert(tmp_path / "b", tiny_llama_dir, "lora", name="expert-other", steps=2)
    b = b_root / "weights" / model_slug(str(tiny_llama_dir)) / "final"
    ids = torch.tensor([[5, 9, 17, 33, 60, 2, 7, 11]])

    multi = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), str(a), adapter_name="a")
    multi.load_adapter(str(b), adapter_name="b")
    multi.base_model.set_adapter(["a", "b"])
    from peft.tuners.lora import LoraLayer

    for module in multi.modules():
        if isinstance(module, LoraLayer):
            for name, weight in (("a", 0.7), ("b", 0.3)):
                if name in module.scaling:
                    module.set_scale(name, weight)
    want = _logits(multi.eval(), ids)
    folded = fold(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), [(a, 0.7), (b, 0.3)]).eval()
    torch.testing.assert_close(_logits(folded, ids), want, atol=1e-5, rtol=1e-4)

    from expertkit.errors import UsageError

    with pytest.raises(UsageError, match="DoRA expert: in a chain"):
        check_foldable([("expert-d", "dora", 1.0), ("expert-l", "lora", 1.0)])
    with pytest.raises(UsageError, match="IA3 expert: a weight"):
        check_foldable([("expert-i", "ia3", 0.5)])
    check_foldable([("expert-d", "dora", 1.0)])
