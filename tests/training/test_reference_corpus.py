"""The reference-schema corpus trains 2 steps on a tiny model, every reference field mapped or
explained in one line (warmup ratio, selective checkpointing, bf16/tf32/unsloth/8-bit on CPU)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from expertkit.training.run import TrainOptions, train

CORPUS = Path(__file__).parents[1] / "manifest" / "reference_corpus" / "expert-refsql"


def test_corpus_trains_two_steps_on_a_tiny_model(tmp_path, tiny_qwen3_dir):
    manifest = _corpus_for(tmp_path, tiny_qwen3_dir)
    events: list[dict] = []
    result = train(manifest, TrainOptions(model=str(tiny_qwen3_dir), max_steps=2, device="cpu"), on_event=events.append)
    assert result.summary["steps"] == 2
    notes = [e["message"] for e in events if e["event"] in ("note", "warning")]
    assert any("warmup_steps is 0, so warmup_ratio is used" in n for n in notes)
    for text in ("selective", "use_tf32", "bf16", "use_unsloth", "adamw_bnb_8bit", "dataloader_prefetch_factor", "sql-style.safetensors"):
        assert any(text in n for n in notes), (text, notes)
    effective = result.summary["config"]["effective"]
    assert effective["max_steps"] == 2


def _corpus_for(tmp_path, model_dir) -> Path:
    root = tmp_path / "expert-refsql"
    shutil.copytree(CORPUS, root)
    manifest = root / "manifest.json"
    raw = json.loads(manifest.read_text(encoding="utf-8"))
    raw["base_models"].append({"name": str(model_dir), "prompt_template": "qwen3", "adapters": []})
    manifest.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return manifest


def test_dry_run_resolves_what_training_then_does(tmp_path, tiny_qwen3_dir, cli):
    from expertkit.training.dry_run import dry_run

    manifest = _corpus_for(tmp_path, tiny_qwen3_dir)
    opts = TrainOptions(model=str(tiny_qwen3_dir), device="cpu")
    plan = dry_run(manifest, opts)
    assert not (manifest.parent / "weights").exists()  # nothing written
    assert plan["base_model"]["path"] == str(tiny_qwen3_dir) and plan["adapter"]["method"] == "lora"
    assert plan["training_arguments"]["lr_scheduler_type"] == "cosine_with_restarts"
    assert plan["training_arguments"]["lr_scheduler_kwargs"] == {"num_cycles": 2}
    assert plan["data"]["rows_after_packing"] < plan["data"]["train"]["used"]
    assert "warmup_ratio is used" in plan["schedule"]["warmup"]
    result = train(manifest, opts)
    assert result.summary["config"]["effective"]["max_steps"] == plan["schedule"]["total_steps"] == result.summary["steps"]
    res = cli("train", "--manifest", manifest, "--model", tiny_qwen3_dir, "--device", "cpu", "--dry-run", "--json", "--output", tmp_path / "o")
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["schedule"]["total_steps"] == plan["schedule"]["total_steps"] and not (tmp_path / "o").exists()


def test_packed_rows_is_best_fit_decreasing():
    from expertkit.training.dry_run import packed_rows

    assert packed_rows([6, 5, 4, 3, 2], 10) == 2
    assert packed_rows([10, 10, 1], 10) == 3
    assert packed_rows([], 10) == 0
