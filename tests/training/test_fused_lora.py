"""The addmm LoRA update: same outputs and gradients as PEFT's vanilla path; merge and save unchanged."""

from __future__ import annotations

import torch

from expertkit.training.fused_lora import use_fused_lora


def _lora_model(model_dir, seed=0, **extra):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=12, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "up_proj"], **extra)
    model = get_peft_model(model, config)
    with torch.no_grad():  # B starts at zero; give it values so the update is visible
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return model


def _loss_and_grads(model, ids):
    model.zero_grad()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.logits.detach(), grads


def test_fused_matches_vanilla_outputs_and_gradients(tiny_llama_dir):
    ids = torch.randint(0, 100, (2, 24))
    vanilla = _lora_model(tiny_llama_dir)
    fused = _lora_model(tiny_llama_dir)
    assert use_fused_lora(fused) == 3 * fused.config.num_hidden_layers
    logits_v, grads_v = _loss_and_grads(vanilla, ids)
    logits_f, grads_f = _loss_and_grads(fused, ids)
    torch.testing.assert_close(logits_f, logits_v, rtol=1e-5, atol=1e-5)
    assert grads_f.keys() == grads_v.keys()
    for name in grads_v:
        torch.testing.assert_close(grads_f[name], grads_v[name], rtol=1e-4, atol=1e-6)


def test_merge_unmerge_and_saved_weights_unchanged(tiny_llama_dir, tmp_path):
    from safetensors.torch import load_file

    ids = torch.randint(0, 100, (1, 16))
    vanilla, fused = _lora_model(tiny_llama_dir), _lora_model(tiny_llama_dir)
    use_fused_lora(fused)
    vanilla.save_pretrained(str(tmp_path / "v"))
    fused.save_pretrained(str(tmp_path / "f"))
    saved_v, saved_f = load_file(tmp_path / "v" / "adapter_model.safetensors"), load_file(tmp_path / "f" / "adapter_model.safetensors")
    assert saved_v.keys() == saved_f.keys() and all(torch.equal(saved_v[k], saved_f[k]) for k in saved_v)
    with torch.no_grad():
        before = fused(input_ids=ids).logits
        fused.base_model.merge_adapter()
        merged = fused(input_ids=ids).logits
        fused.base_model.unmerge_adapter()
        after = fused(input_ids=ids).logits
    torch.testing.assert_close(merged, before, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


def test_dora_layers_keep_their_variant(tiny_llama_dir):
    model = _lora_model(tiny_llama_dir, use_dora=True)
    assert use_fused_lora(model) == 0
