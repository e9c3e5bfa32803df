"""Build real test experts from the tiny fixture models: a PEFT LoRA adapter, a manifest, cases.

Adapters are real PEFT LoRA weights (random, not zero-initialised, so they change outputs);
nothing is trained and nothing is mocked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from expertkit.manifest.model import model_slug


def make_lora(base_dir: Path, out_dir: Path, *, seed: int = 1, r: int = 4) -> Path:
    """Save a random LoRA adapter for the model in ``base_dir`` to ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)  # the fixture process owns this seed; generation tests are greedy
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    config = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    # random init is small; scale it up so the adapter clearly changes greedy outputs
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.mul_(4.0)
    peft_model.save_pretrained(str(out_dir))
    return out_dir


def manifest_dict(base_dir: Path, **decoding: Any) -> dict[str, Any]:
    return {
        "name": "expert-demo",
        "version": "0.1.0",
        "schema_version": "2.0",
        "description": "test expert",
        "base_models": [{"name": str(base_dir), "prompt_template": "chatml", "adapters": []}],
        "training": {
            "config": {"adapter_type": "lora", "rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]},
            "decoding": {"max_new_tokens": 8, **decoding},
        },
        "x_unknown_section": {"keep": [1, 2, 3]},
        "_comment": "kept by every rewrite",
    }


def make_expert(root: Path, base_dir: Path, adapter_src: Path, *, cases: list[dict] | None = None,
                grammar: str | None = None, **decoding: Any) -> Path:
    """An expert directory: manifest.json, tests/test_cases.json, weights/<slug>/final (a copy of ``adapter_src``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(manifest_dict(base_dir, **decoding), indent=2) + "\n")
    final = root / "weights" / model_slug(str(base_dir)) / "final"
    shutil.copytree(adapter_src, final)
    if cases is not None:
        write_cases(root, cases)
    if grammar is not None:
        (root / "grammar.gbnf").write_text(grammar)
    return root


def write_cases(root: Path, cases: list[dict]) -> Path:
    path = root / "tests" / "test_cases.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"test_cases": cases}, indent=2))
    return path


def case(case_id: str, expected: Any, *, match: str = "exact", category: str = "basic", input: str = "list the users", **extra: Any) -> dict:
    return {"id": case_id, "name": case_id, "input": input, "expected_output": expected, "description": "",
            "category": category, "match": match, **extra}


def make_adapter(base_dir: Path, out_dir: Path, kind: str, *, seed: int = 1) -> Path:
    """A real PEFT adapter of ``kind`` (lora, dora, ia3, prompt_tuning) with random, output-changing weights."""
    import torch
    from peft import IA3Config, LoraConfig, PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if kind == "lora":
        return make_lora(base_dir, out_dir, seed=seed)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_dir))
    configs = {
        "dora": lambda: LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], use_dora=True, init_lora_weights=False),
        "ia3": lambda: IA3Config(target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"]),
        "prompt_tuning": lambda: PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3),
    }
    peft_model = get_peft_model(model, configs[kind]())
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                param.mul_(4.0)
            elif "ia3_l" in name:
                param.copy_(1.0 + 0.8 * torch.randn_like(param))
            elif "prompt_encoder" in name:
                param.mul_(30.0)
    peft_model.save_pretrained(str(out_dir))
    return out_dir
