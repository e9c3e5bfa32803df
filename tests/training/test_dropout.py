"""FastDropout: the same Bernoulli dropout as nn.Dropout, on the LoRA layers of a real PEFT model."""

from __future__ import annotations

import torch

from expertkit.training.dropout import use_fast_dropout


def _lora_model(model_dir, dropout):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout, target_modules=["q_proj", "v_proj"]))


def test_swaps_every_lora_dropout_and_keeps_the_distribution(tiny_llama_dir):
    model = _lora_model(tiny_llama_dir, 0.1)
    assert use_fast_dropout(model) == 2 * model.config.num_hidden_layers
    layer = next(m for m in model.modules() if hasattr(m, "lora_dropout")).lora_dropout["default"]
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = layer.train()(x)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.003  # 1e6 draws: 10 sigma is 0.003
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.9))
    assert abs(y.mean().item() - 1.0) < 0.005  # inverted scaling keeps the expectation
    assert torch.equal(layer.eval()(x), x)


def test_no_dropout_leaves_the_model_alone(tiny_llama_dir):
    model = _lora_model(tiny_llama_dir, 0.0)
    assert use_fast_dropout(model) == 0


def test_neighbouring_draws_are_independent_and_odd_sizes_work(tiny_llama_dir):
    model = _lora_model(tiny_llama_dir, 0.2)
    use_fast_dropout(model)
    layer = next(m for m in model.modules() if hasattr(m, "lora_dropout")).lora_dropout["default"].train()
    torch.manual_seed(0)
    dropped = layer(torch.ones(1_000_003)) == 0  # four draws share a 64-bit word; the size is not a multiple of 4
    both = (dropped[:-1] & dropped[1:]).float().mean().item()
    assert abs(dropped.float().mean().item() - 0.2) < 0.004
    assert abs(both - 0.04) < 0.002  # p^2: a draw says nothing about its neighbour in the same word


def test_gradient_is_the_scaled_mask(tiny_llama_dir):
    model = _lora_model(tiny_llama_dir, 0.5)
    use_fast_dropout(model)
    layer = next(m for m in model.modules() if hasattr(m, "lora_dropout")).lora_dropout["default"].train()
    x = torch.randn(37, 11, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * 2.0)
