"""The manifest a new expert starts with: schema 2.0, the guide's sections, valid as created.

Built in code rather than copied from a template because its shape depends on the adapter
type (ia3 has no rank/alpha but needs feedforward_modules).
"""

from __future__ import annotations

from typing import Any

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"
ADAPTER_TYPES = ("dora", "lora", "ia3")

# The guide's advice: DoRA rank 12-16, LoRA 16-32, alpha = 2 x rank.
_RANK_ALPHA = {"dora": (12, 24), "lora": (16, 32)}
_ATTENTION_AND_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
# PEFT's own default for Llama-style models: ia3 scales keys, values and the MLP output.
_IA3_TARGETS = ["k_proj", "v_proj", "down_proj"]
_IA3_FEEDFORWARD = ["down_proj"]


def adapter_config(adapter: str) -> dict[str, Any]:
    """training.config's adapter part for ``adapter`` (dora, lora or ia3)."""
    config: dict[str, Any] = {"method": "sft", "adapter_type": adapter}
    if adapter == "ia3":
        config["target_modules"] = list(_IA3_TARGETS)
        config["feedforward_modules"] = list(_IA3_FEEDFORWARD)
    else:
        rank, alpha = _RANK_ALPHA[adapter]
        config.update(rank=rank, alpha=alpha, dropout=0.05, target_modules=list(_ATTENTION_AND_MLP))
    return config


def scaffold_manifest(name: str, *, base_model: str = DEFAULT_BASE_MODEL, adapter: str = "dora") -> dict[str, Any]:
    """The initial manifest.json of expert ``name`` (already normalised, e.g. expert-sql)."""
    short = name.removeprefix("expert-")
    topic = short.replace("-", "_")
    return {
        "name": name,
        "version": "0.1.0",
        "schema_version": "2.0",
        "description": f"TODO: what {name} does and for whom",
        "author": "",
        "license": "Apache-2.0",
        "tags": [short],
        "base_models": [
            {"name": base_model, "sha256": "", "quantization": "none", "prompt_template": "chatml", "adapters": []}
        ],
        "soft_prompts": [],
        # the guide's default band: technology experts load at 6-7
        "constraints": {"max_chain": 10, "load_order": 6, "incompatible_with": [], "requires": []},
        "capabilities": [f"task:{topic}", "language:en"],
        "limitations": [
            {
                "pattern": "untrained",
                "description": f"{name} has not been trained or tested yet",
                "example": "any prompt",
                "workaround": "add data to datasets/raw, then run `expert-cli dataset prepare`, `train` and `test`",
            }
        ],
        "routing": {"keywords": [short], "exclude_keywords": []},
        "training": training_section(adapter),
        "evaluation": {"min_improvement": 0.0},
    }


def training_section(adapter: str) -> dict[str, Any]:
    """training: dataset (the guide's field mapping), config (per adapter), decoding (greedy)."""
    return {
        "dataset": {
            "type": "single",
            "path": "datasets/train.jsonl",
            "validation_path": "datasets/validation.jsonl",
            "test_path": "datasets/test.jsonl",
            "raw_path": "datasets/raw",
            "field_mapping": {"instruction": "instruction", "input": "input", "response": "output"},
            "format": "jsonl",
        },
        "config": {
            **adapter_config(adapter),
            "epochs": 3,
            "learning_rate": 1e-3 if adapter == "ia3" else 1e-4,
            "batch_size": 4,
            "gradient_accumulation_steps": 4,
            "warmup_ratio": 0.05,
            "lr_scheduler": "cosine",
            "save_strategy": "steps",
            "save_steps": 100,
            "evaluation_strategy": "steps",
            "eval_steps": 100,
            "load_best_model_at_end": True,
            "metric_for_best_model": "eval_loss",
            "save_total_limit": 3,
            "logging_steps": 10,
            "max_seq_length": 2048,
            "fp16": False,
            "bf16": False,
            "use_unsloth": False,
            "gradient_checkpointing": False,
        },
        "decoding": {
            "use_grammar": False,
            "stop_sequences": ["<|im_end|>"],
            "temperature": 0.0,
            "top_p": 1.0,
            "top_k": 0,
            "max_new_tokens": 256,
        },
        "alternative_checkpoints": [],
    }
