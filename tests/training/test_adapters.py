"""Each adapter method trains through the one loop, its loss falls, and final/ reloads exactly."""

from __future__ import annotations

import pytest
import torch

from expertkit.errors import TrainingError, ValidationError
from expertkit.training import adapters
from expertkit.training.run import TrainOptions, train

METHODS = {
    "lora": {"adapter_type": "lora"},
    "dora": {"adapter_type": "dora", "rank": 8},
    "ia3": {"adapter_type": "ia3", "rank": None, "alpha": None, "learning_rate": 0.1},
    "prompt_tuning": {"learning_rate": 0.3},
}
SOFT_PROMPTS = [{"name": "sql", "tokens": 4, "init_method": "text", "init_text": "SELECT FROM users"},
                {"name": "rand", "tokens": 3, "init_method": "random"}]


def test_registry_refuses_unknown_duplicate_and_malformed_names():
    assert {"lora", "dora", "ia3", "prompt_tuning"} <= set(adapters.methods())
    with pytest.raises(ValidationError, match="'qlora' is not a known adapter method"):
        adapters.get_method("qlora")
    with pytest.raises(ValueError, match="already registered"):
        adapters.register(adapters.AdapterMethod("lora", lambda ctx: None, None))
    with pytest.raises(ValueError, match="lower-case word"):
        adapters.register(adapters.AdapterMethod("Bad-Name", lambda ctx: None, None))


def test_ia3_feedforward_modules_default_to_the_mlp_targets(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))
    assert adapters.feedforward_of(["q_proj", "up_proj", "down_proj"], model) == ["up_proj", "down_proj"]


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits


@pytest.mark.parametrize("method", list(METHODS))
def test_method_trains_loss_falls_and_final_reloads_with_plain_peft(method, make_expert, tiny_llama_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    manifest = make_expert(tiny_llama_dir, config={**METHODS[method], "max_steps": 8}, soft_prompts=SOFT_PROMPTS)
    soft = "sql" if method == "prompt_tuning" else None
    result = train(manifest, TrainOptions(soft_prompt=soft))
    losses = [p["loss"] for p in result.summary["train_loss_history"]]
    assert len(losses) == 8 and min(losses[-3:]) < losses[0] - 0.02, losses
    assert result.summary["adapter"]["method"] == method
    files = {p.name for p in result.final_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors"} <= files

    trained = result.model.eval()
    ids = torch.tensor([[5, 9, 17, 33, 60, 2]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    loaded = PeftModel.from_pretrained(base, str(result.final_dir)).eval()
    torch.testing.assert_close(_logits(loaded, ids), _logits(trained, ids), atol=1e-5, rtol=1e-5)
    plain = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    adapted = _logits(loaded, ids)[:, -ids.shape[1]:]  # prompt tuning prepends its virtual tokens
    assert not torch.allclose(_logits(plain, ids), adapted, atol=1e-4)  # the adapter changed something
    if method == "prompt_tuning":
        from safetensors.torch import load_file

        emb = load_file(str(result.final_dir / "soft_prompts" / "sql.safetensors"))["prompt_embeddings"]
        assert emb.shape == (4, base.config.hidden_size)
        assert result.run_dir.parts[-2:] == ("soft_prompts", "sql")


def test_random_init_soft_prompt_and_unknown_name(make_expert, tiny_qwen3_dir):
    manifest = make_expert(tiny_qwen3_dir, config={"max_steps": 2}, soft_prompts=SOFT_PROMPTS)
    result = train(manifest, TrainOptions(soft_prompt="rand"))
    assert result.summary["adapter"]["peft_config"]["num_virtual_tokens"] == 3
    assert any("not packed" in w for w in result.warnings)
    from expertkit.errors import UsageError

    with pytest.raises(UsageError, match="soft prompt 'nope' is not in the manifest's soft_prompts") as info:
        train(manifest, TrainOptions(soft_prompt="nope"))
    assert info.value.param == "soft_prompt"  # the CLI says --soft-prompt


def test_unsupported_targets_are_refused_before_training(make_expert, tiny_llama_dir):
    manifest = make_expert(tiny_llama_dir, config={"adapter_type": "ia3", "rank": None, "alpha": None, "target_modules": ["embed_tokens"]})
    with pytest.raises(TrainingError, match="adapter ia3 is not supported for embed_tokens"):
        train(manifest)
    manifest = make_expert(tiny_llama_dir, config={"target_modules": ["lm_head"]})
    with pytest.raises(TrainingError, match="lm_head can't be adapted"):
        train(manifest)


@pytest.mark.parametrize("method", ["lora", "dora"])
def test_top_layers_adapts_only_the_last_layers(method, make_expert, tiny_llama_dir):
    """top_layers: 1 on the 2-layer model puts the adapter on layer 1 only, and the run still learns."""
    manifest = make_expert(tiny_llama_dir, config={**METHODS[method], "top_layers": 1, "max_steps": 3})
    result = train(manifest)
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in result.model.named_parameters() if p.requires_grad}
    assert adapted == {"1"}, adapted
    assert result.summary["config"]["training.config"]["top_layers"] == 1
    assert result.summary["adapter"]["peft_config"]["layers_to_transform"] == [1]


def test_top_layers_beyond_the_model_is_refused(make_expert, tiny_llama_dir):
    manifest = make_expert(tiny_llama_dir, config={"top_layers": 3, "max_steps": 1})
    with pytest.raises(ValidationError, match=r"training.config.top_layers: 3 is not allowed \(the base model has 2 layers"):
        train(manifest)
    manifest = make_expert(tiny_llama_dir, config={**METHODS["ia3"], "top_layers": 1, "max_steps": 1})
    with pytest.raises(ValidationError, match="training.config.top_layers: only for lora and dora"):
        train(manifest)
