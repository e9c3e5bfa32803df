"""Tiny models and real PEFT adapters of every type for the decoder tests (nothing trained, nothing mocked).

The fixture models' default init is so small that greedy decoding repeats one token; the weights
are redrawn wider here so outputs differ per prompt and per adapter (a real equality check).
"""

from __future__ import annotations

from pathlib import Path

import torch

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13, 14], [20, 21, 22, 23, 24], [30, 31, 32, 33]]
STOP = [2]


def sharpen(src: Path, out: Path, seed: int = 0) -> Path:
    """A copy of the tiny model in ``src`` with wider random weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(src))
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0, 0.15)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(src)).save_pretrained(str(out))
    return out


def load(model_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()


def make_adapter(model_dir: Path, out: Path, kind: str, seed: int, targets: list[str] | None = None,
                 layers: list[int] | None = None) -> Path:
    """A random adapter of ``kind`` (lora | dora | ia3 | prompt) saved in PEFT format (LoRA/DoRA on ``targets``,
    on the decoder layers ``layers`` only when given: PEFT's layers_to_transform)."""
    from peft import IA3Config, LoraConfig, PromptTuningConfig, get_peft_model

    torch.manual_seed(seed)
    model = load(model_dir)
    if kind in ("lora", "dora"):
        config = LoraConfig(r=4, lora_alpha=8, target_modules=targets or ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                            use_dora=kind == "dora", init_lora_weights=False, layers_to_transform=layers)
    elif kind == "ia3":
        config = IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"])
    else:
        config = PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                param.mul_(3.0)
            elif "ia3_l" in name:
                param.normal_(1.0, 0.5)
            elif "prompt_encoder" in name or "lora_magnitude" in name:
                param.mul_(1.5)
    peft_model.save_pretrained(str(out))
    return out


def nested_peft(model, adapters: list[tuple[str, Path]]):
    """PEFT with each adapter loaded on top of what the earlier ones made (an IA3 layer wraps a LoRA
    layer and vice versa): the reference for chains mixing IA3 with LoRA/DoRA (PeftMixedModel has no IA3)."""
    from peft import PeftModel
    from peft.tuners.ia3 import IA3Layer
    from peft.tuners.lora import LoraLayer

    outer = model
    for name, path in adapters:
        outer = PeftModel.from_pretrained(model, str(path), adapter_name=name)  # ``model`` is wrapped in place
    for module in model.modules():  # loading a LoRA-type adapter re-points every LoRA layer at it: undo that
        held = module.lora_A if isinstance(module, LoraLayer) else module.ia3_l if isinstance(module, IA3Layer) else None
        if held is not None:
            module.set_adapter(list(held.keys()))
    return outer.eval()


def hf_generate(model, prompts: list[list[int]], max_new_tokens: int = 8) -> list[list[int]]:
    """HF/PEFT greedy generate, left padded, stop token cut: the reference the decoder must equal."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = (ids != 0).long()
    for r, p in enumerate(prompts):
        mask[r, width - len(p):] = 1
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=STOP, pad_token_id=0)
    rows = []
    for row in out[:, width:].tolist():
        rows.append(row[:row.index(STOP[0])] if STOP[0] in row else row)
    return rows


def no_cache_greedy(model, prompt: list[int], max_new_tokens: int = 8) -> list[int]:
    """Greedy decoding by a full forward per token (no KV cache): the model's own definition."""
    seq, out = list(prompt), []
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            token = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
            if token in STOP:
                break
            out.append(token)
            seq.append(token)
    return out
