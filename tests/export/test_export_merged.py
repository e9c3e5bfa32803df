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


def _multi_adapter_logits(base_dir, links, ids):
    """PEFT's forward with every (adapter dir, weight) active at once, each scaled by set_scale."""
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    names = [f"a{i}" for i in range(len(links))]
    multi = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_dir)), str(links[0][0]), adapter_name=names[0])
    for name, (adapter, _) in zip(names[1:], links[1:], strict=True):
        multi.load_adapter(str(adapter), adapter_name=name)
    multi.base_model.set_adapter(names)
    for module in multi.modules():
        if isinstance(module, LoraLayer):
            for name, (_, weight) in zip(names, links, strict=True):
                if name in module.scaling:
                    module.set_scale(name, weight)
    return _logits(multi.eval(), ids)


def _final(root, base_dir):
    from expertkit.manifest.model import model_slug

    return root / "weights" / model_slug(str(base_dir)) / "final"


def test_a_weighted_chain_folds_to_what_the_multi_adapter_forward_computes(trained, tiny_llama_dir, tmp_path):
    """The arithmetic behind `export merged a:0.7+b:0.3`: two LoRA experts folded one after the
    other equal PEFT's forward with both adapters active, each scaled by its weight (set_scale)."""
    from transformers import AutoModelForCausalLM

    from expertkit.errors import UsageError
    from expertkit.export.compose_merge import check_foldable, fold

    a, b = _final(trained("lora"), tiny_llama_dir), _final(trained("lora", "expert-other"), tiny_llama_dir)
    ids = torch.tensor([[5, 9, 17, 33, 60, 2, 7, 11]])
    want = _multi_adapter_logits(tiny_llama_dir, [(a, 0.7), (b, 0.3)], ids)
    folded = fold(AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)), [(a, 0.7), (b, 0.3)]).eval()
    torch.testing.assert_close(_logits(folded, ids), want, atol=1e-5, rtol=1e-4)

    with pytest.raises(UsageError, match="DoRA expert: in a chain"):
        check_foldable([("expert-d", "dora", 1.0), ("expert-l", "lora", 1.0)])
    with pytest.raises(UsageError, match="IA3 expert: a weight"):
        check_foldable([("expert-i", "ia3", 0.5)])
    check_foldable([("expert-d", "dora", 1.0)])


def test_cli_merges_a_composition_of_installed_experts(cli, trained, tiny_llama_dir, tmp_path):
    """End to end through the one resolver (runtime/compose.py)."""
    from transformers import AutoModelForCausalLM

    from expertkit.packaging.build import build_package
    from expertkit.registry.install import Options, install

    roots = {"expert-lora": trained("lora"), "expert-other": trained("lora", "expert-other")}
    for name, root in roots.items():
        package = build_package(root / "manifest.json", weights=_final(root, tiny_llama_dir), output=tmp_path / f"{name}.expert",
                                update_source=False).path
        install(str(package), Options(allow_unsigned=True))
    res = cli("export", "merged", "expert-lora:0.7+expert-other:0.3", "--output", tmp_path / "m", "--json")
    assert res.exit_code == 0, res
    chain = json.loads((tmp_path / "m" / "expertkit_export.json").read_text())["chain"]
    assert [(c["expert"], c["weight"]) for c in chain] == [("expert-lora", 0.7), ("expert-other", 0.3)]
    ids = torch.tensor([[5, 9, 17, 33, 60, 2, 7, 11]])
    want = _multi_adapter_logits(tiny_llama_dir, [(_final(r, tiny_llama_dir), w) for r, w in zip(roots.values(), (0.7, 0.3), strict=True)], ids)
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "m")).eval()
    torch.testing.assert_close(_logits(merged, ids), want, atol=1e-5, rtol=1e-4)
