"""Real trained experts for the export tests: a few optimizer steps of our own trainer on the
tiny fixture models (LoRA, DoRA, IA3, prompt tuning), so the adapters are what `train` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expertkit.data.chat_format import format_chat

GRAMMAR = 'root ::= "SELECT " [a-z]{1,4} " FROM " ("users" | "orders") ";"\n'
METHODS: dict[str, dict[str, Any]] = {
    "lora": {"adapter_type": "lora", "rank": 8, "alpha": 16},
    "dora": {"adapter_type": "dora", "rank": 8, "alpha": 16},
    "ia3": {"adapter_type": "ia3"},
    "prompt_tuning": {"adapter_type": "lora", "rank": 8, "alpha": 16},  # trained with a soft prompt (TrainOptions.soft_prompt)
}


def _rows(n: int) -> str:
    rows = []
    for i in range(n):
        messages = [{"role": "user", "content": f"Find the user with id {i}"},
                    {"role": "assistant", "content": f"SELECT * FROM users WHERE id = {i};"}]
        rows.append(json.dumps({"text": format_chat(messages), "messages": messages}))
    return "\n".join(rows) + "\n"


def trained_expert(root: Path, base_dir: Path, method: str, *, name: str = "expert-demo", steps: int = 3,
                   decoding: dict[str, Any] | None = None, grammar: str | None = GRAMMAR) -> Path:
    """An expert directory (manifest.json, datasets/, weights/<slug>/final) trained for ``steps``."""
    from expertkit.training.run import TrainOptions, train

    root.mkdir(parents=True, exist_ok=True)
    (root / "datasets").mkdir(exist_ok=True)
    (root / "datasets" / "train.jsonl").write_text(_rows(16), encoding="utf-8")
    config = {**METHODS[method], "max_seq_length": 64, "batch_size": 4, "learning_rate": 0.01, "logging_steps": 1,
              "save_steps": 1000, "max_steps": steps, "lr_scheduler": "constant", "evaluation_strategy": "no",
              "target_modules": ["q_proj", "v_proj", "down_proj"]}
    soft = [{"name": "sp", "tokens": 3, "init_method": "random"}] if method == "prompt_tuning" else []
    manifest = {
        "name": name, "version": "0.1.0", "schema_version": "2.0", "description": f"{method} expert for export tests",
        "base_models": [{"name": str(base_dir), "prompt_template": "chatml", "adapters": []}], "soft_prompts": soft,
        "training": {"dataset": {"path": "datasets/train.jsonl"}, "config": config,
                     "decoding": {"max_new_tokens": 8, "use_grammar": grammar is not None, **(decoding or {})}},
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if grammar is not None:
        (root / "grammar.gbnf").write_text(grammar, encoding="utf-8")
    result = train(root / "manifest.json", TrainOptions(soft_prompt="sp" if soft else None))
    if method == "prompt_tuning":  # the soft-prompt run is the expert's adapter
        manifest["training"]["packaging_checkpoint"] = str(result.final_dir)
        (root / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root
