"""Helpers for training tests: a tiny expert (manifest + prepared splits) in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from expertkit.data.chat_format import format_chat, with_reasoning

# Fast-learning defaults: tiny model, high LR, short rows, no periodic saves unless asked.
FAST = {
    "adapter_type": "lora", "rank": 8, "alpha": 16, "max_seq_length": 96, "batch_size": 4, "learning_rate": 0.01,
    "logging_steps": 1, "save_steps": 1000, "max_steps": 6, "lr_scheduler": "constant", "evaluation_strategy": "no",
}


def example(i: int, *, think: bool = False) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Dialect: sql"},
        {"role": "user", "content": f"Find the user with id {i}"},
        {"role": "assistant", "content": with_reasoning(f"SELECT * FROM users WHERE id = {i};", "look up by id" if think else None)},
    ]
    return {"text": format_chat(messages), "messages": messages}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_expert(tmp_path):
    """make_expert(model_dir, config={...}, n=40, soft_prompts=[...], validation=True) -> manifest path."""

    def make(model_dir: Path, *, config: dict | None = None, n: int = 40, soft_prompts: list | None = None,
             validation: bool = True, root: Path | None = None, rows: list[dict] | None = None,
             base: dict | None = None) -> Path:
        root = root or tmp_path / "expert"
        root.mkdir(parents=True, exist_ok=True)
        write_jsonl(root / "datasets/train.jsonl", rows if rows is not None else [example(i, think=i % 3 == 0) for i in range(n)])
        if validation:
            write_jsonl(root / "datasets/validation.jsonl", [example(1000 + i) for i in range(8)])
        cfg = {**FAST, **(config or {})}
        cfg = {k: v for k, v in cfg.items() if v is not None}
        manifest = {
            "name": "expert-sql", "version": "0.1.0", "schema_version": "2.0", "description": "test expert",
            "base_models": [{"name": str(model_dir), **(base or {})}],
            "soft_prompts": soft_prompts or [],
            "training": {"dataset": {"path": "datasets/train.jsonl", "validation_path": "datasets/validation.jsonl"}, "config": cfg},
        }
        path = root / "manifest.json"
        path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return path

    return make
