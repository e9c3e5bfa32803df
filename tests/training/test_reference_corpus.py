"""The reference-schema corpus trains 2 steps on a tiny model, every reference field mapped or
explained in one line (warmup ratio, selective checkpointing, bf16/tf32/unsloth/8-bit on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from expertkit.training.run import TrainOptions, train

CORPUS = Path(__file__).parents[1] / "manifest" / "reference_corpus" / "expert-refsql"


def test_corpus_trains_two_steps_on_a_tiny_model(tmp_path, tiny_qwen3_dir):
    root = tmp_path / "expert-refsql"
    shutil.copytree(CORPUS, root)
    manifest = root / "manifest.json"
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    raw["base_models"].append({"name": str(tiny_qwen3_dir), "prompt_template": "qwen3", "adapters": []})
    manifest.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    events: list[dict] = []
    result = train(manifest, TrainOptions(model=str(tiny_qwen3_dir), max_steps=2, device="cpu"), on_event=events.append)
    assert result.summary["steps"] == 2
    notes = [e["message"] for e in events if e["event"] in ("note", "warning")]
    assert any("warmup_steps is 0, so warmup_ratio is used" in n for n in notes)
    for text in ("selective", "use_tf32", "bf16", "use_unsloth", "adamw_bnb_8bit", "dataloader_prefetch_factor", "sql-style.safetensors"):
        assert any(text in n for n in notes), (text, notes)
    effective = result.summary["config"]["effective"]
    assert effective["max_steps"] == 2
