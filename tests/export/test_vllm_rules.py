"""The vLLM acceptance rules (export/vllm_rules.py) on good and bad adapters and launch lines.

What the rules encode was read from vLLM's source (repository vllm-project/vllm):
- vllm/lora/peft_helper.py, PEFTHelper: required fields r, lora_alpha, target_modules (from_dict
  raises "Missing required configuration fields"); _validate_features: "vLLM only supports
  modules_to_save being None." and "vLLM does not yet support DoRA."; validate_legal: "LoRA rank
  {r} is greater than max_lora_rank {max}" and "Adapter bias is not supported." (older versions:
  "Adapter bias cannot be used without bias_enabled."); __post_init__: r must be positive; scale
  lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora. Unknown keys (rank_pattern...) are dropped.
- vllm/config/lora.py, LoRAConfig: MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512];
  max_loras: Field(default=1, ge=1).
- vllm/lora/utils.py, parse_fine_tuned_lora_name: only `*.lora_A.weight`, `*.lora_B.weight`,
  `*.lora_embedding_A/B`; anything else "is unsupported LoRA weight". lora_model.py: the module's
  last name must be an expected LoRA module ("expected target modules in ... but received ...").
- vllm/entrypoints/openai/cli_args.py, LoRAParserAction: each --lora-modules value is name=path
  or one JSON object passed to LoRAModulePath(**obj) (name, path, base_model_name).
"""

from __future__ import annotations

import json

import pytest

from expertkit.export import vllm_rules as rules

GOOD = {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "bias": "none",
        "modules_to_save": None, "use_dora": False, "use_rslora": True}
KEYS = ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]


def whats(refusals):
    return [r.what for r in refusals]


def test_a_plain_lora_config_and_its_tensors_pass():
    assert rules.check_config(GOOD) == []
    assert rules.check_tensors(KEYS, "LlamaForCausalLM") == []
    assert rules.check_tensors(KEYS, "Qwen3ForCausalLM") == []


@pytest.mark.parametrize(("change", "what", "words"), [
    ({"use_dora": True}, "use_dora", "vLLM does not yet support DoRA"),
    ({"modules_to_save": ["lm_head"]}, "modules_to_save", "only supports modules_to_save being None"),
    ({"bias": "all"}, "bias", "does not support adapter bias"),
    ({"bias": "lora_only"}, "bias", "does not support adapter bias"),
    ({"r": 1024}, "r", "greater than the largest max_lora_rank vLLM supports (512)"),
    ({"r": 0}, "r", "must be a positive integer"),
    ({"rank_pattern": {"q_proj": 4}}, "rank_pattern", "reads only r and lora_alpha"),
    ({"alpha_pattern": {"q_proj": 4}}, "alpha_pattern", "reads only r and lora_alpha"),
    ({"peft_type": "IA3"}, "peft_type", "IA3 adapters have no vLLM loader"),
    ({"peft_type": "PROMPT_TUNING"}, "peft_type", "PROMPT_TUNING adapters have no vLLM loader"),
])
def test_each_refusal_names_its_field_and_reason(change, what, words):
    refusals = rules.check_config({**GOOD, **change})
    assert whats(refusals) == [what]
    assert words in str(refusals[0])


def test_missing_required_fields_are_each_named():
    config = {k: v for k, v in GOOD.items() if k not in ("r", "lora_alpha")}
    assert whats(rules.check_config(config)) == ["r", "lora_alpha"]


def test_tensor_names_vllm_cannot_parse_or_modules_it_cannot_adapt():
    named = ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
             "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"]
    [refusal] = rules.check_tensors(named, "LlamaForCausalLM")
    assert "and 1 more" in refusal.what and "unsupported LoRA weight" in refusal.reason
    [refusal] = rules.check_tensors(["base_model.model.model.layers.0.mlp.act_fn.lora_A.weight"], "LlamaForCausalLM")
    assert refusal.what == "target_modules" and "act_fn" in refusal.reason
    assert whats(rules.check_tensors([], "LlamaForCausalLM")) == ["adapter_model.safetensors"]
    assert rules.lora_module("base_model.model.model.embed_tokens.lora_embedding_A") == "model.embed_tokens"


def test_max_lora_rank_is_the_smallest_supported_value_that_fits():
    assert rules.max_lora_rank_for([4]) == 8
    assert rules.max_lora_rank_for([8, 16]) == 16
    assert rules.max_lora_rank_for([300]) == 320
    with pytest.raises(ValueError):
        rules.max_lora_rank_for([600])


def _argv(*modules, rank="16", loras="2"):
    return ["vllm", "serve", "base", "--enable-lora", "--max-loras", loras, "--max-lora-rank", rank, "--lora-modules", *modules]


def test_serve_args_good_and_bad():
    one = json.dumps({"name": "a", "path": "/x/a", "base_model_name": "base"})
    assert rules.check_serve_args(_argv(one, "b=/x/b")) == []
    assert "must be one of" in rules.check_serve_args(_argv(one, rank="12"))[0]
    assert ">= 1" in rules.check_serve_args(_argv(one, loras="0"))[0]
    as_list = json.dumps([{"name": "a", "path": "/x/a"}, {"name": "b", "path": "/x/b"}])
    assert "one JSON object per value" in rules.check_serve_args(_argv(as_list))[0]
    other_base = json.dumps({"name": "a", "path": "/x/a", "base_model_name": "other"})
    assert "must be the served model" in rules.check_serve_args(_argv(other_base))[0]
    assert rules.check_serve_args(["vllm", "serve", "--enable-lora"]) == ["expected `vllm serve MODEL ...`"]


def _peft_adapter(base_dir, out, config):
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    get_peft_model(AutoModelForCausalLM.from_pretrained(str(base_dir)), config).save_pretrained(str(out))
    return out


def test_real_peft_adapters_good_and_bad(tiny_llama_dir, tmp_path):
    from peft import IA3Config, LoraConfig

    targets = ["q_proj", "v_proj"]
    cases = {
        "lora": (LoraConfig(r=4, lora_alpha=8, target_modules=targets), []),
        "rslora": (LoraConfig(r=4, lora_alpha=8, target_modules=targets, use_rslora=True), []),
        "dora": (LoraConfig(r=4, lora_alpha=8, target_modules=targets, use_dora=True), ["use_dora"]),
        "bias": (LoraConfig(r=4, lora_alpha=8, target_modules=targets, bias="lora_only"), ["bias"]),
        "save": (LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=["lm_head"]), ["modules_to_save"]),
        "ia3": (IA3Config(target_modules=["q_proj", "down_proj"], feedforward_modules=["down_proj"]), ["peft_type"]),
    }
    for name, (config, expected) in cases.items():
        adapter = _peft_adapter(tiny_llama_dir, tmp_path / name, config)
        assert whats(rules.check_adapter_dir(adapter, "LlamaForCausalLM")) == expected, name
